# hosts/hostd.mk: caphostd, the per-host network daemon (uplink for caprun, data plane, gateway), and its tests.
# migstream.c: only mig_derive_key (the per-migration stream key in MIG_READY); it pulls in
# the snapshot header checks of capsule-abi ($(CAP_ABI_SRCS)).
# Only the asynchronous directory client (no dirclient_sync.c): nothing may block the loop.
HOSTD_SRCS := hosts/caphostd.c hosts/hostd_fwd.c hosts/hostd_uplink.c hosts/hostd_gw.c \
              hosts/hostd_msg.c hosts/hostd_sync.c hosts/hostd_mig.c hosts/migstream.c \
              hosts/hostd_dir.c hosts/hostd_attach.c hosts/hostd_resolve.c \
              hosts/uplink.c hosts/netlink.c hosts/ctlsock.c hosts/fileio.c hosts/snapauth.c \
              hosts/dirclient.c hosts/dirproto.c hosts/wire.c hosts/xlate.c \
              hosts/tcphold.c hosts/tcphold_pkt.c hosts/hostd_netem.c hosts/netem.c \
              hosts/hostd_ctl.c hosts/hostd_hold.c hosts/holdfile.c
HOSTD_LIBS := -lsodium -lmnl

# Objects come from hosts/build.mk's rule ($(HOST_OBJ)/%.o), shared with caprun.
$(BIN)/caphostd: $(HOSTD_SRCS:hosts/%.c=$(HOST_OBJ)/%.o) $(CAP_ABI_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(HOSTD_LIBS)

ALL_TARGETS += $(BIN)/caphostd

# Pure codecs: the uplink records and the HOLD / FLUSH / SYNC payloads.
UNIT_SRCS_test_host_hostd_msg := hosts/hostd_msg.c hosts/uplink.c
FUZZ_SRCS_fuzz_hostd_msg := hosts/hostd_msg.c hosts/uplink.c

# ASan + UBSan build for the second integration pass (tests/build.mk: CAPTEST_BIN=build/san/bin).
$(BUILD)/san/bin/caphostd: $(patsubst %.c,$(BUILD)/san/obj/%.o,$(HOSTD_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	$(HOSTCC) $(SAN_FLAGS) -o $@ $^ $(HOSTD_LIBS)

TEST_TOOLS += $(BUILD)/san/bin/caphostd

# Test-only fault injection (--net-faults): the spec parser, verdicts and timer queue.
UNIT_SRCS_test_host_netem := hosts/netem.c
# The gateway's hold state files (holdfile.h).
UNIT_SRCS_test_host_holdfile := hosts/holdfile.c hosts/tcphold.c hosts/tcphold_pkt.c
