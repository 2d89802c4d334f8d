/* dirproto.h: the directory service's wire format (host <-> capdird over UDP): layout, codes, pure codec. */
#ifndef HOSTS_DIRPROTO_H
#define HOSTS_DIRPROTO_H

#include <stddef.h>
#include <stdint.h>

/*
 * One datagram = header (32 bytes) + body (body_len bytes, at most
 * DIR_BODY_MAX) + HMAC-SHA256 (32 bytes) over header and body, keyed with the
 * HOST's key both ways (the directory answers a host with that host's key, so
 * a host needs only its own secret).  Every integer is big-endian.  The wire
 * structs below document the layout and pin it with _Static_assert; the codec
 * reads and writes bytes at their offsets, so host alignment never matters.
 * docs/DIRECTORY.md explains every field.
 */
#define DIR_MAGIC        "CDIR"
#define DIR_VERSION      1
#define DIR_PORT         7470
#define DIR_KEY_LEN      32
#define DIR_MAC_LEN      32
#define DIR_HDR_LEN      32
#define DIR_BODY_MAX     1024
#define DIR_MSG_MAX      (DIR_HDR_LEN + DIR_BODY_MAX + DIR_MAC_LEN)
#define DIR_NAME_MAX     64            /* bytes incl. the NUL: same rule as capsule image names */
#define DIR_LIST_MAX     10            /* entries per ENTRIES reply */
#define DIR_STATS_MAX    32            /* counters a STATS_REPLY may carry */
#define DIR_NETWORK_ID_DEFAULT 1
#define DIR_DIRECTORY_ID 0             /* host_id of messages sent by the directory */

enum dir_type {
	DIR_T_HELLO = 1,        /* host -> dir: {locator addr, data port}          -> DIR_T_HELLO_OK */
	DIR_T_HELLO_OK,         /* empty body */
	DIR_T_CREATE,           /* {requested ip or 0, name}                       -> DIR_T_CREATED */
	DIR_T_CREATED,          /* {ip, epoch} */
	DIR_T_MOVE,             /* {ip, to_host_id, expected_epoch}                -> DIR_T_MOVED */
	DIR_T_MOVED,            /* {ip, epoch} (the new epoch) */
	DIR_T_LOOKUP,           /* {ip, flags}                                     -> DIR_T_ENTRY */
	DIR_T_ENTRY,            /* struct dir_wire_entry */
	DIR_T_RELEASE,          /* {ip, epoch}                                     -> DIR_T_RELEASED */
	DIR_T_RELEASED,         /* {ip, epoch} */
	DIR_T_LIST,             /* {cursor}                                        -> DIR_T_ENTRIES */
	DIR_T_ENTRIES,          /* {n, next cursor, n entries} */
	DIR_T_STATS,            /* empty body                                      -> DIR_T_STATS_REPLY */
	DIR_T_STATS_REPLY,      /* {count, counters[count]} */
	DIR_T_NOTIFY,           /* dir -> host: an entry changed (struct dir_wire_entry; host_id 0 = released) */
	DIR_T_NOTIFY_ACK,       /* host -> dir: {ip, epoch}, same request_id as the NOTIFY */
	DIR_T_ERROR,            /* {code, current epoch} */
	DIR_T_STATE,            /* host -> dir: {ip, epoch, state}; holder only      -> DIR_T_ENTRY */
	DIR_T_HOST_LOOKUP,      /* {host_id}                                       -> DIR_T_HOST */
	DIR_T_HOST,             /* {host_id, locator addr, data port} */
	DIR_T_COUNT
};

enum dir_error {
	DIR_E_OK = 0,
	DIR_E_NOT_FOUND = 1,
	DIR_E_IP_IN_USE,
	DIR_E_NO_FREE_IP,
	DIR_E_STALE_EPOCH,
	DIR_E_NOT_AUTHORIZED,
	DIR_E_BAD_REQUEST,
	DIR_E_COUNT
};

/* Codec results: why a datagram was refused (each is its own drop counter). */
enum dir_status {
	DIR_OK = 0,
	DIR_ERR_TRUNCATED = -1,     /* shorter than header + body_len + MAC, or than the header */
	DIR_ERR_MALFORMED = -2,     /* bad magic/version/type/flags, body_len too big, trailing bytes */
	DIR_ERR_BAD_MAC = -3,       /* MAC does not verify under this key */
	DIR_ERR_BAD_BODY = -4,      /* authenticated, but the body is invalid for its type */
	DIR_ERR_NOSPACE = -5,       /* encoder: output buffer too small */
};

/* A capsule's run state as its holder host reported it (STATE); carried in
 * every entry.  UNKNOWN until the holder says (and again after a MOVE: the
 * old state belonged to the old holder). */
enum dir_cap_state {
	DIR_STATE_UNKNOWN = 0,
	DIR_STATE_RUNNING,
	DIR_STATE_FROZEN,
	DIR_STATE_SAVED,
	DIR_STATE_HOST_LOST,    /* never reported: the directory's own (LIST over etcd) when the
	                           holder's liveness lease expired (docs/DIRECTORY.md section 6) */
	DIR_STATE_COUNT
};

