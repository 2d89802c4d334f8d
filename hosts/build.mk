# hosts/build.mk: host tools: caploader (libc-less loader), caprun, capctl, capcc.
HOST_OBJ := $(OBJ)/host/hosts
HOST_LIBS_caprun := -lseccomp -lsodium -lmnl
HOST_LIBS_capctl := -lsodium

HOST_IMAGE_SRCS  := hosts/image.c hosts/elfload.c hosts/snapfile.c hosts/snapauth.c hosts/ctlsock.c \
                    hosts/fileio.c
HOST_CAPRUN_SRCS := hosts/caprun.c hosts/memlayout.c hosts/stackbuild.c hosts/sandbox.c \
                    hosts/netlink.c hosts/relay.c hosts/ctlserve.c hosts/snapshot.c \
                    hosts/caprun_uplink.c hosts/uplink.c hosts/caprun_mig.c hosts/caprun_migin.c \
                    hosts/migstream.c hosts/migctl.c hosts/migfsm.c hosts/dirproto.c \
                    $(HOST_IMAGE_SRCS)
HOST_CAPCTL_SRCS := hosts/capctl.c hosts/capctl_pack.c hosts/capctl_info.c hosts/capctl_stats.c \
                    hosts/capctl_snap.c hosts/capctl_inspect.c hosts/capctl_report.c hosts/capctl_psall.c \
                    hosts/capctl_mig.c \
                    hosts/dirclient.c hosts/dirclient_sync.c hosts/dirproto.c $(HOST_IMAGE_SRCS)

# The loader: static, no libc, no writable data, far above every capsule window.
LOADER_CFLAGS  := -std=c11 $(WARN) -O2 -g -I. -ffreestanding -fno-builtin -fno-stack-protector \
                  -fpie -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
                  -fno-tree-loop-distribute-patterns
LOADER_LDFLAGS := -static -nostdlib -no-pie -Wl,-Ttext-segment=0x600000000000 \
                  -Wl,-z,noseparate-code -Wl,-z,noexecstack -Wl,-z,norelro -Wl,--build-id=none

$(HOST_OBJ)/%.o: hosts/%.c $(wildcard hosts/*.h) capsule-abi/*.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -c $< -o $@

$(HOST_OBJ)/loader/caploader.o: hosts/caploader.c capsule-abi/cap_abi.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(LOADER_CFLAGS) -c $< -o $@

# Refuse a loader with a writable segment or more than one PT_LOAD: it keeps
# exactly one read-only mapping of itself while it unmaps everything else.
$(BIN)/caploader: $(HOST_OBJ)/loader/caploader.o
	@mkdir -p $(dir $@)
	$(HOSTCC) $(LOADER_LDFLAGS) -o $@.tmp $<
	@test "$$(readelf -lW $@.tmp | grep -c ' LOAD ')" = 1 && \
	 ! readelf -lW $@.tmp | grep ' LOAD ' | grep -q 'RW' || \
	 { echo "caploader: must have exactly one read-only PT_LOAD" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

$(BIN)/caprun: $(HOST_CAPRUN_SRCS:hosts/%.c=$(HOST_OBJ)/%.o) $(CAP_ABI_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS_caprun)

$(BIN)/capctl: $(HOST_CAPCTL_SRCS:hosts/%.c=$(HOST_OBJ)/%.o) $(CAP_ABI_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS_capctl)

# capcc finds the sysroot relative to itself: $(BIN)/../sysroot.
$(BIN)/capcc: hosts/capcc.in
	@mkdir -p $(dir $@)
	sed -e 's|@SYSROOT_REL@|../sysroot|' -e 's|@IMAGE_BASE@|0x20000000|' $< > $@.tmp
	chmod 755 $@.tmp
	mv $@.tmp $@

ALL_TARGETS += $(BIN)/caploader $(BIN)/caprun $(BIN)/capctl $(BIN)/capcc

# Unit tests (tests/unit/test_host_*.c), ASan + UBSan via tests/build.mk.
UNIT_SRCS_test_host_image := hosts/image.c hosts/fileio.c hosts/elfload.c hosts/stackbuild.c capsule-abi/cap_image.c
UNIT_LIBS_test_host_image := -lsodium
UNIT_SRCS_test_host_snapshot := hosts/snapfile.c hosts/snapauth.c hosts/ctlsock.c hosts/fileio.c \
                                capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
UNIT_SRCS_test_host_snapauth := hosts/snapauth.c hosts/ctlsock.c hosts/fileio.c
UNIT_LIBS_test_host_snapauth := -lsodium
UNIT_LIBS_test_host_snapshot := -lsodium

# Fuzz targets (tests/build.mk): the .cap parser, the snapshot reader, the freeze report.
FUZZ_SRCS_fuzz_image    := hosts/image.c hosts/elfload.c hosts/fileio.c capsule-abi/cap_image.c
FUZZ_LIBS_fuzz_image    := -lsodium
FUZZ_SRCS_fuzz_snapshot := hosts/snapfile.c hosts/snapauth.c hosts/ctlsock.c hosts/fileio.c \
                           hosts/capctl_report.c \
                           capsule-abi/cap_snapshot.c capsule-abi/cap_image.c
FUZZ_LIBS_fuzz_snapshot := -lsodium
FUZZ_SRCS_fuzz_report   := hosts/capctl_report.c
