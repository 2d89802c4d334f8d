"""test_nginx.py: nginx 1.22.1 from Debian 12 source, built by its own configure with capcc, serves curl from a volume and continues a download and a keep-alive connection across a snapshot on disk and a live migration."""
# tests/run timeout: 900
#
# The source is fetched by make test (tests/build.mk: the tests have no network); the build
# is cached under build/servers-test, keyed by capcc and the sysroot libraries (zlib among
# them): a warm run rebuilds nothing.
import os
import re
import socket
import subprocess
import time

from caplib import (CAPRUN, Host, Tap, TestFailure, check, check_eq, connect, recv_exact, recv_line, run_tool,
                    snapshot, tempdir)
from srvlib import CAPCC, build, resume, sh

VERSION = "1.22.1"
MOUNT = "/srv/www"
CONF = """daemon off;
master_process off;
worker_processes 1;
error_log stderr info;
events { worker_connections 256; }
http {
    access_log logs/access.log;
    default_type application/octet-stream;
    types { text/html html; text/plain txt; }
    keepalive_timeout 600s;
    keepalive_requests 10000;
    gzip on;
    gzip_types text/plain;
    sendfile on;
    server {
        listen 80;
        root html;
    }
}
"""
INDEX = b"<html><body>nginx in a capsule</body></html>\n"
TEXT = b"".join(b"line %06d: the quick brown fox jumps over the lazy dog\n" % i for i in range(20000))
BIG_SIZE = 24 * 1024 * 1024 + 12345
IMAGE = []


def built():
    if not IMAGE:
        image, took = build("nginx", VERSION, ["zlib"], [
            (["./configure", "--with-cc=" + CAPCC, "--without-http_rewrite_module"], "configure"),
            (["make", "-j2"], "make")], "objs/nginx")
        print("# nginx built in %.1f s%s" % (took, " (cached)" if not took else ""))
        IMAGE.append(image)
    return IMAGE[0]


def www():
    """The volume: conf/nginx.conf, html/ (index, a text file, a big file), logs/."""
    top = tempdir("capsule-www.")
    for sub in ("conf", "html", "logs"):
        os.mkdir(os.path.join(top, sub))
    with open(os.path.join(top, "conf", "nginx.conf"), "w") as f:
        f.write(CONF)
    with open(os.path.join(top, "html", "index.html"), "wb") as f:
        f.write(INDEX)
    with open(os.path.join(top, "html", "words.txt"), "wb") as f:
        f.write(TEXT)
    with open(os.path.join(top, "html", "big.bin"), "wb") as f:
        f.write(os.urandom(BIG_SIZE))
    return top


def read(path):
    with open(path, "rb") as f:
        return f.read()


# nginx's default process model: a master (the capsule's pid 1) and two workers, each a process
# of the capsule accepting from the listener they inherited (docs/PROCESSES.md, section 4).
WORKERS_CONF = CONF.replace("master_process off;\nworker_processes 1;",
                            "master_process on;\nworker_processes 2;").replace(
    "access_log logs/access.log;", "log_format pid '$pid $status $body_bytes_sent \"$request\"';\n"
    "    access_log logs/access.log pid;")


def start(host, top, name="web", conf="conf/nginx.conf"):
    return host.capsule("nginx", image=built(), name=name, caprun_args=["-v", top + ":" + MOUNT],
                        args=["--", "-p", MOUNT + "/", "-c", conf, "-e", "stderr"]).start(
        app_ready=r"start worker process 3" if conf != "conf/nginx.conf" else None)


def with_workers(top):
    """conf/workers.conf beside nginx.conf: master_process on, worker_processes 2."""
    with open(os.path.join(top, "conf", "workers.conf"), "w") as f:
        f.write(WORKERS_CONF)
    return "conf/workers.conf"


def wrk(target, seconds, prefix=()):
    """wrk -c 8 for seconds against target: (requests, non-2xx/3xx responses, socket errors)."""
    code, out, err = run_tool(list(prefix) + ["wrk", "-t", "2", "-c", "8", "-d", "%ds" % seconds, target],
                              timeout=seconds + 60)
    check(code == 0, "wrk: exit %d: %s %s" % (code, out[-400:], err[-400:]))
    m = re.search(r"(\d+) requests in", out)
    check(m, "wrk's summary: %r" % out[-400:])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return int(m.group(1)), int(bad.group(1)) if bad else 0, sum(map(int, errs.groups())) if errs else 0


