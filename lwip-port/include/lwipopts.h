/* lwipopts.h: lwIP configuration for the capsule (green threads, one IPv4 channel netif, MTU 65000). */
#ifndef LP_LWIPOPTS_H
#define LP_LWIPOPTS_H

/*
 * Threads: NO_SYS=0 on the runtime's cooperative green threads.  API calls
 * run directly in the caller under the core lock (about two switches per
 * round trip); input still goes through the tcpip mailbox because the
 * channel is drained from the scheduler's idle wait, which must not block.
 */
#define NO_SYS                          0
#define SYS_LIGHTWEIGHT_PROT            0   /* nothing preempts: SYS_ARCH_PROTECT is empty */
#define LWIP_TCPIP_CORE_LOCKING         1
#define LWIP_TCPIP_CORE_LOCKING_INPUT   0
#define TCPIP_THREAD_NAME               "tcpip_thread"
#define TCPIP_THREAD_STACKSIZE          (256 * 1024)
#define TCPIP_THREAD_PRIO               1
#define TCPIP_MBOX_SIZE                 1024
#define DEFAULT_THREAD_STACKSIZE        (128 * 1024)
#define DEFAULT_RAW_RECVMBOX_SIZE       64
#define DEFAULT_UDP_RECVMBOX_SIZE       256
#define DEFAULT_TCP_RECVMBOX_SIZE       256
#define DEFAULT_ACCEPTMBOX_SIZE         256  /* >= the largest listen backlog (255) */
#define LWIP_NETCONN_SEM_PER_THREAD     0
#define LWIP_NETCONN_FULLDUPLEX         0

/*
 * Memory: lwIP's heap is ours (lwip-port/heap.c: size classes, a free list
 * each, O(1); lwIP's own first-fit heap walked every live block above its
 * lowest hole on each allocation), in one 64 MiB region in .bss, so it lives
 * in the capsule's memfd and a snapshot captures it (pages never touched
 * cost nothing).  lwIP's pools come from that heap (MEMP_MEM_MALLOC), so the
 * number of connections is not fixed when the image is built: a capsule's
 * TCP capacity is its descriptor limit (caprun --max-fds, up to 65536),
 * enforced at the door by lp_limit.c, where a SYN beyond it gets a RST at
 * once.  The heap holds control blocks (~0.4 KiB a connection) and buffered
 * data.  (The capsule's malloc was tried for the heap: musl returning freed
 * 64 KiB packets to the arena made bulk transfers ten times slower.)
 * MEMP_NUM_* below then only feed lwIP's compile-time checks, except
 * MEMP_NUM_NETCONN, the size of lwIP's socket table: the largest --max-fds.
 * MEM_SIZE is the region's size (heap.c), for lwIP's checks.
 */
#define MEM_LIBC_MALLOC                 1
void *lp_heap_malloc(unsigned long size);                   /* lwip-port/heap.h: size_t */
void lp_heap_free(void *p);
void *lp_heap_calloc(unsigned long count, unsigned long size);
#define mem_clib_malloc                 lp_heap_malloc
#define mem_clib_free                   lp_heap_free
#define mem_clib_calloc                 lp_heap_calloc
#define MEM_SIZE                        (64 * 1024 * 1024)
#define MEMP_MEM_MALLOC                 1
#define MEM_ALIGNMENT                   8
#define MEMP_NUM_PBUF                   256
#define MEMP_NUM_RAW_PCB                4
#define MEMP_NUM_UDP_PCB                64
#define MEMP_NUM_TCP_PCB                320
#define MEMP_NUM_TCP_PCB_LISTEN         32
#define MEMP_NUM_TCP_SEG                4096
#define MEMP_NUM_REASSDATA              16
#define MEMP_NUM_FRAG_PBUF              64
#define MEMP_NUM_NETBUF                 512
#define MEMP_NUM_NETCONN                65536   /* CAP_MAX_FDS_MAX */
#define MEMP_NUM_SELECT_CB              16
#define MEMP_NUM_TCPIP_MSG_API          128
#define MEMP_NUM_TCPIP_MSG_INPKT        TCPIP_MBOX_SIZE
#define MEMP_NUM_SYS_TIMEOUT            (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 16)
#define PBUF_POOL_SIZE                  8    /* rarely used: the netif allocates PBUF_RAM */

