# Makefile: the one entry point: deps, build, test, demo, bench.
#
#   make          build everything into build/ (tools in build/bin, images in build/images)
#   make demo     build, then run a capsule serving a real client
#   make demo-migrate  a capsule moves live between two hosts and back under a client
#   make demo-qemu     the same across QEMU virtual machines (docs/QEMU.md)
#   make demo-figures  narrated demos of the seed's figures 3-9, with packet captures (docs/DEMOS.md)
#   make playground    a small cluster of namespaces that stays up to explore (docs/TEACHING.md)
#   make playground-qemu  the same with QEMU virtual machines as the hosts
#   make test     build, then run every test; last line "N passed, N failed"
#   make install  tools, sysroot, man pages, completion, systemd units (PREFIX, DESTDIR;
#                 dist/build.mk)
#   make bench    benchmarks (never part of make test)
#   make soak     1000 live migrations around a ring of hosts, 1000 more with injected
#                 loss, duplication and reordering, and 1000 chaos rounds (one process
#                 killed at a random moment of each move); never part of make test
#   make stress   integration tests round after round beside busy loops, stopping at the
#                 first failure (tests/stress.sh: STRESS_TESTS, STRESS_ROUNDS)
#
# Each component adds its rules through its own build.mk.

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SECONDEXPANSION:

BUILD   := build
SYSROOT := $(BUILD)/sysroot
SRCDIR  := $(BUILD)/src
BIN     := $(BUILD)/bin
LIB     := $(SYSROOT)/lib
OBJ     := $(BUILD)/obj
IMAGES  := $(BUILD)/images
GEN     := $(BUILD)/gen

HOSTCC  ?= gcc
WARN    := -Wall -Wextra -Werror
GCC_INC := $(shell $(HOSTCC) -print-file-name=include)

# Host side: glibc, Debian libraries.  SAN_FLAGS are added for the test build.
HOST_CFLAGS := -std=c11 $(WARN) -O2 -g -D_GNU_SOURCE -I.
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Capsule side: musl's headers only, static, non-PIE.
CAP_CFLAGS := -std=c11 $(WARN) -O2 -g -nostdinc -isystem $(SYSROOT)/include \
              -isystem $(GCC_INC) -fno-pie -fno-stack-protector -D_GNU_SOURCE -I.

DEPS_STAMP  := $(BUILD)/.deps
# The deb-src entry mk/fetch-sources.sh adds (make distclean removes it).
APT_SRC_LIST := /etc/apt/sources.list.d/capsule-src.sources
FETCH_STAMP := $(SRCDIR)/.fetched
MUSL_LIBC   := $(LIB)/libc.a

$(DEPS_STAMP): mk/deps.sh
	sh mk/deps.sh
	mkdir -p $(BUILD) && touch $@

deps: $(DEPS_STAMP) $(FETCH_STAMP)

$(FETCH_STAMP): mk/fetch-sources.sh | $(DEPS_STAMP)
	sh mk/fetch-sources.sh $(SRCDIR)
	touch $@

$(MUSL_LIBC): mk/build-musl.sh $(wildcard runtime/musl-arch/*) | $(FETCH_STAMP)
	sh mk/build-musl.sh $(SRCDIR)/musl runtime/musl-arch $(SYSROOT)

# Components append to these.
ALL_TARGETS :=
UNIT_TESTS  :=
TEST_TOOLS  :=

include capsule-abi/build.mk
include runtime/build.mk
include lwip-port/build.mk
# hosts/: one folder per program; common/ and formats/ first (the programs' rules use their lists).
HOST_SHARED_MK := hosts/common/build.mk hosts/formats/build.mk
include $(HOST_SHARED_MK) $(filter-out $(HOST_SHARED_MK),$(wildcard hosts/*/build.mk))
include images/build.mk
include tests/build.mk
include tests/qemu/build.mk
include dist/build.mk

all: $(ALL_TARGETS)

test: all $(UNIT_TESTS) $(TEST_TOOLS)
	sh tests/run

demo: all
	sh tests/demo.sh

# Hosts are namespaces inside this one (unshare -n): nothing reaches a real network.
demo-migrate: all
	unshare -n sh -c 'ip link set lo up && exec python3 -u tests/demo_migrate.py'

# The seed's figures 3-9, one short narrated demo each (docs/DEMOS.md); FIG="5 9" picks some.
demo-figures: all
	unshare -n sh -c 'ip link set lo up && exec python3 -u tests/demo_figures.py $(FIG)'

# QEMU guests (software emulation) on a bridge inside this namespace: docs/QEMU.md.
demo-qemu: all $(QEMU_KERNEL_STAMP)
	unshare -n sh -c 'ip link set lo up && exec python3 -u tests/qemu/demo_qemu.py'

# A cluster that stays up until `exit` (docs/TEACHING.md); everything inside this namespace.
playground: all
	unshare -n sh -c 'ip link set lo up && exec python3 -u tests/playground.py'

playground-qemu: all $(QEMU_KERNEL_STAMP)
	unshare -n sh -c 'ip link set lo up && exec python3 -u tests/qemu/playground_qemu.py'

bench: all $(REDIS_CAP) $(REDIS_NATIVE) $(STREAMBENCH)
	sh tests/bench/bench.sh

# The ring tests (test_migrate_many.py, then test_migrate_lossy.py: the same ring with
# --net-faults on every host) with 1000 migrations each instead of 50 / 100, under their own
# timeout (SOAK_TIMEOUT seconds; tests/run's default of 180 is per test program).
SOAK_MIGRATIONS ?= 1000
soak: all $(TEST_TOOLS)
	MIGRATIONS=$(SOAK_MIGRATIONS) TEST_TIMEOUT=$${SOAK_TIMEOUT:-7200} sh tests/run test_migrate_many
	MIGRATIONS=$(SOAK_MIGRATIONS) TEST_TIMEOUT=$${SOAK_TIMEOUT:-7200} sh tests/run test_migrate_lossy
	CHAOS_ROUNDS=$(SOAK_MIGRATIONS) TEST_TIMEOUT=$${SOAK_TIMEOUT:-7200} sh tests/run test_chaos
	HANDSHAKE_LONG=1 TEST_TIMEOUT=$${SOAK_TIMEOUT:-7200} sh tests/run test_handshake

# Races that need a loaded machine to show (tests/stress.sh says how).
stress: all $(TEST_TOOLS)
	sh tests/stress.sh

clean:
	rm -rf $(OBJ) $(BIN) $(IMAGES) $(GEN) $(BUILD)/tests $(BUILD)/san

# Also the deb-src entry mk/fetch-sources.sh added (the file is ours by its name).
distclean:
	rm -rf $(BUILD)
	if [ -f $(APT_SRC_LIST) ]; then rm -f $(APT_SRC_LIST) && echo "removed $(APT_SRC_LIST)"; fi

.PHONY: all deps test demo demo-migrate demo-figures demo-qemu playground playground-qemu bench soak stress \
        clean distclean
