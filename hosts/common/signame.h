/* signame.h: a signal's abbreviation ("KILL" for SIGKILL), for messages. */
#ifndef HOST_COMMON_SIGNAME_H
#define HOST_COMMON_SIGNAME_H

/* "KILL" for SIGKILL; NULL for a real-time signal or no signal, as glibc's sigabbrev_np,
 * which musl (caprun's libc) does not have. */
const char *signame(int sig);

#endif
