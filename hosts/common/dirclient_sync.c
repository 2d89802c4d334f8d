/* dirclient_sync.c: the directory client's blocking requests (one at a time, for command-line tools), on the asynchronous engine. */
#include "hosts/common/dirclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

struct wait {
	int done, rc;
	struct dir_msg reply;
};

static void on_done(void *ctx, uint64_t cookie, int rc, const struct dir_msg *reply)
{
	struct wait *w = ctx;
	(void)cookie;
	w->done = 1;
	w->rc = rc;
	if (reply)
		w->reply = *reply;
}

/* Start m and wait for its answer.  0 = *reply set (maybe DIR_T_ERROR), < 0 = DIRC_ERR_*. */
static int request(struct dirc *c, struct dir_msg *m, struct dir_msg *reply)
{
	struct wait w = { 0 };
	int rc;
	if (!dirclient_start(c, m, DIRC_DEFAULT_ATTEMPTS, on_done, &w, 0, &rc))
		return rc;
	while (!w.done) {
		int wait = dirclient_tick(c);
		if (w.done)
			break;
		struct pollfd p = { .fd = dirclient_fd(c), .events = POLLIN };
		if (poll(&p, 1, wait) < 0 && errno != EINTR)
			return DIRC_ERR_IO;
		dirclient_input(c);
	}
	if (w.rc < 0)
		return w.rc;
	*reply = w.reply;
	return 0;
}

int dirclient_sync_hello(struct dirc *c, uint32_t addr, uint16_t data_port)
{
	struct dir_msg m = { .type = DIR_T_HELLO }, r;
	if (!addr || !data_port)
		return DIRC_ERR_ARG;
	m.u.hello.addr = addr;
	m.u.hello.data_port = data_port;
	int rc = request(c, &m, &r);
	return rc ? rc : dirclient_reply_code(&r);
}

int dirclient_sync_create(struct dirc *c, const char *name, uint32_t want_ip, uint32_t *ip, uint32_t *epoch)
{
	struct dir_msg m = { .type = DIR_T_CREATE }, r;
	if (!name || !dirproto_name_valid(name))
		return DIRC_ERR_ARG;
	m.u.create.ip = want_ip;
	snprintf(m.u.create.name, sizeof m.u.create.name, "%s", name);
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	*ip = r.u.ipepoch.ip;
	*epoch = r.u.ipepoch.epoch;
	return 0;
}

int dirclient_sync_move(struct dirc *c, uint32_t ip, uint32_t to_host, uint32_t expected_epoch,
              uint32_t *epoch)
{
	struct dir_msg m = { .type = DIR_T_MOVE }, r;
	if (!ip || !to_host || !expected_epoch)
		return DIRC_ERR_ARG;
	m.u.move.ip = ip;
	m.u.move.to_host_id = to_host;
	m.u.move.expected_epoch = expected_epoch;
	int rc = request(c, &m, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR) {
		*epoch = r.u.error.epoch;
		return r.u.error.code;
	}
	if (r.u.ipepoch.ip != ip)
		return DIRC_ERR_TIMEOUT;   /* cannot happen with an honest directory */
	*epoch = r.u.ipepoch.epoch;
	return 0;
}

int dirclient_sync_lookup(struct dirc *c, uint32_t ip, int subscribe, struct dir_entry *out)
{
	struct dir_msg m = { .type = DIR_T_LOOKUP }, r;
	if (!ip)
		return DIRC_ERR_ARG;
	m.u.lookup.ip = ip;
	m.u.lookup.flags = subscribe ? DIR_LOOKUP_SUBSCRIBE : 0;
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	*out = r.u.entry;
	return 0;
}

int dirclient_sync_release(struct dirc *c, uint32_t ip, uint32_t epoch, uint32_t *cur_epoch)
{
	struct dir_msg m = { .type = DIR_T_RELEASE }, r;
	if (!ip || !epoch)
		return DIRC_ERR_ARG;
	m.u.ipepoch.ip = ip;
	m.u.ipepoch.epoch = epoch;
	int rc = request(c, &m, &r);
	if (rc)
		return rc;
	if (r.type == DIR_T_ERROR) {
		if (cur_epoch)
			*cur_epoch = r.u.error.epoch;
		return r.u.error.code;
	}
	return 0;
}

int dirclient_sync_list(struct dirc *c, uint32_t cursor, struct dir_entry *out, size_t max, size_t *n,
              uint32_t *next)
{
	struct dir_msg m = { .type = DIR_T_LIST }, r;
	m.u.list.cursor = cursor;
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	*n = r.u.entries.n < max ? r.u.entries.n : max;
	memcpy(out, r.u.entries.e, *n * sizeof *out);
	/* a short caller buffer resumes where it stopped */
	*next = *n < r.u.entries.n ? r.u.entries.e[*n].ip : r.u.entries.next_cursor;
	return 0;
}

int dirclient_sync_state(struct dirc *c, uint32_t ip, uint32_t epoch, int state, struct dir_entry *out)
{
	struct dir_msg m = { .type = DIR_T_STATE }, r;
	if (!ip || !epoch || state <= DIR_STATE_UNKNOWN || state >= DIR_STATE_COUNT)
		return DIRC_ERR_ARG;
	m.u.state.ip = ip;
	m.u.state.epoch = epoch;
	m.u.state.state = (uint16_t)state;
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	if (out)
		*out = r.u.entry;
	return 0;
}

int dirclient_sync_host_lookup(struct dirc *c, uint32_t host_id, uint32_t *addr, uint16_t *data_port)
{
	struct dir_msg m = { .type = DIR_T_HOST_LOOKUP }, r;
	if (!host_id)
		return DIRC_ERR_ARG;
	m.u.host_lookup.host_id = host_id;
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	if (r.u.host.host_id != host_id)
		return DIRC_ERR_TIMEOUT;   /* cannot happen with an honest directory */
	*addr = r.u.host.addr;
	*data_port = r.u.host.data_port;
	return 0;
}

int dirclient_sync_stats(struct dirc *c, uint64_t *v, size_t max, size_t *n)
{
	struct dir_msg m = { .type = DIR_T_STATS }, r;
	int rc = request(c, &m, &r);
	if (rc || (rc = dirclient_reply_code(&r)))
		return rc;
	*n = r.u.stats.count < max ? r.u.stats.count : max;
	memcpy(v, r.u.stats.v, *n * sizeof *v);
	return 0;
}
