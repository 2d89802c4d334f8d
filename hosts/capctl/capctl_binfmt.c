/* capctl_binfmt.c: capctl binfmt install|remove|status: let the kernel run .cap files through capexec (binfmt_misc). */
/*
 * binfmt_misc is global to the machine (all network namespaces share it):
 * an entry matches the first 8 bytes of a file, the image magic "CAPIMG\r\n"
 * (capsule-abi/cap_image.h), and names capexec, found next to capctl, as the
 * interpreter.  Then `./app` runs app.cap as `caprun --no-net app`, which is
 * what lets ./configure run its test programs.  Entries have a name of their
 * own ("capsule" unless --name), so a test can add and remove its own.
 */
#include "capsule-abi/cap_image.h"
#include "hosts/capctl/capctl.h"
#include "hosts/common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define BINFMT_DIR "/proc/sys/fs/binfmt_misc"

static int binfmt_usage(void)
{
	fprintf(stderr, "usage: capctl binfmt install|remove|status [--name NAME]\n");
	return 2;
}

/* Write one string to a binfmt_misc control file; 0, or -1 with the message printed. */
static int binfmt_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		fprintf(stderr, "capctl: binfmt: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* binfmt_misc mounted (systemd does it at boot; a bare machine may not have). */
static int binfmt_mounted(int mount_it)
{
	if (access(BINFMT_DIR "/register", F_OK) == 0)
		return 0;
	if (mount_it && mount("binfmt_misc", BINFMT_DIR, "binfmt_misc", 0, NULL) == 0)
		return 0;
	if (mount_it)
		fprintf(stderr, "capctl: binfmt: mounting binfmt_misc on %s: %s\n", BINFMT_DIR,
		        strerror(errno));
	return -1;
}

static int binfmt_install(const char *entry, const char *name)
{
	char capexec[PATH_MAX], rule[PATH_MAX + 128];
	if (fileio_sibling_exe("capexec", capexec, sizeof capexec)) {
		fprintf(stderr, "capctl: binfmt: %s: capexec not found next to capctl\n", capexec);
		return 1;
	}
	if (strchr(capexec, ':')) {
		fprintf(stderr, "capctl: binfmt: %s: a path with ':' cannot be an interpreter\n", capexec);
		return 1;
	}
	if (binfmt_mounted(1))
		return 1;
	if (access(entry, F_OK) == 0 && binfmt_write(entry, "-1"))
		return 1;   /* installing again replaces the entry */
	/* :name:type:offset:magic:mask:interpreter:flags; the magic's \r\n as escapes. */
	_Static_assert(CAP_IMAGE_MAGIC_LEN == 8, "the magic below is CAP_IMAGE_MAGIC");
	snprintf(rule, sizeof rule, ":%s:M:0:CAPIMG\\x0d\\x0a::%s:", name, capexec);
	if (binfmt_write(BINFMT_DIR "/register", rule))
		return 1;
	printf("binfmt %s installed: .cap images run through %s\n", name, capexec);
	return 0;
}

static int binfmt_status(const char *entry, const char *name)
{
	char buf[4096];
	int fd = binfmt_mounted(0) ? -1 : open(entry, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("binfmt %s: not installed\n", name);
		return 1;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	printf("binfmt %s:\n%s", name, buf);
	return 0;
}

int capctl_binfmt(int argc, char **argv)
{
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "name", required_argument, NULL, 'n' },
	                                      { 0, 0, 0, 0 } };
	const char *name = "capsule";
	while (capctl_opt(argc, argv, "", opts, "binfmt install|remove|status [--name NAME]") != -1)
		name = optarg;
	if (argc - optind != 1)
		return binfmt_usage();
	const char *what = argv[optind];
	if (!cap_name_valid(name) || strlen(name) > 40 || strcmp(name, "register") == 0 ||
	    strcmp(name, "status") == 0) {
		fprintf(stderr, "capctl: binfmt: --name %s: use 1..40 of [A-Za-z0-9._-]\n", name);
		return 2;
	}
	char entry[sizeof BINFMT_DIR + 64];
	snprintf(entry, sizeof entry, "%s/%s", BINFMT_DIR, name);
	if (strcmp(what, "install") == 0)
		return binfmt_install(entry, name);
	if (strcmp(what, "status") == 0)
		return binfmt_status(entry, name);
	if (strcmp(what, "remove") == 0) {
		if (binfmt_mounted(0) || access(entry, F_OK) != 0)
			return 0;   /* nothing to remove */
		if (binfmt_write(entry, "-1"))
			return 1;
		printf("binfmt %s removed\n", name);
		return 0;
	}
	return binfmt_usage();
}
