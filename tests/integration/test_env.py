"""test_env.py: a capsule's environment and identity: -e, --env-file, --dns, --user, /etc files, name lookups, uid/gid changes, across a snapshot."""
import os
import re
import subprocess

from caplib import (CAPRUN, IMAGES, READY_RE, Host, Tap, check, check_eq, connect, need_capsule_host,
                    recv_all, snapshot, tempdir)

IMAGE = os.path.join(IMAGES, "envinfo.cap")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSWD = ["root:x:0:0:root:/:/bin/sh", "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"]
GROUP = ["root:x:0:", "nobody:x:65534:", "nogroup:x:65534:"]


def run(args, env=None, timeout=30):
    """caprun ARGS to completion, stdin not a terminal; (exit code, output lines without the
    'running' line, which comes whenever the capsule happens to go idle)."""
    p = subprocess.run([CAPRUN] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout,
                       env=dict(os.environ if env is None else env))
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    return p.returncode, [l for l in lines if not READY_RE.fullmatch(l)]


def etc_file(path, lines):
    text = "".join(l + "\n" for l in lines)
    return ["file %s: regular 0644 %d bytes" % (path, len(text))] + ["| " + l for l in lines]


def report(name, ip, env, ids="uid=0 euid=0 suid=0 gid=0 egid=0 sgid=0 groups= "
                               "getuid=0 geteuid=0 getgid=0 getegid=0", dns=()):
    """What `envinfo report` prints for a capsule NAME at IP with environment env (a list)."""
    out = ["env " + e for e in env] + ["ids: " + ids]
    out += ["getpwnam root: root:0:0:/:/bin/sh",
            "getpwnam nobody: nobody:65534:65534:/nonexistent:/usr/sbin/nologin",
            "getpwnam nosuchuser: none", "getpwuid 65534: nobody",
            "getgrnam root: root:0", "getgrnam nogroup: nogroup:65534", "getgrnam nobody: nobody:65534",
            "getgrgid 0: root",
            "gethostname: " + name, "uname nodename: " + name, "sethostname: EPERM",
            # from /etc/hosts, with no name server anywhere (no resolv.conf unless --dns)
            "getaddrinfo localhost AF_INET: 127.0.0.1",
            "getaddrinfo localhost AF_UNSPEC: 127.0.0.1 ::1",
            "gethostbyname %s: %s %s" % (name, name, ip),
            "ls /etc: passwd group hosts hostname" + (" resolv.conf" if dns else ""),
            "stat /etc: directory"]
    out += etc_file("/etc/passwd", PASSWD) + etc_file("/etc/group", GROUP)
    out += etc_file("/etc/hosts", ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                                   "%s\t%s" % (ip, name)])
    out += etc_file("/etc/hostname", [name])
    if dns:
        out += etc_file("/etc/resolv.conf", ["nameserver " + d for d in dns])
    else:
        out += ["file /etc/resolv.conf: ENOENT"]
    return out + ["open /etc/passwd for writing: EROFS"]


def defaults():
    code, lines = run(["--name", "envtest", "--ip", "198.18.0.9", IMAGE, "report"])
    check_eq(code, 0, "exit code; output %r" % lines[-5:])
    want = report("envtest", "198.18.0.9", ["PATH=" + PATH, "HOSTNAME=envtest", "HOME=/"])
    check_eq(lines, want, "report of a capsule with the default environment")


def precedence():
    d = tempdir("capsule-env.")
    f1, f2 = os.path.join(d, "one.env"), os.path.join(d, "two.env")
    with open(f1, "w") as f:
        f.write("# defaults of the app\n\nFOO=from-file\r\n   BAR=file one\n"
                "HOME=/srv\nQUOTED=\"kept\" as = is \nFROMHOST\nGONE\n\t# indented comment\n")
    with open(f2, "w") as f:
        f.write("BAR=file two\nEMPTY=\n")
    env = dict(os.environ, FROMHOST="host value", ONHOST="h2")
    env.pop("GONE", None)
    env.pop("NOTONHOST", None)
    code, lines = run(["--name", "envprec", "--env-file", f1, "-e", "FOO=from-e", "--env-file", f2,
                       "-e", "ONHOST", "-e", "NOTONHOST", "-e", "NEW=x=y", "--env", "PATH=/bin",
                       IMAGE, "report"], env=env)
    check_eq(code, 0, "exit code; output %r" % lines[-5:])
    got = [l for l in lines if l.startswith("env ")]
    # defaults, then the files in order, then -e: a later setting replaces a name in place;
    # a NAME without '=' takes the host's value, and is left out if the host has none
    check_eq(got, ["env PATH=/bin", "env HOSTNAME=envprec", "env HOME=/srv", "env FOO=from-e",
                   "env BAR=file two", "env QUOTED=\"kept\" as = is ", "env FROMHOST=host value",
                   "env EMPTY=", "env ONHOST=h2", "env NEW=x=y"], "environment")


