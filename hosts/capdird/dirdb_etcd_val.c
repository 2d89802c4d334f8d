/* dirdb_etcd_val.c: the values of the directory's etcd keys (dirdb_etcd.h): host records and capsule entries, to and from one line of text. */
#include "hosts/capdird/dirdb_etcd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *b, size_t cap, size_t *n)
{
	size_t len = strcspn(s, " ");
	if (len % 2 || len / 2 > cap)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		b[i] = (uint8_t)v;
	}
	*n = len / 2;
	return 0;
}

int dirdb_etcd_host_parse(const char *v, struct dirdb_etcd_host *r)
{
	unsigned addr, port, req, type;
	unsigned long long seq;
	int off = 0;
	memset(r, 0, sizeof *r);
	if (sscanf(v, "addr=%u port=%u seq=%llu req=%u type=%u dig=%n", &addr, &port, &seq, &req,
	           &type, &off) != 5 || !off)
		return -1;
	size_t n;
	const char *body = strstr(v + off, " body=");
	if (unhex(v + off, r->dig, sizeof r->dig, &n) || n != sizeof r->dig || !body ||
	    unhex(body + 6, r->body, sizeof r->body, &r->blen))
		return -1;
	if (port > 65535 || type > 255)
		return -1;
	r->addr = addr;
	r->port = (uint16_t)port;
	r->seq = seq;
	r->req = req;
	r->type = (uint8_t)type;
	return 0;
}

void dirdb_etcd_host_format(const struct dirdb_etcd_host *r, char *v)
{
	char dig[2 * DIR_DIGEST_LEN + 1];
	hex(r->dig, sizeof r->dig, dig);
	int n = sprintf(v, "addr=%u port=%u seq=%" PRIu64 " req=%u type=%u dig=%s body=", r->addr,
	                r->port, r->seq, r->req, r->type, dig);
	hex(r->body, r->blen, v + n);
}

int dirdb_etcd_cap_parse(const char *v, uint32_t ip, struct dir_entry *e)
{
	unsigned host, epoch, state;
	int off = 0;
	memset(e, 0, sizeof *e);
	if (sscanf(v, "host=%u epoch=%u state=%u name=%n", &host, &epoch, &state, &off) != 3 || !off ||
	    strlen(v + off) >= sizeof e->name)
		return -1;
	e->ip = ip;
	e->host_id = host;
	e->epoch = epoch;
	e->state = (uint16_t)(state <= DIR_STATE_SAVED ? state : DIR_STATE_UNKNOWN);
	snprintf(e->name, sizeof e->name, "%s", v + off);
	return dirproto_name_valid(e->name) && epoch && host ? 0 : -1;
}

void dirdb_etcd_cap_format(const struct dir_entry *e, char *v, size_t n)
{
	snprintf(v, n, "host=%u epoch=%u state=%u name=%s", e->host_id, e->epoch, e->state, e->name);
}
