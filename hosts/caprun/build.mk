# hosts/caprun/build.mk: caprun, which runs one capsule in a sandboxed process (and migrates, snapshots, resumes it).
CAPRUN_SRCS := hosts/caprun/caprun.c hosts/caprun/caprun_link.c hosts/caprun/caprun_gate.c hosts/caprun/caprun_incoming.c hosts/caprun/caprun_args.c hosts/caprun/caprun_detach.c hosts/caprun/consolelog.c $(COMMON_CLI_SRCS) hosts/common/signame.c hosts/caprun/channel.c \
               hosts/caprun/memlayout.c hosts/caprun/stackbuild.c \
               hosts/caprun/sandbox.c hosts/caprun/relay.c hosts/caprun/ctlserve.c \
               hosts/caprun/snapshot.c hosts/caprun/held.c hosts/caprun/tunfilter.c hosts/caprun/caprun_uplink.c hosts/caprun/caprun_mig.c \
               hosts/caprun/caprun_migin.c hosts/caprun/migfsm.c hosts/caprun/volume.c \
               hosts/caprun/dirty.c hosts/caprun/precopy.c hosts/caprun/caprun_precopy.c hosts/caprun/procs.c hosts/caprun/procs_group.c hosts/caprun/procs_snap.c hosts/caprun/procs_mig.c hosts/caprun/procs_exec.c hosts/caprun/procs_spawn.c hosts/formats/execreq.c \
               hosts/caprun/lazyload.c \
               $(FORMAT_UPLINK_SRCS) hosts/formats/dirproto.c \
               $(FORMAT_MIG_SRCS) $(FORMAT_IMAGE_SRCS) $(FORMAT_SNAPSHOT_SRCS) \
               $(COMMON_NETLINK_SRCS) $(COMMON_TUNVNET_SRCS) $(COMMON_CLOCK_SRCS) $(COMMON_IPV4_SRCS)
# caprun is linked statically and position-independent (-static-pie: ASLR stays): a
# dynamically linked one spent about a millisecond of every start and lazy resume in the
# dynamic linker and its page faults (docs/STARTUP.md 12).  And with musl (Debian's
# musl-gcc), not glibc: glibc's start-up asks the CPU about its caches and features with
# 43 cpuid instructions, each a trap to the hypervisor on a virtual machine (4.2 us
# on this one), 0.18 ms of every start; musl asks nothing (docs/STARTUP.md 18).  Its
# libraries are built with musl from their Debian source packages (mk/build-caprun-libs.sh).
# The price: a Debian security update of musl, libsodium or libgcrypt reaches caprun with
# the next build, not at once; and caprun's own code must not call what a static libc
# cannot do alone (the name service beyond /etc/passwd: getpwnam and friends, getaddrinfo;
# dlopen), which the link checks.  The sanitizer build (tests/build.mk) compiles the same
# sources with glibc and links them dynamically, so the code stays plain POSIX and Linux.
CAPRUN_SYSROOT := $(BUILD)/caprun-sysroot
CAPRUN_LIBS_STAMP := $(CAPRUN_SYSROOT)/.built
CAPRUN_OBJ := $(OBJ)/caprun
CAPRUN_CC := musl-gcc
# musl-gcc links dynamically or statically, never static-pie: the link names musl's files
# itself (rcrt1.o relocates the program at start, as glibc's static-pie does).
CAPRUN_MUSL := /usr/lib/$(shell $(HOSTCC) -print-multiarch | sed 's/-gnu$$/-musl/')
CAPRUN_START := $(CAPRUN_MUSL)/rcrt1.o $(CAPRUN_MUSL)/crti.o $(shell $(HOSTCC) -print-file-name=crtbeginS.o)
CAPRUN_END := -Wl,--start-group $(CAPRUN_MUSL)/libc.a $(shell $(HOSTCC) -print-libgcc-file-name) -Wl,--end-group \
              $(shell $(HOSTCC) -print-file-name=crtendS.o) $(CAPRUN_MUSL)/crtn.o