def bad_env():
    d = tempdir("capsule-env.")
    bad = os.path.join(d, "bad.env")
    with open(bad, "w") as f:
        f.write("# fine\nGOOD=1\nBAD NAME=x\n")
    noname = os.path.join(d, "noname.env")
    with open(noname, "w") as f:
        f.write("\n\n\n\n=value\n")
    cases = [
        (["--env-file", bad], "caprun: %s:3: variable name with whitespace or a control character" % bad),
        (["--env-file", noname], "caprun: %s:5: no variable name before '='" % noname),
        (["--env-file", os.path.join(d, "missing.env")],
         "caprun: %s: No such file or directory" % os.path.join(d, "missing.env")),
        (["--env-file", d], "caprun: %s: not a regular file (a directory)" % d),
        (["-e", "=x"], "caprun: -e =x: no variable name before '='"),
        (["--dns", "resolver.example"], "caprun: --dns resolver.example: not an IPv4 or IPv6 address"),
        (["--dns", "192.0.2.1", "--dns", "192.0.2.2", "--dns", "192.0.2.3", "--dns", "192.0.2.4"],
         "caprun: --dns 192.0.2.4: at most 3 name servers (musl's resolver reads no more)"),
        (["--user", "nobody"], "caprun: --user nobody: want UID[:GID], numbers (root is 0, nobody 65534)"),
        (["-e"], "caprun: option '-e' needs a value"),
    ]
    for args, want in cases:
        code, lines = run(args + ([IMAGE, "report"] if args != ["-e"] else []))
        check_eq((code, lines), (125, [want]), "caprun %s" % " ".join(args))


def dns():
    code, lines = run(["--name", "envdns", "--ip", "198.18.0.10", "--dns", "192.0.2.53",
                       "--dns", "2001:db8::53", IMAGE, "report"])
    check_eq(code, 0, "exit code; output %r" % lines[-5:])
    want = report("envdns", "198.18.0.10", ["PATH=" + PATH, "HOSTNAME=envdns", "HOME=/"],
                  dns=["192.0.2.53", "2001:db8::53"])
    check_eq(lines, want, "report with --dns")


def unknown_name_without_dns():
    """Only /etc/hosts answers: musl's query to 127.0.0.1 goes unanswered, EAI_AGAIN after 5 s."""
    code, lines = run([IMAGE, "lookup", "example.invalid"])
    check_eq((code, lines), (0, ["getaddrinfo example.invalid AF_INET: Try again"]),
             "an unknown name without --dns")


def identity_steps():
    code, lines = run([IMAGE, "ids"])
    root = "uid=0 euid=0 suid=0 gid=0 egid=0 sgid=0"
    nobody = "uid=65534 euid=65534 suid=65534 gid=65534 egid=65534 sgid=65534 groups= " \
             "getuid=65534 geteuid=65534 getgid=65534 getegid=65534"
    check_eq((code, lines), (0, [
        "start: %s groups= getuid=0 geteuid=0 getgid=0 getegid=0" % root,
        "setgroups(65534,0): ok",
        "getgroups: 2 65534 0",
        "seteuid(65534): ok",
        "now: uid=0 euid=65534 suid=0 gid=0 egid=0 sgid=0 groups=65534,0 "
        "getuid=0 geteuid=65534 getgid=0 getegid=0",
        "setgroups(none) as euid 65534: EPERM",
        "seteuid(0) back through the saved uid: ok",
        "setresgid(65534,65534,65534): ok",
        "setgroups(none): ok",
        "setuid(65534): ok",
        "now: " + nobody,
        "setuid(0): EPERM",
        "seteuid(0): EPERM",
        "setresuid(-1,-1,0): EPERM",
        "setgid(0): EPERM",
        "setuid(65534) again: ok",
        "end: " + nobody,
    ]), "identity steps")


NOBODY_IDS = ("uid=65534 euid=65534 suid=65534 gid=65534 egid=65534 sgid=65534 groups= "
              "getuid=65534 geteuid=65534 getgid=65534 getegid=65534")


def daemon_refuses_root():
    code, lines = run([IMAGE, "serve"])
    check_eq((code, lines), (1, ["envinfo: can't run as root without the -u switch"]),
             "a daemon started as root without -u")


def fetch_report(host, cap):
    s = host.connect(cap.addr, 7000)
    try:
        return recv_all(s).decode().splitlines()
    finally:
        s.close()


