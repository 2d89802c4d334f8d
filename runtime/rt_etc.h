/* rt_etc.h: the /etc files a capsule is born with (passwd, group, hosts, hostname, resolv.conf), made from its facts. */
#ifndef RT_ETC_H
#define RT_ETC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct rt_file;

/* etc.c: pure: the text of each file from the capsule's facts (unit-tested). */
#define RT_ETC_MAX_DNS 3                     /* musl reads at most 3 name servers */
#define RT_ETC_DNS_LEN 46                    /* INET6_ADDRSTRLEN */
struct rt_etc_facts {
	const char *name;                        /* capsule name = host name */
	uint32_t ip;                             /* network order */
	int ndns;
	const char *dns[RT_ETC_MAX_DNS];         /* name servers; none: no resolv.conf */
};
int rt_etc_count(void);
const char *rt_etc_name(int i);              /* "passwd", "group", ... */
int rt_etc_present(int i, const struct rt_etc_facts *f);
/* The file's text into buf (NUL-terminated); returns its length, or -1 if it does not fit. */
long rt_etc_render(int i, const struct rt_etc_facts *f, char *buf, size_t cap);
/* "/etc/NAME" (absolute, normalized) -> i if present; RT_ETC_DIR for "/etc"; -1 otherwise. */
#define RT_ETC_DIR (-2)
int rt_etc_find(const char *path, const struct rt_etc_facts *f);

/*
 * etcfile.c: the layer path.c consults after volume mounts and before
 * tmpfs: /etc and its synthesized files as read-only open files.  Both
 * return -ENOENT for a path that is not theirs (the caller goes on); the
 * directory "/etc" is a read-only tmpfs node, so stat leaves it to tmpfs.
 */
long rt_etcfile_open(const char *path, int flags, struct rt_file **out);
long rt_etcfile_stat(const char *path, struct stat *st);
/* The name servers from caprun --dns (at start, from the auxv entry CAP_AT_DNS). */
void rt_etcfile_init(void);

#endif
