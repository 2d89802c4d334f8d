# hosts/capcc/build.mk: capcc (the compiler driver), capexec (runs a .cap like a program), and the sysroot's sys/queue.h.

# capcc finds the sysroot relative to itself ($(BIN)/../sysroot) and capctl next to it.
CAPCC_SRCS   := hosts/capcc/capcc.c $(COMMON_CLI_SRCS)
CAPEXEC_SRCS := hosts/capcc/capexec.c $(COMMON_FILEIO_SRCS) $(COMMON_CLI_SRCS)

$(BIN)/capcc: $(call host_objs,$(CAPCC_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^

$(BIN)/capexec: $(call host_objs,$(CAPEXEC_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^

# musl has no <sys/queue.h>; libbsd-dev ships FreeBSD's (BSD-licensed, with the
# *_FOREACH_SAFE macros glibc's lacks), copied at build time, never committed.
# Its one need from libbsd's <bsd/sys/cdefs.h> is __containerof: defined in its place.
SYSROOT_QUEUE_H := $(SYSROOT)/include/sys/queue.h
# On a fresh machine that file arrives with libbsd-dev (mk/deps.sh): without this
# rule a parallel make stops at once with "no rule to make" it.
/usr/include/bsd/sys/queue.h: | $(DEPS_STAMP)
$(SYSROOT_QUEUE_H): /usr/include/bsd/sys/queue.h $(MUSL_LIBC)
	@mkdir -p $(dir $@)
	sed -e '/^#ifdef LIBBSD_OVERLAY$$/,/^#endif$$/c\' \
	    -e '#include <stddef.h>\' \
	    -e '#define __containerof(x, s, m) ((s *)(void *)((char *)(x) - offsetof(s, m)))' \
	    $< > $@.tmp
	! grep -n 'cdefs' $@.tmp
	mv $@.tmp $@

ALL_TARGETS += $(BIN)/capcc $(BIN)/capexec $(SYSROOT_QUEUE_H)

# test_capcc builds GNU hello, zlib and libevent from Debian source.  Tests run in network
# namespaces without a network, so make test fetches the sources first (once; cached in
# $(SRCDIR)); mk/sysroot-lib.sh and the test then find them there.
CAPCC_TEST_SOURCES := $(SRCDIR)/.fetched-capcc-test
$(CAPCC_TEST_SOURCES): mk/fetch-sources.sh | $(DEPS_STAMP)
	sh mk/fetch-sources.sh $(SRCDIR) hello 2.10 zlib 1.2.13 libevent 2.1.12
	touch $@

TEST_TOOLS += $(CAPCC_TEST_SOURCES)
