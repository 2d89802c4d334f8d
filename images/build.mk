# images/build.mk: the example capsule apps, each built with capcc into build/images/NAME.cap.
#
# Every app is one plain POSIX C file, images/NAME/NAME.c, compiled exactly as
# with musl-gcc; only the compiler driver changes.  multifile is a separate
# plain Makefile project built with `make CC=capcc`, to show that capcc drops
# into an existing build.

IMAGE_APPS   := echo udpecho counter http threads selftest forbidden stateful memtouch lifecycle spoof relayer \
                calls timers limits \
                ticker files envinfo pingpong procs pgroups shm bulk forkserve membudget fdpass fifo execs \
                fileoff tmpshare udpprocs
IMAGE_FILES  := $(IMAGE_APPS:%=$(IMAGES)/%.cap) $(IMAGES)/multifile.cap
IMAGE_CFLAGS := -std=c11 -Wall -Wextra -Werror -O2
CAP_LIBS     := $(LIB)/libcaprt.a $(LIB)/liblp.a $(LIB)/liblwip.a
# capcc options of one image: ticker is linked without a network stack (no lwIP).
IMAGE_LDFLAGS_ticker := --cap-no-net
# memtouch: room for the 1 GiB migration figures (tests/bench/migbench.py) and its tables.
IMAGE_LDFLAGS_memtouch := --cap-mem=2G
# membudget: a small arena, so its processes' mappings meet the capsule's budget.
IMAGE_LDFLAGS_membudget := --cap-mem=256M

ALL_TARGETS += $(IMAGE_FILES)

# capcc names the image after its output file (echo.cap -> "echo"), so it writes
# $@ directly; capctl pack writes atomically and .DELETE_ON_ERROR covers the rest.
# capcc runs capctl (pack), hence that dependency too: on their objects but the version's
# (cli.o changes with every commit), and on the programs only to exist (CAPCC_BINS).
CAPCC_DEPS := $(call host_objs,$(filter-out $(COMMON_CLI_SRCS),$(CAPCC_SRCS) $(CAPCTL_SRCS))) \
              $(CAP_LIBS) $(MUSL_LIBC)
CAPCC_BINS := $(BIN)/capcc $(BIN)/capctl

$(IMAGES)/%.cap: images/$$*/$$*.c $(CAPCC_DEPS) | $(CAPCC_BINS)
	@mkdir -p $(dir $@)
	$(BIN)/capcc $(IMAGE_CFLAGS) $(IMAGE_LDFLAGS_$*) -o $@ $<

MULTIFILE_OBJ := $(OBJ)/images/multifile

$(IMAGES)/multifile.cap: $(wildcard images/multifile/*.c images/multifile/*.h) \
                         images/multifile/Makefile $(CAPCC_DEPS) | $(CAPCC_BINS)
	@mkdir -p $(dir $@) $(MULTIFILE_OBJ)
	rm -f $(MULTIFILE_OBJ)/multifile.cap   # its own Makefile cannot see a new runtime: relink
	$(MAKE) -C images/multifile CC=$(abspath $(BIN)/capcc) O=$(abspath $(MULTIFILE_OBJ)) \
		TARGET=multifile.cap
	cp $(MULTIFILE_OBJ)/multifile.cap $@.tmp
	mv -f $@.tmp $@
