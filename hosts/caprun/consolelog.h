/* consolelog.h: a detached capsule's console kept in RUN_DIR/NAME.log and NAME.log.1, bounded: the files and how they rotate. */
#ifndef HOST_CAPRUN_CONSOLELOG_H
#define HOST_CAPRUN_CONSOLELOG_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The files (docs/TOOLS.md, "caprun"; the suffixes are in hosts/formats/ctlproto.h):
 *
 *   RUN_DIR/NAME.log     the console's newest bytes, as written (nothing added)
 *   RUN_DIR/NAME.log.1   the bytes just before them
 *
 * A keeper process reads the console (a pipe: caprun's stdout and stderr, which the
 * capsule inherits) and appends to NAME.log.  When a write would take NAME.log past
 * SIZE bytes, it first rotates: the bytes up to the last newline that fits finish
 * NAME.log, which becomes NAME.log.1 (replacing the older one), and a new NAME.log
 * begins.  So each file holds at most SIZE bytes, whole lines unless a line is longer
 * than SIZE, and NAME.log.1 followed by NAME.log is always the console's last bytes,
 * byte for byte (at most 2 * SIZE).  A capsule starting detached under that name
 * starts both afresh.
 *
 * While the keeper runs it holds an exclusive flock(2) on the NAME.log it writes;
 * a new one is made as NAME.log.new and locked before it is renamed into place, so
 * a reader that finds NAME.log unlocked, and no newer NAME.log, has seen the end
 * (capctl logs -f).
 */
#define CONSOLELOG_SIZE_DEFAULT ((size_t)1 << 20)   /* per file: 2 MiB per capsule at most */
#define CONSOLELOG_SIZE_MIN     ((size_t)4096)
#define CONSOLELOG_SIZE_MAX     ((size_t)1 << 30)

/*
 * Make RUN_DIR/NAME.log (a fresh one; an old NAME.log.1 goes), start its keeper,
 * and make our stdout and stderr the pipe into it, our stdin /dev/null.
 * 0, or -1 after one line on stderr.
 */
int consolelog_start(const char *name, size_t size);

/*
 * A child of caprun ended: 1 if it was the keeper (killed from outside, say), which is
 * then started again on the same pipe, appending to NAME.log (caprun holds a read end
 * meanwhile, so writers never see EPIPE; only what the dead keeper had read but not
 * written is lost); one that keeps dying at once is given up after a
 * few tries, and the console's writes then fail harmlessly.  0 for any other process.
 */
int consolelog_reaped(pid_t pid);

/*
 * At caprun's end, after the capsule was reaped: let go of our ends of the console
 * and wait for the keeper to write what is left (a few seconds at most).
 */
void consolelog_finish(void);

#endif
