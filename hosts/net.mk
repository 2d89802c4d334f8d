# hosts/net.mk: host data plane (wire format, translation table, TCP holder): unit tests and fuzz targets.
#
# Pure logic, no binary of its own yet: the host daemon links these sources
# (HOST_NET_SRCS, -lsodium).  Objects are built with the host rules of
# hosts/build.mk ($(HOST_OBJ)/%.o).
HOST_NET_SRCS := hosts/wire.c hosts/xlate.c hosts/tcphold.c hosts/tcphold_pkt.c
HOST_NET_OBJS := $(HOST_NET_SRCS:hosts/%.c=$(HOST_OBJ)/%.o)
HOST_LIBS_net := -lsodium

# Every object compiled with -Werror on each `make`, so a broken file fails early.
ALL_TARGETS += $(HOST_NET_OBJS)

UNIT_SRCS_test_host_wire     := hosts/wire.c
UNIT_LIBS_test_host_wire     := -lsodium
UNIT_SRCS_test_host_xlate    := hosts/xlate.c
UNIT_SRCS_test_host_tcphold  := hosts/tcphold.c hosts/tcphold_pkt.c

FUZZ_SRCS_fuzz_wire    := hosts/wire.c
FUZZ_LIBS_fuzz_wire    := -lsodium
FUZZ_SRCS_fuzz_tcphold := hosts/tcphold.c hosts/tcphold_pkt.c

# Test tool for tests/integration/test_tcphold.py: a TUN-side TCP endpoint that hands over to tcphold.
$(BUILD)/tests/tcphold_tun: tests/tools/tcphold_tun.c hosts/tcphold.c hosts/tcphold_pkt.c \
		hosts/tcphold.h capsule-abi/cap_report.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ tests/tools/tcphold_tun.c hosts/tcphold.c hosts/tcphold_pkt.c

# Built with everything (not only by `make test`): `sh tests/run` after `make` needs it.
ALL_TARGETS += $(BUILD)/tests/tcphold_tun
