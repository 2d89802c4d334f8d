# lwip-port/build.mk: liblwip.a (lwIP 2.1.3 from build/src/lwip, its own flags) and liblp.a (our glue).

LWIP_DIR := $(SRCDIR)/lwip/src

# Debian's lwIP 2.1.3: COREFILES + CORE4FILES + APIFILES of src/Filelists.mk.
LWIP_CORE := init def dns inet_chksum ip mem memp netif pbuf raw stats sys \
             altcp altcp_alloc altcp_tcp tcp tcp_in tcp_out timeouts udp
LWIP_IPV4 := autoip dhcp etharp icmp igmp ip4_frag ip4 ip4_addr
LWIP_API  := api_lib api_msg err if_api netbuf netdb netifapi sockets tcpip
LWIP_SRCS := $(LWIP_CORE:%=$(LWIP_DIR)/core/%.c) $(LWIP_IPV4:%=$(LWIP_DIR)/core/ipv4/%.c) \
             $(LWIP_API:%=$(LWIP_DIR)/api/%.c)
LWIP_OBJS := $(LWIP_SRCS:$(LWIP_DIR)/%.c=$(OBJ)/lwip/%.o)

# Our configuration, seen by both archives.
LP_CONFIG_HDRS := lwip-port/include/lwipopts.h lwip-port/include/arch/cc.h \
                  lwip-port/include/arch/sys_arch.h
LP_INCLUDES := -Ilwip-port/include -I$(LWIP_DIR)/include

# Third-party code: lwIP's own relaxed flags (warnings shown, never fatal), musl's headers.
LWIP_CFLAGS := -std=gnu99 -O2 -g -Wall -Wno-address -nostdinc -isystem $(SYSROOT)/include \
               -isystem $(GCC_INC) -fno-pie -fno-stack-protector -D_GNU_SOURCE $(LP_INCLUDES)

# The sources appear when the fetch step unpacks them.
$(LWIP_SRCS): | $(FETCH_STAMP) ;

$(OBJ)/lwip/%.o: $(LWIP_DIR)/%.c $(LP_CONFIG_HDRS) $(MUSL_LIBC)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(LWIP_CFLAGS) -c $< -o $@

# lwIP's checksum routine and heap are ours (lwipopts.h: LWIP_CHKSUM, mem_clib_*), built
# with our flags below but archived with lwIP, which calls them: each library needs only
# those after it (capcc).
LP_IN_LWIP := lwip-port/chksum.c lwip-port/heap.c
$(LIB)/liblwip.a: $(LWIP_OBJS) $(LP_IN_LWIP:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@.tmp && ar rcs $@.tmp $^ && mv $@.tmp $@

# Our glue: the project's strict flags plus lwIP's include paths.
LP_SRCS := $(filter-out $(LP_IN_LWIP),$(wildcard lwip-port/*.c))
LP_OBJS := $(LP_SRCS:%.c=$(OBJ)/%.o)
LP_HDRS := $(wildcard lwip-port/*.h) $(LP_CONFIG_HDRS) capsule-abi/cap_abi.h capsule-abi/cap_report.h \
           runtime/rt_sched.h runtime/rt_host.h runtime/rt_fd.h runtime/rt_net.h

$(OBJ)/lwip-port/%.o: lwip-port/%.c $(LP_HDRS) $(MUSL_LIBC) | $(FETCH_STAMP)
	@mkdir -p $(dir $@)
	$(HOSTCC) $(CAP_CFLAGS) $(LP_INCLUDES) -c $< -o $@

$(LIB)/liblp.a: $(LP_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@.tmp && ar rcs $@.tmp $^ && mv $@.tmp $@

ALL_TARGETS += $(LIB)/liblwip.a $(LIB)/liblp.a

# Host unit tests, tests/unit/lwip-port/test_lp_*.c: the pure translation layer
# (glibc + ASan; lwIP headers on the sockabi.c side).
LP_UNIT_TESTS := $(patsubst tests/unit/lwip-port/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/lwip-port/test_lp_*.c))
UNIT_TESTS += $(LP_UNIT_TESTS)
UNIT_SRCS_test_lp_sockabi   := lwip-port/sockabi.c
UNIT_CFLAGS_test_lp_sockabi := $(LP_INCLUDES)
UNIT_SRCS_test_lp_chksum    := lwip-port/chksum.c
UNIT_SRCS_test_lp_vnet      := lwip-port/vnet.c lwip-port/chksum.c
UNIT_SRCS_test_lp_heap      := lwip-port/heap.c

$(LP_UNIT_TESTS): $(BUILD)/tests/unit/%: tests/unit/lwip-port/%.c $$(UNIT_SRCS_$$*) $(LP_HDRS) \
		| $(DEPS_STAMP) $(FETCH_STAMP)
	@mkdir -p $(dir $@)
	$(UNIT_LINK)

.PHONY: lwip-port
lwip-port: $(LIB)/liblwip.a $(LIB)/liblp.a
