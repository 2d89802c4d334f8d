# hosts/dir.mk: the directory service: capdird (server), capdir (CLI), dirclient, their tests.
DIR_LIBS := -lsqlite3 -lsodium
# fileio.c: key files are opened with host_open_regular (a FIFO must not block us).
DIR_PROTO_SRCS  := hosts/dirproto.c hosts/fileio.c
DIR_SERVER_SRCS := hosts/capdird.c hosts/dirdb.c $(DIR_PROTO_SRCS)
DIR_CLI_SRCS    := hosts/capdir.c hosts/dirclient.c hosts/dirclient_sync.c $(DIR_PROTO_SRCS)
DIR_HEADERS     := hosts/dirproto.h hosts/dirdb.h hosts/dirclient.h hosts/fileio.h

# Own object rule (hosts/build.mk's one depends on every hosts/*.h anyway,
# but these objects live apart so the two fragments never fight over them).
$(OBJ)/host/dir/%.o: hosts/%.c $(DIR_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -c $< -o $@

$(BIN)/capdird: $(DIR_SERVER_SRCS:hosts/%.c=$(OBJ)/host/dir/%.o)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(DIR_LIBS)

$(BIN)/capdir: $(DIR_CLI_SRCS:hosts/%.c=$(OBJ)/host/dir/%.o)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(DIR_LIBS)

ALL_TARGETS += $(BIN)/capdird $(BIN)/capdir

# Unit tests (ASan + UBSan via tests/build.mk) and the decoder's fuzz target.
UNIT_SRCS_test_host_dirproto := $(DIR_PROTO_SRCS)
UNIT_LIBS_test_host_dirproto := -lsodium
UNIT_SRCS_test_host_dirdb    := hosts/dirdb.c $(DIR_PROTO_SRCS)
UNIT_LIBS_test_host_dirdb    := -lsqlite3 -lsodium
FUZZ_SRCS_fuzz_dirproto      := $(DIR_PROTO_SRCS)
FUZZ_LIBS_fuzz_dirproto      := -lsodium
