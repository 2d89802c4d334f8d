"""test_memcached.py: memcached 1.6.18 from Debian 12 source, built by its own autotools with capcc, serves libmemcached-tools and continues across a snapshot on disk and a live migration."""
# tests/run timeout: 600
#
# The source is fetched by make test (tests/build.mk: the tests have no
# network); the build is cached under build/servers-test, keyed by capcc and the sysroot
# libraries (libevent among them): a warm run rebuilds nothing.
import os
import re

from caplib import (CAPRUN, Host, Tap, check, check_eq, connect, recv_line, snapshot, tempdir)
from srvlib import CAPCC, build, ok, sh

VERSION = "1.6.18"
PORT = 11211
ARGS = ["--", "-u", "root", "-p", str(PORT), "-U", "0", "-m", "64", "-t", "4", "-c", "256"]
VALUE = bytes((i * 31 + (i >> 8)) & 0xff for i in range(200 * 1024 + 7))   # several TCP segments
IMAGE = []
SHOW = ("curr_items", "cmd_get", "cmd_set", "get_hits", "total_connections", "threads")


def built():
    if not IMAGE:
        image, took = build("memcached", VERSION, ["libevent"], [
            (["./configure", "CC=" + CAPCC], "configure"),
            (["make", "-j2", "memcached"], "make")], "memcached")
        print("# memcached built in %.1f s%s" % (took, " (cached)" if not took else ""))
        IMAGE.append(image)
    return IMAGE[0]


def build_from_source():
    image = built()
    work = os.path.dirname(image)
    with open(os.path.join(work, "config.log"), errors="replace") as f:
        log = f.read()
    check(re.search(r"checking whether we are cross compiling\n(configure:\d+: .*\n)*?configure:\d+: result: no\n", log)
          and re.search(r"checking for libevent directory\n(configure:\d+: .*\n)*?configure:\d+: result: \(system\)\n",
                        log),
          "configure did not run its test programs or did not find the sysroot's libevent")
    rc, out, err = sh([CAPRUN, "--no-net", image, "--", "-V"], timeout=30)
    check_eq((rc, out, err), (0, b"memcached %s\n" % VERSION.encode(), b""), "memcached -V")


def start(host, name="mc"):
    return host.capsule("memcached", image=built(), name=name, args=ARGS).start()


def tool(argv, what):
    """A libmemcached-tools client against the capsule; its stdout."""
    return ok(argv, what, timeout=60)


def stats(sock):
    """`stats` on an open text-protocol connection, as a dict."""
    sock.sendall(b"stats\r\n")
    out = {}
    while True:
        line = recv_line(sock).decode().rstrip("\r\n")
        if line == "END":
            return out
        check(line.startswith("STAT "), "stats line %r" % line)
        _, k, v = line.split(" ", 2)
        out[k] = v


def command(sock, line):
    sock.sendall(line.encode() + b"\r\n")
    return recv_line(sock).decode().rstrip("\r\n")


def memccat(d, servers, key):
    """memccat --file: the value exactly (on stdout it would add a newline)."""
    out = os.path.join(d, "got-" + key)
    tool(["memccat", servers, "--file=" + out, key], "memccat " + key)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def memcstat(addr):
    out = tool(["memcstat", "--servers=" + addr], "memcstat").decode()
    return dict(l.strip().split(": ", 1) for l in out.splitlines()[1:] if ": " in l)


def real_clients():
    host, d = Host(), tempdir("capsule-mc.")
    cap = start(host)
    servers = "--servers=" + cap.addr
    st = memcstat(cap.addr)
    check_eq((st.get("version"), st.get("curr_items"), st.get("libevent")),
             ("1.6.18", "0", "2.1.12-stable"), "memcstat before any set")
    path = os.path.join(d, "blob")
    with open(path, "wb") as f:
        f.write(VALUE)
    tool(["memccp", "--binary", servers, path], "memccp --binary blob")   # the binary protocol
    check(memccat(d, servers, "blob") == VALUE, "memccat blob is not byte-exact")
    before = memcstat(cap.addr)
    tool(["memcslap", servers, "--test=mget", "--concurrency=4", "--execute-number=500"],
         "memcslap")   # sets 500 random keys, then 4 threads (connections) get all 500 at once
    st = memcstat(cap.addr)
    print("# memcstat after memcslap: " + ", ".join("%s %s" % (k, st.get(k)) for k in SHOW))
    delta = tuple(int(st[k]) - int(before[k]) for k in ("cmd_set", "cmd_get", "get_hits", "curr_items"))
    check_eq(delta, (500, 4 * 500, 4 * 500, 500), "memcslap's sets, gets, hits and new items")
    check(memccat(d, servers, "blob") == VALUE, "blob after memcslap is not byte-exact")


