/* uplink.c: encoders and the checking decoder for caprun <-> caphostd uplink records (uplink.h). */
#include "hosts/formats/uplink.h"

#include <string.h>

static size_t put_hdr(uint8_t *out, size_t cap, int type, size_t body)
{
	struct uplink_hdr h = { (uint8_t)type, 0, 0 };
	if (cap < UPLINK_HDR_LEN + body)
		return 0;
	memcpy(out, &h, sizeof h);
	return UPLINK_HDR_LEN + body;
}

/* Same rule as capsule names: 1..63 of [A-Za-z0-9._-], not starting with '.' or '-'. */
static int name_ok(const char *n, size_t max)
{
	size_t len = strnlen(n, max);
	if (len == 0 || len >= max || n[0] == '.' || n[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	for (size_t i = len; i < max; i++)
		if (n[i])
			return 0;   /* one name, one encoding: nothing hides in the padding */
	return 1;
}

/* One meaning per flag combination; every field that combination does not use is 0. */
static int attach_ok(const struct uplink_attach *a)
{
	uint32_t f = a->flags;
	if ((a->mtu && (a->mtu < 576 || a->mtu > 65535)) || !name_ok(a->name, sizeof a->name))
		return 0;
	switch (f) {
	case 0:
		return !a->epoch && !a->source_host && !a->state;
	case UPLINK_ATTACH_RESUME:   /* a resumed capsule owns its address */
		return a->ip && !a->epoch && !a->source_host && !a->state;
	case UPLINK_ATTACH_RESUME | UPLINK_ATTACH_MIGRATED:
	case UPLINK_ATTACH_INCOMING:
		return a->ip && a->epoch && a->source_host && !a->state;
	case UPLINK_ATTACH_REATTACH:
		return a->ip && a->epoch && !a->source_host && a->state >= UPLINK_STATE_RUNNING &&
		       a->state <= UPLINK_STATE_MIGRATING;
	}
	return 0;
}

int uplink_decode(const uint8_t *buf, size_t len, struct uplink_msg *m)
{
	struct uplink_hdr h;
	if (len < UPLINK_HDR_LEN || len > UPLINK_MAX)
		return -1;
	memcpy(&h, buf, sizeof h);
	if (h.type == 0 || h.type > UPLINK_TYPE_MAX || h.flags || h.reserved)
		return -1;
	const uint8_t *b = buf + UPLINK_HDR_LEN;
	size_t n = len - UPLINK_HDR_LEN;
	memset(m, 0, sizeof *m);
	m->type = h.type;
	switch (h.type) {
	case UPLINK_ATTACH:
		if (n != sizeof m->u.attach)
			return -1;
		memcpy(&m->u.attach, b, n);
		return attach_ok(&m->u.attach) ? 0 : -1;
	case UPLINK_ATTACHED:
		if (n != sizeof m->u.attached)
			return -1;
		memcpy(&m->u.attached, b, n);
		return m->u.attached.ip && m->u.attached.epoch ? 0 : -1;
	case UPLINK_ERROR:
		if (n == 0 || n > UPLINK_ERROR_MAX || memchr(b, 0, n))
			return -1;
		memcpy(m->u.error, b, n);
		m->u.error[n] = 0;
		return 0;
	case UPLINK_PACKET:
		if (n == 0)
			return -1;
		m->u.packet.pkt = b;
		m->u.packet.len = n;
		return 0;
	case UPLINK_FROZEN: {
		struct uplink_frozen_hdr f;
		if (n < sizeof f)
			return -1;
		memcpy(&f, b, sizeof f);
		if (f.reserved || f.n > UPLINK_FROZEN_MAX || n != sizeof f + (size_t)f.n * TCPCONN_WIRE_LEN)
			return -1;
		m->u.frozen.n = f.n;
		m->u.frozen.recs = b + sizeof f;
		for (uint32_t i = 0; i < f.n; i++) {
			struct tcpconn c;
			if (tcpconn_decode(m->u.frozen.recs + (size_t)i * TCPCONN_WIRE_LEN, &c))
				return -1;
		}
		return 0;
	}
	case UPLINK_THAWED:
	case UPLINK_STARTING:
	case UPLINK_MIG_END:
		return n == 0 ? 0 : -1;
	case UPLINK_DETACH:
		if (n != sizeof m->u.detach_reason)
			return -1;
		memcpy(&m->u.detach_reason, b, n);
		return m->u.detach_reason == UPLINK_DETACH_EXITED ||
		       m->u.detach_reason == UPLINK_DETACH_SAVED ||
		       m->u.detach_reason == UPLINK_DETACH_MIGRATED ? 0 : -1;
	case UPLINK_MIG_PREPARE:
		if (n != sizeof m->u.mig_prepare)
			return -1;
		memcpy(&m->u.mig_prepare, b, n);
		return m->u.mig_prepare.target_host && m->u.mig_prepare.migration_id &&
		       !(m->u.mig_prepare.flags & ~UPLINK_MIG_LOCATE) ? 0 : -1;
	case UPLINK_MIG_READY:
		if (n != sizeof m->u.mig_ready)
			return -1;
		memcpy(&m->u.mig_ready, b, n);
		return m->u.mig_ready.target_addr && m->u.mig_ready.target_port && m->u.mig_ready.epoch &&
		       m->u.mig_ready.peers_acked <= m->u.mig_ready.peers_asked &&
		       m->u.mig_ready.source_host && !m->u.mig_ready.reserved ? 0 : -1;
	case UPLINK_MIG_DIR:
		if (n != sizeof m->u.mig_dir)
			return -1;
		memcpy(&m->u.mig_dir, b, n);
		return (m->u.mig_dir.op == UPLINK_MIG_FENCE || m->u.mig_dir.op == UPLINK_MIG_LOOKUP ||
		        m->u.mig_dir.op == UPLINK_MIG_CHECK) &&
		       m->u.mig_dir.target_host && m->u.mig_dir.epoch && !m->u.mig_dir.reserved ? 0 : -1;
	case UPLINK_MIG_DIR_RESULT:
		if (n != sizeof m->u.mig_result)
			return -1;
		memcpy(&m->u.mig_result, b, n);
		return m->u.mig_result.result >= UPLINK_MIG_MOVED &&
		       m->u.mig_result.result <= UPLINK_MIG_GONE && !m->u.mig_result.reserved ? 0 : -1;
	case UPLINK_MIG_DONE:
		if (n != sizeof m->u.mig_done)
			return -1;
		memcpy(&m->u.mig_done, b, n);
		return (m->u.mig_done.outcome == UPLINK_MIG_COMMITTED ||
		        m->u.mig_done.outcome == UPLINK_MIG_ABORTED) && m->u.mig_done.target_host
		       ? 0 : -1;
	}
	return -1;
}

size_t uplink_encode_body(uint8_t *out, size_t cap, int type, const void *body, size_t blen)
{
	size_t n = put_hdr(out, cap, type, blen);
	if (n)
		memcpy(out + UPLINK_HDR_LEN, body, blen);
	return n;
}

size_t uplink_encode_attach(uint8_t *out, size_t cap, const char *name,
                            const struct uplink_attach *body)
{
	struct uplink_attach a = *body;
	memset(a.name, 0, sizeof a.name);
	if (strlen(name) >= sizeof a.name)
		return 0;
	memcpy(a.name, name, strlen(name));
	size_t n = put_hdr(out, cap, UPLINK_ATTACH, sizeof a);
	if (n)
		memcpy(out + UPLINK_HDR_LEN, &a, sizeof a);
	return n;
}

size_t uplink_encode_attached(uint8_t *out, size_t cap, uint32_t ip, uint32_t epoch)
{
	struct uplink_attached a = { ip, epoch };
	size_t n = put_hdr(out, cap, UPLINK_ATTACHED, sizeof a);
	if (n)
		memcpy(out + UPLINK_HDR_LEN, &a, sizeof a);
	return n;
}

size_t uplink_encode_error(uint8_t *out, size_t cap, const char *text)
{
	size_t len = strlen(text);
	if (len > UPLINK_ERROR_MAX)
		len = UPLINK_ERROR_MAX;
	if (len == 0)
		text = "error", len = 5;
	size_t n = put_hdr(out, cap, UPLINK_ERROR, len);
	if (n)
		memcpy(out + UPLINK_HDR_LEN, text, len);
	return n;
}

size_t uplink_encode_simple(uint8_t *out, size_t cap, int type)
{
	return put_hdr(out, cap, type, 0);
}

size_t uplink_encode_detach(uint8_t *out, size_t cap, uint32_t reason)
{
	size_t n = put_hdr(out, cap, UPLINK_DETACH, sizeof reason);
	if (n)
		memcpy(out + UPLINK_HDR_LEN, &reason, sizeof reason);
	return n;
}

size_t uplink_encode_frozen(uint8_t *out, size_t cap, const uint8_t *report, size_t len)
{
	struct cap_report_header h;
	struct uplink_frozen_hdr f = { 0, 0 };
	size_t n = put_hdr(out, cap, UPLINK_FROZEN, sizeof f);
	if (!n)
		return 0;
	if (len >= sizeof h) {
		memcpy(&h, report, sizeof h);
		size_t off = sizeof h + (size_t)h.nthreads * sizeof(struct cap_report_thread);
		/* The report comes from capsule memory: believe no count beyond the bytes we have. */
		for (uint32_t i = 0; h.magic == CAP_REPORT_MAGIC && h.nthreads <= len && i < h.nfds &&
		                     off + sizeof(struct cap_report_fd) <= len &&
		                     f.n < UPLINK_FROZEN_MAX; i++, off += sizeof(struct cap_report_fd)) {
			struct cap_report_fd fd;
			struct tcpconn c;
			memcpy(&fd, report + off, sizeof fd);
			if (fd.kind != CAP_RFD_TCP || tcpconn_from_report(&fd.u.sock, &c))
				continue;   /* listeners, connections without a peer: nothing to hold */
			if (n + TCPCONN_WIRE_LEN > cap)
				break;
			tcpconn_encode(&c, out + n);
			n += TCPCONN_WIRE_LEN;
			f.n++;
		}
	}
	memcpy(out + UPLINK_HDR_LEN, &f, sizeof f);
	return n;
}
