/* caprun_args.c: caprun's command line (getopt_long): options, their combinations, the image and the capsule's own arguments. */
#include "hosts/caprun/caprun.h"
#include "hosts/caprun/consolelog.h"
#include "hosts/common/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: caprun [OPTIONS] IMAGE.cap [--] [ARGS...]    run a fresh capsule\n"
	"       caprun [OPTIONS] SNAPSHOT                    resume a snapshot (or --resume SNAPSHOT)\n"
	"       caprun --incoming --host-id N --keys FILE [-v ...]   (started by caphostd)\n"
	"\n"
	"  -d, --detach              print the name and return once the capsule runs\n"
	"      --log-size SIZE       with -d: the console log's size, NAME.log and NAME.log.1\n"
	"                            each (default 1M; K, M, G: KiB, MiB, GiB; 4K..1G)\n"
	"      --name NAME           the capsule's name (default: the image's; NAME-2... if taken)\n"
	"      --ip ADDR             its address in 198.18.0.0/16 (default: the first free one)\n"
	"      --mtu N               the capsule link's MTU, 576..65535 (default 65000)\n"
	"      --max-fds N           its descriptor limit and TCP connection capacity (default 1024)\n"
	"      --no-net              no TUN, no caphostd, no address\n"
	"  -v, --volume HOSTDIR:PATH[:ro]   serve a host directory at PATH (repeatable)\n"
	"  -w, --workdir DIR         its working directory\n"
	"  -e, --env NAME[=VALUE]    set an environment variable (repeatable)\n"
	"      --env-file FILE       NAME=VALUE lines (repeatable)\n"
	"      --dns ADDR            a name server (up to 3)\n"
	"      --user UID[:GID]      its identity (default 0:0)\n"
	"      --image IMAGE.cap     the image of a snapshot, when not where it was\n"
	"      --resume SNAPSHOT     resume a snapshot\n"
	"      --eager               load all of a snapshot before it runs (default: on demand)\n"
	"  -h, --help                this text\n"
	"  -V, --version             the version\n"
	"\n"
	"Exit status: the capsule's own once it ran; 125 caprun failed (bad options, setup);\n"
	"126 the image or snapshot cannot be run; 127 it was not found; 128+N killed by signal N.\n";

/* A usage error: one line, exit 125. */
static _Noreturn void bad(const char *why)
{
	fprintf(stderr, "caprun: %s (caprun --help shows usage)\n", why);
	exit(EXIT_USAGE);
}

static unsigned long number(const char *opt, const char *v, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);
	if (!*v || *end || v[0] == '-' || n < lo || n > hi) {
		fprintf(stderr, "caprun: %s %s: must be %lu..%lu\n", opt, v, lo, hi);
		exit(EXIT_USAGE);
	}
	return n;
}

/* --log-size: bytes with an optional K, M or G (binary units). */
static size_t log_size(const char *v)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
	if (shift)
		end++;
	if (!*v || v[0] == '-' || *end || end == v || n > (CONSOLELOG_SIZE_MAX >> shift) ||
	    (n << shift) < CONSOLELOG_SIZE_MIN) {
		fprintf(stderr, "caprun: --log-size %s: must be 4K..1G\n", v);
		exit(EXIT_USAGE);
	}
	return (size_t)(n << shift);
}

enum { O_NAME = 256, O_IP, O_MTU, O_MAX_FDS, O_NO_NET, O_ENV_FILE, O_DNS, O_USER, O_IMAGE,
       O_RESUME, O_KEYS, O_HOST_ID, O_INCOMING, O_LOG_SIZE, O_EAGER };

