/* execreq.h: an execve's request (capsule-abi/cap_proc.h, docs/PROCESSES.md section 2b) as the host reads it from a capsule process's memory: checked, its strings found. */
#ifndef HOST_EXECREQ_H
#define HOST_EXECREQ_H

#include "capsule-abi/cap_proc.h"

#include <stddef.h>

/* The hand-off's bound: it lives in the 8 MiB main stack window, above the new stack. */
#define EXECREQ_HANDOFF_MAX (2u << 20)
/* The most bytes a request (header, strings, room for the hand-off) may have. */
#define EXECREQ_MAX (sizeof(struct cap_exec_req) + CAP_EXEC_STRINGS_MAX + 8 + EXECREQ_HANDOFF_MAX)

struct execreq {
	struct cap_exec_req req;
	const char *path;                 /* in the bytes given */
	char **argv, **envp;              /* malloc'd, NULL-ended; pointing into the bytes given */
	const unsigned char *handoff;     /* with_handoff: req.handoff_len bytes; else NULL */
};

/*
 * Check bytes[0..len) and point x into it: the header (magic, counts), path,
 * argv and envp each NUL-ended inside strings_len, and with_handoff (GO) the
 * hand-off's place.  0, or -1 with errno: EINVAL (malformed), E2BIG (the
 * strings or the whole are too long), ENOMEM.  x is to be freed either way.
 */
int execreq_parse(const unsigned char *bytes, size_t len, int with_handoff, struct execreq *x);
void execreq_free(struct execreq *x);

/*
 * Which program path names, of a capsule whose one program is the image
 * image_name: /proc/self/exe, or any path whose last part is the name
 * (execvp's PATH search tries /usr/local/bin/NAME first).  0, or -1 with
 * errno ENOENT.
 */
int execreq_program(const char *image_name, const char *path);

#endif
