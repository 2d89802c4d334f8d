/* caphostd.c: the per-host network daemon: flags, sockets, the event loop and its timers, `stats` on caphostd.ctl, clean exit. */
#include "hosts/formats/ctlproto.h"
#include "hosts/common/cli.h"
#include "hosts/caphostd/hostd.h"
#include "hosts/common/tcpmss.h"
#include "hosts/formats/migstream.h"
#include "hosts/formats/snapauth.h"
#include "hosts/formats/uplink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const counter_names[] = {
#define HOSTD_NAME(n) #n,
	HOSTD_COUNTERS(HOSTD_NAME)
#undef HOSTD_NAME
};

static void die(const char *fmt, const char *a, const char *b);

/* A volume for the capsules that migrate here; caprun checks the rest when it starts. */
static void add_volume(struct hostd *d, const char *spec)
{
	struct stat st;
	char dir[PATH_MAX];
	const char *colon = strchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof dir)
		die("--volume %s: expected HOSTDIR:PATH[:ro]%s", spec, "");
	memcpy(dir, spec, (size_t)(colon - spec));
	dir[colon - spec] = 0;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		die("--volume %s: %s is not a directory", spec, dir);
	if (d->nvolumes == CAP_FILE_VOLUMES)
		die("--volume %s: too many volumes%s", spec, "");
	d->volumes[d->nvolumes++] = spec;
}

static const char usage_text[] =
	"usage: caphostd --host-id N --listen ADDR[:PORT] --dir ADDR[:PORT][,...] --keys FILE\n"
	"                [--network CIDR] [--network-id N] [--gateway | --gateway-host ID]\n"
	"                [--run-dir DIR] [--mig-port N (default 7472, 0 = none)]\n"
	"                [--wire-mtu N (the MTU between hosts, default 1500: TCP SYNs\n"
	"                 entering are lowered to the MSS that fits it wrapped)]\n"
	"                [--volume HOSTDIR:PATH[:ro]]... (for capsules that migrate here)\n"
	"                [--syslog (log to syslog, facility daemon, instead of stderr)]\n"
	"                [--net-faults loss=P,dup=P,reorder=P,delay=MS[-MS] [--net-faults-seed N]]\n"
	"                (--dir: every directory replica, comma-separated; --net-faults: TESTING\n"
	"                 ONLY, injects loss, duplication, reordering and delay into this host's\n"
	"                 forwarding; the seed used is printed)\n"
	"       caphostd -h | --help | -V | --version\n"
	"\n"
	"Exit status: 2 bad options or files, or any failure to start; 0 on SIGTERM.\n";

static void die(const char *fmt, const char *a, const char *b)
{
	char msg[1024];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(msg, sizeof msg, fmt, a, b);
#pragma GCC diagnostic pop
	/* a permission failure as another user: say what is missing */
	int perm = strstr(msg, strerror(EPERM)) || strstr(msg, strerror(EACCES));
	fprintf(stderr, "caphostd: %s%s\n", msg, perm ? cli_root_hint(EPERM) : "");
	exit(2);
}

static uint32_t parse_u32(const char *flag, const char *v, int nonzero)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno || *end || !*v || v[0] == '-' || x > 0xffffffffu || (nonzero && x == 0))
		die("%s %s: want a number (1..4294967295)", flag, v);
	return (uint32_t)x;
}

static uint16_t parse_port(const char *flag, const char *v)
{
	uint32_t p = parse_u32(flag, v, 0);
	if (p > 65535)
		die("%s %s: port out of range (0..65535)", flag, v);
	return (uint16_t)p;
}

/* "A.B.C.D[:PORT]" -> network-order address (nonzero) and host-order port. */
static void parse_locator(const char *flag, const char *v, uint32_t *addr, uint16_t *port)
{
	char host[64];
	const char *colon = strchr(v, ':');
	size_t hl = colon ? (size_t)(colon - v) : strlen(v);
	if (hl == 0 || hl >= sizeof host)
		die("%s %s: want A.B.C.D[:PORT]", flag, v);
	memcpy(host, v, hl);
	host[hl] = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, host, &a) != 1 || a.s_addr == 0)
		die("%s %s: want a specific A.B.C.D[:PORT]", flag, v);
	*addr = a.s_addr;
	if (colon) {
		uint32_t p = parse_u32(flag, colon + 1, 1);
		if (p > 65535)
			die("%s %s: port out of range", flag, v);
		*port = (uint16_t)p;
	}
}

