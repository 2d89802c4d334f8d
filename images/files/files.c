/* files.c: TCP port 7000, one line command at a time: exercises files (open, read, write, stat, readdir, rename, sendfile, mmap ...) where it is told. */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/*
 * Commands (one line each, one answer line each unless said):
 *   check DIR    every file call on a writable directory: "ok" or "FAIL what: errno"
 *   ro DIR       writes on a read-only directory fail with EROFS: "ok" or "FAIL ..."
 *   escape DIR   DIR/out is a symlink leading outside: refused; "ok" or "FAIL ..."
 *   open PATH    open PATH for reading and hold it: "ok" or "err ERRNO"
 *   read N       read N bytes from the held file: "data HEX" or "err ERRNO"
 *   send PATH    "size N", then N bytes of PATH sent with sendfile
 *   map PATH     mmap PATH MAP_PRIVATE: "map SIZE FNV1A64HEX"; MAP_SHARED must give ENODEV
 *   pwd          the working directory
 */

static int held = -1;
static char fail[512];

#define CHECK(cond, what) do { if (!(cond)) { \
	snprintf(fail, sizeof fail, "FAIL %s: %s", what, strerror(errno)); return -1; } } while (0)

static int write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return -1;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static int slurp(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Everything on a writable directory; leaves DIR/sub/b.txt = "final\n", DIR/big.bin copied to /tmp and back. */
static int check_dir(const char *dir)
{
	char p[512], q[512], buf[256];
	struct stat st;
	snprintf(p, sizeof p, "%s/a.txt", dir);
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	CHECK(fd >= 0, "open O_CREAT|O_EXCL");
	CHECK(write(fd, "hello ", 6) == 6, "write");
	struct iovec iov[2] = { { "wor", 3 }, { "ld\n", 3 } };
	CHECK(writev(fd, iov, 2) == 6, "writev");
	CHECK(close(fd) == 0, "close");
	errno = 0;
	CHECK(open(p, O_CREAT | O_EXCL | O_WRONLY, 0644) < 0 && errno == EEXIST, "O_EXCL gives EEXIST");
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(fd >= 0, "open O_APPEND");
	CHECK(write(fd, "more\n", 5) == 5, "append");
	CHECK(lseek(fd, 0, SEEK_CUR) == 17, "offset after append");
	close(fd);
	fd = open(p, O_RDWR);
	CHECK(fd >= 0, "open O_RDWR");
	CHECK(pread(fd, buf, 5, 0) == 5 && !memcmp(buf, "hello", 5), "pread");
	CHECK(pwrite(fd, "HELLO", 5, 0) == 5, "pwrite");
	char a[4], b[4];
	struct iovec rv[2] = { { a, 4 }, { b, 4 } };
	CHECK(lseek(fd, 2, SEEK_SET) == 2, "lseek SEEK_SET");
	CHECK(readv(fd, rv, 2) == 8 && !memcmp(a, "LLO ", 4) && !memcmp(b, "worl", 4), "readv");
	CHECK(lseek(fd, 0, SEEK_END) == 17, "lseek SEEK_END");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 17 && S_ISREG(st.st_mode), "fstat");
	CHECK(ftruncate(fd, 12) == 0, "ftruncate");
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0, "fsync");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 12, "size after ftruncate");
	close(fd);
	CHECK(stat(p, &st) == 0 && st.st_size == 12, "stat");
	CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode), "lstat");
	CHECK(access(p, R_OK | W_OK) == 0, "access");
	errno = 0;
	snprintf(q, sizeof q, "%s/nothing", dir);
	CHECK(access(q, F_OK) < 0 && errno == ENOENT, "access of a missing file");
	snprintf(q, sizeof q, "%s/sub", dir);
	CHECK(mkdir(q, 0755) == 0, "mkdir");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0, "open a directory");
	CHECK(fstatat(dfd, "sub", &st, 0) == 0 && S_ISDIR(st.st_mode), "fstatat");
	snprintf(q, sizeof q, "%s/sub/b.txt", dir);
	CHECK(rename(p, q) == 0, "rename");
	errno = 0;
	CHECK(stat(p, &st) < 0 && errno == ENOENT, "renamed away");
	snprintf(q, sizeof q, "%s/sub", dir);
	DIR *d = opendir(q);
	CHECK(d != NULL, "opendir");
	int seen = 0;
	for (struct dirent *e; (e = readdir(d)); )
		seen += !strcmp(e->d_name, "b.txt");
	closedir(d);
	errno = 0;
	CHECK(seen == 1, "readdir finds b.txt");
	CHECK(chdir(q) == 0, "chdir");
	CHECK(getcwd(buf, sizeof buf) && !strcmp(buf, q), "getcwd after chdir");
	CHECK(slurp("b.txt", buf, sizeof buf) == 12 && !strcmp(buf, "HELLO world\n"), "relative open");
	CHECK(fchdir(dfd) == 0 && getcwd(buf, sizeof buf) && !strcmp(buf, dir), "fchdir");
	fd = openat(dfd, "sub/b.txt", O_WRONLY | O_TRUNC);
	CHECK(fd >= 0, "openat O_TRUNC");
	CHECK(write(fd, "final\n", 6) == 6, "write after O_TRUNC");
	close(fd);
	close(dfd);
	CHECK(mkdir("empty", 0700) == 0 && rmdir("empty") == 0, "relative mkdir + rmdir");
	CHECK(close(open("gone", O_CREAT | O_WRONLY, 0600)) == 0 && unlink("gone") == 0, "unlink");
	errno = 0;
	CHECK(rename("sub/b.txt", "/tmp/b.txt") < 0 && errno == EXDEV, "rename across gives EXDEV");
	/* sendfile host file -> /tmp file, and /tmp file -> host file, byte-exact */
	int in = open("big.bin", O_RDONLY), tmp = open("/tmp/big.bin", O_CREAT | O_RDWR, 0600);
	CHECK(in >= 0 && tmp >= 0, "open for sendfile");
	CHECK(fstat(in, &st) == 0, "fstat big.bin");
	off_t off = 0;
	CHECK(sendfile(tmp, in, &off, (size_t)st.st_size) == st.st_size && off == st.st_size, "sendfile host->tmp");
	CHECK(lseek(in, 0, SEEK_CUR) == 0, "sendfile with an offset leaves the file's own");
	int out = open("copy.bin", O_CREAT | O_TRUNC | O_WRONLY, 0644);
	CHECK(out >= 0 && lseek(tmp, 0, SEEK_SET) == 0, "open copy.bin");
	CHECK(sendfile(out, tmp, NULL, (size_t)st.st_size) == st.st_size, "sendfile tmp->host");
	CHECK(lseek(tmp, 0, SEEK_CUR) == st.st_size, "sendfile moves the file offset");
	/* mmap MAP_PRIVATE of a /tmp file reads its bytes; writes stay private */
	unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, tmp, 0);
	CHECK(m != MAP_FAILED, "mmap of a /tmp file");
	unsigned char first;
	CHECK(pread(in, &first, 1, 0) == 1 && m[0] == first, "mmap bytes");
	m[0] ^= 0xff;
	CHECK(pread(tmp, &first, 1, 0) == 1 && m[0] != first, "MAP_PRIVATE writes stay private");
	CHECK(msync(m, 4096, MS_SYNC) == 0 && munmap(m, (size_t)st.st_size) == 0, "msync + munmap");
	close(in);
	close(tmp);
	close(out);
	unlink("/tmp/big.bin");
	return 0;
}

