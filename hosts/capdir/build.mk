# hosts/capdir/build.mk: capdir, the directory's command-line client (for people and tests).
CAPDIR_SRCS := hosts/capdir/capdir.c $(COMMON_DIRSYNC_SRCS) $(FORMAT_DIR_SRCS) $(COMMON_CLOCK_SRCS) \
               $(COMMON_CLI_SRCS)
CAPDIR_LIBS := -lsodium

$(BIN)/capdir: $(call host_objs,$(CAPDIR_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(CAPDIR_LIBS)

ALL_TARGETS += $(BIN)/capdir
