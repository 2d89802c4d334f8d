/* ctlproto.h: caprun's control socket: where it lives and the line protocol capctl speaks on it. */
#ifndef HOST_CTLPROTO_H
#define HOST_CTLPROTO_H

#include <stddef.h>

/*
 * Every caprun listens on a UNIX stream socket RUN_DIR/NAME.sock (mode 0600),
 * RUN_DIR = $CAPSULE_RUN_DIR, else /run/capsule in pid 1's network namespace and
 * /run/capsule/net-INODE in any other (INODE: its /proc/self/ns/net; ctlsock.c tells
 * them apart by /proc/1/ns/net or, where that cannot be read, /proc/1/net/dev).  One request per connection:
 * the client sends one line, caprun answers one line and closes (`migrate`
 * sends progress lines first).
 *
 *   ps\n
 *     -> ok NAME IP STATE MEMORY_BYTES PID PROCS IMAGE_NAME IMAGE_PATH\n   (IP "-": no network)
 *        STATE: loading|booting|running|exited, or migrating while a migration runs
 *        (then only ps, procs and stats are answered, anything else gets an error line,
 *        and only while the capsule still runs here); MEMORY_BYTES: bytes allocated
 *        in the memfds of all the capsule's processes; PID: caprun's own; PROCS: the
 *        capsule's processes (docs/PROCESSES.md); IMAGE_PATH: rest of line.
 *   procs\n
 *     -> ok NEXT_PID N PID,PPID,SLOT,PGID,SID,HOST_PID,MEMORY_BYTES ...\n   (N entries)
 *        the capsule's live processes as it sees them (docs/PROCESSES.md): pid 1
 *        first, then by slot; PGID, SID its group and session; HOST_PID the host
 *        process that runs it; MEMORY_BYTES allocated in its memfd (pid 1's holds
 *        the shared window); NEXT_PID the pid the next fork gets.  Older caprun
 *        answer "error unknown request".  Answered while migrating too.
 *   stats\n
 *     -> ok NAME PACKETS_IN PACKETS_OUT DROP_SPOOFED DROP_MALFORMED DROP_HOST_FULL
 *           DROP_BAD_RECORD REATTACHED CAP_RX_NO_MEMORY CAP_RX_BACKLOG_FULL
 *           CAP_RX_SOCKET_FULL CAP_TX_CHANNEL_FULL PATH\n   (one line)
 *        packets moved host->capsule and capsule->host; the capsule's packets
 *        refused: a source address not its own, not IPv4, no room on the host,
 *        channel records out of turn; times caprun attached to caphostd again;
 *        then the capsule's own drops (cap_abi.h, struct cap_net_drops); PATH:
 *        "tun" when the capsule moves its packets on its own TUN device (the
 *        counts then include the kernel's: the device's and its source
 *        filter's), else "relay".  Older caprun send no PATH.
 *   snapshot ABS_PATH KEEP\n           (KEEP: 1 keep running, 0 stop after saving)
 *     -> ok BYTES FREEZE_MS WRITE_MS\n  (file size, ms from FREEZE to FROZEN, ms to write)
 *   migrate HOSTID [downtime=MS] [dirwait=S] [precopy=0] [FAULT]\n
 *                                      (live migration, docs/MIGRATION.md; downtime: the
 *                                       pre-copy's target, dirwait: how long to wait for a
 *                                       directory that cannot commit, precopy=0:
 *                                       stop-and-copy; FAULT: tests only)
 *     -> progress PHASE ...\n         (zero or more, as phases end: directory-wait,
 *                                       precopy round N, precopy, sync, freeze, transfer,
 *                                       restore, directory)
 *     -> ok TARGET EPOCH SYNC_MS FREEZE_MS TRANSFER_MS RESTORE_MS DIRECTORY_MS FLUSH_MS
 *           DOWNTIME_MS TOTAL_MS BYTES PEERS_ASKED PEERS_ACKED SOURCE
 *           PRECOPY_ROUNDS PRECOPY_MS PRECOPY_BYTES DIRWAIT_MS\n
 *                                      (caprun then stops; BYTES: sent frozen; DIRWAIT_MS:
 *                                       how long it waited for the directory)
 *   anything failing
 *     -> error MESSAGE\n
 *
 * ABS_PATH is everything between "snapshot " and the last space, so it may
 * contain spaces (never a newline).  The client may attach (SCM_RIGHTS, on
 * the request's first byte) a descriptor of ABS_PATH's directory, opened by
 * itself: caprun then creates the file relative to it, so it lands where the
 * client sees ABS_PATH (its mount namespace, its permission to open the
 * directory).  Without one caprun opens the directory by name.
 * A line protocol: no binary layout to pin; its one doc section is
 * docs/FORMAT-SNAPSHOT.md section 8.
 */
#define HOST_RUN_DIR_ENV     "CAPSULE_RUN_DIR"
#define HOST_RUN_DIR_DEFAULT "/run/capsule"
#define HOST_CTL_SUFFIX      ".sock"
/* caprun -d's console: RUN_DIR/NAME.log, the bytes before them in NAME.log.1; NAME.log.new
 * while a rotation makes the next one (hosts/caprun/consolelog.h). */
#define HOST_LOG_SUFFIX      ".log"
#define HOST_LOG_OLD_SUFFIX  ".log.1"
#define HOST_LOG_NEW_SUFFIX  ".log.new"
#define HOST_CTL_LINE_MAX    4608   /* a PATH_MAX path plus the words around it */
#define HOST_CTL_REPLY_MAX   8192   /* the longest answer: procs of 64 processes */
/* migrate's dirwait=S (capctl migrate --wait-directory): how long a migration waits, before the
 * freeze and with the capsule running, for a directory that cannot commit (an etcd cluster
 * without quorum regains it about a second after a member is back; a machine reboots slower). */
#define HOST_CTL_DIRWAIT_DEFAULT_S 60
#define HOST_CTL_DIRWAIT_MAX_S     3600

/* The run directory in use ($CAPSULE_RUN_DIR or the default). */
const char *ctlsock_run_dir(void);

/* After removing a socket: a per-namespace RUN_DIR (/run/capsule/net-INODE) goes once
 * empty, so namespaces that come and go leave no directories behind. */
void ctlsock_release_dir(void);

/* RUN_DIR/NAME.sock into out; -1 if it does not fit a sockaddr_un. */
int ctlsock_path(const char *name, char *out, size_t len);

/*
 * Listen on name's socket, creating the run directory if needed.  A stale
 * socket (nobody accepting) is replaced.  Returns a non-blocking,
 * close-on-exec listening fd; -1 with err set on failure; -2 if a live
 * caprun already serves that name.
 */
int ctlsock_listen(const char *name, char *err, size_t errlen);

/* 1 if a live caprun serves name in this run directory. */
int ctlsock_name_live(const char *name);

/*
 * Connect to path, send req (one line, with its '\n') and pass_fd if >= 0,
 * read the one-line reply (without '\n') into reply.  timeout_ms 0 = wait
 * as long as it takes.  Returns 0, or -1 with errno (ENOENT/ECONNREFUSED:
 * nobody there; ETIMEDOUT; ECONNRESET: closed without a reply).
 */
int ctlsock_request(const char *path, const char *req, int pass_fd, char *reply, size_t len,
                     int timeout_ms);

#endif
