# hosts/common/build.mk: utilities used by several host programs, and the one object rule every host program links from.
#
# Included before every other hosts/*/build.mk (see the Makefile): the
# programs' rules name these variables in their prerequisites.
HOST_OBJ := $(OBJ)/host

# hosts/FOLDER/FILE.c -> build/obj/host/hosts/FOLDER/FILE.o; capsule-abi's objects come
# from capsule-abi/build.mk.  Usage: $(call host_objs,$(CAPRUN_SRCS)).
host_objs = $(patsubst %.c,$(HOST_OBJ)/%.o,$(1))
host_san_objs = $(patsubst %.c,$(BUILD)/san/obj/%.o,$(1))

# Every host header is a prerequisite of every host object: simple, and the tree is small.
HOST_HEADERS := $(wildcard hosts/*/*.h capsule-abi/*.h)

$(HOST_OBJ)/hosts/%.o: hosts/%.c $(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -c $< -o $@

# clock.c: the one monotonic ms clock (every program links it).
COMMON_CLOCK_SRCS     := hosts/common/clock.c
# ipv4.c: the Internet checksum and the IPv4 header check (wire, relay, gateway, holder).
COMMON_IPV4_SRCS      := hosts/common/ipv4.c
# fileio.c: opening files we were handed (images, snapshots, keys) without blocking on a FIFO.
COMMON_FILEIO_SRCS    := hosts/common/fileio.c
# tcpmss.c: lowering the MSS a TCP SYN announces to what the host-to-host wire carries whole.
COMMON_TCPMSS_SRCS    := hosts/common/tcpmss.c $(COMMON_IPV4_SRCS)
# tcpseg.c: cutting a TCP segment into wire-sized pieces and joining them again (caphostd's wire).
COMMON_TCPSEG_SRCS    := hosts/common/tcpseg.c $(COMMON_IPV4_SRCS)
# netlink.c: TUN devices, addresses and routes (caprun's cap-NAME, caphostd's capgw); nlmsg.c builds and reads
# the netlink messages (tunfilter.c's nftables ones too): no libmnl, which Debian ships without a libmnl.a.
COMMON_NETLINK_SRCS   := hosts/common/netlink.c hosts/common/nlmsg.c
# tunvnet.c: caprun's own reads and writes on a TUN with IFF_VNET_HDR (header, open checksums).
COMMON_TUNVNET_SRCS   := hosts/common/tunvnet.c
# dirclient.c: the directory's client (asynchronous); dirclient_sync.c waits for one answer (CLIs only).
COMMON_DIRCLIENT_SRCS := hosts/common/dirclient.c
COMMON_DIRSYNC_SRCS   := hosts/common/dirclient.c hosts/common/dirclient_sync.c

# cli.c: --version, --help and the bad-option line every program shares (getopt_long).
COMMON_CLI_SRCS       := hosts/common/cli.c
# clilog.c: a daemon's --syslog (caphostd, capdird).
COMMON_CLILOG_SRCS    := hosts/common/clilog.c

# The version every program prints: `git describe` at build time, else the VERSION file.
# version.h is rewritten only when the text changes, so only cli.o is rebuilt.
# Without a tag: VERSION and the commit ("0.1-ge102c24"); without git: VERSION alone.
CAPSULE_VERSION := $(shell git describe --tags --dirty 2>/dev/null || \
                     { v=$$(cat VERSION); h=$$(git rev-parse --short HEAD 2>/dev/null) && v=$$v-g$$h; echo $$v; })
$(GEN)/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define CAPSULE_VERSION "$(CAPSULE_VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
$(HOST_OBJ)/hosts/common/cli.o $(BUILD)/san/obj/hosts/common/cli.o: $(GEN)/version.h
$(HOST_OBJ)/hosts/common/cli.o $(BUILD)/san/obj/hosts/common/cli.o: HOST_CFLAGS += -I$(GEN)
FORCE:
.PHONY: FORCE

# Unit tests (tests/unit/hosts/common/, ASan + UBSan via tests/build.mk).
UNIT_SRCS_test_host_ipv4 := $(COMMON_IPV4_SRCS)
UNIT_SRCS_test_host_tcpmss := $(COMMON_TCPMSS_SRCS)
UNIT_SRCS_test_host_tcpseg := $(COMMON_TCPSEG_SRCS)
FUZZ_SRCS_fuzz_tcpseg      := $(COMMON_TCPSEG_SRCS)
UNIT_SRCS_test_host_tunvnet := $(COMMON_TUNVNET_SRCS) $(COMMON_IPV4_SRCS)
UNIT_SRCS_test_host_nlmsg := hosts/common/nlmsg.c
UNIT_SRCS_test_host_signame := hosts/common/signame.c
