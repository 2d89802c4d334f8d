# tests/build.mk: cmocka unit tests, built for the host with ASan + UBSan.
#
# Convention: tests/unit/test_NAME.c is one cmocka binary.  A component
# lists the sources it needs in UNIT_SRCS_test_NAME (in its own build.mk),
# and extra flags in UNIT_CFLAGS_test_NAME.
UNIT_TEST_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS     += $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

# The recipe, also for rules that keep tests in a subfolder (runtime/build.mk): $* is test_NAME.
UNIT_LINK = $(HOSTCC) $(HOST_CFLAGS) $(SAN_FLAGS) $(UNIT_CFLAGS_$*) $< $(UNIT_SRCS_$*) \
	-o $@ -lcmocka $(UNIT_LIBS_$*)

$(BUILD)/tests/unit/%: tests/unit/%.c $$(UNIT_SRCS_%) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(UNIT_LINK)

# Host unit tests mirror hosts/: tests/unit/hosts/FOLDER/test_host_NAME.c is still the
# binary build/tests/unit/test_host_NAME (tests/run runs build/tests/unit/test_*).
HOST_UNIT_TEST_SRCS := $(wildcard tests/unit/hosts/*/test_host_*.c)
UNIT_TESTS += $(patsubst %.c,$(BUILD)/tests/unit/%,$(notdir $(HOST_UNIT_TEST_SRCS)))
host_unit_test_src = $(filter %/$(1).c,$(HOST_UNIT_TEST_SRCS))

$(BUILD)/tests/unit/test_host_%: $$(call host_unit_test_src,test_host_$$*) \
		$$(UNIT_SRCS_test_host_$$*) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(SAN_FLAGS) $(UNIT_CFLAGS_test_host_$*) $< \
		$(sort $(UNIT_SRCS_test_host_$*)) -o $@ -lcmocka $(UNIT_LIBS_test_host_$*)

# The host tools again, with ASan + UBSan, for a second integration pass
# (tests/run, CAPTEST_BIN=build/san/bin).  caploader has no libc to
# instrument, so the plain one is copied next to the instrumented caprun.
SAN_BIN := $(BUILD)/san/bin
SAN_OBJ := $(BUILD)/san/obj
TEST_TOOLS += $(SAN_BIN)/caprun $(SAN_BIN)/capctl $(SAN_BIN)/caploader $(SAN_BIN)/caphostd \
              $(SAN_BIN)/capdird $(SAN_BIN)/capdir

$(SAN_OBJ)/%.o: %.c $(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(SAN_BIN)/caprun: $(call host_san_objs,$(CAPRUN_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(CAPRUN_LIBS)

$(SAN_BIN)/capctl: $(call host_san_objs,$(CAPCTL_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(CAPCTL_LIBS)

$(SAN_BIN)/caphostd: $(call host_san_objs,$(CAPHOSTD_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(CAPHOSTD_LIBS)

$(SAN_BIN)/capdird: $(call host_san_objs,$(CAPDIRD_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(CAPDIRD_LIBS)

$(SAN_BIN)/capdir: $(call host_san_objs,$(CAPDIR_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(CAPDIR_LIBS)

$(SAN_BIN)/caploader: $(BIN)/caploader
	@mkdir -p $(dir $@)
	cp $< $@

# Fuzz targets: tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput; the
# decoder sources it needs go in FUZZ_SRCS_fuzz_NAME (in the component's
# build.mk).  Built with clang's libFuzzer + ASan + UBSan.  A target may
# write its own seeds into its corpus directory at start (fuzz_seed.h).
# `make test` runs each briefly (tests/run); `make fuzz` runs each for
# FUZZ_SECONDS and/or FUZZ_RUNS executions (FUZZ_RUNS alone: no time limit),
# FUZZ_ONLY=WORD picks targets, and ends with a table (tests/fuzz/run.sh).
FUZZ_RUNS ?=
FUZZ_SECONDS ?= $(if $(FUZZ_RUNS),0,300)
FUZZ_TARGET_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS := $(FUZZ_TARGET_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)
TEST_TOOLS += $(FUZZERS)

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $$(FUZZ_SRCS_%) $(wildcard tests/fuzz/*.h) \
		$(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang -std=c11 $(WARN) -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
		$(FUZZ_CFLAGS_$*) $< $(sort $(FUZZ_SRCS_$*)) -o $@ $(FUZZ_LIBS_$*)

fuzz: $(FUZZERS)
	FUZZ_ONLY="$(FUZZ_ONLY)" sh tests/fuzz/run.sh $(BUILD) "$(FUZZ_SECONDS)" "$(FUZZ_RUNS)" $(FUZZERS)

.PHONY: fuzz

# Real programs built from Debian 12 source by their own build systems (mk/build-program.sh):
# Redis as a capsule for test_redis; natively too for `make bench`'s baseline.  Rebuilt when
# capcc or a library every capsule links changes.
PROGRAMS  := $(BUILD)/programs
REDIS_CAP := $(PROGRAMS)/cap/redis-server
REDIS_NATIVE := $(PROGRAMS)/native/redis-server
$(REDIS_CAP): mk/build-program.sh $(call host_objs,$(filter-out $(COMMON_CLI_SRCS),$(CAPCC_SRCS))) $(CAP_LIBS) $(MUSL_LIBC) \
              | $(DEPS_STAMP) $(BIN)/capcc
	sh mk/build-program.sh redis cap
$(REDIS_NATIVE): mk/build-program.sh | $(DEPS_STAMP)
	sh mk/build-program.sh redis native
TEST_TOOLS += $(REDIS_CAP)
# Busybox (ash and text tools) as a capsule and natively, for test_busybox's pipelines.
BUSYBOX_CAP := $(PROGRAMS)/cap/busybox
BUSYBOX_NATIVE := $(PROGRAMS)/native/busybox
$(BUSYBOX_CAP): mk/build-program.sh $(call host_objs,$(filter-out $(COMMON_CLI_SRCS),$(CAPCC_SRCS))) $(CAP_LIBS) $(MUSL_LIBC) \
                | $(DEPS_STAMP) $(BIN)/capcc $(BIN)/capctl
	sh mk/build-program.sh busybox cap
$(BUSYBOX_NATIVE): mk/build-program.sh | $(DEPS_STAMP)
	sh mk/build-program.sh busybox native
TEST_TOOLS += $(BUSYBOX_CAP) $(BUSYBOX_NATIVE)

# make bench's migration stream figure: the stream memfd -> TCP -> memfd beside plain TCP.
STREAMBENCH := $(BUILD)/bench/streambench
STREAMBENCH_SRCS := tests/bench/streambench.c $(FORMAT_MIG_SRCS) capsule-abi/cap_snapshot.c \
                    capsule-abi/cap_image.c
$(STREAMBENCH): $(STREAMBENCH_SRCS) $(HOST_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(sort $(STREAMBENCH_SRCS)) -o $@ -lsodium $(CRYPTO_LIBS) -lpthread

# test_memcached and test_nginx build real servers from Debian 12 source packages
# (tests/integration/srvlib.py).  Tests run without a network, so make test fetches the
# sources first (once; cached in $(SRCDIR)), as hosts/capcc/build.mk does for hello.
SERVERS_TEST_SOURCES := $(SRCDIR)/.fetched-servers-test
$(SERVERS_TEST_SOURCES): mk/fetch-sources.sh | $(DEPS_STAMP)
	sh mk/fetch-sources.sh $(SRCDIR) memcached 1.6.18 nginx 1.22.1 libevent 2.1.12 zlib 1.2.13
	touch $@

TEST_TOOLS += $(SERVERS_TEST_SOURCES)
