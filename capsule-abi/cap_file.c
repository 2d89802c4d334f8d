/* cap_file.c: the checked decoding of a capsule's file request record (cap_file.h). */
#include "capsule-abi/cap_file.h"

#include <string.h>

/* Which ops carry which names. */
static int op_names(unsigned op)
{
	switch (op) {
	case CAP_FOP_OPEN: case CAP_FOP_STAT: case CAP_FOP_MKDIR: case CAP_FOP_UNLINK:
		return 1;
	case CAP_FOP_RENAME:
		return 2;
	default:
		return 0;
	}
}

/* A relative name of exactly len bytes ending in its only NUL, with no ".." component. */
static int name_ok(const char *s, uint32_t len)
{
	if (len < 2 || len > CAP_FILE_NAME_MAX || s[len - 1] || memchr(s, 0, len - 1) || s[0] == '/')
		return 0;
	for (const char *p = s; *p; ) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += l;
		if (*p)
			p++;
	}
	return 1;
}

int cap_file_req_decode(const void *payload, size_t n, struct cap_file_req_view *out)
{
	const unsigned char *p = payload;
	memset(out, 0, sizeof *out);
	if (n < sizeof out->req)
		return -1;
	memcpy(&out->req, p, sizeof out->req);
	const struct cap_file_req *q = &out->req;
	if (q->op < 1 || q->op > CAP_FOP_MAX || q->handle >= CAP_FILE_HANDLES ||
	    q->volume >= CAP_FILE_VOLUMES || q->len > CAP_FILE_DATA_MAX ||
	    q->name_len > CAP_FILE_NAME_MAX || q->name2_len > CAP_FILE_NAME_MAX)
		return -1;
	int names = op_names(q->op);
	if ((names >= 1) != (q->name_len > 0) || (names == 2) != (q->name2_len > 0))
		return -1;
	size_t data = q->op == CAP_FOP_PWRITE ? q->len : 0;
	size_t want = sizeof *q + (size_t)q->name_len + (size_t)q->name2_len + data;
	if (n != want)
		return -1;
	const char *name = (const char *)p + sizeof *q;
	if (names >= 1) {
		if (!name_ok(name, q->name_len))
			return -1;
		out->name = name;
	}
	if (names == 2) {
		if (!name_ok(name + q->name_len, q->name2_len))
			return -1;
		out->name2 = name + q->name_len;
	}
	if (data)
		out->data = name + q->name_len + q->name2_len;
	return 0;
}
