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

# The host tools again, with ASan + UBSan, for a second integration pass
# (tests/run, CAPTEST_BIN=build/san/bin).  caploader has no libc to
# instrument, so the plain one is copied next to the instrumented caprun.
SAN_BIN := $(BUILD)/san/bin
SAN_OBJ := $(BUILD)/san/obj
TEST_TOOLS += $(SAN_BIN)/caprun $(SAN_BIN)/capctl $(SAN_BIN)/caploader

$(SAN_OBJ)/%.o: %.c $(wildcard hosts/*.h) capsule-abi/*.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(SAN_BIN)/caprun: $(patsubst %.c,$(SAN_OBJ)/%.o,$(HOST_CAPRUN_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(HOST_LIBS_caprun)

$(SAN_BIN)/capctl: $(patsubst %.c,$(SAN_OBJ)/%.o,$(HOST_CAPCTL_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(HOST_LIBS_capctl)

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

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $$(FUZZ_SRCS_%) $(wildcard tests/fuzz/*.h hosts/*.h) \
		capsule-abi/*.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	clang -std=c11 $(WARN) -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined \
		$(FUZZ_CFLAGS_$*) $< $(FUZZ_SRCS_$*) -o $@ $(FUZZ_LIBS_$*)

fuzz: $(FUZZERS)
	FUZZ_ONLY="$(FUZZ_ONLY)" sh tests/fuzz/run.sh $(BUILD) "$(FUZZ_SECONDS)" "$(FUZZ_RUNS)" $(FUZZERS)

.PHONY: fuzz

# The directory service too, when its fragment (hosts/dir.mk) is present.
ifneq ($(DIR_SERVER_SRCS),)
TEST_TOOLS += $(SAN_BIN)/capdird $(SAN_BIN)/capdir
$(SAN_BIN)/capdird: $(patsubst %.c,$(SAN_OBJ)/%.o,$(DIR_SERVER_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(DIR_LIBS)
$(SAN_BIN)/capdir: $(patsubst %.c,$(SAN_OBJ)/%.o,$(DIR_CLI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(DIR_LIBS)
endif