def continues_across_snapshot():
    host, d = Host(), tempdir("capsule-mc.")
    cap = start(host)
    servers = "--servers=" + cap.addr
    blob = os.path.join(d, "blob")
    with open(blob, "wb") as f:
        f.write(VALUE)
    tool(["memccp", servers, blob], "memccp blob")
    s = connect(cap.addr, PORT, timeout=120)
    s.sendall(b"set counter 0 0 1\r\n0\r\n")
    check_eq(recv_line(s), b"STORED\r\n", "set counter")
    check_eq([command(s, "incr counter 1") for _ in range(5)], ["1", "2", "3", "4", "5"], "incr before")
    before = stats(s)
    check_eq(before["curr_items"], "2", "curr_items before the snapshot")
    path = os.path.join(d, "mc.snap")
    snapshot(host, cap, path)
    s.sendall(b"incr counter 1\r\n")        # sent while the capsule is on disk
    again = host.resume(path, plain=True)    # caprun mc.snap
    check_eq(recv_line(s), b"6\r\n", "reply to the incr sent while on disk")
    check_eq([command(s, "incr counter 1") for _ in range(3)], ["7", "8", "9"], "incr after resume")
    after = stats(s)
    check_eq((after["curr_items"], after["curr_connections"], after["pid"]),
             (before["curr_items"], before["curr_connections"], before["pid"]),
             "curr_items, curr_connections, pid across the snapshot")
    check_eq(int(after["cmd_get"]) - int(before["cmd_get"]), 0, "cmd_get across the snapshot")
    check(int(after["uptime"]) >= int(before["uptime"]), "uptime went back: %r -> %r" % (
        before["uptime"], after["uptime"]))
    check(memccat(d, servers, "blob") == VALUE, "blob after resume is not byte-exact")
    check_eq(memccat(d, servers, "counter"), b"9", "counter seen by memccat")
    check_eq(memcstat(again.addr)["curr_items"], "2", "memcstat curr_items after resume")
    check_eq(command(s, "incr counter 1"), "10", "the kept connection after the new ones")
    s.close()


def moves_live():
    """Live migration A -> C under an ordinary client that reaches the capsule through the
    gateway G: the client's connection keeps its counter, libmemcached-tools on the client
    see the same items on the new host."""
    from miglib import Topology, migrate
    topo = Topology(hosts=("A", "C", "G"), gateway="G").start()
    a, c = topo["A"], topo["C"]
    cap = a.capsule("memcached", image=built(), name="mcm", args=ARGS).start()
    d = tempdir("capsule-mc.")
    blob = os.path.join(d, "blob")
    with open(blob, "wb") as f:
        f.write(VALUE)
    servers = "--servers=" + cap.addr

    def client_tool(argv, what):
        code, out, err = topo.client.run(argv, timeout=60)
        check(code == 0, "%s on the client: exit %d: %s" % (what, code, err[-300:]))
        return out
    client_tool(["memccp", servers, blob], "memccp blob")
    s = topo.client.connect(cap.addr, PORT, timeout=60)
    s.sendall(b"set counter 0 0 1\r\n0\r\n")
    check_eq(recv_line(s), b"STORED\r\n", "set counter")
    check_eq([command(s, "incr counter 1") for _ in range(3)], ["1", "2", "3"], "incr before the move")
    mark = c.daemon.mark()
    j = migrate(topo, "mcm", a, c)
    check(c.daemon.wait_for(r"capsule mcm running at %s\b" % re.escape(cap.addr), 10, mark),
          "host C's caphostd never said 'capsule mcm running': %s" % c.daemon.output_text()[-400:])
    check_eq(cap.wait_exit(10), 0, "exit status of the source caprun")
    check_eq([command(s, "incr counter 1") for _ in range(3)], ["4", "5", "6"], "incr after the move")
    check_eq(stats(s)["curr_items"], "2", "curr_items after the move")
    out = os.path.join(d, "got")
    client_tool(["memccat", servers, "--file=" + out, "blob"], "memccat blob")
    with open(out, "rb") as f:
        check(f.read() == VALUE, "blob after the move is not byte-exact")
    print("# moved A -> C: downtime %d ms, %d bytes" % (j["downtime_ms"], j["bytes"]))
    s.close()


def main():
    tap = Tap()
    tap.run("memcached %s from Debian source: ./configure CC=capcc (no other flag), make; -V" % VERSION,
            build_from_source)
    tap.run("memcached serves memccp, memccat, memcslap, memcstat (byte-exact 200 KiB value)", real_clients)
    tap.run("memcached: snapshot to disk, caprun FILE: the same connection's incr continues, items intact",
            continues_across_snapshot)
    tap.run("memcached moves live to another host under its client: the connection's incr continues, "
            "items intact", moves_live)
    tap.done()


main()
