/* hostd_msg.c: encode and check HOLD / FLUSH / SYNC payloads (hostd_msg.h). */
#include "hosts/hostd_msg.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) << 32 | get32(p + 4); }

size_t hostd_hold_encode(const struct hostd_hold_msg *m, uint8_t *out, size_t cap)
{
	if (m->n > HOSTD_HOLD_MAX || cap < hostd_hold_len(m->n))
		return 0;
	memcpy(out, &m->capsule_ip, 4);   /* addresses stay in network order */
	put32(out + 4, m->epoch);
	put16(out + 8, (uint16_t)m->n);
	put16(out + 10, 0);
	uint8_t *r = out + HOSTD_HOLD_HDR;
	for (uint32_t i = 0; i < m->n; i++, r += HOSTD_HOLD_REC) {
		const struct cap_report_sock *s = &m->socks[i];
		memcpy(r, &s->local_ip, 4);
		memcpy(r + 4, &s->remote_ip, 4);
		put16(r + 8, s->local_port);
		put16(r + 10, s->remote_port);
		put32(r + 12, s->tcp_state);
		put32(r + 16, s->snd_una);
		put32(r + 20, s->snd_nxt);
		put32(r + 24, s->rcv_nxt);
		put32(r + 28, s->snd_wnd);
		put32(r + 32, s->rcv_wnd);
		r[36] = s->snd_scale;
		r[37] = s->rcv_scale;
		put16(r + 38, s->mss);
	}
	return hostd_hold_len(m->n);
}

int hostd_hold_decode(const uint8_t *p, size_t len, struct hostd_hold_msg *m)
{
	if (len < HOSTD_HOLD_HDR)
		return -1;
	memset(m, 0, sizeof *m);
	memcpy(&m->capsule_ip, p, 4);
	m->epoch = get32(p + 4);
	m->n = get16(p + 8);
	if (!m->capsule_ip || !m->epoch || get16(p + 10) || m->n > HOSTD_HOLD_MAX ||
	    len != hostd_hold_len(m->n))
		return -1;
	const uint8_t *r = p + HOSTD_HOLD_HDR;
	for (uint32_t i = 0; i < m->n; i++, r += HOSTD_HOLD_REC) {
		struct cap_report_sock *s = &m->socks[i];
		memcpy(&s->local_ip, r, 4);
		memcpy(&s->remote_ip, r + 4, 4);
		s->local_port = get16(r + 8);
		s->remote_port = get16(r + 10);
		s->tcp_state = get32(r + 12);
		s->snd_una = get32(r + 16);
		s->snd_nxt = get32(r + 20);
		s->rcv_nxt = get32(r + 24);
		s->snd_wnd = get32(r + 28);
		s->rcv_wnd = get32(r + 32);
		s->snd_scale = r[36];
		s->rcv_scale = r[37];
		s->mss = get16(r + 38);
		/* A host may only ask to hold connections of the capsule it names. */
		if (s->local_ip != m->capsule_ip || s->snd_scale > 14 || s->rcv_scale > 14 ||
		    s->tcp_state > CAP_TCP_TIME_WAIT)
			return -1;
	}
	return 0;
}

void hostd_flush_encode(uint32_t capsule_ip, uint32_t epoch, uint8_t out[HOSTD_FLUSH_LEN])
{
	memcpy(out, &capsule_ip, 4);
	put32(out + 4, epoch);
}

int hostd_flush_decode(const uint8_t *p, size_t len, uint32_t *capsule_ip, uint32_t *epoch)
{
	if (len != HOSTD_FLUSH_LEN)
		return -1;
	memcpy(capsule_ip, p, 4);
	*epoch = get32(p + 4);
	return *capsule_ip && *epoch ? 0 : -1;
}

void hostd_sync_encode(const struct hostd_sync_msg *m, uint8_t out[HOSTD_SYNC_LEN])
{
	memset(out, 0, HOSTD_SYNC_LEN);
	out[0] = m->kind;
	memcpy(out + 4, &m->capsule_ip, 4);
	put32(out + 8, m->epoch);
	put64(out + 12, m->migration_id);
	put32(out + 20, m->host_id);
	memcpy(out + 24, &m->locator_ip, 4);
	put16(out + 28, m->port);
}

int hostd_sync_decode(const uint8_t *p, size_t len, struct hostd_sync_msg *m)
{
	if (len != HOSTD_SYNC_LEN || p[1] || p[2] || p[3] || get16(p + 30))
		return -1;
	memset(m, 0, sizeof *m);
	m->kind = p[0];
	memcpy(&m->capsule_ip, p + 4, 4);
	m->epoch = get32(p + 8);
	m->migration_id = get64(p + 12);
	m->host_id = get32(p + 20);
	memcpy(&m->locator_ip, p + 24, 4);
	m->port = get16(p + 28);
	if (!m->capsule_ip || !m->epoch || !m->host_id)
		return -1;
	switch (m->kind) {
	case HOSTD_SYNC:
	case HOSTD_SYNC_ACK:
		/* the pair of a migration names one queue; no locator: these only say "stop" / "stopped" */
		return m->migration_id && !m->locator_ip && !m->port ? 0 : -1;
	case HOSTD_FLUSH_TO:
		return m->locator_ip && m->port ? 0 : -1;
	}
	return -1;
}
