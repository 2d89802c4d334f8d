/* cap_file.h: the packet channel's file records: a capsule asks its host for files on the host's volumes (caprun -v). */
#ifndef CAP_FILE_H
#define CAP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "capsule-abi/cap_abi.h"

/*
 * A capsule sends CAP_MSG_FILE_REQ (cap_chan_hdr + cap_file_req + names +
 * data); the host answers each with one CAP_MSG_FILE_REP (cap_chan_hdr +
 * cap_file_rep + payload) carrying the same id.  Requests name a volume by
 * its index in the host's volume table (CAP_FOP_VOLUMES) and a path relative
 * to it, or an open handle the capsule numbered itself (0 ..
 * CAP_FILE_HANDLES-1): after a resume on a new host the capsule opens the
 * same numbers again by name.  The host executes no request while a freeze
 * is pending or the capsule is frozen (it drops it, counted); the capsule
 * sends every unanswered request again after each freeze, so each runs once.
 * Flags, modes and errno values are Linux x86_64's.
 */
#define CAP_MSG_FILE_REQ 6   /* capsule -> host */
#define CAP_MSG_FILE_REP 7   /* host -> capsule */

#define CAP_FILE_HANDLES   256     /* open host files per capsule, at most */
#define CAP_FILE_VOLUMES   16      /* volumes per capsule, at most */
#define CAP_FILE_NAME_MAX  4096    /* a relative path, with its NUL */
#define CAP_FILE_MOUNT_MAX 240     /* a volume's path inside the capsule, with its NUL */
#define CAP_FILE_DATA_MAX  61440   /* bytes of data per read or write record */

enum cap_file_op {
	CAP_FOP_VOLUMES  = 1,   /* -> cap_file_volume[result] */
	CAP_FOP_OPEN     = 2,   /* volume, name, flags (O_*), mode, handle -> cap_file_stat */
	CAP_FOP_CLOSE    = 3,   /* handle */
	CAP_FOP_PREAD    = 4,   /* handle, offset, len -> result bytes of data */
	CAP_FOP_PWRITE   = 5,   /* handle, offset, data (len bytes) -> result written; size: end of file */
	CAP_FOP_FSTAT    = 6,   /* handle -> cap_file_stat */
	CAP_FOP_TRUNCATE = 7,   /* handle, offset = new size */
	CAP_FOP_FSYNC    = 8,   /* handle, flags 1: data only */
	CAP_FOP_GETDENTS = 9,   /* handle, offset = position cookie, len -> linux_dirent64s; size: next cookie */
	CAP_FOP_STAT     = 10,  /* volume, name, flags 1: do not follow a last symlink -> cap_file_stat */
	CAP_FOP_MKDIR    = 11,  /* volume, name, mode */
	CAP_FOP_UNLINK   = 12,  /* volume, name, flags 1: a directory (rmdir) */
	CAP_FOP_RENAME   = 13,  /* volume, name -> name2 (same volume), flags: RENAME_NOREPLACE */
	CAP_FOP_MAX      = 13,
};

struct cap_file_req {
	uint32_t id;          /* echoed in the answer */
	uint16_t op;          /* enum cap_file_op */
	uint16_t volume;      /* index into the host's volume table */
	uint32_t handle;      /* < CAP_FILE_HANDLES */
	uint32_t flags;
	uint32_t mode;
	uint32_t name_len;    /* bytes of name after this struct, NUL included; 0: none */
	uint32_t name2_len;   /* bytes of a second name (rename) after the first */
	uint32_t len;         /* PREAD/GETDENTS: bytes wanted; PWRITE: data bytes after the names */
	uint64_t offset;
};
_Static_assert(sizeof(struct cap_file_req) == 40, "cap_file_req is 40 bytes on the wire");
_Static_assert(offsetof(struct cap_file_req, offset) == 32, "cap_file_req layout");

struct cap_file_rep {
	uint32_t id;          /* the request's */
	int32_t  result;      /* >= 0, or -errno */
	uint64_t size;        /* PWRITE: file size after; GETDENTS: next cookie; else 0 */
};
_Static_assert(sizeof(struct cap_file_rep) == 16, "cap_file_rep is 16 bytes on the wire");

struct cap_file_stat {
	uint64_t ino, size, blocks;
	int64_t  atime_ns, mtime_ns, ctime_ns;
	uint32_t mode, nlink, uid, gid, blksize, reserved;
};
_Static_assert(sizeof(struct cap_file_stat) == 72, "cap_file_stat is 72 bytes on the wire");

#define CAP_FILE_VOL_RO 1u
struct cap_file_volume {
	uint32_t flags;                   /* CAP_FILE_VOL_* */
	char     path[CAP_FILE_MOUNT_MAX];   /* absolute, normalized, NUL-terminated */
	uint32_t reserved;
};
_Static_assert(sizeof(struct cap_file_volume) == 248, "cap_file_volume layout");

/* One request, checked: names NUL-terminated at their length and relative, sizes in bounds. */
struct cap_file_req_view {
	struct cap_file_req req;
	const char *name, *name2;   /* 0 when absent */
	const void *data;           /* PWRITE's bytes */
};

/*
 * Decode a record's payload (after cap_chan_hdr): 0, or -1 when anything is
 * out of bounds: unknown op, handle >= CAP_FILE_HANDLES, a name missing
 * where the op needs one, not ending at its NUL, holding an inner NUL, or
 * absolute; a ".." component; len above CAP_FILE_DATA_MAX; bytes left over.
 */
int cap_file_req_decode(const void *payload, size_t n, struct cap_file_req_view *out);

#endif