#define DIR_LOOKUP_SUBSCRIBE 1u     /* LOOKUP flag: send me NOTIFY when this entry changes */

/* Stat counter indices carried by STATS_REPLY (append only: old clients ignore new ones). */
enum dir_stat {
	DIR_S_RX_OK,            /* authenticated, fresh messages processed */
	DIR_S_DROP_TRUNCATED,
	DIR_S_DROP_MALFORMED,
	DIR_S_DROP_UNKNOWN_HOST,
	DIR_S_DROP_BAD_MAC,
	DIR_S_DROP_REPLAY,
	DIR_S_ERR_BAD_REQUEST,
	DIR_S_ERR_NOT_FOUND,
	DIR_S_ERR_IP_IN_USE,
	DIR_S_ERR_NO_FREE_IP,
	DIR_S_ERR_STALE_EPOCH,
	DIR_S_ERR_NOT_AUTHORIZED,
	DIR_S_CREATES,
	DIR_S_MOVES,
	DIR_S_LOOKUPS,
	DIR_S_RELEASES,
	DIR_S_RETRIES_ANSWERED, /* a mutating request seen again: cached reply resent, nothing redone */
	DIR_S_NOTIFY_SENT,
	DIR_S_NOTIFY_ACKED,
	DIR_S_NOTIFY_GIVEN_UP,
	DIR_S_DB_ERRORS,
	DIR_S_STATES,           /* STATE reports accepted */
	DIR_S_HOST_LOOKUPS,     /* HOST_LOOKUP answered with a locator */
	DIR_S_COUNT
};
_Static_assert(DIR_S_COUNT <= DIR_STATS_MAX, "stats must fit a STATS_REPLY");

/* Names of the counters, in enum dir_stat order (for STATS output / JSON). */
extern const char *const dir_stat_names[DIR_S_COUNT];

/* ---- wire layouts (documentation + size checks; the codec uses offsets) ---- */
struct dir_wire_hdr {
	char     magic[4];          /* "CDIR" */
	uint8_t  version;           /* DIR_VERSION */
	uint8_t  type;              /* enum dir_type */
	uint16_t flags;             /* must be 0 in version 1 */
	uint32_t host_id;           /* sender; 0 = the directory */
	uint32_t network_id;        /* capsule network (like a VXLAN VNI); must match the directory's */
	uint64_t seq;               /* strictly increasing per sender: (realtime ms << 20) | counter */
	uint32_t request_id;        /* echoed in the reply; NOTIFY_ACK echoes the NOTIFY's */
	uint32_t body_len;
};
_Static_assert(sizeof(struct dir_wire_hdr) == DIR_HDR_LEN, "header is 32 bytes");

struct dir_wire_hello    { uint32_t addr; uint16_t data_port; uint16_t reserved; };
struct dir_wire_create   { uint32_t ip; char name[DIR_NAME_MAX]; };
struct dir_wire_ipepoch  { uint32_t ip; uint32_t epoch; };   /* CREATED MOVED RELEASE RELEASED NOTIFY_ACK */
struct dir_wire_move     { uint32_t ip; uint32_t to_host_id; uint32_t expected_epoch; };
struct dir_wire_lookup   { uint32_t ip; uint32_t flags; };
struct dir_wire_entry    { uint32_t ip; uint32_t host_id; uint32_t host_addr; uint16_t data_port;
                           uint16_t state; /* enum dir_cap_state; was reserved (0 = unknown) */
                           uint32_t epoch; char name[DIR_NAME_MAX]; };
struct dir_wire_state    { uint32_t ip; uint32_t epoch; uint16_t state; uint16_t reserved; };
struct dir_wire_host_lookup { uint32_t host_id; };
struct dir_wire_host     { uint32_t host_id; uint32_t addr; uint16_t data_port; uint16_t reserved; };
struct dir_wire_list     { uint32_t cursor; };
struct dir_wire_entries  { uint16_t n; uint16_t reserved; uint32_t next_cursor; /* + n entries */ };
struct dir_wire_stats    { uint32_t count; uint32_t reserved; /* + count u64 */ };
struct dir_wire_error    { uint16_t code; uint16_t reserved; uint32_t epoch; };
_Static_assert(sizeof(struct dir_wire_hello) == 8, "hello body");
_Static_assert(sizeof(struct dir_wire_create) == 68, "create body");
_Static_assert(sizeof(struct dir_wire_ipepoch) == 8, "ip+epoch body");
_Static_assert(sizeof(struct dir_wire_move) == 12, "move body");
_Static_assert(sizeof(struct dir_wire_lookup) == 8, "lookup body");
_Static_assert(sizeof(struct dir_wire_entry) == 84, "entry body");
_Static_assert(sizeof(struct dir_wire_list) == 4, "list body");
_Static_assert(sizeof(struct dir_wire_state) == 12, "state body");
_Static_assert(sizeof(struct dir_wire_host_lookup) == 4, "host lookup body");
_Static_assert(sizeof(struct dir_wire_host) == 12, "host body");
_Static_assert(sizeof(struct dir_wire_entries) == 8, "entries body header");
_Static_assert(sizeof(struct dir_wire_stats) == 8, "stats body header");
_Static_assert(sizeof(struct dir_wire_error) == 8, "error body");
_Static_assert(sizeof(struct dir_wire_entries) + DIR_LIST_MAX * sizeof(struct dir_wire_entry)
               <= DIR_BODY_MAX, "a full ENTRIES reply fits");