def worker_pids(top):
    """The capsule pids of the workers that logged requests in access.log (log_format pid)."""
    with open(os.path.join(top, "logs", "access.log")) as f:
        return sorted({int(l.split()[0]) for l in f if l.strip()})


def curl(args, what):
    code, out, err = run_tool(["curl", "-sS", "--max-time", "60"] + list(args), timeout=90)
    check(code == 0, "curl %s: exit %d: %s" % (what, code, err[-400:]))
    return out, err


def build_from_source():
    image = built()
    work = os.path.dirname(os.path.dirname(image))
    with open(os.path.join(work, "objs", "autoconf.err"), errors="replace") as f:
        log = f.read()
    # configure's run tests (auto/feature, ngx_feature_run=yes) ran the capsule programs
    check("checking for sysconf(_SC_NPROCESSORS_ONLN)" in log, "configure's log lacks its run tests")
    with open(os.path.join(work, "objs", "ngx_auto_config.h")) as f:
        conf = f.read()
    for want in ("NGX_HAVE_EPOLL", "NGX_HAVE_EVENTFD", "NGX_HAVE_SENDFILE", "NGX_ZLIB",
                 "NGX_HAVE_PR_SET_DUMPABLE"):   # prctl, which configure runs
        check("#define %s  1" % want in conf, "ngx_auto_config.h lacks %s" % want)
    rc, out, err = sh([CAPRUN, "--no-net", image, "--", "-v"], timeout=30)
    check_eq((rc, out, err), (0, b"", b"nginx version: nginx/%s\n" % VERSION.encode()), "nginx -v")


def serves_curl():
    top, host = www(), Host()
    cap = start(host, top)
    base = "http://%s/" % cap.addr
    d = tempdir("capsule-curl.")
    got = os.path.join(d, "big.bin")
    out, err = curl(["-v", base, base + "index.html", "-o", os.path.join(d, "a"),
                     "-o", os.path.join(d, "b")], "two URLs on one connection")
    check(read(os.path.join(d, "a")) == INDEX and read(os.path.join(d, "b")) == INDEX, "index.html")
    check("Re-using existing connection" in err, "curl did not keep the connection alive: %s" % err[-400:])
    t0 = time.monotonic()
    curl([base + "big.bin", "-o", got], "big.bin")
    took = time.monotonic() - t0
    check(read(got) == read(os.path.join(top, "html", "big.bin")), "big.bin is not byte-exact")
    print("# %d MiB by sendfile from the volume in %.2f s" % (BIG_SIZE >> 20, took))
    out, err = curl(["-r", "1000-1999", base + "big.bin", "-o", got], "a range")
    check(read(got) == read(os.path.join(top, "html", "big.bin"))[1000:2000], "range 1000-1999")
    out, err = curl(["-D", "-", "--compressed", base + "words.txt", "-o", got], "gzip")
    check(re.search(r"(?im)^content-encoding: gzip\r?$", out), "no gzip Content-Encoding: %r" % out)
    check(read(got) == TEXT, "words.txt through gzip is not exact")
    # 40 requests back to back on one raw keep-alive connection, long and short ones
    # alternating: each is read by one short recv, and the next must wake nginx again
    with connect(cap.addr, 80) as s:
        for i in range(40):
            path = "/index.html?%s" % ("x" * (200 if i % 2 else 0))
            status, h = get(s, path)
            check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX),
                     "keep-alive request %d" % i)
    out, err = curl(["-o", "/dev/null", "-w", "%{http_code}", base + "missing"], "404")
    check_eq(out, "404", "a missing file")
    with open(os.path.join(top, "logs", "access.log")) as f:
        log = f.read()
    check('"GET /big.bin HTTP/1.1" 200 %d ' % BIG_SIZE in log, "access.log on the volume: %r" % log[-300:])
    no_alerts(cap)


def alert_lines(text):
    """nginx's [alert], [crit] and [emerg] lines in text."""
    return [l for l in text.splitlines() if re.search(r"\[(alert|crit|emerg)\]", l)]


