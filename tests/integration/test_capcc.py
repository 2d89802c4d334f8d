"""test_capcc.py: capcc as a drop-in compiler: gcc's options, sysroot-only libraries, clear errors, binfmt, GNU hello, zlib and libevent."""
# tests/run timeout: 600
#
# GNU hello, zlib and libevent come from Debian 12's source packages, fetched
# by make test before the tests (they run without a network) and built here
# (mk/sysroot-lib.sh), cached under build/: a warm run rebuilds nothing.  hello is rebuilt when capcc or a
# sysroot library changes (its cache key is their hash).
import glob
import hashlib
import os
import shutil
import subprocess

from caplib import BIN, BUILD, ROOT, Tap, check, check_eq, tempdir

CAPCC = os.path.join(BIN, "capcc")
CAPCTL = os.path.join(BIN, "capctl")
CAPRUN = os.path.join(BIN, "caprun")
SYSROOT_LIB = os.path.realpath(os.path.join(BUILD, "sysroot", "lib"))
HELLO_VERSION = "2.10"
HELLO_OUT = b"Hello, world!\n"
HELLO_VERSION_OUT = (b"hello (GNU Hello) 2.10\n\nCopyright (C) 2014 Free Software Foundation, Inc.\n"
                     b"License GPLv3+: GNU GPL version 3 or later <http://gnu.org/licenses/gpl.html>\n"
                     b"This is free software: you are free to change and redistribute it.\n"
                     b"There is NO WARRANTY, to the extent permitted by law.\n")
BINFMT_NAME = "capsule-test-%d" % os.getpid()   # binfmt_misc is global: our own entry only

HELLO_C = r"""
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/queue.h>
struct item { int v; TAILQ_ENTRY(item) link; };
static void *twice(void *p) { *(int *)p *= 2; return p; }
int main(int argc, char **argv)
{
	TAILQ_HEAD(, item) list = TAILQ_HEAD_INITIALIZER(list);
	struct item a = { .v = 20 }, b = { .v = 1 }, *it, *tmp;
	TAILQ_INSERT_TAIL(&list, &a, link);
	TAILQ_INSERT_TAIL(&list, &b, link);
	int sum = 0;
	TAILQ_FOREACH_SAFE(it, &list, link, tmp)
		sum += it->v;
	pthread_t t;
	pthread_create(&t, NULL, twice, &sum);
	pthread_join(t, NULL);
	printf("%s %d %.1f", GREETING, sum, sqrt(16.0));
	for (int i = 1; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n");
	return argc > 3 ? 7 : 0;
}
"""

ZLIB_C = r"""
#include <stdio.h>
#include <string.h>
#include <zlib.h>
int main(void)
{
	const char *text = "capsules capsules capsules capsules capsules";
	unsigned char packed[256], back[256];
	uLongf plen = sizeof packed, blen = sizeof back;
	if (compress(packed, &plen, (const Bytef *)text, strlen(text) + 1) != Z_OK ||
	    uncompress(back, &blen, packed, plen) != Z_OK)
		return 1;
	printf("zlib %s: %zu -> %lu -> %lu bytes: %s\n", ZLIB_VERSION, strlen(text) + 1,
	       (unsigned long)plen, (unsigned long)blen, back);
	return 0;
}
"""

LIBEVENT_C = r"""
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	int *fired = arg;
	printf("timer fired %d (%s)\n", ++*fired, what & EV_TIMEOUT ? "timeout" : "?");
}
static void *breaker(void *arg)
{
	struct timespec ts = { 0, 30000000 };
	nanosleep(&ts, 0);
	event_base_loopbreak(arg);   /* from another thread: wakes the loop through its eventfd */
	return 0;
}
int main(void)
{
	struct evbuffer *buf = evbuffer_new();
	char out[64] = "";
	evbuffer_add_printf(buf, "round %s %d", "trip", 42);
	evbuffer_remove(buf, out, sizeof out - 1);
	printf("evbuffer: %s, %zu left\n", out, evbuffer_get_length(buf));
	evbuffer_free(buf);
	evthread_use_pthreads();
	struct event_config *cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);   /* epoll waits on a timerfd */
	struct event_base *base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	printf("method %s\n", event_base_get_method(base));
	int fired = 0;
	struct event *ev = evtimer_new(base, on_timer, &fired);
	struct timeval tv = { 0, 20000 };
	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	printf("dispatch done, fired %d\n", fired);
	pthread_t t;
	pthread_create(&t, 0, breaker, base);
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	pthread_join(t, 0);
	printf("woken by another thread: %s\n", event_base_got_break(base) ? "yes" : "no");
	event_free(ev);
	event_base_free(base);
	return 0;
}
"""


