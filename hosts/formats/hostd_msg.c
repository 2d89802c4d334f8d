/* hostd_msg.c: encode and check HOLD / FLUSH / SYNC / ACK / GAPS payloads (hostd_msg.h). */
#include "hosts/formats/hostd_msg.h"
#include "hosts/common/bytes.h"

#include <string.h>

size_t hostd_msg_hold_encode(const struct hostd_hold_msg *m, uint8_t *out, size_t cap)
{
	if (m->n > HOSTD_HOLD_MAX || cap < hostd_msg_hold_len(m->n))
		return 0;
	memcpy(out, &m->capsule_ip, 4);   /* addresses stay in network order */
	host_put32(out + 4, m->epoch);
	host_put64(out + 8, m->id);
	host_put16(out + 16, (uint16_t)m->n);
	host_put16(out + 18, HOSTD_HOLD_REC);
	for (uint32_t i = 0; i < m->n; i++)
		tcpconn_encode(&m->conns[i], out + HOSTD_HOLD_HDR + (size_t)i * HOSTD_HOLD_REC);
	return hostd_msg_hold_len(m->n);
}

int hostd_msg_hold_decode(const uint8_t *p, size_t len, struct hostd_hold_msg *m)
{
	if (len < HOSTD_HOLD_HDR)
		return -1;
	memset(m, 0, sizeof *m);
	memcpy(&m->capsule_ip, p, 4);
	m->epoch = host_get32(p + 4);
	m->id = host_get64(p + 8);
	m->n = host_get16(p + 16);
	if (!m->capsule_ip || !m->epoch || !m->id || host_get16(p + 18) != HOSTD_HOLD_REC ||
	    m->n > HOSTD_HOLD_MAX || len != hostd_msg_hold_len(m->n))
		return -1;
	for (uint32_t i = 0; i < m->n; i++) {
		/* A host may only ask to hold connections of the capsule it names. */
		if (tcpconn_decode(p + HOSTD_HOLD_HDR + (size_t)i * HOSTD_HOLD_REC, &m->conns[i]) ||
		    m->conns[i].capsule_ip != m->capsule_ip)
			return -1;
	}
	return 0;
}

void hostd_msg_flush_encode(const struct hostd_flush_msg *m, uint8_t out[HOSTD_FLUSH_LEN])
{
	memcpy(out, &m->capsule_ip, 4);
	host_put32(out + 4, m->epoch);
	host_put64(out + 8, m->id);
}

int hostd_msg_flush_decode(const uint8_t *p, size_t len, struct hostd_flush_msg *m)
{
	if (len != HOSTD_FLUSH_LEN)
		return -1;
	memcpy(&m->capsule_ip, p, 4);
	m->epoch = host_get32(p + 4);
	m->id = host_get64(p + 8);
	return m->capsule_ip && m->epoch && m->id ? 0 : -1;
}

void hostd_msg_sync_encode(const struct hostd_sync_msg *m, uint8_t out[HOSTD_SYNC_LEN])
{
	memset(out, 0, HOSTD_SYNC_LEN);
	out[0] = m->kind;
	memcpy(out + 4, &m->capsule_ip, 4);
	host_put32(out + 8, m->epoch);
	host_put64(out + 12, m->migration_id);
	host_put32(out + 20, m->host_id);
	memcpy(out + 24, &m->locator_ip, 4);
	host_put16(out + 28, m->port);
}

int hostd_msg_sync_decode(const uint8_t *p, size_t len, struct hostd_sync_msg *m)
{
	if (len != HOSTD_SYNC_LEN || p[1] || p[2] || p[3] || host_get16(p + 30))
		return -1;
	memset(m, 0, sizeof *m);
	m->kind = p[0];
	memcpy(&m->capsule_ip, p + 4, 4);
	m->epoch = host_get32(p + 8);
	m->migration_id = host_get64(p + 12);
	m->host_id = host_get32(p + 20);
	memcpy(&m->locator_ip, p + 24, 4);
	m->port = host_get16(p + 28);
	if (!m->capsule_ip || !m->epoch || !m->host_id)
		return -1;
	switch (m->kind) {
	case HOSTD_SYNC:
	case HOSTD_SYNC_ACK:
		/* the pair of a migration names one queue; no locator: these only say "stop" / "stopped" */
		return m->migration_id && !m->locator_ip && !m->port ? 0 : -1;
	case HOSTD_FLUSH_TO:
		return m->migration_id && m->locator_ip && m->port ? 0 : -1;
	}
	return -1;
}

