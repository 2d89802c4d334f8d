/* rt_ident.h: the capsule's user and group identity: uids, gids and supplementary groups. */
#ifndef RT_IDENT_H
#define RT_IDENT_H

#include <stddef.h>
#include <stdint.h>

#define RT_IDENT_NGROUPS 64    /* supplementary groups a capsule may hold */
#define RT_IDENT_KEEP ((uint32_t)-1)

/*
 * Real, effective, saved and file-system ids, as the kernel keeps them per
 * process.  "Privileged" is euid 0 (root holds CAP_SETUID and CAP_SETGID);
 * nothing on the host is granted by any of it.  Lives in .bss: it moves
 * with the capsule.
 */
struct rt_ident {
	uint32_t ruid, euid, suid, fsuid;
	uint32_t rgid, egid, sgid, fsgid;
	uint32_t groups[RT_IDENT_NGROUPS];
	int ngroups;
};

/* ident.c: Linux's rules on an explicit struct (pure, unit-tested); -errno or 0. */
void rt_ident_start(struct rt_ident *id, uint32_t uid, uint32_t gid);
long rt_ident_setresuid(struct rt_ident *id, uint32_t r, uint32_t e, uint32_t s);
long rt_ident_setresgid(struct rt_ident *id, uint32_t r, uint32_t e, uint32_t s);
long rt_ident_setreuid(struct rt_ident *id, uint32_t r, uint32_t e);
long rt_ident_setregid(struct rt_ident *id, uint32_t r, uint32_t e);
long rt_ident_setuid(struct rt_ident *id, uint32_t uid);
long rt_ident_setgid(struct rt_ident *id, uint32_t gid);
long rt_ident_setgroups(struct rt_ident *id, long n, const uint32_t *list);
long rt_ident_getgroups(const struct rt_ident *id, long size, uint32_t *list);
long rt_ident_setfsuid(struct rt_ident *id, uint32_t uid);   /* returns the old fsuid */
long rt_ident_setfsgid(struct rt_ident *id, uint32_t gid);

/*
 * identsys.c: the capsule's own identity and the system calls on it
 * (get/set uid, gid, groups; sethostname).  n is the system call number.
 */
void rt_identsys_init(void);                 /* at start: the ids caprun put in auxv (--user) */
long rt_sys_ident(long n, long a1, long a2, long a3);

#endif