_Static_assert(sizeof(struct dir_wire_stats) + DIR_STATS_MAX * 8 <= DIR_BODY_MAX, "stats fit");

/* ---- decoded (host-order) forms ---- */
struct dir_entry {
	uint32_t ip;                /* host byte order, like every address below */
	uint32_t host_id;           /* 0 in a NOTIFY = the capsule was released */
	uint32_t host_addr;         /* the holder's locator (0 until it said HELLO) */
	uint16_t data_port;
	uint16_t state;             /* enum dir_cap_state */
	uint32_t epoch;
	char     name[DIR_NAME_MAX];
};

struct dir_msg {
	uint8_t  type;
	uint32_t host_id;
	uint32_t network_id;
	uint64_t seq;
	uint32_t request_id;
	union {
		struct { uint32_t addr; uint16_t data_port; } hello;
		struct { uint32_t ip; char name[DIR_NAME_MAX]; } create;
		struct { uint32_t ip; uint32_t epoch; } ipepoch;
		struct { uint32_t ip; uint32_t to_host_id; uint32_t expected_epoch; } move;
		struct { uint32_t ip; uint32_t flags; } lookup;
		struct dir_entry entry;     /* ENTRY, NOTIFY */
		struct { uint32_t cursor; } list;
		struct { uint16_t n; uint32_t next_cursor; struct dir_entry e[DIR_LIST_MAX]; } entries;
		struct { uint32_t count; uint64_t v[DIR_STATS_MAX]; } stats;
		struct { uint16_t code; uint32_t epoch; } error;
		struct { uint32_t ip; uint32_t epoch; uint16_t state; } state;
		struct { uint32_t host_id; } host_lookup;
		struct { uint32_t host_id; uint32_t addr; uint16_t data_port; } host;
	} u;
};

/* Reads only the header fields needed to find the key (host_id) without
 * trusting anything: DIR_OK, DIR_ERR_TRUNCATED or DIR_ERR_MALFORMED. */
int dirproto_peek(const uint8_t *buf, size_t len, uint32_t *host_id);

/* Encodes m (type, host_id, network_id, seq, request_id, body by type) into
 * out and MACs it with key.  Returns the datagram length or DIR_ERR_*. */
int dirproto_encode(const struct dir_msg *m, const uint8_t key[DIR_KEY_LEN], uint8_t *out, size_t cap);

/* Full check of one datagram: framing, MAC under key (constant time), then
 * the body for its type.  Fills m only on DIR_OK.  Replay (seq) is the
 * caller's job: it alone knows the highest seq seen from this sender. */
int dirproto_decode(const uint8_t *buf, size_t len, const uint8_t key[DIR_KEY_LEN], struct dir_msg *m);

/* Re-stamps an encoded message (header+body+MAC, len bytes) with a new seq
 * and MAC: how a cached reply is sent again. */
int dirproto_reseal(uint8_t *buf, size_t len, uint64_t seq, const uint8_t key[DIR_KEY_LEN]);

/* Helpers shared by server, client and tests. */
int dirproto_name_valid(const char *name);                /* [A-Za-z0-9._-], 1..63, not starting '.'/'-' */
const char *dirproto_type_name(int type);
const char *dirproto_error_name(int code);
const char *dirproto_status_name(int status);
const char *dirproto_state_name(int state);   /* "unknown" "running" "frozen" "saved" "host-lost" */
int dirproto_state_parse(const char *s);                  /* the reverse; -1 if none */

/* Anti-replay sequence numbers: (CLOCK_REALTIME ms << 20) | per-ms counter,
 * strictly increasing within a process and across restarts (clock permitting). */
uint64_t dirproto_next_seq(uint64_t *last);

/* Key file: lines "HOSTID HEX64" (per-host keys) and "data HEX64" (ignored
 * here); '#' comments and blank lines allowed.  Finds host_id's key. */
int dirproto_key_lookup(const char *path, uint32_t host_id, uint8_t key[DIR_KEY_LEN],
                   char *err, size_t errlen);
/* The cluster's data-plane key: the key file's "data HEX64" line (wrapped packets,
 * migration streams).  0, or -1 with "PATH: reason" in err. */
int dirproto_data_key_load(const char *path, uint8_t key[DIR_KEY_LEN], char *err, size_t errlen);
/* All host keys of a key file (at most max); returns the count or -1 with err. */
#define DIR_HOSTS_MAX 4096
int dirproto_keys_load(const char *path, uint32_t *ids, uint8_t (*keys)[DIR_KEY_LEN], size_t max,
                  char *err, size_t errlen);

#endif