static void parse_network(const char *v, uint32_t *net, uint32_t *mask)
{
	char host[64];
	const char *slash = strchr(v, '/');
	struct in_addr a;
	if (!slash || (size_t)(slash - v) >= sizeof host)
		die("--network %s: want A.B.C.D/PREFIX%s", v, "");
	memcpy(host, v, (size_t)(slash - v));
	host[slash - v] = 0;
	uint32_t prefix = parse_u32("--network", slash + 1, 1);
	if (inet_pton(AF_INET, host, &a) != 1 || prefix < 8 || prefix > 30)
		die("--network %s: want A.B.C.D/PREFIX with PREFIX 8..30%s", v, "");
	*mask = 0xffffffffu << (32 - prefix);
	*net = ntohl(a.s_addr) & *mask;
	/* Network safety: capsules live in 198.18.0.0/15 only (common/ipv4.h), so nothing real is ever captured. */
	if (!ipv4_in_capnet(*net, prefix))
		die("--network %s: must lie inside 198.18.0.0/15%s", v, "");
}

/* --net-faults SPEC (testing only): netem.h says what SPEC may hold. */
static void parse_faults(struct hostd *d, const char *v)
{
	char err[200];
	if (netem_parse(v, &d->faults, err, sizeof err))
		die("--net-faults %s: %s", v, err);
	d->faults_on = 1;
}

static void parse_seed(struct hostd *d, const char *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || !*v || v[0] == '-')
		die("--net-faults-seed %s: want a number (0..18446744073709551615)%s", v, "");
	d->fault_seed = x;
}

/* The "data HEX64" line of the key file: the cluster's data-plane key. */
static void load_data_key(const char *path, uint8_t key[WIRE_KEY_LEN])
{
	char err[512];
	_Static_assert(WIRE_KEY_LEN == DIR_KEY_LEN, "one key file, one key size");
	if (dirproto_data_key_load(path, key, err, sizeof err))
		die("--keys %s%s", err, "");
}