def no_alerts(cap, more=""):
    """nginx's error log (stderr, level info; and more, the log of where it moved to) has no
    [alert], [crit] or [emerg] line: every call it made (epoll, eventfd, socketpair for its
    EPOLLRDHUP probe; with workers, the channels the master passes them with SCM_RIGHTS;
    epoll_ctl for each connection it accepts) worked."""
    bad = alert_lines(cap.output_text() + "\n" + more)
    check(not bad, "nginx logged: %s" % "; ".join(bad[:3]))


def headers(sock):
    """The response head on a raw connection, as (status line, {lowercase name: value})."""
    status = recv_line(sock).decode().rstrip("\r\n")
    out = {}
    while True:
        line = recv_line(sock).decode().rstrip("\r\n")
        if not line:
            return status, out
        k, v = line.split(":", 1)
        out[k.strip().lower()] = v.strip()


def get(sock, path, wait=30):
    """One request on a kept connection; its response head (a bounded wait: a stalled
    nginx fails the test here, with the request named, not at the socket's long timeout)."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: capsule\r\n\r\n" % path.encode())
    before = sock.gettimeout()
    sock.settimeout(wait)
    try:
        return headers(sock)
    except socket.timeout:
        raise TestFailure("GET %s on a kept connection: no response head within %d s" % (path[:40], wait))
    finally:
        sock.settimeout(before)


def continues_across_snapshot(workers=False):
    top, host = www(), Host()
    cap = start(host, top, conf=with_workers(top) if workers else "conf/nginx.conf")
    big = read(os.path.join(top, "html", "big.bin"))
    d = tempdir("capsule-curl.")
    # a keep-alive connection that stops reading after 1 MiB of big.bin
    s = connect(cap.addr, 80, timeout=120)
    status, h = get(s, "/index.html")
    check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX), "first request")
    status, h = get(s, "/big.bin")
    check_eq((status, int(h["content-length"])), ("HTTP/1.1 200 OK", BIG_SIZE), "big.bin's head")
    head = recv_exact(s, 1 << 20)
    # and curl downloading big.bin slowly
    got = os.path.join(d, "big.bin")
    slow = subprocess.Popen(["curl", "-sS", "--max-time", "120", "--limit-rate", "8M",
                             "http://%s/big.bin" % cap.addr, "-o", got],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while (not os.path.exists(got) or os.path.getsize(got) < 2 << 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(os.path.exists(got) and os.path.getsize(got) >= 2 << 20, "curl did not get 2 MiB in 20 s")
    path = os.path.join(d, "web.snap")
    snap = snapshot(host, cap, path)
    at_snapshot = os.path.getsize(got)
    again = resume(host, path, volumes=[top + ":" + MOUNT])
    out, err = slow.communicate(timeout=120)
    check_eq((slow.returncode, err), (0, b""), "curl across the snapshot")
    check(at_snapshot < BIG_SIZE and read(got) == big, "curl's big.bin across the snapshot is not byte-exact")
    check(recv_exact(s, BIG_SIZE - len(head)) == big[len(head):] and head == big[:len(head)],
          "the rest of big.bin on the kept connection is not byte-exact")
    status, h = get(s, "/index.html")
    check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX),
             "the kept connection's next request")
    out, err = curl(["http://%s/index.html" % again.addr], "a new connection")
    check_eq(out.encode(), INDEX, "a new connection after resume")
    if workers:
        check_eq(len(again.capsule_pids()), 3, "host processes after the resume: the master and two workers")
    no_alerts(again)
    print("# snapshot %d MiB, frozen %.1f ms; curl had %.1f MiB of %d at the snapshot" % (
        snap["bytes"] >> 20, snap["frozen_ms"], at_snapshot / 2**20, BIG_SIZE >> 20))
    s.close()


def moves_live():
    """Live migration A -> C (caphostd --volume on C names the same directory) under an
    ordinary client behind the gateway G: its curl download and its kept connection finish
    byte-exact from the new host."""
    from miglib import Topology, migrate
    top = www()
    topo = Topology(hosts=("A", "C", "G"), gateway="G",
                    daemon_args={"C": ["--volume", top + ":" + MOUNT]}).start()
    a, c = topo["A"], topo["C"]
    cap = start(a, top, name="webm")
    big = read(os.path.join(top, "html", "big.bin"))
    d = tempdir("capsule-curl.")
    s = topo.client.connect(cap.addr, 80, timeout=60)
    status, h = get(s, "/big.bin")
    check_eq((status, int(h["content-length"])), ("HTTP/1.1 200 OK", BIG_SIZE), "big.bin's head")
    head = recv_exact(s, 1 << 20)
    got = os.path.join(d, "big.bin")
    slow = subprocess.Popen(topo.client.prefix + ["curl", "-sS", "--max-time", "120", "--limit-rate", "8M",
                                                  "http://%s/big.bin" % cap.addr, "-o", got],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while (not os.path.exists(got) or os.path.getsize(got) < 2 << 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(os.path.exists(got) and os.path.getsize(got) >= 2 << 20, "curl did not get 2 MiB in 20 s")
    mark = c.daemon.mark()
    j = migrate(topo, "webm", a, c)
    at_move = os.path.getsize(got)
    check(c.daemon.wait_for(r"capsule webm running at %s\b" % re.escape(cap.addr), 10, mark),
          "host C's caphostd never said 'capsule webm running': %s" % c.daemon.output_text()[-400:])
    out, err = slow.communicate(timeout=120)
    check_eq((slow.returncode, err), (0, b""), "curl across the move")
    check(at_move < BIG_SIZE and read(got) == big, "curl's big.bin across the move is not byte-exact")
    check(head == big[:len(head)] and recv_exact(s, BIG_SIZE - len(head)) == big[len(head):],
          "the rest of big.bin on the kept connection is not byte-exact")
    status, h = get(s, "/index.html")
    check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX),
             "the kept connection's next request, on host C")
    print("# moved A -> C: downtime %d ms, %d bytes; curl had %.1f MiB at the move" % (
        j["downtime_ms"], j["bytes"], at_move / 2**20))
    s.close()


def workers_serve_wrk():
    top, host = www(), Host()
    cap = start(host, top, conf=with_workers(top))
    check_eq(len(cap.capsule_pids()), 3, "host processes: the master and two workers")
    reqs, bad, errs = wrk("http://%s/index.html" % cap.addr, 3)
    no_alerts(cap)   # first: a failed call of nginx's is the likelier cause of a socket error
    check_eq((bad, errs), (0, 0), "wrk: responses that were not 200, socket errors (of %d)" % reqs)
    check(reqs > 100, "wrk made only %d requests" % reqs)
    d = tempdir("capsule-curl.")
    got = os.path.join(d, "big.bin")
    curl(["http://%s/big.bin" % cap.addr, "-o", got], "big.bin from a worker")
    check(read(got) == read(os.path.join(top, "html", "big.bin")), "big.bin from a worker is not byte-exact")
    with connect(cap.addr, 80) as s:
        for i in range(20):
            status, h = get(s, "/index.html")
            check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX),
                     "keep-alive request %d through a worker" % i)
    check_eq(worker_pids(top), [2, 3], "capsule pids of the workers that served (access.log's $pid)")
    no_alerts(cap)
    print("# wrk -c 8, 3 s: %d requests through 2 workers" % reqs)


def workers_move_live():
    """nginx's master and two workers move live A -> C under wrk's load and a kept download;
    every response is correct."""
    from miglib import Topology, migrate
    top = www()
    conf = with_workers(top)
    topo = Topology(hosts=("A", "C", "G"), gateway="G",
                    daemon_args={"C": ["--volume", top + ":" + MOUNT]}).start()
    a, c = topo["A"], topo["C"]
    cap = start(a, top, name="webw", conf=conf)
    big = read(os.path.join(top, "html", "big.bin"))
    s = topo.client.connect(cap.addr, 80, timeout=60)
    status, h = get(s, "/big.bin")
    check_eq((status, int(h["content-length"])), ("HTTP/1.1 200 OK", BIG_SIZE), "big.bin's head")
    head = recv_exact(s, 1 << 20)
    # Every FIN and RST on port 80 the client sees, kept to say why if wrk counts an error.
    # (Twice in CI wrk counted a read error: the capsule had closed a connection it had just
    # accepted, before its request.  nginx had logged "epoll_ctl(1, 6) failed (17: File
    # exists)": the runtime's epoll still held the registration of the connection closed just
    # before at that number, and the new one's file had the closed one's address.)
    pcap = os.path.join(tempdir("capsule-pcap."), "ends.pcap")
    sniff = subprocess.Popen(topo.client.prefix + [
        "dumpcap", "-q", "-i", "eth0", "-w", pcap,
        "-f", "tcp port 80 and (tcp[tcpflags] & (tcp-fin|tcp-rst) != 0)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30   # capturing once it has written the file's header
        while not (os.path.exists(pcap) and os.path.getsize(pcap)) and sniff.poll() is None \
                and time.time() < deadline:
            time.sleep(0.02)
        check(os.path.exists(pcap) and os.path.getsize(pcap), "dumpcap did not start capturing")
        load = subprocess.Popen(topo.client.prefix + ["wrk", "-t", "2", "-c", "8", "-d", "8s",
                                                      "http://%s/index.html" % cap.addr],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_load = time.time()   # wall clock, as the capture's times are
        time.sleep(2)   # wrk's load runs before, during and after the move
        j = migrate(topo, "webw", a, c)
        out, err = load.communicate(timeout=120)
    finally:
        sniff.terminate()
        sniff.wait()
    out = out.decode()
    check_eq(load.returncode, 0, "wrk's exit code (%s)" % err[-300:])
    m = re.search(r"(\d+) requests in", out)
    check(m and not re.search(r"Non-2xx or 3xx responses", out), "wrk: every response 200: %r" % out[-500:])
    if re.search(r"Socket errors", out):
        _, ends, _ = run_tool(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.time_epoch",
                               "-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.dstport",
                               "-e", "tcp.flags.str"])
        early = [l for l in ends.splitlines()   # before wrk's own ends at 8 s
                 if l and float(l.split()[0]) < t_load + 7.5]
        text = cap.output_text() + "\n" + c.daemon.output_text()
        said = alert_lines(text) + [l for l in text.splitlines()
                                    if re.search(r"\[(error|info|warn)\]", l) and "start worker" not in l]
        raise TestFailure("wrk: socket errors: %r; FIN/RST before wrk's end: %s; nginx said: %s; "
                          "migration: %s" % (out[-300:], early[:8] or "none", said[:8] or "nothing",
                                             j))
    check(head == big[:len(head)] and recv_exact(s, BIG_SIZE - len(head)) == big[len(head):],
          "the rest of big.bin on the kept connection is not byte-exact")
    status, h = get(s, "/index.html")
    check_eq((status, recv_exact(s, int(h["content-length"]))), ("HTTP/1.1 200 OK", INDEX),
             "the kept connection's next request, on host C")
    s.close()
    no_alerts(cap, c.daemon.output_text())
    print("# master + 2 workers moved A -> C under wrk: downtime %d ms, %d bytes; %s requests" % (
        j["downtime_ms"], j["bytes"], m.group(1)))


def main():
    tap = Tap()
    tap.run("nginx %s from Debian source: its ./configure --with-cc=capcc (run tests via binfmt), make; -v"
            % VERSION, build_from_source)
    tap.run("nginx serves curl from a volume: keep-alive, 24 MiB byte-exact by sendfile, a range, gzip, 404, "
            "40 requests on one kept connection, access.log", serves_curl)
    tap.run("nginx: snapshot to disk, caprun -v ... FILE: curl's download and a kept connection continue "
            "byte-exact", continues_across_snapshot)
    tap.run("nginx moves live to another host (caphostd --volume): curl's download and a kept connection "
            "finish byte-exact", moves_live)
    tap.run("nginx with master_process on and worker_processes 2: both workers accept from the inherited "
            "listener and serve wrk, a big file and a kept connection", workers_serve_wrk)
    tap.run("nginx with two workers: snapshot to disk and resume all three processes: curl's download "
            "and a kept connection served by a worker continue byte-exact",
            lambda: continues_across_snapshot(workers=True))
    tap.run("nginx's master and two workers move live to another host under wrk's load: every response "
            "correct, a kept download finishes byte-exact", workers_move_live)
    tap.done()


main()
