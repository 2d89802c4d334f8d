"""test_syslog.py: capdird and caphostd --syslog send their lines to /dev/log as RFC 3164 messages (facility daemon, ident and pid; stdout's lines at info, stderr's at err, the "PROG: " prefix dropped) and nothing to stdout or stderr; without --syslog they write their streams and send nothing.  /dev/log is a datagram socket of the test's, in a mount namespace of its own (an overlay on /dev)."""
import os
import re
import socket
import subprocess
import time

from caplib import (BIN, CAPCTL, Tap, check, check_eq, mount_tmpfs, need_capsule_host,
                    private_mounts, tempdir)

CAPDIRD = os.path.join(BIN, "capdird")
CAPHOSTD = os.path.join(BIN, "caphostd")
LOG_DAEMON, LOG_ERR, LOG_INFO = 3 << 3, 3, 6
# RFC 3164: <PRI>Mmm dd hh:mm:ss TAG[PID]: MSG (glibc's syslog(3) leaves out the HOSTNAME)
RFC3164 = re.compile(r"<(\d+)>([A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d) ([a-z]+)\[(\d+)\]: (.*)", re.S)

private_mounts()


def fake_dev_log():
    """A datagram socket at /dev/log, in our mount namespace only (an overlay over /dev
    whose writes land in a tmpfs; the machine's /dev is not touched)."""
    d = tempdir(prefix="syslog.")
    mount_tmpfs(d)
    os.mkdir(os.path.join(d, "upper"))
    os.mkdir(os.path.join(d, "work"))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=/dev,upperdir=%s,workdir=%s"
                    % (os.path.join(d, "upper"), os.path.join(d, "work")), "/dev"], check=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    s.settimeout(20)
    return s


def received(sock):
    """The next message on /dev/log: (priority, tag, pid, text); its time stamp checked."""
    raw = sock.recv(65536).decode()
    m = RFC3164.fullmatch(raw)
    check(m, "not an RFC 3164 message: %r" % raw)
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    check(abs(time.mktime(time.strptime(time.strftime("%Y ") + m.group(2), "%Y %b %d %H:%M:%S")) -
              time.mktime(time.strptime(time.strftime("%Y ") + stamp, "%Y %b %d %H:%M:%S"))) < 60,
          "time stamp %r, now %r" % (m.group(2), stamp))
    return int(m.group(1)), m.group(3), int(m.group(4)), m.group(5)


def start(argv):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def stop(p):
    p.terminate()
    out, err = p.communicate(timeout=20)
    return p.returncode, out.decode(), err.decode()


def daemons_log_to_syslog():
    log = fake_dev_log()
    d = tempdir(prefix="syslog-run.")
    keys = os.path.join(d, "cluster.keys")
    check_eq(subprocess.run([CAPCTL, "keygen", "--hosts", "2", "-o", keys]).returncode, 0, "keygen")
    dird = [CAPDIRD, "--listen", "127.0.0.1:7470", "--db", os.path.join(d, "dir.db"), "--keys", keys]
    listening = "capdird listening on 127.0.0.1:7470, 2 hosts, network 198.18.0.0/16"

    # Not on a terminal and no --syslog: its streams, and nothing to /dev/log (shown below:
    # the first message there is the next daemon's, from its pid).
    plain = start(dird)
    check_eq(plain.stdout.readline().decode(), listening + "\n", "capdird's first line on stdout")
    check_eq(stop(plain), (0, "", ""), "capdird without --syslog: (exit, rest of stdout, stderr)")

    dird_p = start(dird + ["--syslog"])
    check_eq(received(log), (LOG_DAEMON | LOG_INFO, "capdird", dird_p.pid, listening),
             "capdird --syslog: its listening line")
    hostd = [CAPHOSTD, "--host-id", "1", "--listen", "127.0.0.1", "--dir", "127.0.0.1:7470",
             "--keys", keys, "--run-dir", os.path.join(d, "run"), "--syslog"]
    hostd_p = start(hostd)
    prio, tag, pid, text = received(log)
    check_eq((prio, tag, pid), (LOG_DAEMON | LOG_INFO, "caphostd", hostd_p.pid),
             "caphostd --syslog: (priority, ident, pid) of %r" % text)
    check(re.fullmatch(r"caphostd 1 listening on 127\.0\.0\.1:\d+", text), "caphostd's line %r" % text)
    check_eq(stop(hostd_p), (0, "", ""), "caphostd --syslog: (exit, stdout, stderr)")
    check_eq(stop(dird_p), (0, "", ""), "capdird --syslog: (exit, stdout, stderr)")

    # stderr's lines: at err, without the "PROG: " prefix syslog's ident repeats.
    bad = start([CAPHOSTD, "--syslog", "--host-id", "1"])
    out, err = bad.communicate(timeout=20)
    check_eq((bad.returncode, out, err), (2, b"", b""), "caphostd --syslog with options missing")
    check_eq(received(log), (LOG_DAEMON | LOG_ERR, "caphostd", bad.pid,
                             "--host-id, --listen, --dir and --keys are required "
                             "(caphostd --help shows usage)"), "caphostd's error at LOG_ERR")
    log.close()


def main():
    tap = Tap()
    if need_capsule_host(tap, "syslog"):
        tap.done()
    tap.run("syslog: capdird and caphostd --syslog: RFC 3164 lines on /dev/log with ident and pid, "
            "info and err; without it, their streams", daemons_log_to_syslog)
    tap.done()


main()
