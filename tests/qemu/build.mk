# tests/qemu/build.mk: the QEMU demo's static client (tests/qemu/countclient.c), built with everything so the guests' initramfs can include it.
QEMU_TOOLS := $(BUILD)/qemu-tools

$(QEMU_TOOLS)/countclient: tests/qemu/countclient.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) -std=c11 $(WARN) -O2 -static -o $@ $<

ALL_TARGETS += $(QEMU_TOOLS)/countclient