/* Protocols: IPv4 only; TCP, UDP, ICMP; an IP-level link (no Ethernet/ARP). */
#define LWIP_IPV4                       1
#define LWIP_IPV6                       0
#define LWIP_ARP                        0
#define LWIP_ETHERNET                   0
#define LWIP_ICMP                       1
#define LWIP_RAW                        0
#define LWIP_UDP                        1
#define LWIP_TCP                        1
#define LWIP_DHCP                       0
#define LWIP_AUTOIP                     0
#define LWIP_IGMP                       0
#define LWIP_DNS                        0   /* apps resolve with musl over UDP sockets */
#define IP_FORWARD                      0
#define IP_REASSEMBLY                   1
#define IP_FRAG                         1
#define IP_REASS_MAX_PBUFS              64
#define IP_DEFAULT_TTL                  64
#define LWIP_NETIF_LOOPBACK             1
#define LWIP_HAVE_LOOPIF                1   /* 127.0.0.1 inside the capsule */
#define LWIP_LOOPBACK_MAX_PBUFS         0
#define LWIP_NETIF_STATUS_CALLBACK      0
#define LWIP_NETIF_LINK_CALLBACK        0
#define LWIP_SINGLE_NETIF               0

/*
 * TCP for a 65000-byte link MTU.  TCP_MSS is written unsigned on purpose:
 * init.c's sanity check "TCP_SNDLOWAT >= 0xFFFF - 4 * TCP_MSS" is meant for
 * 16-bit windows and would misfire in signed preprocessor arithmetic with
 * any MSS above 16 KiB; in unsigned arithmetic it passes, and every other
 * check stays on.  TCP_SNDLOWAT must stay below 65535: tcp_sndbuf() is
 * clamped to 16 bits, so a larger low-water mark never reports writable
 * (POLLOUT would never return).
 */
#define TCP_MSS                         64960U
#define LWIP_WND_SCALE                  1
#define TCP_RCV_SCALE                   4
/*
 * 16 segments (1 MB, the most TCP_RCV_SCALE 4 can say): a client sending to a
 * capsule at the default MTU still waited for window updates at 8 (520 KB):
 * 2,141 -> 3,194 MiB/s at 16, 3,411 at 32 and 3,383 at 64 (STARTUP.md 9;
 * 1,672 at 4).  It bounds what a connection may hold unread (in MEM_SIZE's
 * heap, shared by all, and in a snapshot), not what it always takes: 16
 * keeps 64 such connections within the heap where 32 would keep 32.
 */
#define TCP_WND                         (16 * TCP_MSS)
#define TCP_SND_BUF                     (4 * TCP_MSS)
#define TCP_SNDLOWAT                    32768
#define TCP_SND_QUEUELEN                256  /* pbufs, not segments: small writes queue one each */
#define TCP_SNDQUEUELOWAT               (TCP_SND_QUEUELEN / 2)
#define TCP_OVERSIZE                    TCP_MSS
#define TCP_LISTEN_BACKLOG              1
#define TCP_DEFAULT_LISTEN_BACKLOG      255
#define TCP_QUEUE_OOSEQ                 1
/*
 * TCP's timers tick every 50 ms (lwIP's default: 250), its coarse timer so
 * every 100 ms instead of 500.  lwIP keeps its retransmission timeout in
 * coarse ticks and never below about three of them: 1.5 s with the default,
 * doubling on each loss of the same segment (1.5, 3, 6, 12 s ...), so a
 * lossy path stalled a stream for tens of seconds.  Now ~0.3 s, doubling.
 * Delayed ACKs go out within 50 ms.  The timers run only while the capsule
 * has TCP connections (lwIP stops them when none is active).
 */