void hostd_msg_ack_encode(const struct hostd_ack_msg *m, uint8_t out[HOSTD_ACK_LEN])
{
	memset(out, 0, HOSTD_ACK_LEN);
	out[0] = m->kind;
	memcpy(out + 4, &m->capsule_ip, 4);
	host_put32(out + 8, m->epoch);
	host_put64(out + 12, m->id);
}

int hostd_msg_ack_decode(const uint8_t *p, size_t len, struct hostd_ack_msg *m)
{
	if (len != HOSTD_ACK_LEN || p[1] || p[2] || p[3])
		return -1;
	m->kind = p[0];
	memcpy(&m->capsule_ip, p + 4, 4);
	m->epoch = host_get32(p + 8);
	m->id = host_get64(p + 12);
	if (m->kind < HOSTD_CTL_HOLD || m->kind > HOSTD_CTL_FLUSH_TO)
		return -1;
	return m->capsule_ip && m->epoch && m->id ? 0 : -1;
}

size_t hostd_msg_gaps_encode(const struct hostd_gaps_msg *m, uint8_t *out, size_t cap)
{
	size_t len = m->kind == HOSTD_GAPS_ASK ? HOSTD_GAPS_ASK_LEN
	             : HOSTD_GAPS_HDR + (size_t)m->n * HOSTD_GAPS_REC;
	if (m->n > HOSTD_GAPS_MAX || cap < len)
		return 0;
	memset(out, 0, len);
	out[0] = m->kind;
	memcpy(out + 4, &m->capsule_ip, 4);
	host_put32(out + 8, m->epoch);
	host_put64(out + 12, m->query_id);
	if (m->kind == HOSTD_GAPS_ASK)
		return len;
	host_put16(out + 20, (uint16_t)m->n);
	host_put16(out + 22, HOSTD_GAPS_REC);
	host_put32(out + 24, m->more);
	host_put32(out + 28, m->held_ms);
	for (uint32_t i = 0; i < m->n; i++) {
		const struct hostd_gap_rec *r = &m->recs[i];
		uint8_t *o = out + HOSTD_GAPS_HDR + (size_t)i * HOSTD_GAPS_REC;
		memcpy(o, &r->peer_ip, 4);
		host_put16(o + 4, r->peer_port);
		host_put16(o + 6, r->capsule_port);
		host_put32(o + 8, r->start_ms);
		host_put32(o + 12, r->gap_ms);
		host_put16(o + 16, r->flags);
	}
	return len;
}

int hostd_msg_gaps_decode(const uint8_t *p, size_t len, struct hostd_gaps_msg *m)
{
	if (len < HOSTD_GAPS_ASK_LEN || p[1] || p[2] || p[3])
		return -1;
	memset(m, 0, sizeof *m);
	m->kind = p[0];
	memcpy(&m->capsule_ip, p + 4, 4);
	m->epoch = host_get32(p + 8);
	m->query_id = host_get64(p + 12);
	if (!m->capsule_ip || !m->epoch || !m->query_id)
		return -1;
	if (m->kind == HOSTD_GAPS_ASK)
		return len == HOSTD_GAPS_ASK_LEN ? 0 : -1;
	if (m->kind != HOSTD_GAPS_REPORT || len < HOSTD_GAPS_HDR)
		return -1;
	m->n = host_get16(p + 20);
	m->more = host_get32(p + 24);
	m->held_ms = host_get32(p + 28);
	if (host_get16(p + 22) != HOSTD_GAPS_REC || m->n > HOSTD_GAPS_MAX ||
	    len != HOSTD_GAPS_HDR + (size_t)m->n * HOSTD_GAPS_REC)
		return -1;
	for (uint32_t i = 0; i < m->n; i++) {
		struct hostd_gap_rec *r = &m->recs[i];
		const uint8_t *o = p + HOSTD_GAPS_HDR + (size_t)i * HOSTD_GAPS_REC;
		memcpy(&r->peer_ip, o, 4);
		r->peer_port = host_get16(o + 4);
		r->capsule_port = host_get16(o + 6);
		r->start_ms = host_get32(o + 8);
		r->gap_ms = host_get32(o + 12);
		r->flags = host_get16(o + 16);
		if (!r->peer_ip || !r->peer_port || !r->capsule_port ||
		    (r->flags & ~(HOSTD_GAP_RESUMED | HOSTD_GAP_FROM_SYNC)) || host_get16(o + 18))
			return -1;
	}
	return 0;
}
