/* selftest.c: test image: exercises threads, mutex/cond, pipes, /tmp files, stdio, clocks and malloc, then reports on TCP port 9100. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The first failure, reported to every client; empty while all is well. */
static char failure[256];

static int fail(const char *fmt, ...)
{
	if (!failure[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(failure, sizeof failure, fmt, ap);
		va_end(ap);
	}
	return -1;
}
#define CHECK(cond, ...) do { if (!(cond)) return fail(__VA_ARGS__); } while (0)

/* --- threads, mutex, condition variable --- */

#define NTHREADS    8
#define INCREMENTS  2000
#define QUEUE_ITEMS 5000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static long shared_counter;
static int queue[4], q_head, q_len;

static void *incrementer(void *arg)
{
	(void)arg;
	for (int i = 0; i < INCREMENTS; i++) {
		pthread_mutex_lock(&lock);
		long v = shared_counter;
		if (i % 64 == 0)
			sched_yield();   /* give others a chance to race if the mutex were broken */
		shared_counter = v + 1;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static void *producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= QUEUE_ITEMS; i++) {
		pthread_mutex_lock(&lock);
		while (q_len == 4)
			pthread_cond_wait(&not_full, &lock);
		queue[(q_head + q_len++) % 4] = i;
		pthread_cond_signal(&not_empty);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

static int test_threads(void)
{
	pthread_t t[NTHREADS], prod;
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, incrementer, NULL) == 0, "threads: pthread_create");
	for (int i = 0; i < NTHREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "threads: pthread_join");
	CHECK(shared_counter == NTHREADS * INCREMENTS, "mutex: counter %ld, want %d",
	      shared_counter, NTHREADS * INCREMENTS);

	CHECK(pthread_create(&prod, NULL, producer, NULL) == 0, "cond: pthread_create");
	long sum = 0;
	for (int i = 0; i < QUEUE_ITEMS; i++) {
		pthread_mutex_lock(&lock);
		while (q_len == 0)
			pthread_cond_wait(&not_empty, &lock);
		sum += queue[q_head];
		q_head = (q_head + 1) % 4;
		q_len--;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&lock);
	}
	CHECK(pthread_join(prod, NULL) == 0, "cond: pthread_join");
	CHECK(sum == (long)QUEUE_ITEMS * (QUEUE_ITEMS + 1) / 2, "cond: sum %ld", sum);

	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 10 * 1000 * 1000;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	int err = pthread_cond_timedwait(&not_empty, &lock, &deadline);
	pthread_mutex_unlock(&lock);
	CHECK(err == ETIMEDOUT, "cond: timedwait returned %d, want ETIMEDOUT", err);
	return 0;
}

/* --- pipes --- */

#define PIPE_BYTES (1 << 20)

static void *pipe_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[3000];
	for (size_t sent = 0; sent < PIPE_BYTES;) {
		size_t n = PIPE_BYTES - sent < sizeof buf ? PIPE_BYTES - sent : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)((sent + i) * 7);
		ssize_t w = write(fd, buf, n);
		if (w <= 0)
			break;
		sent += (size_t)w;
	}
	close(fd);
	return NULL;
}

static int test_pipes(void)
{
	int p[2];
	pthread_t t;
	CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
	CHECK(pthread_create(&t, NULL, pipe_writer, (void *)(intptr_t)p[1]) == 0, "pipe: thread");
	size_t got = 0;
	int bad = 0;
	unsigned char buf[4096];
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, 5000) != 1) {
			bad = 1;
			break;
		}
		ssize_t n = read(p[0], buf, sizeof buf);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			bad |= buf[i] != (unsigned char)((got + (size_t)i) * 7);
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	close(p[0]);
	CHECK(!bad && got == PIPE_BYTES, "pipe: got %zu bytes, want %d%s", got, PIPE_BYTES,
	      bad ? " (wrong data or poll timeout)" : "");
	return 0;
}

/* --- /tmp files --- */

static int test_tmp_files(void)
{
	char path[] = "/tmp/selftest.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0, "tmp: mkstemp: %s", strerror(errno));
	static char data[100000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	CHECK(write(fd, data, sizeof data) == (ssize_t)sizeof data, "tmp: write");
	CHECK(lseek(fd, 5000, SEEK_SET) == 5000, "tmp: lseek");
	char back[26];
	CHECK(read(fd, back, sizeof back) == (ssize_t)sizeof back &&
	      memcmp(back, data + 5000, sizeof back) == 0, "tmp: read after lseek");
	CHECK(ftruncate(fd, 1234) == 0, "tmp: ftruncate: %s", strerror(errno));
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 1234, "tmp: fstat size");
	CHECK(stat(path, &st) == 0 && st.st_size == 1234 && S_ISREG(st.st_mode), "tmp: stat");
	CHECK(lseek(fd, 0, SEEK_END) == 1234, "tmp: lseek SEEK_END");
	CHECK(close(fd) == 0, "tmp: close");
	CHECK(unlink(path) == 0, "tmp: unlink: %s", strerror(errno));
	CHECK(stat(path, &st) < 0 && errno == ENOENT, "tmp: file still there after unlink");
	return 0;
}

