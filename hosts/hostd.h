/* hostd.h: caphostd's shared state: local capsules, peer hosts, translation table, gateway holders, counters. */
#ifndef HOST_HOSTD_H
#define HOST_HOSTD_H

#include "hosts/dirclient.h"
#include "hosts/hostd_msg.h"
#include "hosts/tcphold.h"
#include "hosts/wire.h"
#include "hosts/xlate.h"

#include <limits.h>
#include <stdint.h>

#define HOSTD_MAX_CAPS   256   /* capsules attached to (or saved on) this host */
#define HOSTD_MAX_PEERS  64    /* other hosts we exchanged authenticated packets with */
#define HOSTD_MAX_HOLDS  64    /* capsules the gateway is holding peers for */
#define HOSTD_HOLD_CONNS 64    /* held TCP connections per capsule */
#define HOSTD_HOLD_BUF   (256u << 10)   /* per held connection, at most (normally one window) */
#define HOSTD_UDP_BUF    (256u << 10)   /* per held capsule, UDP and other non-TCP */
#define HOSTD_UDP_PKTS   256
#define HOSTD_NEG_CACHE  64    /* addresses the directory did not know, asked again after 1 s */

enum hostd_cap_state { HCAP_FREE = 0, HCAP_CONNECTED, HCAP_RUNNING, HCAP_FROZEN, HCAP_SAVED };

struct hostd_cap {
	int state;               /* enum hostd_cap_state */
	int fd;                  /* uplink; -1 once SAVED */
	char name[64];
	uint32_t ip;             /* network order */
	uint32_t epoch;
	uint64_t pkts_in, pkts_out;
};

struct hostd_peer {
	uint32_t host_id;        /* 0 = free slot */
	uint32_t addr;           /* locator, network order (learned from authenticated packets) */
	uint16_t port;           /* host order */
	struct wire_replay replay;
	uint64_t redirect_ms;    /* rate limit: last REDIRECT we sent it */
	uint32_t redirects_in_ms;
};

struct hostd_hold {
	uint32_t ip;             /* capsule, network order; 0 = free slot */
	uint32_t epoch;
	uint32_t nconns;
	struct tcphold_conn conns[HOSTD_HOLD_CONNS];
	struct tcphold_udp udp;
	uint8_t *udp_buf;
};

/* Every drop has its own counter; `stats` prints them by these names, in this order. */
#define HOSTD_COUNTERS(X) \
	X(up_attach) X(up_attach_refused) X(up_malformed) X(up_spoofed) X(up_not_attached) \
	X(up_pkts_in) X(up_pkts_out) X(deliver_full) X(drop_held) X(drop_no_route) \
	X(drop_bad_dst) X(drop_not_gateway) X(drop_no_gateway) X(drop_epoch) X(data_out) \
	X(data_in) X(send_errors) X(redirect_out) X(redirect_in) X(redirect_rate_limited) \
	X(redirect_bad) X(hold_out) X(hold_in) X(hold_bad) X(hold_full) X(hold_new_conn) \
	X(flush_out) X(flush_in) X(released_conns) X(reinjected_pkts) X(held_udp_dropped) \
	X(gw_in) X(gw_out) X(gw_spoofed) X(gw_malformed) X(gw_src_not_capsule) X(gw_write_errors) \
	X(dir_lookups) X(dir_errors) X(notifies) X(peers_full) X(dir_states) X(dir_state_errors) \
	X(gw_lookups) X(gw_lookup_errors)

struct hostd_counters {
#define HOSTD_FIELD(n) uint64_t n;
	HOSTD_COUNTERS(HOSTD_FIELD)
#undef HOSTD_FIELD
};

struct hostd {
	/* configuration */
	uint32_t host_id, network_id;
	uint32_t net, mask;          /* capsule network, host order */
	uint32_t listen_addr;        /* network order */
	uint16_t listen_port;
	int gateway;                 /* this host is the gateway (capgw) */
	uint32_t gw_host;            /* the gateway's host_id (ours if gateway) */
	uint8_t data_key[WIRE_KEY_LEN];
	char run_dir[PATH_MAX];

