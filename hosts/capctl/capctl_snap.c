/* capctl_snap.c: `capctl snapshot` and `capctl ps`: talking to running caprun's over their control sockets. */
#include "hosts/capctl/capctl.h"
#include "hosts/formats/ctlproto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define PS_TIMEOUT_MS 3000   /* a caprun busy writing a snapshot answers late */

/* Absolute form of a path that may not exist yet (caprun has another working directory). */
static int absolute(const char *path, char *out, size_t len)
{
	if (path[0] == '/')
		return snprintf(out, len, "%s", path) < (int)len ? 0 : -1;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return -1;
	return snprintf(out, len, "%s/%s", strcmp(cwd, "/") ? cwd : "", path) < (int)len ? 0 : -1;
}

/*
 * Progress for a snapshot that takes more than a second, on stderr when it is a
 * terminal: the time so far and what caprun has written into the file, redrawn on one
 * line and erased at the end.
 */
struct progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	int done, shown, on;
	const char *name, *path;
};

/* Bytes caprun has put in its temporary file "PATH.tmpXXXXXX" (formats/snapfile.c) so far. */
static double written_mib(const char *path)
{
	char dir[PATH_MAX], base[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	snprintf(base, sizeof base, "%s", path);
	const char *b = basename(base);
	size_t bl = strlen(b);
	DIR *d = opendir(dirname(dir));
	struct dirent *e;
	struct stat st;
	double most = 0;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, b, bl) && !strncmp(e->d_name + bl, ".tmp", 4) &&
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (double)st.st_blocks * 512 > most)
			most = (double)st.st_blocks * 512;   /* allocated: the file is sparse */
	if (d)
		closedir(d);
	return most / 1048576.0;
}

static void *progress_run(void *arg)
{
	struct progress *p = arg;
	struct timespec start, now, until;
	clock_gettime(CLOCK_MONOTONIC, &start);
	until = start;
	until.tv_sec += 1;
	pthread_mutex_lock(&p->lock);
	while (!p->done) {
		if (pthread_cond_timedwait(&p->done_cv, &p->lock, &until) == 0 || p->done)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double s = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
		double mib = written_mib(p->path);
		fprintf(stderr, "\rsnapshot %s: %.1f s, %.1f MiB written\033[K", p->name, s, mib);
		p->shown = 1;
		until = now;
		until.tv_nsec += 200 * 1000 * 1000;
		if (until.tv_nsec >= 1000000000L)
			until.tv_sec++, until.tv_nsec -= 1000000000L;
	}
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void progress_start(struct progress *p, const char *name, const char *path)
{
	*p = (struct progress){ .name = name, .path = path };
	if (!isatty(2))
		return;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	p->on = pthread_create(&p->thread, NULL, progress_run, p) == 0;
}

static void progress_stop(struct progress *p)
{
	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	pthread_cond_signal(&p->done_cv);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
}

int capctl_snapshot(int argc, char **argv)
{
	static const char usage[] = "snapshot NAME -o FILE [--keep-running] [--force]";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "output", required_argument, NULL, 'o' },
	                                      { "keep-running", no_argument, NULL, 'k' },
	                                      { "force", no_argument, NULL, 'f' }, { 0, 0, 0, 0 } };
	const char *name = NULL, *out = NULL;
	int keep = 0, force = 0, o;
	while ((o = capctl_opt(argc, argv, "o:f", opts, usage)) != -1) {
		if (o == 'o')
			out = optarg;
		else if (o == 'k')
			keep = 1;
		else
			force = 1;
	}
	if (argc - optind == 1)
		name = argv[optind];
	if (!name || !out)
		return capctl_usage_error(usage);
	char abs[PATH_MAX], sock[PATH_MAX], req[HOST_CTL_LINE_MAX], reply[HOST_CTL_LINE_MAX + 256];
	if (strchr(out, '\n') || absolute(out, abs, sizeof abs)) {
		fprintf(stderr, "capctl: snapshot %s: %s: unusable path\n", name, out);
		return 1;
	}
	if (ctlsock_path(name, sock, sizeof sock) || strchr(name, '/')) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	/*
	 * The directory, opened here: caprun writes into it, so the file lands
	 * where this user in this mount namespace sees FILE.  An unopenable
	 * directory fails here, before the capsule is disturbed.
	 */
	struct stat st;
	if (!force && lstat(abs, &st) == 0) {   /* caprun replaces the file: only when asked to */
		fprintf(stderr, "capctl: snapshot %s: %s exists (--force replaces it)\n", name, out);
		return 1;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", abs);
	int dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 && !ctlsock_name_live(name)) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	if (dirfd < 0) {
		fprintf(stderr, "capctl: snapshot %s: %s: %s\n", name, abs, strerror(errno));
		return 1;
	}
	snprintf(req, sizeof req, "snapshot %s %d\n", abs, keep);
	struct progress prog;
	progress_start(&prog, name, abs);
	int r = ctlsock_request(sock, req, dirfd, reply, sizeof reply, 0);
	int e = errno;
	progress_stop(&prog);
	close(dirfd);
	if (r && (e == ENOENT || e == ECONNREFUSED)) {
		fprintf(stderr, "capctl: no capsule named %s on this host\n", name);
		return 1;
	}
	if (r) {
		fprintf(stderr, "capctl: snapshot %s: %s: %s\n", name, sock, strerror(e));
		return 1;
	}
	unsigned long long bytes;
	long freeze_ms, write_ms;
	if (sscanf(reply, "ok %llu %ld %ld", &bytes, &freeze_ms, &write_ms) == 3) {
		printf("snapshot %s -> %s (%llu bytes, frozen %ld ms, written %ld ms)\n", name, out,
		       bytes, freeze_ms, write_ms);
		return 0;
	}
	fprintf(stderr, "capctl: snapshot %s: %s\n", name,
	        strncmp(reply, "error ", 6) == 0 ? reply + 6 : reply);
	return 1;
}

