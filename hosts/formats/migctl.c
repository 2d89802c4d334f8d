/* migctl.c: sealing, opening and socket helpers for the migration's control records (migctl.h). */
#include "hosts/formats/migctl.h"
#include "hosts/common/bytes.h"
#include "hosts/common/clock.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

const char *migctl_name(int type)
{
	switch (type) {
	case MIG_CTL_CONFIRM: return "confirm";
	case MIG_CTL_REFUSE:  return "refuse";
	case MIG_CTL_COMMIT:  return "commit";
	case MIG_CTL_ABORT:   return "abort";
	case MIG_CTL_STARTED: return "started";
	case MIG_CTL_ROUND_DONE: return "round_done";
	}
	return "unknown";
}

/* Which records each direction may carry: a source never confirms, a target never commits. */
static int allowed(int dir, int type)
{
	if (dir == MIG_CTL_TO_SOURCE)
		return type == MIG_CTL_CONFIRM || type == MIG_CTL_REFUSE || type == MIG_CTL_STARTED ||
		       type == MIG_CTL_ROUND_DONE;
	return type == MIG_CTL_COMMIT || type == MIG_CTL_ABORT;
}

void migctl_init(struct mig_ctl *c, const uint8_t stream_key[MIG_KEY_LEN], int dir)
{
	_Static_assert(sizeof MIG_CTL_KDF_CONTEXT - 1 == crypto_kdf_CONTEXTBYTES, "kdf context size");
	memset(c, 0, sizeof *c);
	c->dir = dir;
	crypto_kdf_derive_from_key(c->key, sizeof c->key, (uint64_t)dir, MIG_CTL_KDF_CONTEXT,
	                           stream_key);
}

void migctl_wipe(struct mig_ctl *c)
{
	sodium_memzero(c, sizeof *c);
}

/* REFUSE must say why; STARTED may say how the pull went; the others carry nothing. */
static int text_fits(int type, size_t tl)
{
	return type == MIG_CTL_REFUSE ? tl > 0 : type == MIG_CTL_STARTED ? 1 : tl == 0;
}

int migctl_seal(struct mig_ctl *c, int type, const char *text, uint8_t *out, size_t cap,
                 size_t *out_len)
{
	uint8_t plain[1 + MIG_CTL_TEXT_MAX];
	size_t tl = text ? strnlen(text, MIG_CTL_TEXT_MAX + 1) : 0;
	if (!allowed(c->dir, type) || !text_fits(type, tl) || tl > MIG_CTL_TEXT_MAX)
		return MIG_E_BAD_RECORD;
	size_t head = c->started ? 0 : MIG_CTL_HEADER_LEN;
	size_t clen = 1 + tl + MIG_CTL_ABYTES;
	if (cap < head + 4 + clen)
		return MIG_E_NOSPACE;
	if (!c->started) {
		crypto_secretstream_xchacha20poly1305_init_push(&c->st, out, c->key);
		c->started = 1;
	}
	plain[0] = (uint8_t)type;
	if (tl)
		memcpy(plain + 1, text, tl);
	host_put32(out + head, (uint32_t)clen);
	crypto_secretstream_xchacha20poly1305_push(&c->st, out + head + 4, NULL, plain, 1 + tl, NULL,
	                                           0, 0);
	*out_len = head + 4 + clen;
	return MIG_OK;
}

int migctl_open(struct mig_ctl *c, const uint8_t *buf, size_t len, size_t *used, int *type,
                 char *text, size_t tlen)
{
	uint8_t plain[1 + MIG_CTL_TEXT_MAX];
	size_t pos = 0;
	if (c->started < 0)
		return MIG_E_BAD_TAG;   /* failed before: stays failed */
	if (!c->started) {
		if (len < MIG_CTL_HEADER_LEN)
			return MIG_NEED_MORE;
		pos = MIG_CTL_HEADER_LEN;
	}
	if (len - pos < 4)
		return MIG_NEED_MORE;
	uint32_t clen = host_get32(buf + pos);
	if (clen < 1 + MIG_CTL_ABYTES || clen > 1 + MIG_CTL_TEXT_MAX + MIG_CTL_ABYTES) {
		c->started = -1;
		return MIG_E_BAD_LENGTH;
	}
	if (len - pos - 4 < clen)
		return MIG_NEED_MORE;
	if (!c->started &&
	    crypto_secretstream_xchacha20poly1305_init_pull(&c->st, buf, c->key) != 0) {
		c->started = -1;
		return MIG_E_BAD_TAG;
	}
	c->started = 1;
	unsigned long long plen;
	if (crypto_secretstream_xchacha20poly1305_pull(&c->st, plain, &plen, NULL, buf + pos + 4, clen,
	                                               NULL, 0) != 0) {
		c->started = -1;
		return MIG_E_BAD_TAG;
	}
	int t = plain[0];
	size_t tl = (size_t)plen - 1;
	if (!allowed(c->dir, t) || !text_fits(t, tl) || memchr(plain + 1, 0, tl) ||
	    tlen < tl + 1) {
		c->started = -1;
		return MIG_E_BAD_RECORD;
	}
	memcpy(text, plain + 1, tl);
	text[tl] = 0;
	*type = t;
	*used = pos + 4 + clen;
	return MIG_OK;
}

int migctl_send(int sock, struct mig_ctl *c, int type, const char *text)
{
	uint8_t rec[MIG_CTL_HEADER_LEN + MIG_CTL_REC_MAX];
	size_t n;
	int rc = migctl_seal(c, type, text, rec, sizeof rec, &n);
	if (rc != MIG_OK)
		return rc;
	for (size_t off = 0; off < n;) {
		ssize_t w = send(sock, rec + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return MIG_E_IO;
		off += (size_t)w;
	}
	return MIG_OK;
}

/* Records are taken from c->in; bytes of a next record read with this one stay there for it. */
int migctl_recv(int sock, struct mig_ctl *c, int timeout_ms, int *type, char *text, size_t tlen)
{
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)clock_now_ms() + timeout_ms;
	int looked = 0;   /* timeout 0 still reads what is there */
	for (;;) {
		size_t used = 0;
		int rc = c->in_len ? migctl_open(c, c->in, c->in_len, &used, type, text, tlen)
		                   : MIG_NEED_MORE;
		if (rc == MIG_OK) {
			c->in_len -= used;
			memmove(c->in, c->in + used, c->in_len);
			return MIG_OK;
		}
		if (rc != MIG_NEED_MORE)
			return rc;
		int left = -1;
		if (deadline >= 0) {
			int64_t l = deadline - clock_now_ms();
			if (l <= 0 && looked) {
				errno = ETIMEDOUT;
				return MIG_E_IO;
			}
			left = l > 0 ? (int)l : 0;
		}
		looked = 1;
		struct pollfd p = { sock, POLLIN, 0 };
		int n = poll(&p, 1, left);
		if (n < 0 && errno != EINTR)
			return MIG_E_IO;
		if (n <= 0)
			continue;
		/* A record is at most sizeof c->in with its header: NEED_MORE always leaves room. */
		ssize_t got = recv(sock, c->in + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
		if (got == 0) {
			errno = EPIPE;
			return MIG_E_IO;
		}
		if (got < 0 && errno != EAGAIN && errno != EINTR)
			return MIG_E_IO;
		if (got > 0)
			c->in_len += (size_t)got;
	}
}
