# hosts/capdird/build.mk: capdird, the directory service (capsule IPs, hosts and epochs in SQLite or etcd).
CAPDIRD_SRCS := hosts/capdird/capdird.c hosts/capdird/dirdb.c hosts/capdird/dirdb_ops.c \
                hosts/capdird/dirdb_etcd.c hosts/capdird/dirdb_etcd_val.c hosts/capdird/etcdkv.c \
                $(FORMAT_DIR_SRCS) $(COMMON_CLOCK_SRCS) $(COMMON_CLI_SRCS) $(COMMON_CLILOG_SRCS)
CAPDIRD_LIBS := -lsqlite3 -lsodium -lcurl -lcjson -lpthread

$(BIN)/capdird: $(call host_objs,$(CAPDIRD_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(CAPDIRD_LIBS)

ALL_TARGETS += $(BIN)/capdird

# The SQLite state (tests/unit/hosts/capdird/).
UNIT_SRCS_test_host_dirdb := hosts/capdird/dirdb.c $(FORMAT_DIR_SRCS)
UNIT_LIBS_test_host_dirdb := -lsqlite3 -lsodium

# The etcd store's values (tests/unit/hosts/capdird/test_host_dirdb_etcd_val.c).
UNIT_SRCS_test_host_dirdb_etcd_val := hosts/capdird/dirdb_etcd_val.c $(FORMAT_DIR_SRCS)
UNIT_LIBS_test_host_dirdb_etcd_val := -lsodium
