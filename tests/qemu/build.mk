# tests/qemu/build.mk: the QEMU demo's static client (tests/qemu/countclient.c), built with everything so the guests' initramfs can include it.
QEMU_TOOLS := $(BUILD)/qemu-tools

$(QEMU_TOOLS)/countclient: tests/qemu/countclient.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) -std=c11 $(WARN) -O2 -static -o $@ $<

ALL_TARGETS += $(QEMU_TOOLS)/countclient

# The guests' kernel, from Debian's package: fetched here, in the root namespace, because
# the tests and the demo run without a network (unshare -n).  Cached under build/qemu.
QEMU_KERNEL_STAMP := $(BUILD)/qemu/.kernel-fetched
$(QEMU_KERNEL_STAMP): tests/qemu/vmimage.py | $(DEPS_STAMP)
	python3 tests/qemu/vmimage.py kernel
	touch $@

TEST_TOOLS += $(QEMU_KERNEL_STAMP)