void caprun_args_parse(struct caprun *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },      { "name", required_argument, NULL, O_NAME },
		{ "log-size", required_argument, NULL, O_LOG_SIZE },
		{ "ip", required_argument, NULL, O_IP },     { "mtu", required_argument, NULL, O_MTU },
		{ "max-fds", required_argument, NULL, O_MAX_FDS },
		{ "no-net", no_argument, NULL, O_NO_NET },  { "volume", required_argument, NULL, 'v' },
		{ "workdir", required_argument, NULL, 'w' }, { "env", required_argument, NULL, 'e' },
		{ "env-file", required_argument, NULL, O_ENV_FILE },
		{ "dns", required_argument, NULL, O_DNS },  { "user", required_argument, NULL, O_USER },
		{ "image", required_argument, NULL, O_IMAGE },
		{ "resume", required_argument, NULL, O_RESUME },
		{ "eager", no_argument, NULL, O_EAGER },
		{ "keys", required_argument, NULL, O_KEYS },
		{ "host-id", required_argument, NULL, O_HOST_ID },
		{ "incoming", no_argument, NULL, O_INCOMING },
		{ "help", no_argument, NULL, 'h' },         { "version", no_argument, NULL, 'V' },
		{ 0, 0, 0, 0 },
	};
	char err[PATH_MAX + 512];
	int o;
	opterr = 0;
	/* '+': the first word that is not an option is the image; the capsule's arguments follow. */
	while ((o = getopt_long(argc, argv, "+:dv:w:e:hV", opts, NULL)) != -1) {
		switch (o) {
		case 'd': c->detach = 1; break;
		case O_LOG_SIZE: c->log_size = log_size(optarg); break;
		case O_NAME: c->opt_name = optarg; break;
		case O_IP: c->opt_ip = optarg; break;
		case O_MTU:
			c->mtu = (unsigned)number("--mtu", optarg, 576, CAP_MTU_MAX);
			c->mtu_given = 1;
			break;
		case O_MAX_FDS:
			c->max_fds = (unsigned)number("--max-fds", optarg, CAP_MAX_FDS_MIN, CAP_MAX_FDS_MAX);
			break;
		case O_NO_NET: c->no_net = 1; break;
		case 'v':
			if (volume_add(&c->vols, optarg, err, sizeof err)) {
				fprintf(stderr, "caprun: %s\n", err);
				exit(EXIT_USAGE);
			}
			break;
		case 'w': c->workdir = optarg; break;
		case 'e': caprun_env_option(&c->env, "-e", optarg); break;
		case O_ENV_FILE: caprun_env_option(&c->env, "--env-file", optarg); break;
		case O_DNS: caprun_env_option(&c->env, "--dns", optarg); break;
		case O_USER: caprun_env_option(&c->env, "--user", optarg); break;
		case O_IMAGE: c->opt_image = optarg; break;
		case O_RESUME: c->resume_path = optarg; break;
		case O_EAGER: c->eager = 1; break;
		case O_KEYS: c->keys_path = optarg; break;
		case O_HOST_ID: c->host_id = (uint32_t)number("--host-id", optarg, 1, 0xffffffffu); break;
		case O_INCOMING: c->incoming = 1; break;
		case 'h': cli_help(usage_text);
		case 'V': cli_version("caprun");
		default:
			cli_bad_option("caprun", o, argc, argv);
			exit(EXIT_USAGE);
		}
	}
	int i = optind;
	if (c->log_size && !c->detach)
		bad("--log-size: only a detached capsule (-d) keeps a log");
	if (!c->log_size)
		c->log_size = CONSOLELOG_SIZE_DEFAULT;
	if (c->workdir) {
		if (c->incoming || c->resume_path) {
			fprintf(stderr, "caprun: -w: a resumed or migrated capsule keeps its working directory\n");
			exit(EXIT_USAGE);
		}
		if (volume_check_workdir(&c->vols, c->workdir, err, sizeof err)) {
			fprintf(stderr, "caprun: %s\n", err);
			exit(EXIT_USAGE);
		}
	}
	if (c->incoming) {
		/* a migrating capsule brings everything with it */
		if (i != argc || c->resume_path || !c->keys_path || !c->host_id || c->opt_ip || c->mtu_given ||
		    c->max_fds || c->detach || c->eager)
			bad("--incoming takes --host-id, --keys and -v, nothing else");
		return;
	}
	if (c->no_net && (c->resume_path || c->opt_ip || c->mtu_given))
		bad("--no-net runs a fresh capsule with no address: no --resume, --ip, --mtu");
	if (c->resume_path) {
		if (i != argc || c->max_fds)   /* a resumed capsule keeps its arguments and limits */
			bad("--resume: a resumed capsule keeps its arguments and --max-fds");
		return;
	}
	if (i >= argc)
		bad("no IMAGE.cap or SNAPSHOT given");
	c->image_path = argv[i++];
	if (snapfile_is_snapshot(c->image_path)) {
		if (c->no_net)
			bad("--no-net runs a fresh capsule, not a snapshot");
		c->resume_path = c->image_path;
		c->image_path = NULL;
		if (i != argc || c->max_fds)
			bad("a resumed capsule keeps its arguments and --max-fds");
		return;
	}
	if (c->opt_image)
		bad("--image names the image of a snapshot");
	if (c->eager)
		bad("--eager loads a snapshot; this is an image");
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	c->cap_argc = argc - i;
	c->cap_argv = argv + i;
}
