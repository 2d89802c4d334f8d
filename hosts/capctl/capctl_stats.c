/* capctl_stats.c: `capctl stats NAME`: what a capsule's relay moved and what it refused. */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/ctlproto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

int capctl_stats(int argc, char **argv)
{
	static const char usage[] = "stats [--json] NAME";
	int json;
	const char *name = capctl_json_arg(argc, argv, usage, &json);
	if (!name)
		return 2;
	char sock[PATH_MAX], reply[HOST_CTL_LINE_MAX + 256];
	if (strchr(name, '/') || ctlsock_path(name, sock, sizeof sock)) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	int r = ctlsock_request(sock, "stats\n", -1, reply, sizeof reply, 3000);
	int e = errno;
	if (r && (e == ENOENT || e == ECONNREFUSED)) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	char who[64];
	unsigned long long in, out, spoofed, malformed, full, bad, reattached;
	/* The capsule's own drops (cap_abi.h, struct cap_net_drops); 0 from an older caprun. */
	unsigned long long nomem = 0, backlog = 0, sockfull = 0, txfull = 0;
	/* Who moves its packets: "tun" (the capsule itself, on its TUN device) or "relay" (caprun). */
	char path[16] = "relay";
	int n = r ? 0 : sscanf(reply, "ok %63s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %15s",
	                       who, &in, &out, &spoofed, &malformed, &full, &bad, &reattached,
	                       &nomem, &backlog, &sockfull, &txfull, path);
	if (n != 8 && n != 12 && n != 13) {
		fprintf(stderr, "capctl: stats %s: %s\n", name,
		        r ? strerror(e) : strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
		return 1;
	}
	if (json)
		printf("{\"name\": \"%s\", \"packets_in\": %llu, \"packets_out\": %llu, "
		       "\"drop_spoofed\": %llu, \"drop_malformed\": %llu, \"drop_host_full\": %llu, "
		       "\"drop_bad_record\": %llu, \"reattached\": %llu, \"capsule\": "
		       "{\"rx_no_memory\": %llu, \"rx_backlog_full\": %llu, \"rx_socket_full\": %llu, "
		       "\"tx_channel_full\": %llu}, \"packet_path\": \"%s\"}\n",
		       who, in, out, spoofed, malformed, full, bad, reattached, nomem, backlog, sockfull,
		       txfull, strcmp(path, "tun") == 0 ? "tun" : "relay");
	else
		printf("%s: %llu packets in, %llu out; refused from the capsule: %llu with a source "
		       "address not its own, %llu not IPv4, %llu channel records out of turn or empty; "
		       "%llu dropped for lack of room (or caphostd); attached again %llu times; "
		       "lost inside the capsule: %llu in (no memory), %llu in (input queue full), "
		       "%llu datagrams (socket queue full), %llu out (channel full); packets moved by %s\n",
		       who, in, out, spoofed, malformed, bad, full, reattached, nomem, backlog,
		       sockfull, txfull, strcmp(path, "tun") == 0 ? "the capsule on its TUN device" : "caprun");
	return 0;
}
