/* ident.c: Linux's rules for changing uids, gids and groups, on a struct rt_ident (no globals, unit-tested). */
#include <errno.h>
#include <string.h>
#include "runtime/rt_ident.h"

#define KEEP RT_IDENT_KEEP

void rt_ident_start(struct rt_ident *id, uint32_t uid, uint32_t gid)
{
	memset(id, 0, sizeof *id);
	id->ruid = id->euid = id->suid = id->fsuid = uid;
	id->rgid = id->egid = id->sgid = id->fsgid = gid;
}

/* Root holds CAP_SETUID/CAP_SETGID while its effective uid is 0, as with Linux's capabilities. */
static int privileged(const struct rt_ident *id)
{
	return id->euid == 0;
}

static int one_of(uint32_t v, uint32_t a, uint32_t b, uint32_t c)
{
	return v == a || v == b || v == c;
}

/* setresuid and setresgid: unprivileged, each new id must be one of the current three. */
static long set_res(int priv, uint32_t *r, uint32_t *e, uint32_t *s, uint32_t *fs,
                    uint32_t nr, uint32_t ne, uint32_t ns)
{
	if (!priv && ((nr != KEEP && !one_of(nr, *r, *e, *s)) ||
	              (ne != KEEP && !one_of(ne, *r, *e, *s)) ||
	              (ns != KEEP && !one_of(ns, *r, *e, *s))))
		return -EPERM;
	if (nr != KEEP) *r = nr;
	if (ne != KEEP) *e = ne;
	if (ns != KEEP) *s = ns;
	*fs = *e;
	return 0;
}

long rt_ident_setresuid(struct rt_ident *id, uint32_t r, uint32_t e, uint32_t s)
{
	return set_res(privileged(id), &id->ruid, &id->euid, &id->suid, &id->fsuid, r, e, s);
}

long rt_ident_setresgid(struct rt_ident *id, uint32_t r, uint32_t e, uint32_t s)
{
	return set_res(privileged(id), &id->rgid, &id->egid, &id->sgid, &id->fsgid, r, e, s);
}

/*
 * setreuid and setregid: unprivileged, the real id may become the effective
 * one and the effective id any of the three; the saved id follows the new
 * effective one when the real id is set or the effective one leaves it.
 */
static long set_re(int priv, uint32_t *r, uint32_t *e, uint32_t *s, uint32_t *fs,
                   uint32_t nr, uint32_t ne)
{
	if (!priv && ((nr != KEEP && nr != *r && nr != *e) ||
	              (ne != KEEP && !one_of(ne, *r, *e, *s))))
		return -EPERM;
	uint32_t old_r = *r;
	if (nr != KEEP) *r = nr;
	if (ne != KEEP) *e = ne;
	if (nr != KEEP || (ne != KEEP && ne != old_r))
		*s = *e;
	*fs = *e;
	return 0;
}

long rt_ident_setreuid(struct rt_ident *id, uint32_t r, uint32_t e)
{
	return set_re(privileged(id), &id->ruid, &id->euid, &id->suid, &id->fsuid, r, e);
}

long rt_ident_setregid(struct rt_ident *id, uint32_t r, uint32_t e)
{
	return set_re(privileged(id), &id->rgid, &id->egid, &id->sgid, &id->fsgid, r, e);
}

/* setuid and setgid: privileged, all ids change; otherwise only the effective one, to the real or saved. */
static long set_one(int priv, uint32_t *r, uint32_t *e, uint32_t *s, uint32_t *fs, uint32_t v)
{
	if (v == KEEP)
		return -EINVAL;
	if (priv) {
		*r = *e = *s = *fs = v;
		return 0;
	}
	if (v != *r && v != *s)
		return -EPERM;
	*e = *fs = v;
	return 0;
}

long rt_ident_setuid(struct rt_ident *id, uint32_t uid)
{
	return set_one(privileged(id), &id->ruid, &id->euid, &id->suid, &id->fsuid, uid);
}

long rt_ident_setgid(struct rt_ident *id, uint32_t gid)
{
	return set_one(privileged(id), &id->rgid, &id->egid, &id->sgid, &id->fsgid, gid);
}

long rt_ident_setgroups(struct rt_ident *id, long n, const uint32_t *list)
{
	if (n < 0 || n > 65536)
		return -EINVAL;
	if (!privileged(id))
		return -EPERM;
	if (n > RT_IDENT_NGROUPS)
		return -EINVAL;   /* a capsule keeps at most RT_IDENT_NGROUPS */
	if (n && !list)
		return -EFAULT;
	if (n)
		memcpy(id->groups, list, (size_t)n * sizeof *list);
	id->ngroups = (int)n;
	return 0;
}

long rt_ident_getgroups(const struct rt_ident *id, long size, uint32_t *list)
{
	if (size < 0)
		return -EINVAL;
	if (size == 0)
		return id->ngroups;
	if (size < id->ngroups)
		return -EINVAL;
	if (id->ngroups && !list)
		return -EFAULT;
	if (id->ngroups)
		memcpy(list, id->groups, (size_t)id->ngroups * sizeof *list);
	return id->ngroups;
}

/* setfsuid/setfsgid never fail: they return the old id, changed only if allowed. */
long rt_ident_setfsuid(struct rt_ident *id, uint32_t uid)
{
	uint32_t old = id->fsuid;
	if (uid != KEEP && (privileged(id) || one_of(uid, id->ruid, id->euid, id->suid) || uid == old))
		id->fsuid = uid;
	return old;
}

long rt_ident_setfsgid(struct rt_ident *id, uint32_t gid)
{
	uint32_t old = id->fsgid;
	if (gid != KEEP && (privileged(id) || one_of(gid, id->rgid, id->egid, id->sgid) || gid == old))
		id->fsgid = gid;
	return old;
}
