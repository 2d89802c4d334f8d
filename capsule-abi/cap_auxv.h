/* cap_auxv.h: what a host tells a fresh capsule through its initial stack's auxiliary vector, beyond Linux's entries. */
#ifndef CAP_AUXV_H
#define CAP_AUXV_H

/*
 * A fresh capsule's auxv carries Linux's usual entries (AT_PHDR, AT_RANDOM,
 * ...).  Two of them mean something particular here, and one is our own:
 *
 *  - AT_UID/AT_EUID and AT_GID/AT_EGID are the capsule's starting identity
 *    (root, or caprun --user), never the host's: the runtime keeps its own
 *    uids and gids from there on (runtime/identsys.c).
 *  - CAP_AT_DNS, present only with caprun --dns, points at a NUL-terminated
 *    string on the initial stack: the name servers, one address per line
 *    (at most CAP_DNS_MAX).  The runtime copies it at start and serves it as
 *    /etc/resolv.conf (runtime/etcfile.c).
 *
 * Both are read once, at start; a resumed capsule keeps what it read then.
 * musl ignores auxv types it does not know, so the entry needs no ABI bump.
 */
#define CAP_AT_DNS  0x43415001UL
#define CAP_DNS_MAX 3            /* musl's resolver reads at most 3 name servers */

#endif
