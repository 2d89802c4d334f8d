# hosts/capcc/build.mk: capcc, the compiler driver script (capcc -o app.cap app.c).

# capcc finds the sysroot relative to itself: $(BIN)/../sysroot.
$(BIN)/capcc: hosts/capcc/capcc.in
	@mkdir -p $(dir $@)
	sed -e 's|@SYSROOT_REL@|../sysroot|' -e 's|@IMAGE_BASE@|0x20000000|' $< > $@.tmp
	chmod 755 $@.tmp
	mv $@.tmp $@

ALL_TARGETS += $(BIN)/capcc
