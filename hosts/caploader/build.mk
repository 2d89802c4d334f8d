# hosts/caploader/build.mk: caploader, the static libc-less loader that becomes the capsule process.
#
# No libc, no writable data, far above every capsule window.
LOADER_CFLAGS  := -std=c11 $(WARN) -O2 -g -I. -ffreestanding -fno-builtin -fno-stack-protector \
                  -fpie -fno-asynchronous-unwind-tables -fno-unwind-tables -fcf-protection=none \
                  -fno-tree-loop-distribute-patterns
LOADER_LDFLAGS := -static -nostdlib -no-pie -Wl,-Ttext-segment=0x600000000000 \
                  -Wl,-z,noseparate-code -Wl,-z,noexecstack -Wl,-z,norelro -Wl,--build-id=none

$(OBJ)/host/loader/caploader.o: hosts/caploader/caploader.c capsule-abi/cap_abi.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(LOADER_CFLAGS) -c $< -o $@

# Refuse a loader with a writable segment or more than one PT_LOAD: it keeps
# exactly one read-only mapping of itself while it unmaps everything else.
$(BIN)/caploader: $(OBJ)/host/loader/caploader.o
	@mkdir -p $(dir $@)
	$(HOSTCC) $(LOADER_LDFLAGS) -o $@.tmp $<
	@test "$$(readelf -lW $@.tmp | grep -c ' LOAD ')" = 1 && \
	 ! readelf -lW $@.tmp | grep ' LOAD ' | grep -q 'RW' || \
	 { echo "caploader: must have exactly one read-only PT_LOAD" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

ALL_TARGETS += $(BIN)/caploader
