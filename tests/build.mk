# tests/build.mk: cmocka unit tests, built for the host with ASan + UBSan.
#
# Convention: tests/unit/test_NAME.c is one cmocka binary.  A component
# lists the sources it needs in UNIT_SRCS_test_NAME (in its own build.mk),
# and extra flags in UNIT_CFLAGS_test_NAME.
UNIT_TEST_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS     += $(UNIT_TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

$(BUILD)/tests/unit/%: tests/unit/%.c $$(UNIT_SRCS_%) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(SAN_FLAGS) $(UNIT_CFLAGS_$*) $< $(UNIT_SRCS_$*) \
		-o $@ -lcmocka $(UNIT_LIBS_$*)