static void parse_args(struct hostd *d, int argc, char **argv, const char **dir, const char **keys)
{
	const char *network = IPV4_CAPNET_DEFAULT, *run_dir = getenv(HOST_RUN_DIR_ENV);
	int listen_given = 0, seed_given = 0;
	d->listen_port = WIRE_DATA_PORT;
	d->network_id = DIR_NETWORK_ID_DEFAULT;
	d->mig_port = MIG_PORT;
	unsigned wire_mtu = 1500;
	enum { O_HOST_ID = 256, O_LISTEN, O_DIR, O_KEYS, O_NETWORK, O_NETWORK_ID, O_GATEWAY,
	       O_GATEWAY_HOST, O_RUN_DIR, O_MIG_PORT, O_WIRE_MTU, O_NET_FAULTS, O_NET_FAULTS_SEED, O_VOLUME, O_SYSLOG };
	static const struct option opts[] = {
		{ "host-id", required_argument, NULL, O_HOST_ID }, { "listen", required_argument, NULL, O_LISTEN },
		{ "dir", required_argument, NULL, O_DIR }, { "keys", required_argument, NULL, O_KEYS },
		{ "network", required_argument, NULL, O_NETWORK },
		{ "network-id", required_argument, NULL, O_NETWORK_ID },
		{ "gateway", no_argument, NULL, O_GATEWAY },
		{ "gateway-host", required_argument, NULL, O_GATEWAY_HOST },
		{ "run-dir", required_argument, NULL, O_RUN_DIR },
		{ "mig-port", required_argument, NULL, O_MIG_PORT },
		{ "wire-mtu", required_argument, NULL, O_WIRE_MTU },
		{ "net-faults", required_argument, NULL, O_NET_FAULTS },
		{ "net-faults-seed", required_argument, NULL, O_NET_FAULTS_SEED },
		{ "volume", required_argument, NULL, O_VOLUME }, { "syslog", no_argument, NULL, O_SYSLOG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
	int o, li = 0, use_syslog = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":hV", opts, &li)) != -1) {
		const char *v = optarg;
		char a[32];   /* "--host-id" for the messages, even when given as --host-id=N */
		snprintf(a, sizeof a, "--%s", o >= 256 ? opts[li].name : "");
		switch (o) {
		case O_HOST_ID: d->host_id = parse_u32(a, v, 1); break;
		case O_LISTEN: parse_locator(a, v, &d->listen_addr, &d->listen_port), listen_given = 1; break;
		case O_DIR: *dir = v; break;
		case O_KEYS: *keys = v; break;
		case O_NETWORK: network = v; break;
		case O_NETWORK_ID: d->network_id = parse_u32(a, v, 1); break;
		case O_GATEWAY: d->gateway = 1; break;
		case O_GATEWAY_HOST: d->gw_host = parse_u32(a, v, 1); break;
		case O_RUN_DIR: run_dir = v; break;
		case O_MIG_PORT: d->mig_port = parse_port(a, v); break;
		case O_WIRE_MTU:
			wire_mtu = parse_u32(a, v, 1);
			if (wire_mtu < 576 || wire_mtu > 65535)
				die("%s %s: want an MTU in 576..65535", a, v);
			break;
		case O_NET_FAULTS: parse_faults(d, v); break;
		case O_NET_FAULTS_SEED: parse_seed(d, v), seed_given = 1; break;
		case O_VOLUME: add_volume(d, v); break;
		case O_SYSLOG: use_syslog = 1; break;
		case 'h': cli_help(usage_text);
		case 'V': cli_version("caphostd");
		default:
			cli_bad_option("caphostd", o, argc, argv);
			exit(2);
		}
	}
	if (optind < argc)
		die("%s: unexpected argument (caphostd --help shows usage)%s", argv[optind], "");
	if (use_syslog && cli_log_to_syslog("caphostd"))
		die("--syslog: %s%s", strerror(errno), "");
	if (!d->host_id || !listen_given || !*dir || !*keys)
		die("--host-id, --listen, --dir and --keys are required (caphostd --help shows usage)%s%s",
		    "", "");
	/* `caprun --incoming` gets the key file too; an absolute path works from anywhere */
	if (!realpath(*keys, d->keys_path))
		snprintf(d->keys_path, sizeof d->keys_path, "%s", *keys);   /* load_data_key says why */
	if (seed_given && !d->faults_on)
		die("--net-faults-seed without --net-faults%s%s", "", "");
	if (d->faults_on && !seed_given && getentropy(&d->fault_seed, sizeof d->fault_seed))
		die("--net-faults: no random seed: %s%s", strerror(errno), "");
	netem_rng_seed(&d->fault_rng, d->fault_seed);
	if (d->gateway && d->gw_host && d->gw_host != d->host_id)
		die("--gateway with --gateway-host naming another host: pick one%s%s", "", "");
	if (d->gateway)
		d->gw_host = d->host_id;
	parse_network(network, &d->net, &d->mask);
	d->wire_mss = tcpmss_for_wire(wire_mtu, WIRE_OVERHEAD);
	d->wire_inner_max = wire_mtu - 20 - 8 - WIRE_OVERHEAD;   /* outer IPv4, UDP, wire */
	snprintf(d->run_dir, sizeof d->run_dir, "%s", run_dir ? run_dir : ctlsock_run_dir());
	/* caprun finds us through the same variable */
	setenv(HOST_RUN_DIR_ENV, d->run_dir, 1);
}

