/* misc.c: small identity/limits/system-information calls with fixed capsule answers. */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include "runtime/rt_fd.h"
#include "runtime/rt_host.h"
#include "runtime/rt_internal.h"
#include "runtime/rt_sys.h"

static struct rlimit limits[RLIM_NLIMITS];
static int limits_ready;

static void limits_init(void)
{
	if (limits_ready)
		return;
	limits_ready = 1;
	for (int i = 0; i < RLIM_NLIMITS; i++)
		limits[i].rlim_cur = limits[i].rlim_max = RLIM_INFINITY;
	limits[RLIMIT_STACK].rlim_cur = 8 << 20;
	limits[RLIMIT_NPROC].rlim_cur = limits[RLIMIT_NPROC].rlim_max = 1024;
	limits[RLIMIT_CORE].rlim_cur = limits[RLIMIT_CORE].rlim_max = 0;
}

long rt_sys_uname(void *buf)
{
	struct utsname *u = buf;
	memset(u, 0, sizeof *u);
	strcpy(u->sysname, "Linux");
	const char *name = RT_CONTROL->name;
	size_t l = strnlen(name, sizeof RT_CONTROL->name);
	if (l >= sizeof u->nodename)
		l = sizeof u->nodename - 1;
	memcpy(u->nodename, l ? name : "capsule", l ? l : 7);
	strcpy(u->release, "capsule");
	strcpy(u->version, "#1");
	strcpy(u->machine, "x86_64");
	strcpy(u->domainname, "(none)");
	return 0;
}

long rt_sys_prlimit(int resource, const void *newlim, void *oldlim)
{
	limits_init();
	if (resource < 0 || resource >= RLIM_NLIMITS)
		return -EINVAL;
	if (resource == RLIMIT_NOFILE) {
		/* The descriptor table's own limits (fd.c): the capsule's --max-fds at most. */
		uint64_t soft, hard;
		rt_fd_getrlimit(&soft, &hard);
		struct rlimit cur = { soft, hard };
		if (newlim) {
			const struct rlimit *n = newlim;
			long r = rt_fd_setrlimit(n->rlim_cur, n->rlim_max);
			if (r < 0)
				return r;
		}
		if (oldlim)
			memcpy(oldlim, &cur, sizeof cur);
		return 0;
	}
	if (oldlim)
		memcpy(oldlim, &limits[resource], sizeof limits[0]);
	if (newlim) {
		const struct rlimit *n = newlim;
		if (n->rlim_cur > n->rlim_max)
			return -EINVAL;
		limits[resource] = *n;
	}
	return 0;
}

long rt_sys_sysinfo(void *p)
{
	struct sysinfo *si = p;
	memset(si, 0, sizeof *si);
	si->uptime = (long)(rt_now_ns() / 1000000000ULL);
	si->totalram = (unsigned long)rt_mem_total();
	si->freeram = (unsigned long)rt_mem_free();
	si->procs = (unsigned short)rt_thread_count();
	si->mem_unit = 1;
	return 0;
}

long rt_sys_sched_getaffinity(size_t len, void *mask)
{
	if (len < 8)
		return -EINVAL;
	memset(mask, 0, len);
	*(unsigned char *)mask = 1;
	return 8;
}

long rt_sys_getrandom(void *buf, size_t len, unsigned flags)
{
	(void)flags;
	return rt_host_getrandom(buf, len);
}

long rt_sys_getrusage(int who, void *ru)
{
	struct rusage *r = ru;
	(void)who;
	memset(r, 0, sizeof *r);
	uint64_t us = rt_now_ns() / 1000;
	r->ru_utime.tv_sec = (time_t)(us / 1000000);
	r->ru_utime.tv_usec = (suseconds_t)(us % 1000000);
	return 0;
}

long rt_sys_times(void *buf)
{
	long ticks = (long)(rt_now_ns() / 10000000ULL);   /* 100 Hz */
	if (buf) {
		struct tms *t = buf;
		memset(t, 0, sizeof *t);
		t->tms_utime = ticks;
	}
	return ticks;
}

/*
 * prctl: the process attributes daemons set and read back (nginx's configure tests
 * PR_SET_DUMPABLE, daemons name threads), kept in the capsule's memory, so they move
 * with it.  One name for the whole capsule (Linux keeps one per thread); nothing on
 * the host changes.  Others: EINVAL, as Linux answers an unknown option.
 */
static struct {
	int dumpable, keepcaps, pdeathsig, no_new_privs, named;
	char name[16];
} pr = { .dumpable = 1 };

/* A task name as Linux keeps it: at most 15 bytes and a NUL. */
static void pr_name_copy(char *dst, const char *src)
{
	size_t l = strnlen(src, 15);
	memcpy(dst, src, l);
	dst[l] = 0;
}

static long pr_flag(int *field, unsigned long v)
{
	if (v > 1)
		return -EINVAL;
	*field = (int)v;
	return 0;
}

long rt_sys_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
	switch (option) {
	case PR_SET_PDEATHSIG:
		if (a2 >= 65)
			return -EINVAL;
		pr.pdeathsig = (int)a2;   /* the capsule has no parent whose death it would see */
		return 0;
	case PR_GET_PDEATHSIG: *(int *)a2 = pr.pdeathsig; return 0;
	case PR_SET_DUMPABLE: return pr_flag(&pr.dumpable, a2);
	case PR_GET_DUMPABLE: return pr.dumpable;
	case PR_SET_KEEPCAPS: return pr_flag(&pr.keepcaps, a2);
	case PR_GET_KEEPCAPS: return pr.keepcaps;
	case PR_SET_NAME:
		pr_name_copy(pr.name, (const char *)a2);
		pr.named = 1;
		return 0;
	case PR_GET_NAME: {
		struct utsname u;
		rt_sys_uname(&u);   /* until set: the capsule's name, as comm is the program's */
		pr_name_copy((char *)a2, pr.named ? pr.name : u.nodename);
		return 0;
	}
	case PR_SET_NO_NEW_PRIVS:
		if (a2 != 1 || a3 || a4 || a5)
			return -EINVAL;
		pr.no_new_privs = 1;
		return 0;
	case PR_GET_NO_NEW_PRIVS: return a2 || a3 || a4 || a5 ? -EINVAL : pr.no_new_privs;
	default:
		return -EINVAL;
	}
}