	/* resources */
	struct dirc *dir;
	int ep, udp_fd, up_fd, ctl_fd, sig_fd, tun_fd;
	struct mnl_socket *nl;
	unsigned tun_ifindex;
	int unreach_added;
	char up_path[PATH_MAX], ctl_path[PATH_MAX];

	/* state */
	struct xlate_table xt;
	struct hostd_cap caps[HOSTD_MAX_CAPS];
	struct hostd_peer peers[HOSTD_MAX_PEERS];
	struct hostd_hold holds[HOSTD_MAX_HOLDS];
	struct { uint32_t ip; uint64_t until_ms; } neg[HOSTD_NEG_CACHE];
	unsigned neg_next;
	uint64_t seq_last, gw_list_ms;
	struct hostd_counters cnt;
	struct wire_counters wc;
};

/* epoll tags: what an event's data.u64 means */
#define HOSTD_EV_UDP     1
#define HOSTD_EV_UPLISTEN 2
#define HOSTD_EV_CTL     3
#define HOSTD_EV_SIG     4
#define HOSTD_EV_TUN     5
#define HOSTD_EV_DIR     6
#define HOSTD_EV_CAP     0x100   /* + index into caps[] */

uint64_t hostd_now_ms(void);
static inline int hostd_in_net(const struct hostd *d, uint32_t ip_net_order)
{
	return (__builtin_bswap32(ip_net_order) & d->mask) == d->net;
}

/* hostd_fwd.c: the data plane */
void hostd_udp_input(struct hostd *d);
/* A packet for capsule-network or ordinary destination dst, from a local capsule or the gateway. */
void hostd_route(struct hostd *d, const uint8_t *pkt, size_t len);
int hostd_send_wire(struct hostd *d, int type, uint32_t epoch, const uint8_t *payload, size_t plen,
                    uint32_t addr, uint16_t port);
struct hostd_peer *hostd_peer(struct hostd *d, uint32_t host_id, int create);
/* Locator of the gateway host; 0 if not known (yet).  Unknown: asks the
 * directory (HOST_LOOKUP), at most once a second, counted. */
int hostd_gateway_locator(struct hostd *d, uint32_t *addr, uint16_t *port);
/* At start: find the gateway's locator, up to tries attempts 200 ms apart. */
void hostd_gateway_discover(struct hostd *d, int tries);
void hostd_notify(struct hostd *d, const struct dir_entry *e);
/* Ask the directory where ip is (subscribing) and cache it; 0 if now known. */
int hostd_resolve(struct hostd *d, uint32_t ip);

/* hostd_uplink.c: capsules attached over RUN_DIR/caphostd.sock */
void hostd_uplink_accept(struct hostd *d);
void hostd_uplink_input(struct hostd *d, int idx);
struct hostd_cap *hostd_cap_by_ip(struct hostd *d, uint32_t ip);
/* Deliver one IPv4 packet to a capsule attached here; 0 or -1 (counted). */
int hostd_deliver(struct hostd *d, struct hostd_cap *c, const uint8_t *pkt, size_t len);

/* hostd_gw.c: the gateway TUN capgw and the holders */
int hostd_gw_open(struct hostd *d, char *err, size_t errlen);
void hostd_gw_close(struct hostd *d);
void hostd_gw_input(struct hostd *d);
/* Write a packet for an ordinary peer to capgw (gateway only). */
void hostd_gw_write(struct hostd *d, const uint8_t *pkt, size_t len);
/* Start holding (gateway side): from a HOLD message or a local FROZEN. */
void hostd_hold_start(struct hostd *d, const struct hostd_hold_msg *m);
/* The capsule runs again: buffered bytes to it (hostd_route), window-opening ACKs to the peers. */
void hostd_hold_release(struct hostd *d, uint32_t ip);
/* The capsule is gone for good (released): forget what we held, silently. */
void hostd_hold_drop(struct hostd *d, uint32_t ip);
int hostd_is_held(const struct hostd *d, uint32_t ip);
/* Host side: tell the gateway (or ourselves) to hold / release a capsule's peers. */
void hostd_send_hold(struct hostd *d, const struct hostd_cap *c, const struct cap_report_sock *s,
                     uint32_t n);
void hostd_send_flush(struct hostd *d, const struct hostd_cap *c);

#endif
