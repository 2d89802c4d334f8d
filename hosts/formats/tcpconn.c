/* tcpconn.c: a TCP connection's state: the conversion from the freeze report and the 44-byte record's codec (tcpconn.h). */
#include "hosts/formats/tcpconn.h"
#include "hosts/common/bytes.h"

#include <string.h>

int tcpconn_from_report(const struct cap_report_sock *s, struct tcpconn *c)
{
	if (s->tcp_state < CAP_TCP_ESTABLISHED || s->tcp_state > CAP_TCP_LAST_ACK)
		return -1;
	if (s->remote_ip == 0 || s->remote_port == 0 || s->local_port == 0)
		return -1;
	/* The capsule wrote the report: a scale RFC 7323 forbids would make a record nobody decodes. */
	if (s->snd_scale > TCPCONN_WSCALE_MAX || s->rcv_scale > TCPCONN_WSCALE_MAX)
		return -1;
	memset(c, 0, sizeof *c);
	c->capsule_ip = s->local_ip;
	c->peer_ip = s->remote_ip;
	c->capsule_port = s->local_port;
	c->peer_port = s->remote_port;
	c->snd_nxt = s->snd_nxt;
	c->snd_una = s->snd_una;
	c->rcv_nxt = s->rcv_nxt;
	c->snd_wnd = s->snd_wnd;
	c->rcv_wnd = s->rcv_wnd;
	c->wscale_ours = s->rcv_scale;
	c->wscale_peer = s->snd_scale;
	return 0;
}

void tcpconn_encode(const struct tcpconn *c, uint8_t out[TCPCONN_WIRE_LEN])
{
	memcpy(out, &c->capsule_ip, 4);   /* addresses stay in network order */
	memcpy(out + 4, &c->peer_ip, 4);
	host_put16(out + 8, c->capsule_port);
	host_put16(out + 10, c->peer_port);
	host_put32(out + 12, c->snd_nxt);
	host_put32(out + 16, c->snd_una);
	host_put32(out + 20, c->rcv_nxt);
	host_put32(out + 24, c->snd_wnd);
	host_put32(out + 28, c->rcv_wnd);
	out[32] = c->wscale_ours;
	out[33] = c->wscale_peer;
	out[34] = c->ts_ok;
	out[35] = 0;
	host_put32(out + 36, c->ts_val);
	host_put32(out + 40, c->ts_recent);
}

int tcpconn_decode(const uint8_t p[TCPCONN_WIRE_LEN], struct tcpconn *c)
{
	memset(c, 0, sizeof *c);
	memcpy(&c->capsule_ip, p, 4);
	memcpy(&c->peer_ip, p + 4, 4);
	c->capsule_port = host_get16(p + 8);
	c->peer_port = host_get16(p + 10);
	c->snd_nxt = host_get32(p + 12);
	c->snd_una = host_get32(p + 16);
	c->rcv_nxt = host_get32(p + 20);
	c->snd_wnd = host_get32(p + 24);
	c->rcv_wnd = host_get32(p + 28);
	c->wscale_ours = p[32];
	c->wscale_peer = p[33];
	c->ts_ok = p[34];
	c->ts_val = host_get32(p + 36);
	c->ts_recent = host_get32(p + 40);
	if (!c->peer_ip || !c->capsule_port || !c->peer_port || c->wscale_ours > TCPCONN_WSCALE_MAX ||
	    c->wscale_peer > TCPCONN_WSCALE_MAX || c->ts_ok > 1 || p[35])
		return -1;
	return 0;
}