def daemon_drops_and_moves():
    """The daemon pattern (-u nobody: getpwnam, setgroups, setgid, setuid), then a snapshot to
    disk and a resume: environment and identity are in the capsule's memory and come back."""
    host, d = Host(), tempdir()
    cap = host.capsule("envinfo", name="envd", args=["serve", "-u", "nobody"],
                       caprun_args=["-e", "FOO=bar", "--dns", "192.0.2.53"])
    cap.start(app_ready=r"^envinfo: listening on 7000 as uid 65534$")
    want = report("envd", cap.addr, ["PATH=" + PATH, "HOSTNAME=envd", "HOME=/", "FOO=bar"],
                  ids=NOBODY_IDS, dns=["192.0.2.53"]) + ["setuid(0): EPERM"]
    check_eq(fetch_report(host, cap), want, "report before the snapshot")
    path = os.path.join(d, "envd.snap")
    snapshot(host, cap, path)
    # -e and its kin shape a fresh capsule only
    code, lines = run(["-e", "FOO=other", path], env=host.env)
    check_eq((code, lines), (125, ["caprun: -e: a resumed capsule keeps the environment and identity "
                                 "it started with (they are in its memory)"]), "caprun -e SNAPSHOT")
    again = host.resume(path, plain=True)
    check_eq(again.name, "envd", "name after resume")
    check_eq(fetch_report(host, again), want, "report after the resume")


def user_option():
    """caprun --user 65534: the capsule starts as nobody, so the daemon needs no -u."""
    host = Host()
    cap = host.capsule("envinfo", name="envu", args=["serve"], caprun_args=["--user", "65534"])
    cap.start(app_ready=r"^envinfo: listening on 7000 as uid 65534$")
    got = fetch_report(host, cap)
    check_eq([l for l in got if l.startswith("ids:") or l.startswith("setuid")],
             ["ids: " + NOBODY_IDS, "setuid(0): EPERM"], "ids of a capsule started with --user 65534")
    code, lines = run(["--user", "1000:50", IMAGE, "ids"])
    check(lines and lines[0].startswith("start: uid=1000 euid=1000 suid=1000 gid=50 egid=50 sgid=50 "),
          "caprun --user 1000:50: %r" % lines[:1])
    check_eq(lines[1], "setgroups(65534,0): EPERM", "setgroups as uid 1000")


def name_taken():
    """A second capsule of the same image gets the name envinfo-2: HOSTNAME, uname and /etc/hosts
    say the name it really got."""
    host = Host()
    first = host.capsule("envinfo", args=["serve"], caprun_args=["--user", "65534"]).start(
        app_ready=r"^envinfo: listening on 7000 as uid 65534$")
    check_eq(first.name, "envinfo", "name of the first capsule")
    code, lines = run([IMAGE, "report"], env=host.env)
    check_eq(code, 0, "exit code; output %r" % lines[-5:])
    check_eq([l for l in lines if "HOSTNAME" in l or "envinfo" in l][:4],
             ["env HOSTNAME=envinfo-2", "gethostname: envinfo-2", "uname nodename: envinfo-2",
              "gethostbyname envinfo-2: envinfo-2 198.18.0.3"], "the second capsule's name")


def daemon_migrates():
    """The same daemon moved live to another host: its environment and identity go with it."""
    from miglib import Topology, migrate
    topo = Topology(hosts=("A", "C", "G"), gateway="G").start()
    a, c = topo["A"], topo["C"]
    x = a.capsule("envinfo", name="envm", args=["serve", "-u", "nobody"],
                  caprun_args=["-e", "FOO=moved"]).start(
        app_ready=r"^envinfo: listening on 7000 as uid 65534$")

    def fetch():
        s = topo.client.connect(x.addr, 7000)
        try:
            return [l for l in recv_all(s).decode().splitlines()
                    if l.startswith("env ") or l.startswith("ids:") or l.startswith("setuid")]
        finally:
            s.close()
    want = ["env PATH=" + PATH, "env HOSTNAME=envm", "env HOME=/", "env FOO=moved",
            "ids: " + NOBODY_IDS, "setuid(0): EPERM"]
    check_eq(fetch(), want, "environment and identity before the move")
    mark = c.daemon.mark()
    migrate(topo, "envm", a, c)
    check(c.daemon.wait_for(r"capsule envm running at %s\b" % re.escape(x.addr), 10, mark),
          "host C's caphostd never said 'capsule envm running': %s" % c.daemon.output_text()[-400:])
    check_eq(fetch(), want, "environment and identity on the other host")


def main():
    tap = Tap()
    tests = [
        ("env: default environment, /etc files, users, localhost and the capsule's name resolve "
         "without DNS", defaults),
        ("env: --env-file then -e, later settings replace, NAME takes the host's value", precedence),
        ("env: bad --env-file line, -e, --dns, --user: one line naming file:line, exit 125", bad_env),
        ("env: --dns makes /etc/resolv.conf", dns),
        ("env: without --dns, a name not in /etc/hosts fails with EAI_AGAIN", unknown_name_without_dns),
        ("env: uid/gid changes follow Linux's rules; nobody cannot become root again",
         identity_steps),
        ("env: a daemon refuses root without -u", daemon_refuses_root),
        ("env: a daemon drops to nobody (-u nobody); env and identity survive snapshot and resume",
         daemon_drops_and_moves),
        ("env: caprun --user starts the capsule as that identity", user_option),
        ("env: a capsule named NAME-2 (NAME was taken) has that HOSTNAME", name_taken),
        ("env: env and identity move with a live migration", daemon_migrates),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
