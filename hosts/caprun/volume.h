/* volume.h: a capsule's volumes on this host (caprun -v HOSTDIR:PATH[:ro]) and the file requests served beneath them. */
#ifndef HOST_CAPRUN_VOLUME_H
#define HOST_CAPRUN_VOLUME_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_file.h"

struct volume {
	int dirfd;                          /* O_PATH of HOSTDIR: every path resolves beneath it */
	int ro;
	char mount[CAP_FILE_MOUNT_MAX];     /* where the capsule sees it */
};

struct volumes {
	int n;
	struct volume v[CAP_FILE_VOLUMES];
	int handle_fd[CAP_FILE_HANDLES];    /* the capsule's handle numbers -> our fds (-1: none) */
	int open_count;
	uint64_t bad_records;               /* requests that failed to decode: counted, unanswered */
};

/* Biggest answer: header + rep + one data record. */
#define VOLUME_REPLY_MAX (sizeof(struct cap_chan_hdr) + sizeof(struct cap_file_rep) + CAP_FILE_DATA_MAX)

void volume_init(struct volumes *vs);
void volume_close_all(struct volumes *vs);   /* volumes and open handles */
/* A forked process's own table: the same volumes, its own copy of each open handle.  0 or -1. */
int volume_copy(const struct volumes *from, struct volumes *to);
/* "HOSTDIR:PATH[:ro]" -> a new volume.  0, or -1 with a one-line reason in err. */
int volume_add(struct volumes *vs, const char *spec, char *err, size_t errlen);
/* The file at path (absolute, as the capsule sees it) on one of the volumes, opened read-only
 * beneath it (an execve's program).  The fd, or -1 with errno (ENOENT: on no volume). */
int volume_open_program(const struct volumes *vs, const char *path);
/* A -w DIR: "/", "/tmp", or an existing directory on a volume.  0, or -1 with err. */
int volume_check_workdir(const struct volumes *vs, const char *dir, char *err, size_t errlen);
/*
 * Serve one CAP_MSG_FILE_REQ payload; the answer (a whole channel record,
 * header included) goes into out (VOLUME_REPLY_MAX bytes).  Returns its
 * length, or 0 when the request was malformed (counted, no answer: the
 * capsule only hurts itself).
 */
size_t volume_serve(struct volumes *vs, const void *payload, size_t n, unsigned char *out);

#endif