struct ps_row {
	char name[64], ip[16], state[16], image[64];
	unsigned long long memory;
	long pid;
	int procs;                  /* the capsule's processes */
	char image_path[PATH_MAX];
	struct capctl_pstree *tree;   /* ps --tree: its processes (0: not asked, or no answer) */
};

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct ps_row *)a)->name, ((const struct ps_row *)b)->name);
}

/* Ask one socket (and for its processes, with tree); 0 with row filled, -1 if nobody answers. */
static int ask(const char *dir, const char *file, struct ps_row *row, int tree)
{
	char path[PATH_MAX], reply[HOST_CTL_LINE_MAX + 256];
	if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
		return -1;
	if (ctlsock_request(path, "ps\n", -1, reply, sizeof reply, PS_TIMEOUT_MS))
		return -1;
	int off = 0;
	memset(row, 0, sizeof *row);
	if (sscanf(reply, "ok %63s %15s %15s %llu %ld %d %63s %n", row->name, row->ip, row->state,
	           &row->memory, &row->pid, &row->procs, row->image, &off) < 7)
		return -1;
	if (off)
		snprintf(row->image_path, sizeof row->image_path, "%s", reply + off);
	row->tree = tree ? malloc(sizeof *row->tree) : NULL;
	if (row->tree && capctl_pstree_ask(path, PS_TIMEOUT_MS, row->tree)) {
		free(row->tree);   /* an older caprun, or it ended meanwhile: its row alone */
		row->tree = NULL;
	}
	return 0;
}

/* Bytes for a person: "812K", "64.0M", "1.5G" (binary units, as free -h). */
static void human(unsigned long long b, char *out, size_t len)
{
	static const char units[] = "BKMGTP";
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 5)
		v /= 1024, u++;
	if (u == 0)
		snprintf(out, len, "%lluB", b);
	else
		snprintf(out, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

int capctl_ps(int argc, char **argv)
{
	static const char usage[] = "ps [--json] [--tree] | ps --all [--json] [--dir ADDR --host-id N --keys FILE]";
	static const struct option opts[] = { CAPCTL_HELP_OPT, { "json", no_argument, NULL, 'j' },
	                                      { "tree", no_argument, NULL, 't' },
	                                      { "all", no_argument, NULL, 'a' }, { 0, 0, 0, 0 } };
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--all") == 0)
			return capctl_psall(argc, argv);   /* the whole network, from the directory */
	int json = 0, tree = 0, opt;
	while ((opt = capctl_opt(argc, argv, "", opts, usage)) != -1) {
		json |= opt == 'j';
		tree |= opt == 't';
	}
	if (optind != argc)
		return capctl_usage_error(usage);
	const char *dir = ctlsock_run_dir();
	struct ps_row *rows = NULL;
	size_t n = 0, cap = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t len = strlen(e->d_name), sl = strlen(HOST_CTL_SUFFIX);
		if (len <= sl || strcmp(e->d_name + len - sl, HOST_CTL_SUFFIX))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct ps_row *p = realloc(rows, cap * sizeof *rows);
			if (!p)
				break;
			rows = p;
		}
		if (ask(dir, e->d_name, &rows[n], tree) == 0)
			n++;
	}
	if (d)
		closedir(d);
	if (n)
		qsort(rows, n, sizeof *rows, by_name);
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf("%s{\"name\": ", i ? ", " : "");
			capctl_json_str(rows[i].name);
			if (strcmp(rows[i].ip, "-") == 0)   /* no network (caprun --no-net) */
				printf(", \"ip\": null");
			else
				printf(", \"ip\": \"%s\"", rows[i].ip);
			printf(", \"state\": \"%s\", \"memory_bytes\": %llu, \"pid\": %ld, \"processes\": %d, "
			       "\"image\": ", rows[i].state, rows[i].memory, rows[i].pid, rows[i].procs);
			capctl_json_str(rows[i].image);
			if (rows[i].tree) {
				printf(", \"tree\": [");
				capctl_pstree_print(rows[i].tree, 1);
				printf("], \"next_pid\": %d", rows[i].tree->next_pid);
			}
			printf("}");
		}
		printf("]\n");
	} else {
		printf("%-20s %-15s %-8s %8s %8s %5s %s\n", "NAME", "IP", "STATE", "MEMORY", "PID", "PROCS",
		       "IMAGE");
		for (size_t i = 0; i < n; i++) {
			char mem[16];
			human(rows[i].memory, mem, sizeof mem);
			printf("%-20s %-15s %-8s %8s %8ld %5d %s\n", rows[i].name, rows[i].ip, rows[i].state,
			       mem, rows[i].pid, rows[i].procs, rows[i].image);
		}
		for (size_t i = 0; i < n; i++) {
			if (rows[i].tree) {
				printf("\n%s: ", rows[i].name);
				capctl_pstree_print(rows[i].tree, 0);
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		free(rows[i].tree);
	free(rows);
	return 0;
}
