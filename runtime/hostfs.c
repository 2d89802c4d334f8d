/* hostfs.c: the capsule's side of the file records: requests to the host, answers from the channel, the volume table. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "runtime/rt_hostfs.h"
#include "runtime/rt_internal.h"

/*
 * A request waits for its answer on its own queue; other green threads run
 * meanwhile.  The host drops requests while the capsule freezes, so after a
 * thaw every unanswered request is sent again; after a resume (a new
 * process, maybe another host, where no handle is open) each ends with
 * RT_HOSTFS_RETRY and its caller opens what it needs again first.
 */
struct pending {
	struct rt_hostfs_call *call;
	struct rt_waitq wq;
	struct pending *next;
	int sent, done;
	long result;
};

static struct pending *pending_head;
static uint32_t last_id;
static unsigned generation;   /* resumes so far: lives in capsule memory, so it moves with it */

/* The host's volume table, asked once per generation. */
static struct cap_file_volume volumes[CAP_FILE_VOLUMES];
static int volume_count = -1;
static unsigned volumes_generation;

unsigned rt_hostfs_generation(void)
{
	return generation;
}

static long send_request(struct rt_hostfs_call *c)
{
	struct cap_chan_hdr h = { CAP_MSG_FILE_REQ, 0, 0 };
	struct rt_iovec iov[5];
	int n = 0;
	c->req.name_len = c->name ? (uint32_t)strlen(c->name) + 1 : 0;
	c->req.name2_len = c->name2 ? (uint32_t)strlen(c->name2) + 1 : 0;
	if (c->req.name_len > CAP_FILE_NAME_MAX || c->req.name2_len > CAP_FILE_NAME_MAX)
		return -ENAMETOOLONG;
	iov[n++] = (struct rt_iovec){ &h, sizeof h };
	iov[n++] = (struct rt_iovec){ &c->req, sizeof c->req };
	if (c->name)
		iov[n++] = (struct rt_iovec){ (void *)c->name, c->req.name_len };
	if (c->name2)
		iov[n++] = (struct rt_iovec){ (void *)c->name2, c->req.name2_len };
	if (c->req.op == CAP_FOP_PWRITE && c->req.len)
		iov[n++] = (struct rt_iovec){ (void *)c->data, c->req.len };
	long r = rt_host_channel_send(iov, n);
	return r < 0 ? r : 0;
}

long rt_hostfs_call(struct rt_hostfs_call *c)
{
	struct pending p = { .call = c };
	unsigned gen = generation;
	rt_waitq_init(&p.wq);
	c->req.id = ++last_id;
	p.next = pending_head;
	pending_head = &p;
	rt_ready_hold++;
	for (;;) {
		if (!p.sent) {
			long r = send_request(c);
			if (r < 0) {
				p.result = r;
				break;
			}
			p.sent = 1;
		}
		rt_wait(&p.wq, 0, "file");
		if (p.done)
			break;
		if (generation != gen) {
			p.result = RT_HOSTFS_RETRY;
			break;
		}
	}
	rt_ready_hold--;
	for (struct pending **pp = &pending_head; *pp; pp = &(*pp)->next)
		if (*pp == &p) {
			*pp = p.next;
			break;
		}
	return p.result;
}

void rt_hostfs_reply(const void *payload, size_t n)
{
	struct cap_file_rep rep;
	if (n < sizeof rep)
		return;
	memcpy(&rep, payload, sizeof rep);
	for (struct pending *p = pending_head; p; p = p->next) {
		if (p->call->req.id != rep.id || p->done || !p->sent)
			continue;
		struct rt_hostfs_call *c = p->call;
		size_t got = n - sizeof rep;
		if (got > c->buflen)
			got = c->buflen;
		if (got)
			memcpy(c->buf, (const char *)payload + sizeof rep, got);
		p->result = rep.result;
		/* never more bytes than arrived, whatever the host claims */
		if ((c->req.op == CAP_FOP_PREAD || c->req.op == CAP_FOP_GETDENTS) && p->result > (long)got)
			p->result = (long)got;
		c->size = rep.size;
		p->done = 1;
		rt_wake_all(&p->wq);
		return;
	}
}

void rt_hostfs_after_freeze(int resumed)
{
	if (resumed)
		generation++;
	for (struct pending *p = pending_head; p; p = p->next) {
		if (p->done)
			continue;
		p->sent = 0;   /* the host did not run it: it dropped requests while we froze */
		rt_wake_all(&p->wq);
	}
}

