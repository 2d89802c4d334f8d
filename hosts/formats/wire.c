/* wire.c: encode, authenticate, decode and replay-check host-to-host data-plane packets. */
#include "hosts/formats/wire.h"
#include "hosts/common/bytes.h"
#include "hosts/common/ipv4.h"

#include <sodium.h>
#include <string.h>

/* The tag binds header and payload (wire.h): Poly1305 under the one-time key ChaCha20 makes
 * from the cluster data key at the nonce sender || seq, both read from the header. */
static void compute_tag(const uint8_t hdr[WIRE_HDR_LEN], const uint8_t *payload, size_t plen,
                        const uint8_t key[WIRE_KEY_LEN], uint8_t tag[WIRE_TAG_LEN])
{
	_Static_assert(WIRE_TAG_LEN == crypto_onetimeauth_BYTES, "the tag is one Poly1305 tag");
	uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES], otk[crypto_onetimeauth_KEYBYTES];
	memcpy(nonce, hdr + 8, 4);        /* sender */
	memcpy(nonce + 4, hdr + 16, 8);   /* seq */
	crypto_stream_chacha20_ietf(otk, sizeof otk, nonce, key);
	crypto_onetimeauth_state st;
	crypto_onetimeauth_init(&st, otk);
	crypto_onetimeauth_update(&st, hdr, WIRE_HDR_LEN);
	if (plen)
		crypto_onetimeauth_update(&st, payload, plen);
	crypto_onetimeauth_final(&st, tag);
	sodium_memzero(otk, sizeof otk);
	sodium_memzero(&st, sizeof st);
}

int wire_seal(const struct wire_hdr *h, const uint8_t *payload, size_t plen,
              const uint8_t key[WIRE_KEY_LEN], uint8_t hdr_out[WIRE_HDR_LEN],
              uint8_t tag_out[WIRE_TAG_LEN])
{
	if (plen > WIRE_MAX_PAYLOAD)
		return WIRE_E_BAD_LENGTH;
	if (h->type < WIRE_DATA || h->type > WIRE_TYPE_MAX)
		return WIRE_E_BAD_TYPE;
	hdr_out[0] = WIRE_VERSION;
	hdr_out[1] = h->type;
	host_put16(hdr_out + 2, h->flags);
	host_put32(hdr_out + 4, h->network_id);
	host_put32(hdr_out + 8, h->sender);
	host_put32(hdr_out + 12, h->epoch);
	host_put64(hdr_out + 16, h->seq);
	host_put16(hdr_out + 24, (uint16_t)plen);
	host_put16(hdr_out + 26, 0);
	compute_tag(hdr_out, payload, plen, key, tag_out);
	return WIRE_OK;
}

int wire_encode(const struct wire_hdr *h, const uint8_t *payload, size_t plen,
                const uint8_t key[WIRE_KEY_LEN], uint8_t *out, size_t cap, size_t *out_len)
{
	if (plen > WIRE_MAX_PAYLOAD)
		return WIRE_E_BAD_LENGTH;
	if (cap < plen + WIRE_OVERHEAD)
		return WIRE_E_NOSPACE;
	if (plen)
		memmove(out + WIRE_HDR_LEN, payload, plen);   /* payload may already sit there */
	int err = wire_seal(h, out + WIRE_HDR_LEN, plen, key, out, out + WIRE_HDR_LEN + plen);
	if (err == WIRE_OK)
		*out_len = plen + WIRE_OVERHEAD;
	return err;
}

int wire_decode(const uint8_t *buf, size_t len, const uint8_t key[WIRE_KEY_LEN],
                uint32_t network_id, struct wire_hdr *hdr,
                const uint8_t **payload, size_t *plen)
{
	if (len < WIRE_OVERHEAD)
		return WIRE_E_TRUNCATED;
	if (buf[0] != WIRE_VERSION)
		return WIRE_E_BAD_VERSION;
	size_t n = host_get16(buf + 24);
	if (len < WIRE_OVERHEAD + n)
		return WIRE_E_TRUNCATED;
	if (len > WIRE_OVERHEAD + n)
		return WIRE_E_BAD_LENGTH;   /* trailing bytes are not covered by the tag: refuse them */

	/* Authenticate before believing any other field. */
	uint8_t tag[WIRE_TAG_LEN];
	compute_tag(buf, buf + WIRE_HDR_LEN, n, key, tag);
	if (sodium_memcmp(tag, buf + WIRE_HDR_LEN + n, WIRE_TAG_LEN) != 0)
		return WIRE_E_BAD_TAG;

	struct wire_hdr h = {
		.version = buf[0], .type = buf[1], .flags = host_get16(buf + 2),
		.network_id = host_get32(buf + 4), .sender = host_get32(buf + 8),
		.epoch = host_get32(buf + 12), .seq = host_get64(buf + 16),
	};
	if (h.type < WIRE_DATA || h.type > WIRE_TYPE_MAX)
		return WIRE_E_BAD_TYPE;
	if (h.flags != 0 || host_get16(buf + 26) != 0)
		return WIRE_E_BAD_FLAGS;
	if (h.sender == 0)
		return WIRE_E_BAD_SENDER;
	if (h.network_id != network_id)
		return WIRE_E_WRONG_NETWORK;
	const uint8_t *p = buf + WIRE_HDR_LEN;
	if (h.type == WIRE_DATA && ipv4_check(p, n, IPV4_CHECK_CSUM) != IPV4_OK)
		return WIRE_E_BAD_INNER;
	if (h.type == WIRE_REDIRECT) {
		struct wire_redirect r;
		int err = wire_redirect_decode(p, n, &r);
		if (err != WIRE_OK)
			return err;
	}
	*hdr = h;
	*payload = p;
	*plen = n;
	return WIRE_OK;
}