#define TCP_TMR_INTERVAL                50
#define TCP_MAXRTX                      12
/* Seven SYN retries, the last one's 64 s wait the end of connect: Linux's 127 s (lp_handshake.c). */
#define TCP_SYNMAXRTX                   7
#define LWIP_TCP_KEEPALIVE              1
#define LWIP_TCP_TIMESTAMPS             0
#define LWIP_TCP_SACK_OUT               0
#define LWIP_CALLBACK_API               1
#define LWIP_EVENT_API                  0

/* Sockets: Linux's values come from musl's headers (see arch/cc.h); lp_* translate. */
#define LWIP_NETCONN                    1
#define LWIP_SOCKET                     1
#define LWIP_COMPAT_SOCKETS             0
#define LWIP_POSIX_SOCKETS_IO_NAMES     0
#define LWIP_SOCKET_OFFSET              0   /* the runtime's fd table maps its fds to these */
#define LWIP_SOCKET_SELECT              0   /* the runtime implements select/epoll itself */
#define LWIP_SOCKET_POLL                1
#define LWIP_TIMEVAL_PRIVATE            0
#define LWIP_ERRNO_STDINCLUDE           1
#define LWIP_SO_SNDTIMEO                1
#define LWIP_SO_RCVTIMEO                1
#define LWIP_SO_SNDRCVTIMEO_NONSTANDARD 0   /* struct timeval, as Linux */
#define LWIP_SO_RCVBUF                  1
#define RECV_BUFSIZE_DEFAULT            (512 * 1024)
#define LWIP_SO_LINGER                  1
#define LWIP_FIONREAD_LINUXMODE         1   /* FIONREAD on UDP = size of the next datagram */
#define SO_REUSE                        1
#define SO_REUSE_RXTOALL                0
#define LWIP_TCP_CLOSE_TIMEOUT_MS_DEFAULT 20000

/* Checksums: generated and checked in software with our own routine (eight bytes per step,
 * lwip-port/chksum.c), except where the host's TUN offloads them: per netif and per packet
 * (netif.c), so not while copying (a sum made in tcp_write could not be skipped). */
#define LWIP_CHECKSUM_CTRL_PER_NETIF    1
#define LWIP_CHECKSUM_ON_COPY           0
unsigned short lp_chksum(const void *dataptr, int len);   /* lwip-port/chksum.h: uint16_t */
#define LWIP_CHKSUM                     lp_chksum

/* No statistics, no debug output; assertions stay on (arch/cc.h prints them). */
#define LWIP_STATS                      0
#define LWIP_STATS_DISPLAY              0
#define LWIP_PERF                       0

/* TCP capacity: SYNs beyond the capsule's --max-fds are refused with RST (lp_limit.c). */
#ifndef __ASSEMBLER__
/* Before the core lock is released: segments joined for the TUN's offloads go out (txbatch.c),
 * and the tcpip thread hears of timers another thread armed (lp_wake.c). */
void lp_tx_flush(void);
void lp_core_unlocking(void);
#define LOCK_TCPIP_CORE()   sys_mutex_lock(&lock_tcpip_core)
#define UNLOCK_TCPIP_CORE() do { lp_tx_flush(); lp_core_unlocking(); sys_mutex_unlock(&lock_tcpip_core); } while (0)
struct pbuf;
struct netif;
int lp_limit_ip4_input(struct pbuf *p, struct netif *inp);
#endif
#define LWIP_HOOK_IP4_INPUT(p, inp)     lp_limit_ip4_input((p), (inp))

/* Randomness: initial sequence numbers and ephemeral ports (seeded from the control page). */
#ifndef __ASSEMBLER__
unsigned int lp_random32(void);
#endif
#define LWIP_RAND()                     lp_random32()
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
	((void)(local_ip), (void)(local_port), (void)(remote_ip), (void)(remote_port), lp_random32())

#endif
