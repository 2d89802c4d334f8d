# hosts/capctl/build.mk: capctl, the control CLI (pack, info, ps, stats, snapshot, inspect, migrate, binfmt).
CAPCTL_SRCS := hosts/capctl/capctl.c hosts/capctl/capctl_pack.c hosts/capctl/capctl_info.c \
               hosts/capctl/capctl_stats.c hosts/capctl/capctl_snap.c hosts/capctl/capctl_inspect.c \
               hosts/capctl/capctl_report.c hosts/capctl/capctl_psall.c hosts/capctl/capctl_mig.c \
               hosts/capctl/capctl_binfmt.c hosts/capctl/capctl_capture.c hosts/formats/capture.c \
               hosts/capctl/capctl_svg.c hosts/capctl/capctl_gaps.c $(COMMON_IPV4_SRCS) $(COMMON_CLI_SRCS) \
               hosts/capctl/capctl_life.c hosts/capctl/capctl_keygen.c hosts/capctl/capctl_pstree.c \
               $(COMMON_DIRSYNC_SRCS) hosts/formats/dirproto.c \
               $(FORMAT_IMAGE_SRCS) $(FORMAT_SNAPSHOT_SRCS) $(COMMON_CLOCK_SRCS)
CAPCTL_LIBS := -lsodium

$(BIN)/capctl: $(call host_objs,$(CAPCTL_SRCS)) $(CAP_ABI_HOST_OBJS)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $^ $(CAPCTL_LIBS)

ALL_TARGETS += $(BIN)/capctl

# The freeze report's checker: the capsule wrote it and nothing trusts it.
FUZZ_SRCS_fuzz_report := hosts/capctl/capctl_report.c

# capctl migrate --svg's drawing, alone (tests/unit/hosts/capctl/test_host_capctl_svg.c).
UNIT_SRCS_test_host_capctl_svg := hosts/capctl/capctl_svg.c