/* --- stdio --- */

static int test_stdio(void)
{
	const char *path = "/tmp/selftest-stdio.txt";
	FILE *f = fopen(path, "w+");
	CHECK(f, "stdio: fopen: %s", strerror(errno));
	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %d %.3f\n", i, i / 8.0);
	CHECK(fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0, "stdio: fflush/fseek");
	char line[64];
	int n = 0, i;
	double d;
	while (fgets(line, sizeof line, f)) {
		CHECK(sscanf(line, "line %d %lf", &i, &d) == 2 && i == n && d == n / 8.0,
		      "stdio: line %d reads back as '%.20s'", n, line);
		n++;
	}
	CHECK(n == 1000, "stdio: read %d lines back", n);
	CHECK(fclose(f) == 0 && remove(path) == 0, "stdio: fclose/remove");
	char buf[64];
	snprintf(buf, sizeof buf, "%5.2f|%-4s|%x", 3.14159, "ab", 255);
	CHECK(strcmp(buf, " 3.14|ab  |ff") == 0, "stdio: snprintf gave '%s'", buf);
	return 0;
}

/* --- time --- */

static int64_t ns(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static int test_time(void)
{
	struct timespec a, b, wall;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0, "time: CLOCK_MONOTONIC");
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	CHECK(nanosleep(&nap, NULL) == 0, "time: nanosleep: %s", strerror(errno));
	CHECK(clock_gettime(CLOCK_MONOTONIC, &b) == 0, "time: CLOCK_MONOTONIC");
	int64_t slept = ns(b) - ns(a);
	CHECK(slept >= 20000000 && slept < 5000000000LL, "time: nanosleep(20ms) took %lld ns",
	      (long long)slept);
	CHECK(clock_gettime(CLOCK_REALTIME, &wall) == 0 && wall.tv_sec > 1600000000,
	      "time: CLOCK_REALTIME says %lld", (long long)wall.tv_sec);
	time_t now = time(NULL);
	struct tm tm;
	char when[32];
	CHECK(gmtime_r(&now, &tm) && strftime(when, sizeof when, "%Y-%m-%d", &tm) == 10,
	      "time: gmtime_r/strftime");
	CHECK(localtime_r(&now, &tm) != NULL, "time: localtime_r");
	return 0;
}

/* --- malloc --- */

static int test_malloc(void)
{
	enum { N = 2000 };
	static unsigned char *p[N];
	static size_t len[N];
	for (int i = 0; i < N; i++) {
		len[i] = (size_t)1 << (i % 21);       /* 1 byte .. 1 MiB */
		len[i] += (size_t)(i * 37) % 97;
		p[i] = malloc(len[i]);
		CHECK(p[i], "malloc: %zu bytes failed", len[i]);
		memset(p[i], i & 0xff, len[i]);
	}
	for (int i = 0; i < N; i += 2) {
		free(p[i]);
		p[i] = NULL;
	}
	for (int i = 1; i < N; i += 2) {
		CHECK(p[i][0] == (i & 0xff) && p[i][len[i] - 1] == (i & 0xff),
		      "malloc: block %d overwritten", i);
		unsigned char *q = realloc(p[i], len[i] * 3);
		CHECK(q && q[0] == (i & 0xff) && q[len[i] - 1] == (i & 0xff), "realloc: block %d", i);
		free(q);
	}
	size_t big = 64u << 20;
	unsigned char *z = calloc(1, big);
	CHECK(z && z[0] == 0 && z[big / 2] == 0 && z[big - 1] == 0, "calloc: 64 MiB");
	memset(z, 0x5a, big);
	free(z);
	return 0;
}

/* --- then serve the report so a test can look at the live process --- */

static void *idle_thread(void *arg)
{
	/* Stays blocked on a condition variable, so a thread stack exists while
	 * the test inspects the process. */
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;)
		pthread_cond_wait(&not_empty, &lock);
	return NULL;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	static const struct { const char *name; int (*run)(void); } tests[] = {
		{ "threads+mutex+cond", test_threads }, { "pipes", test_pipes },
		{ "tmp-files", test_tmp_files }, { "stdio", test_stdio },
		{ "time", test_time }, { "malloc", test_malloc },
	};
	int passed = 0;
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
		int ok = tests[i].run() == 0;
		passed += ok;
		printf("selftest: %s %s\n", tests[i].name, ok ? "ok" : "FAILED");
	}
	char report[400];
	if (failure[0])
		snprintf(report, sizeof report, "selftest FAIL %s\n", failure);
	else
		snprintf(report, sizeof report, "selftest ok %d/%zu\n", passed,
		         sizeof tests / sizeof tests[0]);

	pthread_t t;
	pthread_create(&t, NULL, idle_thread, NULL);

	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9100),
	                          .sin_addr.s_addr = htonl(INADDR_ANY) };
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0) {
		fprintf(stderr, "selftest: cannot listen on TCP port 9100: %s\n", strerror(errno));
		return 1;
	}
	printf("selftest: listening on TCP port 9100\n");
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		ssize_t n = write(fd, report, strlen(report));
		(void)n;
		close(fd);
	}
}