void wire_redirect_encode(const struct wire_redirect *r, uint8_t out[WIRE_REDIRECT_LEN])
{
	memcpy(out, &r->capsule_ip, 4);   /* already network order */
	host_put32(out + 4, r->host_id);
	memcpy(out + 8, &r->locator_ip, 4);
	host_put16(out + 12, r->port);
	host_put16(out + 14, 0);
	host_put32(out + 16, r->epoch);
}

int wire_redirect_decode(const uint8_t *p, size_t plen, struct wire_redirect *r)
{
	if (plen != WIRE_REDIRECT_LEN)
		return WIRE_E_BAD_LENGTH;
	struct wire_redirect x;
	memcpy(&x.capsule_ip, p, 4);
	x.host_id = host_get32(p + 4);
	memcpy(&x.locator_ip, p + 8, 4);
	x.port = host_get16(p + 12);
	x.reserved = host_get16(p + 14);
	x.epoch = host_get32(p + 16);
	if (x.reserved != 0 || x.capsule_ip == 0)
		return WIRE_E_BAD_PAYLOAD;
	/* "Unknown" carries nothing else; "known" must name a usable locator. */
	if (x.host_id == 0 ? (x.locator_ip | x.port | x.epoch) != 0
	                   : x.locator_ip == 0 || x.port == 0)
		return WIRE_E_BAD_PAYLOAD;
	*r = x;
	return WIRE_OK;
}

uint64_t wire_seq_next(uint64_t *last, uint64_t realtime_ms)
{
	/*
	 * The clock only picks the first number; after it they are consecutive.  A
	 * number per millisecond of clock (ms << 20 each time) made the receiver's
	 * window of WIRE_REPLAY_WINDOW numbers less than one millisecond wide: any
	 * datagram overtaken by one sent a millisecond later was refused as too old.
	 */
	uint64_t s = *last ? *last + 1 : realtime_ms << 20;
	*last = s;
	return s;
}

void wire_replay_init(struct wire_replay *r)
{
	memset(r, 0, sizeof *r);
}

static int bit_test(const struct wire_replay *r, uint64_t seq)
{
	unsigned i = (unsigned)(seq % WIRE_REPLAY_WINDOW);
	return (int)(r->bits[i / 64] >> (i % 64) & 1);
}

static void bit_set(struct wire_replay *r, uint64_t seq, int on)
{
	unsigned i = (unsigned)(seq % WIRE_REPLAY_WINDOW);
	uint64_t m = (uint64_t)1 << (i % 64);
	r->bits[i / 64] = on ? r->bits[i / 64] | m : r->bits[i / 64] & ~m;
}

int wire_replay_check(const struct wire_replay *r, uint64_t seq)
{
	if (seq == 0)
		return WIRE_E_TOO_OLD;
	if (seq > r->top)
		return WIRE_OK;
	if (r->top - seq >= WIRE_REPLAY_WINDOW)
		return WIRE_E_TOO_OLD;
	return bit_test(r, seq) ? WIRE_E_REPLAY : WIRE_OK;
}

void wire_replay_commit(struct wire_replay *r, uint64_t seq)
{
	if (seq == 0)
		return;
	if (seq > r->top) {
		/* Slide: slots for top+1 .. seq now stand for new numbers, not yet seen. */
		if (seq - r->top >= WIRE_REPLAY_WINDOW)
			memset(r->bits, 0, sizeof r->bits);
		else
			for (uint64_t s = r->top + 1; s < seq; s++)
				bit_set(r, s, 0);
		r->top = seq;
	} else if (r->top - seq >= WIRE_REPLAY_WINDOW) {
		return;   /* too old: nothing to record (check would have refused it) */
	}
	bit_set(r, seq, 1);
}

const char *wire_strerror(int err)
{
	static const char *const names[WIRE_E_COUNT] = {
		[WIRE_OK] = "ok", [WIRE_E_TRUNCATED] = "truncated",
		[WIRE_E_BAD_VERSION] = "bad_version", [WIRE_E_BAD_LENGTH] = "bad_length",
		[WIRE_E_BAD_TAG] = "bad_tag", [WIRE_E_BAD_TYPE] = "bad_type",
		[WIRE_E_BAD_FLAGS] = "bad_flags", [WIRE_E_WRONG_NETWORK] = "wrong_network",
		[WIRE_E_BAD_SENDER] = "bad_sender", [WIRE_E_BAD_INNER] = "bad_inner",
		[WIRE_E_BAD_PAYLOAD] = "bad_payload", [WIRE_E_REPLAY] = "replay",
		[WIRE_E_TOO_OLD] = "too_old", [WIRE_E_NOSPACE] = "nospace",
	};
	if (err < 0 || err >= WIRE_E_COUNT)
		return "unknown";
	return names[err];
}