/* A unix socket in the run directory; replaces a stale one, refuses a live one. */
static int listen_unix(const char *path, int type, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "%s: path too long for a socket", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(probe);
		snprintf(err, errlen, "%s: another caphostd serves this run directory", path);
		return -1;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	mode_t old = umask(0077);
	int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int add_ev(struct hostd *d, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
	return fd < 0 ? 0 : epoll_ctl(d->ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The seams between the parts (hostd.h): the real ways out, and the calls back up. */
static void install_ops(struct hostd *d)
{
	d->ops.wire_out = hostd_core_wire_sendmsg;
	d->ops.wire_out_gso = hostd_batch_wire_gso;
	d->ops.uplink_out = hostd_core_uplink_sendmsg;
	d->ops.reroute = hostd_route_packet;
	d->ops.notify = hostd_fwd_notify;
	if (d->gateway) {
		d->ops.gw_write = hostd_gw_write;
		d->ops.tun_out = hostd_gw_tun_write;
		d->ops.tun_in = hostd_gw_packet;
	}
}

/*
 * Setup failed once the gateway's device or a socket of ours may exist: remove
 * what is ours (the sockets we listen on, capgw and its routes; hold files
 * stay for the next start), then die.  A path we did not listen on may be
 * another daemon's: left alone.
 */
static void setup_fail(struct hostd *d, const char *what, const char *err)
{
	if (d->ctl_fd >= 0)
		unlink(d->ctl_path);
	if (d->up_fd >= 0)
		unlink(d->up_path);
	hostd_gw_close(d);
	die("%s%s", what, err);
}

static void setup(struct hostd *d, const char *dir, const char *keys)
{
	char err[PATH_MAX + 128];
	uint8_t host_key[DIR_KEY_LEN];
	install_ops(d);
	if (sodium_init() < 0)
		die("libsodium failed to initialize%s%s", "", "");
	load_data_key(keys, d->data_key);
	if (dirproto_key_lookup(keys, d->host_id, host_key, err, sizeof err))
		die("--keys %s%s", err, "");   /* err names the file */
	if (xlate_init(&d->xt, 4096, d->host_id) != XLATE_OK || hostd_netem_init(d))
		die("out of memory%s%s", "", "");
	d->dir = dirclient_open(dir, d->host_id, host_key, err, sizeof err);
	sodium_memzero(host_key, sizeof host_key);
	if (!d->dir)
		die("--dir %s: %s", dir, err);
	dirclient_set_network_id(d->dir, d->network_id);
	d->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(d->listen_port),
	                          .sin_addr.s_addr = d->listen_addr };
	int size = 8 << 20;
	setsockopt(d->udp_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
	setsockopt(d->udp_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
	/* A peer's cut segment arrives as one read (hostd_fwd_input); without it, one per piece. */
	int on = 1;
	setsockopt(d->udp_fd, SOL_UDP, UDP_GRO, &on, sizeof on);
	if (d->udp_fd < 0 || bind(d->udp_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(err, sizeof err, "%s", strerror(errno));
		die("--listen: binding the data-plane socket: %s%s", err, "");
	}
	/* Asynchronous from here on: a directory that is down or restarting delays nothing. */
	hostd_dir_hello(d);
	if (!d->gateway && d->gw_host)
		hostd_dir_host(d, d->gw_host);   /* the gateway's locator, before its first packet */
	if (mkdir(d->run_dir, 0755) < 0 && errno != EEXIST)
		die("--run-dir %s: %s", d->run_dir, strerror(errno));
	/* caprun MACs snapshots with the cluster's snapshot key from here (hosts/formats/snapauth.h). */
	if (snapauth_install_cluster(d->run_dir, d->data_key, err, sizeof err))
		die("snapshot key %s%s", err, "");
	if (strlen(d->run_dir) + 1 + sizeof UPLINK_SOCK_NAME > 100)
		die("--run-dir %s: too long for a socket path%s", d->run_dir, "");
	memcpy(d->up_path, d->run_dir, strlen(d->run_dir));
	strcat(strcat(d->up_path, "/"), UPLINK_SOCK_NAME);
	memcpy(d->ctl_path, d->run_dir, strlen(d->run_dir));
	strcat(strcat(d->ctl_path, "/"), UPLINK_CTL_NAME);
	/*
	 * The gateway's device before the sockets: a supervisor (or a test) takes a
	 * caphostd.sock that accepts for a daemon that serves, and a restart right after a
	 * kill may wait for the kernel to finish with the old capgw.
	 */
	if (d->gateway && hostd_gw_open(d, err, sizeof err))
		setup_fail(d, "--gateway: ", err);
	/* caphostd.sock last: whoever waits for it to accept (caprun, a test) finds
	 * caphostd.ctl and the migration port already listening. */
	d->ctl_fd = listen_unix(d->ctl_path, SOCK_STREAM, err, sizeof err);
	if (d->ctl_fd < 0 || hostd_mig_listen(d, err, sizeof err))
		setup_fail(d, "", err);
	d->up_fd = listen_unix(d->up_path, SOCK_SEQPACKET, err, sizeof err);
	if (d->up_fd < 0)
		setup_fail(d, "", err);
	d->ep = epoll_create1(EPOLL_CLOEXEC);
	if (d->ep < 0 || add_ev(d, d->udp_fd, HOSTD_EV_UDP) || add_ev(d, d->up_fd, HOSTD_EV_UPLISTEN) ||
	    add_ev(d, d->ctl_fd, HOSTD_EV_CTL) || add_ev(d, d->sig_fd, HOSTD_EV_SIG) ||
	    add_ev(d, d->tun_fd, HOSTD_EV_TUN) || add_ev(d, dirclient_fd(d->dir), HOSTD_EV_DIR) ||
	    add_ev(d, d->mig_fd, HOSTD_EV_MIG))
		setup_fail(d, "epoll: ", strerror(errno));
}

/* `stats`: one line "ok name=value ..." with every counter (ours, then the wire decoder's). */
static void ctl_serve(struct hostd *d)
{
	static char out[16384];
	int fd = accept4(d->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char line[128] = "";
	ssize_t n = recv(fd, line, sizeof line - 1, 0);
	line[n > 0 ? n : 0] = 0;
	size_t o = 0;
	if (strncmp(line, "stats", 5) == 0) {
		const uint64_t *v = (const uint64_t *)&d->cnt;
		o += (size_t)snprintf(out + o, sizeof out - o, "ok host_id=%u", d->host_id);
		for (size_t i = 0; i < sizeof counter_names / sizeof *counter_names; i++)
			o += (size_t)snprintf(out + o, sizeof out - o, " %s=%llu", counter_names[i],
			                      (unsigned long long)v[i]);
		for (int e = 0; e < WIRE_E_COUNT; e++)
			o += (size_t)snprintf(out + o, sizeof out - o, " wire_%s=%llu",
			                      e ? wire_strerror(e) : "ok", (unsigned long long)d->wc.n[e]);
		snprintf(out + o, sizeof out - o, "\n");
	} else if (strncmp(line, "ps", 2) == 0) {
		o += (size_t)snprintf(out + o, sizeof out - o, "ok");
		for (int i = 0; i < HOSTD_MAX_CAPS && o < sizeof out - 128; i++) {
			const struct hostd_cap *c = &d->caps[i];
			if (c->state >= HCAP_RUNNING)
				o += (size_t)snprintf(out + o, sizeof out - o, " %s,%s,%s,%u", c->name,
				                      inet_ntoa(*(const struct in_addr *)&c->ip), hostd_core_cap_state_name(c),
				                      c->epoch);
		}
		snprintf(out + o, sizeof out - o, "\n");
	} else if (strncmp(line, "capture ", 8) == 0) {
		hostd_capture_start(d, fd, line + 8);   /* the connection is the capture's now */
		return;
	} else if (strncmp(line, "gaps ", 5) == 0) {
		hostd_gapask_start(d, fd, line + 5);   /* answered (and closed) when the hosts answered */
		return;
	} else if (strncmp(line, "list", 4) == 0) {
		hostd_dir_list(d, fd);   /* answered (and closed) when the directory's pages are in */
		return;
	} else {
		snprintf(out, sizeof out, "error unknown request (try: stats, ps, list, capture, gaps)\n");
	}
	send(fd, out, strlen(out), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void shutdown_all(struct hostd *d)
{
	if (d->mig_fd >= 0)
		close(d->mig_fd);
	/* `caprun --incoming` children are capsules of this host like any other: they outlive us
	 * (a copy a migration is handing over must not die with its daemon) and reattach. */
	if (d->up_path[0])
		unlink(d->up_path);
	if (d->ctl_path[0])
		unlink(d->ctl_path);
	hostd_gw_close(d);
	hostd_capture_stop_all(d);
	hostd_gapask_stop_all(d);
	for (int i = 0; i < HOSTD_MAX_CAPS; i++)
		if (d->caps[i].fd > 0)
			close(d->caps[i].fd);   /* their capsules keep running, cut off */
	hostd_dir_shutdown(d);
	dirclient_close(d->dir);
	hostd_sync_free_all(d);
	hostd_ctl_free_all(d);
	hostd_netem_free(d);
	xlate_free(&d->xt);
}

/* The signalfd: SIGCHLD reaps `caprun --incoming` children; anything else ends us.  1 = stop. */
static int on_signals(struct hostd *d)
{
	struct signalfd_siginfo si;
	int stop = 0;
	while (read(d->sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
		if (si.ssi_signo == SIGCHLD)
			hostd_mig_reap(d);
		else
			stop = 1;
	return stop;
}

/* Milliseconds the loop may sleep: until the next deadline (directory retries, migration
 * queues and resends, control messages to resend, held bytes to re-inject, the fault queue),
 * at most 1 s. */
static int next_timeout(struct hostd *d)
{
	uint64_t now = clock_now_ms();
	int t = 1000, due[] = { hostd_sync_tick(d, now), hostd_mig_tick(d, now), hostd_dir_tick(d, now),
	                        hostd_netem_tick(d, now), hostd_ctl_tick(d, now), hostd_hold_tick(d, now),
	                        hostd_gapask_tick(d, now) };
	for (size_t i = 0; i < sizeof due / sizeof due[0]; i++)
		if (due[i] >= 0 && due[i] < t)
			t = due[i];
	return t;
}

int main(int argc, char **argv)
{
	static struct hostd d = { .udp_fd = -1, .up_fd = -1, .ctl_fd = -1, .sig_fd = -1, .tun_fd = -1,
	                          .ep = -1, .mig_fd = -1 };
	const char *dir = NULL, *keys = NULL;
	sigset_t sigs;
	parse_args(&d, argc, argv, &dir, &keys);
	/* One uplink descriptor per attached capsule (up to HOSTD_MAX_CAPS): the usual soft
	 * limit of 1,024 would refuse capsules long before that, so take the hard limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGCHLD);   /* our `caprun --incoming` children */
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	/* die() exits before any cleanup: remove what setup made so far on the way out */
	setup(&d, dir, keys);
	if (d.faults_on) {
		char spec[NETEM_SPEC_MAX + 32];
		netem_format(&d.faults, spec, sizeof spec);
		/* the seed replays the same verdicts: a failing test run can be repeated */
		printf("caphostd %u: TESTING ONLY: net faults %s seed %llu\n", d.host_id, spec,
		       (unsigned long long)d.fault_seed);
	}
	printf("caphostd %u listening on %s:%u%s\n", d.host_id,
	       inet_ntoa(*(struct in_addr *)&d.listen_addr), d.listen_port,
	       d.gateway ? " (gateway, capgw)" : "");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[32];
		/* the timers (SYNC resends, MIG_READY, queue timeouts) run here, between events */
		int n = epoll_wait(d.ep, evs, 32, next_timeout(&d));
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == HOSTD_EV_UDP)
				hostd_fwd_input(&d);
			else if (tag == HOSTD_EV_UPLISTEN)
				hostd_uplink_accept(&d);
			else if (tag == HOSTD_EV_CTL)
				ctl_serve(&d);
			else if (tag == HOSTD_EV_TUN)
				hostd_gw_input(&d);
			else if (tag == HOSTD_EV_MIG)
				hostd_mig_accept(&d);
			else if (tag == HOSTD_EV_DIR)
				hostd_dir_input(&d);
			else if (tag == HOSTD_EV_SIG && on_signals(&d))
				goto out;
			else if (tag >= HOSTD_EV_CAPTURE && tag < HOSTD_EV_CAPTURE + CAPTURE_MAX)
				hostd_capture_event(&d, (int)(tag - HOSTD_EV_CAPTURE), evs[i].events);
			else if (tag >= HOSTD_EV_CAP && tag < HOSTD_EV_CAP + HOSTD_MAX_CAPS)
				hostd_uplink_input(&d, (int)(tag - HOSTD_EV_CAP));
		}
	}
out:
	shutdown_all(&d);
	return 0;
}
