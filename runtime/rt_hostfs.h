/* rt_hostfs.h: the capsule's client for files on the host's volumes (capsule-abi/cap_file.h), and the host file kind. */
#ifndef RT_HOSTFS_H
#define RT_HOSTFS_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_file.h"
#include "runtime/rt_fd.h"

/* A call interrupted by a resume on a (maybe) new host: look the volume up again, reopen, retry. */
#define RT_HOSTFS_RETRY (-1000)

/* One request and where its answer goes. */
struct rt_hostfs_call {
	struct cap_file_req req;
	const char *name, *name2;   /* relative to the volume; NUL-terminated */
	const void *data;           /* PWRITE: req.len bytes */
	void *buf;                  /* the answer's payload lands here ... */
	size_t buflen;              /* ... up to this many bytes */
	uint64_t size;              /* out: cap_file_rep.size */
};

/* Send it and wait (other green threads run): result >= 0, -errno, or RT_HOSTFS_RETRY. */
long rt_hostfs_call(struct rt_hostfs_call *c);
/* From the channel drain: one CAP_MSG_FILE_REP's payload. */
void rt_hostfs_reply(const void *p, size_t n);
/* After each freeze: resumed 1 (a new process, maybe a new host) or thawed 0. */
void rt_hostfs_after_freeze(int resumed);
/* Resumes so far in this capsule's life: handles opened in an older one must be opened again. */
unsigned rt_hostfs_generation(void);

/*
 * The volume holding abs (absolute, normalized): 1 with its index in the
 * host's current table, its flags, and the path relative to it ("." for
 * its root) in rel (pointing into abs or a constant); 0 if abs is on none.
 */
int rt_hostfs_lookup(const char *abs, int *volume, uint32_t *flags, const char **rel);
/* The current index of the volume mounted at mount, or -1 (gone from this host). */
int rt_hostfs_volume_index(const char *mount);
const char *rt_hostfs_volume_mount(int volume);

/* A path call on a volume: CAP_FOP_STAT/MKDIR/UNLINK/RENAME on abs (and abs2). */
long rt_hostfs_path_op(int op, const char *abs, const char *abs2, uint32_t flags, uint32_t mode,
                       struct stat *st);
void rt_hostfs_stat_out(const struct cap_file_stat *in, struct stat *st, int volume);

/* hostfile.c: open abs on its volume as a file or directory (flags: open(2)'s). */
long rt_hostfile_open(const char *abs, int flags, int mode, struct rt_file **out);
/* execve (exec.c): f's volume, path on it and path in the capsule as "MOUNT\0REL\0ABS\0" into
 * path (len bytes), whether it is a directory, its flags to open it again; 0, or -1 if f is no
 * host file (or it does not fit); *shared: the offset other processes share with it (fileshare.c),
 * counted once more for the new program, or 0.  adopt: the new program's file, opened again at
 * first use. */
int rt_hostfile_exec_save(struct rt_file *f, char *path, size_t len, int *dir, int *flags,
                          void **shared);
struct rt_file *rt_hostfile_exec_adopt(const char *path, size_t len, int dir, int reopen_flags,
                                       int flags, void *shared);

#endif