def sh(args, cwd=None, env=None, timeout=300):
    """Run a command; (exit status, stdout bytes, stderr bytes)."""
    p = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(args, what, **kw):
    rc, out, err = sh(args, **kw)
    check(rc == 0, "%s: exit %d: %s" % (what, rc, (err or out).decode(errors="replace")[-600:]))
    return out


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_capsule(image, *args):
    """Run an image to completion without a network: (exit status, stdout, stderr)."""
    return sh([CAPRUN, "--no-net", image, "--"] + list(args), timeout=60)


def gcc_options():
    d = tempdir("capcc-test.")
    src = os.path.join(d, "my prog.c")   # a space in a file name survives the driver
    write(src, HELLO_C)
    # default output a.out, executable; -D with a space; -pthread and the libs musl's libc holds
    ok([CAPCC, "-O2", "-g", "-pthread", '-DGREETING="hi there"', src, "-lm", "-lrt", "-ldl",
        "-lpthread"], "capcc link", cwd=d)
    aout = os.path.join(d, "a.out")
    check(os.access(aout, os.X_OK), "a.out is not executable")
    with open(aout, "rb") as f:
        check_eq(f.read(8), b"CAPIMG\r\n", "a.out's magic")
    check_eq(run_capsule(aout, "x y", "z"), (0, b"hi there 42 4.0 [x y] [z]\n", b""), "a.out run")
    check_eq(run_capsule(aout, "1", "2", "3")[0], 7, "exit status passed through")
    # -c, -o, -MD -MF -MT -MP like gcc's; then link the object
    ok([CAPCC, "-c", "-O1", '-DGREETING="obj"', "-MD", "-MF", "dep file.d", "-MT", "my.o", "-MP",
        src, "-o", "my.o"], "capcc -c -MD", cwd=d)
    with open(os.path.join(d, "dep file.d")) as f:
        deps = f.read()
    check(deps.startswith("my.o: ") and "my\\ prog.c" in deps and "/sysroot/include/stdio.h" in deps and
          "/sysroot/include/stdio.h:\n" in deps,   # -MP: a phony rule per header
          "dependency file: %r" % deps[:200])
    ok([CAPCC, "-o", "app", "my.o", "-lm"], "capcc link an object", cwd=d)
    # Debug information only when the link asks for it (-g above), as gcc: caprun hashes
    # every byte of an image at every start (docs/STARTUP.md section 5).
    for image, want in (("a.out", True), ("app", False)):
        with open(os.path.join(d, image), "rb") as f:
            check_eq(b".debug_info" in f.read(), want, "%s carries debug information" % image)
    check_eq(run_capsule(os.path.join(d, "app")), (0, b"obj 42 4.0\n", b""), "app run")
    # -M prints the rule; -E preprocesses against musl's headers
    out = ok([CAPCC, "-M", '-DGREETING="m"', src], "capcc -M", cwd=d)
    check(out.startswith(b"my prog.o: ") or out.startswith(b"my\\ prog.o: "), "-M: %r" % out[:80])
    out = ok([CAPCC, "-E", src, '-DGREETING="e"'], "capcc -E", cwd=d)
    check(b"TAILQ" not in out and b"struct item" in out, "-E did not preprocess")
    # assembler inputs with -c only
    write(os.path.join(d, "f.s"), ".globl f\nf:\n\tret\n")
    write(os.path.join(d, "g.S"), "#define NAME g\n.globl NAME\nNAME:\n\tret\n")
    ok([CAPCC, "-c", "f.s", "g.S"], "capcc -c .s .S", cwd=d)
    check(os.path.exists(os.path.join(d, "f.o")) and os.path.exists(os.path.join(d, "g.o")),
          "no f.o / g.o")
    # a plain Makefile with make's built-in rules and CC=capcc
    write(os.path.join(d, "Makefile"), "prog: prog.o\n")
    write(os.path.join(d, "prog.c"), '#include <stdio.h>\nint main(void) { puts("made"); return 0; }\n')
    ok(["make", "-s", "CC=" + CAPCC], "make CC=capcc", cwd=d)
    check_eq(run_capsule(os.path.join(d, "prog")), (0, b"made\n", b""), "prog run")
    out = ok([CAPCC, "--version"], "capcc --version")
    check(out.startswith(b"capcc: compiler driver for compute capsules") and b", version " in out
          and b"gcc" in out,
          "--version: %r" % out[:120])
    rc, out, err = sh([CAPCC, "-v"])
    check(rc == 0 and err.startswith(b"capcc: compiler driver") and b"gcc version" in err,
          "-v: %d %r" % (rc, err[:120]))


