/* cap_report.h: the freeze report: what a frozen capsule says about its threads, descriptors and TCP state. */
#ifndef CAP_REPORT_H
#define CAP_REPORT_H

#include <stdint.h>

/*
 * At every freeze the capsule writes this report at CAP_REPORT_ADDR (just
 * after the control page, inside the memfd), so it travels in every
 * snapshot.  A host reads it to explain a snapshot to a person
 * (`capctl inspect`) without knowing the layout of the runtime's thread
 * table or of lwIP's TCP control blocks.  It is a description only: resume
 * never reads it.
 *
 * Layout: struct cap_report_header, then nthreads struct cap_report_thread,
 * then nfds struct cap_report_fd.  Integers little-endian; IPv4 addresses in
 * network order; ports in host order.  See docs/FORMAT-SNAPSHOT.md.
 */
#define CAP_REPORT_MAGIC   0x54524550u   /* "PERT" little-endian: "report" */
#define CAP_REPORT_VERSION 1u

struct cap_report_header {
	uint32_t magic;         /* CAP_REPORT_MAGIC */
	uint32_t version;       /* CAP_REPORT_VERSION */
	uint32_t nthreads;
	uint32_t nfds;
	uint32_t truncated;     /* 1 if entries were left out for lack of room */
	uint32_t reserved;
	int64_t  now_ns;        /* capsule monotonic time at the freeze */
	uint64_t arena_used;    /* bytes of the arena allocated */
	uint64_t arena_size;
};
_Static_assert(sizeof(struct cap_report_header) == 48, "cap_report_header layout");

enum cap_report_thread_state {
	CAP_THREAD_RUNNABLE = 1,
	CAP_THREAD_BLOCKED  = 2,
	CAP_THREAD_CURRENT  = 3,   /* the thread that ran the freeze (it sits in the idle wait) */
};

struct cap_report_thread {
	int32_t  tid;
	uint32_t state;            /* enum cap_report_thread_state */
	char     blocked_on[32];   /* "accept", "recv", "futex", "sleep", "cond", ... or "" */
	int64_t  deadline_ns;      /* wake-up time if it waits with a timeout, else 0 */
};
_Static_assert(sizeof(struct cap_report_thread) == 48, "cap_report_thread layout");

enum cap_report_fd_kind {
	CAP_RFD_CONSOLE = 1,
	CAP_RFD_PIPE_R  = 2,
	CAP_RFD_PIPE_W  = 3,
	CAP_RFD_FILE    = 4,
	CAP_RFD_DIR     = 5,
	CAP_RFD_DEV     = 6,
	CAP_RFD_TCP     = 7,
	CAP_RFD_UDP     = 8,
	CAP_RFD_EPOLL   = 9,
	/* 16 and up: the runtime's event descriptors (eventfd.c, timerfd.c, signalfd.c) */
	CAP_RFD_EVENTFD  = 16,
	CAP_RFD_TIMERFD  = 17,
	CAP_RFD_SIGNALFD = 18,
	CAP_RFD_UNIX     = 19,   /* an end of a socketpair(AF_UNIX) (unixsock.c); u.pipe: what it reads */
	/*
	 * A TCP socket several processes share, served by pid 1 (sockrelay.c): u.sock's
	 * addresses, tcp_state (LISTEN or ESTABLISHED) and unread (bytes relayed, not yet
	 * read); no sequence numbers.  pid 1's report lists the stack's own sockets behind
	 * them as CAP_RFD_TCP with fd -1.
	 */
	CAP_RFD_TCP_RELAY = 20,
	/*
	 * A UDP socket in the shared window, served by pid 1 (udprelay.c): u.sock's local
	 * address and its peer if connected, unread (datagrams received, not yet read) and
	 * unsent (datagrams sent, not yet handed to the stack).  pid 1's report lists the
	 * stack's own sockets behind them as CAP_RFD_UDP with fd -1.
	 */
	CAP_RFD_UDP_RELAY = 21,
};

/* TCP states, numbered as lwIP numbers them (RFC 793 names). */
enum cap_tcp_state {
	CAP_TCP_CLOSED = 0, CAP_TCP_LISTEN = 1, CAP_TCP_SYN_SENT = 2, CAP_TCP_SYN_RCVD = 3,
	CAP_TCP_ESTABLISHED = 4, CAP_TCP_FIN_WAIT_1 = 5, CAP_TCP_FIN_WAIT_2 = 6,
	CAP_TCP_CLOSE_WAIT = 7, CAP_TCP_CLOSING = 8, CAP_TCP_LAST_ACK = 9, CAP_TCP_TIME_WAIT = 10,
};

struct cap_report_sock {
	uint32_t local_ip, remote_ip;       /* network order */
	uint16_t local_port, remote_port;   /* host order */
	uint32_t tcp_state;                 /* enum cap_tcp_state (TCP only) */
	uint32_t snd_una, snd_nxt, rcv_nxt; /* sequence numbers (TCP only) */
	uint32_t snd_wnd, rcv_wnd;          /* peer's window, our advertised window */
	uint32_t unsent;                    /* bytes queued, not yet sent */
	uint32_t unacked;                   /* bytes sent, not yet acknowledged */
	uint32_t unread;                    /* bytes received, not yet read by the app */
	uint8_t  snd_scale;                 /* window scale the peer applies (RFC 7323); 0: none */
	uint8_t  rcv_scale;                 /* window scale we apply to windows we advertise */
	uint16_t mss;                       /* segment size in use */
	uint32_t reserved[5];
};
_Static_assert(sizeof(struct cap_report_sock) == 72, "cap_report_sock layout");

struct cap_report_fd {
	int32_t  fd;
	uint32_t kind;              /* enum cap_report_fd_kind */
	uint32_t flags;             /* Linux O_* status flags (O_NONBLOCK, O_APPEND, ...) */
	uint32_t reserved;
	union {
		struct cap_report_sock sock;
		struct {
			uint32_t buffered;  /* bytes in the pipe */
			uint32_t capacity;
			uint32_t peer_open; /* the other end is still open */
		} pipe;
		struct {
			char     path[56];  /* NUL-terminated (truncated if longer) */
			uint64_t size;
			uint64_t offset;
		} file;
		struct {
			uint64_t count;     /* the counter */
			uint32_t semaphore; /* EFD_SEMAPHORE */
		} eventfd;
		struct {
			int64_t  next_ns;   /* time left to the next expiry; 0: disarmed */
			uint64_t interval_ns;
			uint64_t expirations; /* expired, not yet read */
			uint32_t clock;     /* CLOCK_MONOTONIC (1) or CLOCK_REALTIME (0) */
		} timer;
		struct {
			uint64_t mask;      /* signals it reads (bit n-1: signal n) */
			uint64_t pending;   /* of those, pending now */
		} signalfd;
	} u;
};
_Static_assert(sizeof(struct cap_report_fd) == 88, "cap_report_fd layout");

#endif
