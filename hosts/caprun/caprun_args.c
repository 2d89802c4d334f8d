/* caprun_args.c: caprun's command line: options, their combinations, the image and the capsule's own arguments. */
#include "hosts/caprun/caprun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: caprun [--name NAME] [--ip ADDR] [--mtu N] [--max-fds N] [-v HOSTDIR:PATH[:ro]]...\n"
	                "              [-w DIR] [-e NAME[=VALUE]]... [--env-file FILE]... [--dns ADDR]...\n"
	                "              [--user UID[:GID]] IMAGE.cap [-- ARGS...]\n"
	                "       caprun --no-net [options as above, but no --ip, --mtu] IMAGE.cap [-- ARGS...]\n"
	                "       caprun [--name NAME] [--image IMAGE.cap] [-v HOSTDIR:PATH[:ro]]... --resume SNAPSHOT\n"
	                "       caprun [--name NAME] [--image IMAGE.cap] [-v HOSTDIR:PATH[:ro]]... SNAPSHOT\n"
	                "       caprun --incoming --host-id N --keys FILE [-v ...]   (started by caphostd)\n");
	exit(EXIT_USAGE);
}

void caprun_args_parse(struct caprun *c, int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--"); i++) {
		const char *opt = argv[i];
		if (caprun_env_option(&c->env, argc, argv, &i))
			continue;
		if (strcmp(opt, "--incoming") == 0) {
			c->incoming = 1;
			continue;
		}
		if (strcmp(opt, "--no-net") == 0) {
			c->no_net = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(opt, "-v") || !strcmp(opt, "--volume")) {
			char err[PATH_MAX + 512];
			if (volume_add(&c->vols, argv[++i], err, sizeof err)) {
				fprintf(stderr, "caprun: %s\n", err);
				exit(EXIT_USAGE);
			}
		} else if (!strcmp(opt, "-w") || !strcmp(opt, "--workdir")) {
			c->workdir = argv[++i];
		} else if (strcmp(opt, "--name") == 0) {
			c->opt_name = argv[++i];
		} else if (strcmp(opt, "--ip") == 0) {
			c->opt_ip = argv[++i];
		} else if (strcmp(opt, "--image") == 0) {
			c->opt_image = argv[++i];
		} else if (strcmp(opt, "--resume") == 0) {
			c->resume_path = argv[++i];
		} else if (strcmp(opt, "--keys") == 0) {
			c->keys_path = argv[++i];
		} else if (strcmp(opt, "--host-id") == 0) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || v == 0 || v > 0xffffffffu || argv[i][0] == '-')
				usage();
			c->host_id = (uint32_t)v;
		} else if (strcmp(opt, "--mtu") == 0) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || v < 576 || v > CAP_MTU_MAX) {
				fprintf(stderr, "caprun: --mtu %s: must be 576..%u\n", argv[i], CAP_MTU_MAX);
				exit(EXIT_USAGE);
			}
			c->mtu = (unsigned)v;
			c->mtu_given = 1;
		} else if (strcmp(opt, "--max-fds") == 0) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || v < CAP_MAX_FDS_MIN || v > CAP_MAX_FDS_MAX || argv[i][0] == '-') {
				fprintf(stderr, "caprun: --max-fds %s: must be %u..%u\n", argv[i], CAP_MAX_FDS_MIN,
				        CAP_MAX_FDS_MAX);
				exit(EXIT_USAGE);
			}
			c->max_fds = (unsigned)v;
		} else {
			usage();
		}
	}
	if (c->workdir) {
		char err[PATH_MAX + 512];
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
		    c->max_fds)
			usage();
		return;
	}
	if (c->no_net && (c->resume_path || c->opt_ip || c->mtu_given))
		usage();   /* a network-less run is a fresh capsule with no address */
	if (c->resume_path) {
		if (i != argc || c->max_fds)
			usage();   /* a resumed capsule keeps the arguments and limits it started with */
		return;
	}
	if (i >= argc)
		usage();
	c->image_path = argv[i++];
	if (snapfile_is_snapshot(c->image_path)) {
		if (c->no_net)
			usage();
		c->resume_path = c->image_path;
		c->image_path = NULL;
		if (i != argc || c->max_fds)
			usage();
		return;
	}
	if (c->opt_image)
		usage();   /* --image names the image of a snapshot */
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	c->cap_argc = argc - i;
	c->cap_argv = argv + i;
}