def errors():
    d = tempdir("capcc-test.")
    write(os.path.join(d, "a.c"), "int main(void) { return 0; }\n")
    write(os.path.join(d, "a.cpp"), "int main() { return 0; }\n")
    os.symlink(CAPCC, os.path.join(d, "capc++"))
    see = "; see docs/RUNNING.md\n"
    cases = [
        ([CAPCC, "a.c", "-lnosuchlib"],
         "capcc: library -lnosuchlib is not in the capsule sysroot (%s)%s" % (SYSROOT_LIB, see)),
        # a library in /usr/lib (glibc-built) is never used, even when named by -L
        ([CAPCC, "a.c", "-L/usr/lib/x86_64-linux-gnu", "-lsodium"],
         "capcc: library -lsodium is not in the capsule sysroot (%s)%s" % (SYSROOT_LIB, see)),
        ([CAPCC, "-shared", "a.c"],
         "capcc: -shared: shared libraries are not supported: a capsule is one static image" + see),
        ([CAPCC, "-x", "c++", "a.c"],
         "capcc: -x c++: C++ and Objective-C are not supported: capsules are built from C" + see),
        ([CAPCC, "a.cpp"], "capcc: a.cpp: C++ is not supported: capsules are built from C" + see),
        ([os.path.join(d, "capc++"), "a.c"],
         "capcc: C++ is not supported (invoked as capc++): capsules are built from C" + see),
        ([CAPCC], "capcc: no input files\n"),
        ([CAPCC, "-O2", "-Wall"], "capcc: no input files\n"),
    ]
    tmp = tempdir("capcc-tmp.")   # its temporary ELF goes here: nothing may stay behind
    env = dict(os.environ, TMPDIR=tmp)
    for args, want in cases:
        got = sh(args, cwd=d, env=env)
        check_eq((got[0], got[1], got[2].decode()), (1, b"", want), " ".join(args[1:]) or "no args")
        check_eq(os.listdir(tmp), [], "capcc %s left in TMPDIR" % (" ".join(args[1:]) or "no args"))
    check(not os.path.exists(os.path.join(d, "a.out")), "a failed link left a.out")


def binfmt_runs_images():
    d = tempdir("capcc-test.")
    write(os.path.join(d, "p.c"), HELLO_C)
    ok([CAPCC, '-DGREETING="direct"', "p.c", "-o", "p"], "capcc", cwd=d)
    try:
        out = ok([CAPCTL, "binfmt", "install", "--name", BINFMT_NAME], "binfmt install")
        check(out.startswith(b"binfmt %s installed" % BINFMT_NAME.encode()), "install: %r" % out)
        check_eq(sh(["./p", "a b"], cwd=d), (0, b"direct 42 4.0 [a b]\n", b""), "./p")
        check_eq(sh(["./p", "1", "2", "3"], cwd=d)[0], 7, "./p exit status")
    finally:
        rc, out, err = sh([CAPCTL, "binfmt", "remove", "--name", BINFMT_NAME])
    check_eq((rc, out), (0, b"binfmt %s removed\n" % BINFMT_NAME.encode()), "binfmt remove")
    check(not os.path.exists("/proc/sys/fs/binfmt_misc/" + BINFMT_NAME), "entry still there")


