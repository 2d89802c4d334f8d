/* etc.c: the text of the /etc files a capsule is born with, made from its name, address and name servers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "runtime/rt_etc.h"

/*
 * passwd and group: root and nobody (nogroup too, as on Debian), in the
 * formats musl's getpwnam/getgrnam read.  Home is "/", the one directory
 * every capsule has.
 */
static const char passwd_text[] =
	"root:x:0:0:root:/:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] =
	"root:x:0:\n"
	"nobody:x:65534:\n"
	"nogroup:x:65534:\n";

enum { ETC_PASSWD, ETC_GROUP, ETC_HOSTS, ETC_HOSTNAME, ETC_RESOLV, ETC_COUNT };
static const char *const etc_names[ETC_COUNT] = {
	[ETC_PASSWD] = "passwd", [ETC_GROUP] = "group", [ETC_HOSTS] = "hosts",
	[ETC_HOSTNAME] = "hostname", [ETC_RESOLV] = "resolv.conf",
};

int rt_etc_count(void)
{
	return ETC_COUNT;
}

const char *rt_etc_name(int i)
{
	return i >= 0 && i < ETC_COUNT ? etc_names[i] : 0;
}

int rt_etc_present(int i, const struct rt_etc_facts *f)
{
	if (i == ETC_RESOLV)
		return f->ndns > 0;   /* absent without caprun --dns: musl then asks 127.0.0.1 */
	return i >= 0 && i < ETC_COUNT;
}

struct etc_out {
	char *buf;
	size_t cap, len;
	int overflow;
};

static void put(struct etc_out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->len < o->cap ? o->cap - o->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || o->len + (size_t)n >= o->cap)
		o->overflow = 1;
	else
		o->len += (size_t)n;
}

static const char *host_name(const struct rt_etc_facts *f)
{
	return f->name && f->name[0] ? f->name : "capsule";
}

long rt_etc_render(int i, const struct rt_etc_facts *f, char *buf, size_t cap)
{
	struct etc_out o = { buf, cap, 0, 0 };
	const unsigned char *ip = (const unsigned char *)&f->ip;   /* network order: first octet first */
	if (!cap || !rt_etc_present(i, f))
		return -1;
	buf[0] = 0;
	switch (i) {
	case ETC_PASSWD:
		put(&o, "%s", passwd_text);
		break;
	case ETC_GROUP:
		put(&o, "%s", group_text);
		break;
	case ETC_HOSTS:
		put(&o, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
		if (f->ip)
			put(&o, "%u.%u.%u.%u\t%s\n", ip[0], ip[1], ip[2], ip[3], host_name(f));
		break;
	case ETC_HOSTNAME:
		put(&o, "%s\n", host_name(f));
		break;
	case ETC_RESOLV:
		for (int k = 0; k < f->ndns && k < RT_ETC_MAX_DNS; k++)
			put(&o, "nameserver %s\n", f->dns[k]);
		break;
	}
	return o.overflow ? -1 : (long)o.len;
}

int rt_etc_find(const char *path, const struct rt_etc_facts *f)
{
	if (strncmp(path, "/etc", 4))
		return -1;
	if (!path[4])
		return RT_ETC_DIR;
	if (path[4] != '/')
		return -1;
	for (int i = 0; i < ETC_COUNT; i++)
		if (!strcmp(path + 5, etc_names[i]))
			return rt_etc_present(i, f) ? i : -1;
	return -1;
}
