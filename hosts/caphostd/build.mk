# hosts/caphostd/build.mk: caphostd, the per-host network daemon (uplink for caprun, data plane, gateway, migrations).
#
# migstream.c (and migstream_procs.c, which its decoder calls): only migstream_derive_key (the
# per-migration stream key in MIG_READY); it pulls in
# the snapshot header checks of capsule-abi ($(CAP_ABI_SRCS)).
# Only the asynchronous directory client (no dirclient_sync.c): nothing may block the loop.
CAPHOSTD_SRCS := hosts/caphostd/caphostd.c hosts/caphostd/hostd_core.c hosts/caphostd/hostd_route.c hosts/caphostd/hostd_fwd.c hosts/caphostd/hostd_uplink.c \
                 hosts/caphostd/hostd_batch.c hosts/common/tcpseg.c \
                 hosts/caphostd/hostd_gw.c hosts/caphostd/hostd_sync.c hosts/caphostd/hostd_mig.c \
                 hosts/caphostd/hostd_dir.c hosts/caphostd/hostd_attach.c hosts/caphostd/hostd_resolve.c \
                 hosts/caphostd/hostd_ctl.c hosts/caphostd/hostd_hold.c hosts/caphostd/holdfile.c \
                 hosts/caphostd/xlate.c hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c \
                 hosts/caphostd/hostd_netem.c hosts/caphostd/netem.c hosts/caphostd/hostd_capture.c \
                 hosts/caphostd/hostd_gapwatch.c hosts/caphostd/hostd_gapask.c $(COMMON_CLI_SRCS) $(COMMON_CLILOG_SRCS) \
                 hosts/formats/hostd_msg.c $(FORMAT_UPLINK_SRCS) hosts/formats/wire.c \
                 hosts/formats/migstream.c hosts/formats/migstream_procs.c hosts/formats/aesgcm.c \
                 hosts/formats/snapauth.c \
                 hosts/formats/ctlsock.c \
                 hosts/formats/dirproto.c hosts/formats/capture.c \
                 $(COMMON_DIRCLIENT_SRCS) $(COMMON_NETLINK_SRCS) $(COMMON_TUNVNET_SRCS) \
                 $(COMMON_FILEIO_SRCS) $(COMMON_CLOCK_SRCS) \
                 $(COMMON_TCPMSS_SRCS)
CAPHOSTD_LIBS := -lsodium $(CRYPTO_LIBS)

$(BIN)/caphostd: $(call host_objs,$(CAPHOSTD_SRCS)) $(CAP_ABI_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(CAPHOSTD_LIBS)

ALL_TARGETS += $(BIN)/caphostd

# Unit tests (tests/unit/hosts/caphostd/, ASan + UBSan via tests/build.mk).
UNIT_SRCS_test_host_xlate    := hosts/caphostd/xlate.c
UNIT_SRCS_test_host_tcphold  := hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c $(COMMON_IPV4_SRCS)
# Test-only fault injection (--net-faults): the spec parser, verdicts and timer queue.
UNIT_SRCS_test_host_netem    := hosts/caphostd/netem.c
# The gateway's hold state files (holdfile.h).
UNIT_SRCS_test_host_holdfile := hosts/caphostd/holdfile.c hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c $(COMMON_IPV4_SRCS)
FUZZ_SRCS_fuzz_tcphold       := hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c $(COMMON_IPV4_SRCS)

# Test tool for tests/integration/test_tcphold.py: a TUN-side TCP endpoint that hands over to tcphold.
# Built with everything (not only by `make test`): `sh tests/run` after `make` needs it.
$(BUILD)/tests/tcphold_tun: tests/tools/tcphold_tun.c hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c $(COMMON_IPV4_SRCS) \
		hosts/caphostd/tcphold.h hosts/formats/tcpconn.h hosts/common/ipv4.h capsule-abi/cap_report.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ tests/tools/tcphold_tun.c hosts/caphostd/tcphold.c hosts/caphostd/tcphold_pkt.c \
		$(COMMON_IPV4_SRCS)

ALL_TARGETS += $(BUILD)/tests/tcphold_tun

# The routing and translation decisions without sockets: every part but main (caphostd.c),
# with the ways out replaced by capturing fakes (struct hostd_ops).
UNIT_SRCS_test_host_hostd_capture := hosts/caphostd/hostd_capture.c hosts/formats/capture.c $(COMMON_IPV4_SRCS)
UNIT_SRCS_test_host_route := $(filter-out hosts/caphostd/caphostd.c $(COMMON_CLI_SRCS) $(COMMON_CLILOG_SRCS),$(CAPHOSTD_SRCS)) $(CAP_ABI_SRCS)
UNIT_LIBS_test_host_route := $(CAPHOSTD_LIBS)
