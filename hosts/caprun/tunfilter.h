/* tunfilter.h: the kernel's source filter on a standalone capsule's TUN device, and the device's counters (tunfilter.c). */
#ifndef HOST_CAPRUN_TUNFILTER_H
#define HOST_CAPRUN_TUNFILTER_H

#include <stddef.h>
#include <stdint.h>

struct tunfilter;

/* Packets through one TUN device since it was made (just before its filter), as the kernel counted them. */
struct tunfilter_counts {
	uint64_t from_capsule;      /* written to the device (the device's rx), filtered ones too */
	uint64_t refused;           /* writes the device itself refused (not IPv4 or IPv6: rx_dropped) */
	uint64_t to_capsule;        /* read from the device (its tx) */
	uint64_t to_capsule_lost;   /* dropped because nobody read in time: its queue was full (tx_dropped) */
	uint64_t spoofed;           /* dropped by the filter: IPv4 with a source not the capsule's */
	uint64_t malformed;         /* dropped by the filter: not IPv4 */
};

/*
 * An nftables table of the netdev family named after the device, with a
 * chain on the device's ingress hook: a packet the capsule writes that is
 * not IPv4, or whose source is not ip (network order), is counted and
 * dropped before the host's IP stack sees it.  Replaces a table of that
 * name left by a caprun that died.  NULL with the reason in err when the
 * kernel (or our privileges) will not have it: then the capsule must not
 * get the device.
 */
struct tunfilter *tunfilter_install(const char *ifname, unsigned ifindex, uint32_t ip, char *err,
                                    size_t errlen);

/* The counters now.  0, or -1 (errno) when the kernel did not answer. */
int tunfilter_counts(struct tunfilter *f, struct tunfilter_counts *c);

/* Delete the table, close the sockets, free f (NULL: nothing). */
void tunfilter_remove(struct tunfilter *f);

#endif
