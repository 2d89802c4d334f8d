"""test_gateway_restart.py: the gateway's caphostd is killed (kill -9) while it holds bytes it acknowledged for a frozen capsule's ordinary client, and restarted like a supervisor would: the stream continues byte-exact after the capsule runs again, with no RST, whether the capsule resumes after the restart or while the gateway is down.

Topology: hosts A B G (G the gateway) + the ordinary client, X = echo on A.
The client streams numbered lines through G to X and checks every echo.

1. X is saved to disk; G holds the client's connection and acknowledges the
   client's bytes in X's place (counter hold_bytes).  G's caphostd gets
   SIGKILL, its state file stays in RUN_DIR/gateway-holds; it restarts with
   the same arguments and run directory, reloads the hold (hold_reloaded),
   and X resumes on B: every line comes back, the acknowledged ones too.
2. X (now on B) is saved again, G holds and acknowledges, G is killed, X
   resumes on A while G is down (A resends its FLUSH: ctl_resent), then G
   restarts: the stream goes on, byte-exact.
"""
import os
import socket

from topolib import (LineStream, Sniffer, Tap, Topology, check, check_eq, daemon_stats, rsts,
                     snapshot, tempdir, wait_counter)

NAME = "gateway restart: kill -9 while holding acknowledged bytes, restart, the stream continues " \
       "byte-exact (resume after the restart, and resume while the gateway is down)"


def diag(text):
    print("# " + text, flush=True)


def established(topo, dst):
    code, out, err = topo.client.run(["ss", "-Htn", "state", "established", "dst", dst])
    check(code == 0, "ss: %s" % err)
    return {int(l.split()[2].rsplit(":", 1)[1]) for l in out.splitlines() if len(l.split()) >= 4}


def hold_file(g, ip):
    return os.path.join(g.run_dir, "gateway-holds", ip)


def hold_file_read_around(g, ip):
    """The gateway maps its hold file MADV_RANDOM ('rr' in smaps' VmFlags): a first touch of
    the sparse file must not read (zero) the 32 pages around it, at a capsule's freeze."""
    path = hold_file(g, ip)
    with open("/proc/%d/smaps" % g.daemon.proc.pid) as f:
        blocks = f.read().split(path + "\n")
    check_eq(len(blocks), 2, "mappings of %s in the gateway" % path)
    flags = blocks[1].split("VmFlags:")[1].split("\n")[0].split()
    check("rr" in flags, "hold file mapped without MADV_RANDOM: VmFlags %s" % flags)
    _, out, _ = g.run(["fincore", "--noheadings", "--raw", "--output", "PAGES", path])
    check(int(out.split()[0]) <= 16, "hold file: %s pages in the page cache" % out.strip())


def kill_while_holding(topo, g, x_ip, stream):
    """G acknowledges some of the client's bytes in X's place; then kill -9; its state file stays."""
    held = wait_counter(g, "hold_bytes", 400)   # ten lines or more, acknowledged by G alone
    check(os.path.exists(hold_file(g, x_ip)), "no %s while holding" % hold_file(g, x_ip))
    hold_file_read_around(g, x_ip)
    sent = stream.sent
    g.kill_daemon()
    diag("gateway killed holding %d acknowledged bytes; client sent %d lines, got %d back" % (
        held, sent, stream.got))
    check(os.path.exists(hold_file(g, x_ip)), "the hold file went with the killed gateway")
    return sent


def restart(g, x_ip):
    g.restart_daemon()
    st = daemon_stats(g)
    check_eq((st.get("hold_reloaded"), st.get("hold_file_bad")), (1, 0),
             "hold files reloaded, refused by the restarted gateway")
    _, links, _ = g.run(["ip", "-o", "link", "show", "capgw"])
    check("capgw" in links, "no capgw after the restart: %r" % links)
    _, routes, _ = g.run(["ip", "route", "show"])
    check("198.18.0.0/16 dev capgw" in routes, "no capsule route via capgw: %r" % routes)


def gateway_restart():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b, g = topo["A"], topo["B"], topo["G"]
    d = tempdir()
    x = a.capsule("echo", name="x").start()
    sniff = Sniffer("eth0", topo.client)
    sock = topo.client.connect(x.addr, 7)
    port = sock.getsockname()[1]
    stream = LineStream(sock, "restart", rate=0.005)
    stream.wait_got(100, 30)

    # 1: killed while holding; restarted; then X resumes (on B)
    path = os.path.join(d, "x1.snap")
    snapshot(a, x, path)
    sent = kill_while_holding(topo, g, x.addr, stream)
    restart(g, x.addr)
    check(port in established(topo, x.addr), "client connection not ESTABLISHED after the restart")
    x = b.resume(path)
    stream.wait_got(sent + 50, 30)
    check(not os.path.exists(hold_file(g, x.addr)), "hold file left after the release")
    diag("case 1: %d lines back after the resume on B" % stream.got)

    # 2: killed while holding; X resumes (on A) while the gateway is down; then it restarts
    path = os.path.join(d, "x2.snap")
    snapshot(b, x, path)
    sent = kill_while_holding(topo, g, x.addr, stream)
    resent0 = daemon_stats(a).get("ctl_resent", 0)
    x = a.resume(path)
    # A resends its FLUSH unanswered (50, 100, ... 800 ms apart): the gateway is down for seconds
    wait_counter(a, "ctl_resent", resent0 + 5)
    restart(g, x.addr)
    stream.wait_got(sent + 50, 30)
    check(not os.path.exists(hold_file(g, x.addr)), "hold file left after the release")
    st = daemon_stats(a)
    check_eq(st.get("ctl_given_up"), 0, "control messages given up on host A")
    diag("case 2: %d lines back after the resume on A; A resent %d control messages" % (
        stream.got, st.get("ctl_resent")))

    n = stream.finish(30)
    check_eq(stream.got, n, "lines back against lines sent")
    check_eq(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0, "client socket error")
    check_eq(rsts(sniff.snapshot()), [], "RST segments on the client's link")
    diag("%d lines, byte-exact; longest wait for a line %.1f s" % (n, stream.longest_stall[0]))
    sock.close()


def main():
    tap = Tap()
    tap.run(NAME, gateway_restart)
    tap.done()


main()
