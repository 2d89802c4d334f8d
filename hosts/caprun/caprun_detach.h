/* caprun_detach.h: caprun -d: run in the background with the console in RUN_DIR/NAME.log (consolelog.h); the caller returns once the capsule runs. */
#ifndef HOST_CAPRUN_DETACH_H
#define HOST_CAPRUN_DETACH_H

#include <stddef.h>

/* Fork: the caller's process waits and exits (0 after printing the capsule's name once it
 * runs; the background caprun's code if it ends before that); the background one returns,
 * in a session of its own.  Exits 125 if it cannot fork. */
void caprun_detach_start(void);

/* In the background caprun, once the name is final: the console (our stdout and stderr, which
 * the capsule inherits) goes to RUN_DIR/NAME.log, log_size bytes per file at most
 * (consolelog.h), stdin is /dev/null.  0, or -1 (printed). */
int caprun_detach_console(const char *name, size_t log_size);

/* The capsule runs: tell the waiting caller (nothing without -d). */
void caprun_detach_ready(void);

#endif
