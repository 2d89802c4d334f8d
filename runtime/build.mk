# runtime/build.mk: the in-capsule library OS, libcaprt.a (built with musl's headers).
RT_SRCS := $(wildcard runtime/*.c)
RT_ASMS := $(wildcard runtime/*.S)
RT_OBJS := $(RT_SRCS:%.c=$(OBJ)/%.o) $(RT_ASMS:%.S=$(OBJ)/%.o)
RT_HDRS := $(wildcard runtime/*.h) capsule-abi/cap_abi.h capsule-abi/cap_report.h capsule-abi/cap_file.h \
           capsule-abi/cap_auxv.h capsule-abi/cap_proc.h
RT_SYSNAMES := $(GEN)/runtime/rt_sysnames.h

# Syscall names for "unsupported system call NAME" messages, from musl's own list.
$(RT_SYSNAMES): | $(FETCH_STAMP)
	@mkdir -p $(dir $@)
	{ echo '/* generated from musl arch/x86_64/bits/syscall.h.in by runtime/build.mk */'; \
	  echo 'static const char *const rt_sysnames[] = {'; \
	  sed -n 's/^#define __NR_\([a-z0-9_]*\)[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$$/\t[\2] = "\1",/p' \
	      $(SRCDIR)/musl/arch/x86_64/bits/syscall.h.in; \
	  echo '};'; } > $@.tmp && mv $@.tmp $@

$(OBJ)/runtime/%.o: runtime/%.c $(RT_HDRS) $(MUSL_LIBC) $(RT_SYSNAMES)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(CAP_CFLAGS) -I$(GEN)/runtime -c $< -o $@

$(OBJ)/runtime/%.o: runtime/%.S $(MUSL_LIBC)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(CAP_CFLAGS) -c $< -o $@

$(LIB)/libcaprt.a: $(RT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@.tmp && ar rcs $@.tmp $^ && mv $@.tmp $@

ALL_TARGETS += $(LIB)/libcaprt.a

# Host unit tests (cmocka + ASan), tests/unit/runtime/test_rt_*.c: the pure parts compile for
# the host, and the fd layer and poll/epoll run on fake operations tables.
RT_UNIT_TESTS := $(patsubst tests/unit/runtime/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/runtime/test_rt_*.c))
UNIT_TESTS += $(RT_UNIT_TESTS)
UNIT_SRCS_test_rt_arena := runtime/arena.c
UNIT_SRCS_test_rt_tmpfs := runtime/tmpfs.c runtime/tmpstore.c runtime/shared.c
UNIT_SRCS_test_rt_report := runtime/report.c
UNIT_SRCS_test_rt_fd := runtime/fd.c
UNIT_SRCS_test_rt_poll := runtime/poll.c runtime/fd.c
UNIT_SRCS_test_rt_channel := runtime/channel.c
UNIT_SRCS_test_rt_events := runtime/eventfd.c runtime/timerfd.c runtime/timers.c runtime/fd.c
UNIT_SRCS_test_rt_etc := runtime/etc.c
UNIT_SRCS_test_rt_ident := runtime/ident.c
UNIT_SRCS_test_rt_udpring := runtime/udpring.c

$(RT_UNIT_TESTS): $(BUILD)/tests/unit/%: tests/unit/runtime/%.c $$(UNIT_SRCS_$$*) $(RT_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(UNIT_LINK)