# -z stack-size: musl gives a thread 128 KiB of stack unless the program asks for more;
# caprun's threads get glibc's 8 MiB (address space only, as there).
CAPRUN_LDFLAGS := -nostdlib -static-pie -Wl,-z,stack-size=8388608
CAPRUN_LIBS := -l:libsodium.a $(CRYPTO_LIBS)
CAPRUN_NOT_STATIC := getpwnam getpwuid getpwnam_r getpwuid_r getpwent getgrnam getgrgid getgrnam_r \
                     getgrgid_r getgrouplist initgroups getaddrinfo getnameinfo gethostbyname \
                     gethostbyname2 gethostbyaddr getservbyname dlopen
# A fresh capsule's environment and identity (-e, --env-file, --dns, --user).
CAPRUN_SRCS += hosts/caprun/caprun_env.c hosts/caprun/capenv.c

$(CAPRUN_LIBS_STAMP): mk/build-caprun-libs.sh mk/fetch-sources.sh | $(DEPS_STAMP)
	sh mk/build-caprun-libs.sh $(SRCDIR) $(CAPRUN_SYSROOT)
	touch $@

# caprun's objects: musl's headers, the kernel's, and the libraries' above (no glibc header).
$(CAPRUN_OBJ)/%.o: %.c $(HOST_HEADERS) $(CAPRUN_LIBS_STAMP)
	@mkdir -p $(dir $@)
	$(CAPRUN_CC) $(HOST_CFLAGS) -I$(GEN) -isystem $(CAPRUN_SYSROOT)/include -fPIE -c $< -o $@
$(CAPRUN_OBJ)/hosts/common/cli.o: $(GEN)/version.h

$(BIN)/caprun: $(patsubst %.c,$(CAPRUN_OBJ)/%.o,$(CAPRUN_SRCS) $(CAP_ABI_SRCS))
	@mkdir -p $(dir $@)
	@bad=$$(nm -u $(filter %.o,$^) | awk '{print $$2}' | grep -xF $(CAPRUN_NOT_STATIC:%=-e %) | sort -u); \
	if [ -n "$$bad" ]; then echo "caprun is linked statically, but its code calls" $$bad >&2; exit 1; fi
	$(HOSTCC) $(CAPRUN_LDFLAGS) -o $@ $(CAPRUN_START) $^ -L$(CAPRUN_SYSROOT)/lib $(CAPRUN_LIBS) $(CAPRUN_END)

ALL_TARGETS += $(BIN)/caprun

# The seccomp allowlist, compiled with libseccomp when caprun is built (sandbox_gen.c), not at
# every start: caprun neither links nor loads libseccomp.
$(OBJ)/host-tools/sandbox_gen: hosts/caprun/sandbox_gen.c capsule-abi/cap_abi.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) -o $@ $< -lseccomp
$(GEN)/sandbox_bpf.h: $(OBJ)/host-tools/sandbox_gen
	@mkdir -p $(dir $@)
	$< > $@.tmp && mv $@.tmp $@
$(HOST_OBJ)/hosts/caprun/sandbox.o $(BUILD)/san/obj/hosts/caprun/sandbox.o $(CAPRUN_OBJ)/hosts/caprun/sandbox.o: $(GEN)/sandbox_bpf.h
$(HOST_OBJ)/hosts/caprun/sandbox.o $(BUILD)/san/obj/hosts/caprun/sandbox.o: HOST_CFLAGS += -I$(GEN)

# The migration transaction's state machine, model-checked (tests/unit/hosts/caprun/).
UNIT_SRCS_test_host_migfsm := hosts/caprun/migfsm.c
# The file records' decoder and a capsule's volumes served from a scratch directory (tests/unit/hosts/caprun/).
UNIT_SRCS_test_host_filerec := capsule-abi/cap_file.c
UNIT_SRCS_test_host_volume := hosts/caprun/volume.c capsule-abi/cap_file.c
FUZZ_SRCS_fuzz_filerec := hosts/caprun/volume.c capsule-abi/cap_file.c

# The environment: --env-file's format and -e items (tests/unit/hosts/caprun/).
UNIT_SRCS_test_host_capenv := hosts/caprun/capenv.c $(COMMON_FILEIO_SRCS)