def cache_key(*paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def need_source(name):
    """Tests have no network: make test fetched the sources (hosts/capcc/build.mk)."""
    check(os.path.exists(os.path.join(BUILD, "src", name, ".fetched")),
          "build/src/%s is missing: run make test, or first `make build/src/.fetched-capcc-test` "
          "(tests run without a network)" % name)


def gnu_hello():
    LIBS.start()
    try:
        build_and_run_hello()
    finally:
        LIBS.wait()


def build_and_run_hello():
    need_source("hello")
    libs = [os.path.join(SYSROOT_LIB, n) for n in ("libc.a", "libcaprt.a", "liblp.a", "liblwip.a")]
    key = cache_key(CAPCC, *libs)
    work = os.path.join(BUILD, "capcc-test", "hello-%s-%s" % (HELLO_VERSION, key))
    hello = os.path.join(work, "hello")
    if not os.path.exists(os.path.join(work, ".built")):
        shutil.rmtree(os.path.join(BUILD, "capcc-test"), ignore_errors=True)   # older keys
        shutil.copytree(os.path.join(BUILD, "src", "hello"), work, symlinks=True)
        # configure runs its test programs: binfmt hands them to capexec, which gives the
        # capsule the build directory as a volume and working directory (conftest.out).
        try:
            ok([CAPCTL, "binfmt", "install", "--name", BINFMT_NAME], "binfmt install")
            out = ok(["./configure", "CC=" + CAPCC], "hello: configure", cwd=work)
        finally:
            sh([CAPCTL, "binfmt", "remove", "--name", BINFMT_NAME])
        with open(os.path.join(work, "config.log"), errors="replace") as f:
            check("checking whether we are cross compiling\nconfigure:" in f.read() and
                  b"checking whether we are cross compiling... no" in out,
                  "configure did not run its test programs")
        ok(["make", "-j2"], "hello: make", cwd=work)
        open(os.path.join(work, ".built"), "w").close()
    with open(hello, "rb") as f:
        check_eq(f.read(8), b"CAPIMG\r\n", "hello's magic")
    check_eq(run_capsule(hello), (0, HELLO_OUT, b""), "hello")
    check_eq(run_capsule(hello, "--version"), (0, HELLO_VERSION_OUT, b""), "hello --version")


class SysrootLibs:
    """mk/sysroot-lib.sh zlib, then libevent, beside hello's build: configure scripts are
    serial, so on this 2-core box that halves a cold run.  Started and awaited within one
    test step (each step ends by killing whatever it left running)."""

    def __init__(self):
        self.proc, self.result = None, (1, b"not built: the sources are missing")

    def start(self):
        if all(os.path.exists(os.path.join(BUILD, "src", n, ".fetched")) for n in ("zlib", "libevent")):
            script = os.path.join(ROOT, "mk", "sysroot-lib.sh")
            self.proc = subprocess.Popen(["sh", "-c", 'sh "$1" zlib && sh "$1" libevent', "sh", script],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def wait(self):
        if self.proc:
            out = self.proc.communicate(timeout=500)[0]
            self.result, self.proc = (self.proc.returncode, out), None
        return self.result


LIBS = SysrootLibs()


def sysroot_lib(name, source, libs, want):
    need_source(name)
    rc, out = LIBS.result
    # one library may be there although the other failed: the script's stamp says which
    check(glob.glob(os.path.join(SYSROOT_LIB, ".sysroot-lib-%s-*" % name)),
          "mk/sysroot-lib.sh %s: exit %d: %s" % (name, rc, out.decode(errors="replace")[-600:]))
    d = tempdir("capcc-test.")
    write(os.path.join(d, "t.c"), source)
    ok([CAPCC, "-O2", "t.c", "-o", "t"] + libs, "capcc t.c " + " ".join(libs), cwd=d)
    check_eq(run_capsule(os.path.join(d, "t")), (0, want, b""), name + " program")
    if name == "libevent":   # configure found them in musl, and libevent uses them (mk/sysroot-lib.sh)
        with open(os.path.join(SYSROOT_LIB, "..", "include", "event2", "event-config.h")) as f:
            conf = f.read()
        for want_def in ("EVENT__HAVE_EVENTFD", "EVENT__HAVE_TIMERFD_CREATE"):
            check("#define %s 1" % want_def in conf, "libevent was configured without " + want_def)


def main():
    tap = Tap()
    tap.run("capcc: gcc's options, a.out, -M*, .s/.S, make CC=capcc", gcc_options)
    tap.run("capcc: one clear error each (missing library, -shared, C++, no input)", errors)
    tap.run("capctl binfmt: ./image runs as a program, then the entry is removed", binfmt_runs_images)
    tap.run("GNU hello %s from Debian source: configure CC=capcc (no other flag), make, runs" % HELLO_VERSION,
            gnu_hello)
    tap.run("zlib from Debian source into the sysroot: -lz round trip", sysroot_lib, "zlib", ZLIB_C,
            ["-lz"], b"zlib 1.2.13: 45 -> 21 -> 45 bytes: capsules capsules capsules capsules capsules\n")
    tap.run("libevent from Debian source into the sysroot, with eventfd and timerfd: -levent evbuffer, a "
            "timer on a timerfd, a loop woken from another thread", sysroot_lib, "libevent", LIBEVENT_C,
            ["-pthread", "-levent_pthreads", "-levent"],
            b"evbuffer: round trip 42, 0 left\nmethod epoll\ntimer fired 1 (timeout)\ndispatch done, fired 1\n"
            b"woken by another thread: yes\n")
    tap.done()


main()
