/* identsys.c: the capsule's identity (from caprun --user at start) and the uid/gid/groups system calls on it. */
#include <errno.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include "runtime/rt_ident.h"

/* In .bss, so a snapshot or a migration carries it: resuming never resets it. */
static struct rt_ident ident;

void rt_identsys_init(void)
{
	/* caprun puts the capsule's starting ids (root, or --user) in AT_UID/AT_GID, not the host's. */
	rt_ident_start(&ident, (uint32_t)getauxval(AT_UID), (uint32_t)getauxval(AT_GID));
}

static long put_res(uint32_t a, uint32_t b, uint32_t c, long pa, long pb, long pc)
{
	uint32_t *r = (uint32_t *)pa, *e = (uint32_t *)pb, *s = (uint32_t *)pc;
	if (!r || !e || !s)
		return -EFAULT;
	*r = a;
	*e = b;
	*s = c;
	return 0;
}

long rt_sys_ident(long n, long a1, long a2, long a3)
{
	struct rt_ident *id = &ident;
	switch (n) {
	case SYS_getuid: return id->ruid;
	case SYS_geteuid: return id->euid;
	case SYS_getgid: return id->rgid;
	case SYS_getegid: return id->egid;
	case SYS_getresuid: return put_res(id->ruid, id->euid, id->suid, a1, a2, a3);
	case SYS_getresgid: return put_res(id->rgid, id->egid, id->sgid, a1, a2, a3);
	case SYS_setuid: return rt_ident_setuid(id, (uint32_t)a1);
	case SYS_setgid: return rt_ident_setgid(id, (uint32_t)a1);
	case SYS_setreuid: return rt_ident_setreuid(id, (uint32_t)a1, (uint32_t)a2);
	case SYS_setregid: return rt_ident_setregid(id, (uint32_t)a1, (uint32_t)a2);
	case SYS_setresuid: return rt_ident_setresuid(id, (uint32_t)a1, (uint32_t)a2, (uint32_t)a3);
	case SYS_setresgid: return rt_ident_setresgid(id, (uint32_t)a1, (uint32_t)a2, (uint32_t)a3);
	case SYS_setfsuid: return rt_ident_setfsuid(id, (uint32_t)a1);
	case SYS_setfsgid: return rt_ident_setfsgid(id, (uint32_t)a1);
	case SYS_setgroups: return rt_ident_setgroups(id, a1, (const uint32_t *)a2);
	case SYS_getgroups: return rt_ident_getgroups(id, a1, (uint32_t *)a2);
	/* The host name is the capsule's name (caprun --name), as a container without CAP_SYS_ADMIN. */
	case SYS_sethostname: case SYS_setdomainname: return -EPERM;
	default: return -ENOSYS;
	}
}