static int load_volumes(void)
{
	while (volume_count < 0 || volumes_generation != generation) {
		static struct cap_file_volume got[CAP_FILE_VOLUMES];
		struct rt_hostfs_call c = { .req = { .op = CAP_FOP_VOLUMES }, .buf = got, .buflen = sizeof got };
		unsigned gen = generation;
		long r = rt_hostfs_call(&c);
		if (r == RT_HOSTFS_RETRY)
			continue;
		if (r < 0)
			return (int)r;
		if (r > CAP_FILE_VOLUMES)
			r = CAP_FILE_VOLUMES;
		memcpy(volumes, got, sizeof volumes);
		for (int i = 0; i < r; i++)
			volumes[i].path[CAP_FILE_MOUNT_MAX - 1] = 0;
		volume_count = (int)r;
		volumes_generation = gen;
	}
	return 0;
}

/* The capsule's own trees, never a volume: no question to the host for them. */
static int under(const char *abs, const char *dir)
{
	size_t l = strlen(dir);
	return !strncmp(abs, dir, l) && (abs[l] == 0 || abs[l] == '/');
}

static int own_path(const char *abs)
{
	return !strcmp(abs, "/") || under(abs, "/tmp") || under(abs, "/dev");
}

int rt_hostfs_lookup(const char *abs, int *volume, uint32_t *flags, const char **rel)
{
	if (own_path(abs) || load_volumes() < 0)
		return 0;
	int best = -1;
	size_t bl = 0;
	for (int i = 0; i < volume_count; i++) {
		size_t l = strlen(volumes[i].path);
		if (l && !strncmp(abs, volumes[i].path, l) && (abs[l] == 0 || abs[l] == '/') && l > bl) {
			best = i;
			bl = l;
		}
	}
	if (best < 0)
		return 0;
	*volume = best;
	*flags = volumes[best].flags;
	*rel = abs[bl] ? abs + bl + 1 : ".";
	return 1;
}

int rt_hostfs_volume_index(const char *mount)
{
	if (load_volumes() < 0)
		return -1;
	for (int i = 0; i < volume_count; i++)
		if (!strcmp(volumes[i].path, mount))
			return i;
	return -1;
}

const char *rt_hostfs_volume_mount(int volume)
{
	return volume >= 0 && volume < volume_count ? volumes[volume].path : "";
}

void rt_hostfs_stat_out(const struct cap_file_stat *in, struct stat *st, int volume)
{
	memset(st, 0, sizeof *st);
	st->st_dev = (dev_t)(0x200 + volume);
	st->st_ino = (ino_t)in->ino;
	st->st_mode = (mode_t)in->mode;
	st->st_nlink = (nlink_t)in->nlink;
	st->st_uid = in->uid;
	st->st_gid = in->gid;
	st->st_size = (off_t)in->size;
	st->st_blksize = (blksize_t)(in->blksize ? in->blksize : 4096);
	st->st_blocks = (blkcnt_t)in->blocks;
	st->st_atim.tv_sec = in->atime_ns / 1000000000;
	st->st_atim.tv_nsec = in->atime_ns % 1000000000;
	st->st_mtim.tv_sec = in->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = in->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = in->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = in->ctime_ns % 1000000000;
}

long rt_hostfs_path_op(int op, const char *abs, const char *abs2, uint32_t flags, uint32_t mode,
                       struct stat *st)
{
	for (;;) {
		int vol, vol2;
		uint32_t vflags, vflags2;
		const char *rel, *rel2 = 0;
		struct cap_file_stat cs;
		if (!rt_hostfs_lookup(abs, &vol, &vflags, &rel))
			return -ENOENT;
		if (abs2 && (!rt_hostfs_lookup(abs2, &vol2, &vflags2, &rel2) || vol2 != vol))
			return -EXDEV;
		if (op != CAP_FOP_STAT && (vflags & CAP_FILE_VOL_RO))
			return -EROFS;
		if (op != CAP_FOP_STAT && (!strcmp(rel, ".") || (rel2 && !strcmp(rel2, "."))))
			return -EBUSY;   /* a volume's root stays */
		struct rt_hostfs_call c = { .req = { .op = (uint16_t)op, .volume = (uint16_t)vol,
		                                     .flags = flags, .mode = mode },
		                            .name = rel, .name2 = rel2, .buf = &cs, .buflen = sizeof cs };
		long r = rt_hostfs_call(&c);
		if (r == RT_HOSTFS_RETRY)
			continue;
		if (r == 0 && st)
			rt_hostfs_stat_out(&cs, st, vol);
		return r;
	}
}
