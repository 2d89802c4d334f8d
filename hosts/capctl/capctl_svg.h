/* capctl_svg.h: one migration's result as capctl parsed it, and its timeline drawn as an SVG file (capctl migrate --svg). */
#ifndef HOST_CAPCTL_SVG_H
#define HOST_CAPCTL_SVG_H

#include <stddef.h>

/* The phases of caprun's final "ok" line, in its order (hosts/formats/ctlproto.h). */
#define CAPCTL_MIG_PHASES 6

/* caprun's "ok TARGET EPOCH SYNC ... SOURCE" line, parsed; times in ms. */
struct mig_result {
	unsigned target, epoch;
	long ms[CAPCTL_MIG_PHASES], downtime, total;
	unsigned long long bytes;
	unsigned asked, acked, from;
	unsigned rounds;              /* pre-copy rounds (0: none, all memory moved frozen) */
	long precopy_ms;
	unsigned long long precopy_bytes;
	long dirwait_ms;              /* waited, the capsule running, for a directory that could
	                               * not commit (0: it could at once) */
};

/*
 * Before migrating: path names a file we can create (its directory is
 * writable; it is no directory, FIFO or device).  0, or -1 with errno and
 * a line naming --svg in err.
 */
int capctl_svg_check(const char *path, char *err, size_t errlen);

/*
 * Draw the migration of capsule name as an SVG timeline into path: the
 * phases on each host to scale, the messages between the hosts at the
 * phase boundaries where they happen, the downtime, and a note on the
 * clients' gaps (not measured by this timeline).  Written to a temp file
 * beside path, fsync'd, renamed into place.  0, or -1 with errno and a
 * line in err.
 */
int capctl_svg_write(const char *path, const char *name, const struct mig_result *r, char *err,
                     size_t errlen);

#endif