static int check_ro(const char *dir)
{
	char p[512];
	snprintf(p, sizeof p, "%s/new.txt", dir);
	errno = 0;
	CHECK(open(p, O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS, "create on ro gives EROFS");
	snprintf(p, sizeof p, "%s/hello.txt", dir);
	errno = 0;
	CHECK(open(p, O_WRONLY) < 0 && errno == EROFS, "open for writing gives EROFS");
	errno = 0;
	CHECK(unlink(p) < 0 && errno == EROFS, "unlink gives EROFS");
	snprintf(p, sizeof p, "%s/newdir", dir);
	errno = 0;
	CHECK(mkdir(p, 0755) < 0 && errno == EROFS, "mkdir gives EROFS");
	snprintf(p, sizeof p, "%s/hello.txt", dir);
	errno = 0;
	CHECK(access(p, W_OK) < 0 && errno == EROFS, "access W_OK gives EROFS");
	char buf[64];
	CHECK(slurp(p, buf, sizeof buf) == 6 && !strcmp(buf, "hello\n"), "reading works");
	return 0;
}

static int check_escape(const char *dir)
{
	char p[512], buf[64];
	struct stat st;
	snprintf(p, sizeof p, "%s/out/secret", dir);
	errno = 0;
	CHECK(slurp(p, buf, sizeof buf) < 0 && errno == EXDEV, "a symlink leading out is refused");
	snprintf(p, sizeof p, "%s/abs/secret", dir);
	errno = 0;
	CHECK(slurp(p, buf, sizeof buf) < 0 && errno == EXDEV, "an absolute symlink is refused");
	snprintf(p, sizeof p, "%s/../../../secret", dir);
	errno = 0;
	CHECK(stat(p, &st) < 0 && errno == ENOENT, "`..` stays in the capsule's tree");
	snprintf(p, sizeof p, "%s/in", dir);
	CHECK(slurp(p, buf, sizeof buf) == 6 && !strcmp(buf, "hello\n"), "a symlink inside is followed");
	return 0;
}

static const char *errname(int e)
{
	static char num[16];
	switch (e) {
	case EIO: return "EIO";
	case ENOENT: return "ENOENT";
	case ENODEV: return "ENODEV";
	case EACCES: return "EACCES";
	case EBADF: return "EBADF";
	default: snprintf(num, sizeof num, "%d", e); return num;
	}
}

static void reply(int c, const char *s)
{
	write_all(c, s, strlen(s));
	write_all(c, "\n", 1);
}

static void command(int c, char *line)
{
	char out[8192];
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = 0;
	if (!strcmp(line, "check") && arg) {
		reply(c, check_dir(arg) ? fail : "ok");
	} else if (!strcmp(line, "ro") && arg) {
		reply(c, check_ro(arg) ? fail : "ok");
	} else if (!strcmp(line, "escape") && arg) {
		reply(c, check_escape(arg) ? fail : "ok");
	} else if (!strcmp(line, "open") && arg) {
		held = open(arg, O_RDONLY);
		snprintf(out, sizeof out, held < 0 ? "err %s" : "ok", errname(errno));
		reply(c, out);
	} else if (!strcmp(line, "read") && arg) {
		unsigned char buf[1024];
		size_t want = (size_t)atoi(arg) < sizeof buf ? (size_t)atoi(arg) : sizeof buf;
		ssize_t n = read(held, buf, want);
		if (n < 0) {
			snprintf(out, sizeof out, "err %s", errname(errno));
		} else {
			int l = snprintf(out, sizeof out, "data ");
			for (ssize_t i = 0; i < n; i++)
				l += snprintf(out + l, sizeof out - (size_t)l, "%02x", buf[i]);
		}
		reply(c, out);
	} else if (!strcmp(line, "send") && arg) {
		struct stat st;
		int fd = open(arg, O_RDONLY);
		if (fd < 0 || fstat(fd, &st)) {
			reply(c, "err open");
			return;
		}
		snprintf(out, sizeof out, "size %lld", (long long)st.st_size);
		reply(c, out);
		off_t left = st.st_size;
		while (left > 0) {
			ssize_t n = sendfile(c, fd, NULL, (size_t)left);
			if (n <= 0)
				break;
			left -= n;
		}
		close(fd);
	} else if (!strcmp(line, "map") && arg) {
		struct stat st;
		int fd = open(arg, O_RDONLY);
		if (fd < 0 || fstat(fd, &st)) {
			reply(c, "err open");
			return;
		}
		errno = 0;
		void *sh = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		int shared_refused = sh == MAP_FAILED && errno == ENODEV;
		unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			snprintf(out, sizeof out, "err mmap %s", errname(errno));
		} else {
			snprintf(out, sizeof out, "map %lld %016llx%s", (long long)st.st_size,
			         (unsigned long long)fnv1a(m, (size_t)st.st_size),
			         shared_refused ? "" : " (MAP_SHARED was not refused with ENODEV)");
			munmap(m, (size_t)st.st_size);
		}
		close(fd);
		reply(c, out);
	} else if (!strcmp(line, "pwd")) {
		reply(c, getcwd(out, sizeof out) ? out : "err getcwd");
	} else {
		reply(c, "err unknown command");
	}
}

int main(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(7000) };
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) || listen(l, 8)) {
		perror("files: listen");
		return 1;
	}
	printf("files: listening on 7000\n");
	fflush(stdout);
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char line[1024];
		size_t n = 0;
		for (;;) {
			ssize_t r = read(c, line + n, 1);
			if (r <= 0)
				break;
			if (line[n] == '\n') {
				line[n] = 0;
				command(c, line);
				n = 0;
			} else if (n < sizeof line - 1) {
				n++;
			}
		}
		close(c);
	}
}
