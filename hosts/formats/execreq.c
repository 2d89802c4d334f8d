/* execreq.c: an execve's request checked and its strings found (execreq.h). */
#include "hosts/formats/execreq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void execreq_free(struct execreq *x)
{
	free(x->argv);
	free(x->envp);
	memset(x, 0, sizeof *x);
}

static int fail(int e)
{
	errno = e;
	return -1;
}

int execreq_parse(const unsigned char *bytes, size_t len, int with_handoff, struct execreq *x)
{
	memset(x, 0, sizeof *x);
	if (len > EXECREQ_MAX)
		return fail(E2BIG);
	if (len < sizeof x->req)
		return fail(EINVAL);
	memcpy(&x->req, bytes, sizeof x->req);
	const struct cap_exec_req *q = &x->req;
	if (q->magic != CAP_EXEC_MAGIC)
		return fail(EINVAL);
	if (q->strings_len > CAP_EXEC_STRINGS_MAX)
		return fail(E2BIG);
	/* every string takes at least its NUL: counts beyond the bytes are nonsense */
	if ((uint64_t)q->argc + q->envc + 1 > q->strings_len ||
	    (uint64_t)sizeof *q + q->strings_len > len)
		return fail(EINVAL);
	if (with_handoff) {
		if (q->handoff_off % 8 || q->handoff_off < sizeof *q + q->strings_len ||
		    q->handoff_len > EXECREQ_HANDOFF_MAX || (uint64_t)q->handoff_off + q->handoff_len > len)
			return fail(EINVAL);
		x->handoff = bytes + q->handoff_off;
	}
	x->argv = calloc((size_t)q->argc + 1, sizeof *x->argv);
	x->envp = calloc((size_t)q->envc + 1, sizeof *x->envp);
	if (!x->argv || !x->envp)
		return fail(ENOMEM);
	const char *s = (const char *)bytes + sizeof *q, *end = s + q->strings_len;
	for (uint64_t i = 0; i < 1 + (uint64_t)q->argc + q->envc; i++) {
		const char *nul = memchr(s, 0, (size_t)(end - s));
		if (!nul)
			return fail(EINVAL);
		if (i == 0)
			x->path = s;
		else if (i <= q->argc)
			x->argv[i - 1] = (char *)s;
		else
			x->envp[i - 1 - q->argc] = (char *)s;
		s = nul + 1;
	}
	return 0;
}

int execreq_program(const char *image_name, const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	if (!strcmp(path, "/proc/self/exe") || !strcmp(base, image_name))
		return 0;
	return fail(ENOENT);
}
