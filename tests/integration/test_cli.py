"""test_cli.py: the tools' command lines (issue 17): --help on stdout and exit 0, --version, one line naming an unknown option or a missing value, caprun's own exit codes 125-127; caprun -d with capctl logs and capctl stop; capctl keygen; capctl snapshot refusing to replace a file without --force; capctl ps in human units."""
import os
import re
import stat
import subprocess

from caplib import (BIN, CAPCTL, CAPRUN, IMAGES, Host, Tap, alive, check, check_eq, connect,
                    need_capsule_host, net_state, recv_line, tempdir)

TOOLS = ["caprun", "capctl", "capdird", "caphostd", "capdir"]
VERSION = open(os.path.join(os.path.dirname(__file__), "..", "..", "VERSION")).read().strip()


def run(argv, env=None, timeout=20):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def help_and_version():
    for tool in TOOLS:
        path = os.path.join(BIN, tool)
        for flag in ("--help", "-h"):
            code, out, err = run([path, flag])
            check_eq((code, err), (0, ""), "%s %s: (exit, stderr)" % (tool, flag))
            check(out.startswith("usage: %s" % tool), "%s %s printed %r" % (tool, flag, out[:80]))
        for flag in ("--version", "-V"):
            code, out, err = run([path, flag])
            check_eq((code, err), (0, ""), "%s %s: (exit, stderr)" % (tool, flag))
            check(re.fullmatch(r"%s \S+\n" % tool, out), "%s %s printed %r" % (tool, flag, out))
            check(out.split()[1].startswith(VERSION) or re.match(r"v?\d", out.split()[1]),
                  "%s %s: %r is neither VERSION (%s) nor a tag" % (tool, flag, out, VERSION))
    code, out, err = run([CAPCTL, "snapshot", "--help"])
    check_eq((code, out.splitlines()[0] if out else "", err),
             (0, "usage: capctl snapshot NAME -o FILE [--keep-running] [--force]", ""),
             "capctl snapshot --help")


def bad_options():
    for tool in TOOLS:
        code, out, err = run([os.path.join(BIN, tool), "--bogus"])
        check_eq((code, out, err), (125 if tool == "caprun" else 2, "",
                                    "%s: unknown option '--bogus' (%s --help lists them)\n" % (tool, tool)),
                 "%s --bogus" % tool)
    for argv, code, line in (
            (["caprun", "--name"], 125, "caprun: option '--name' needs a value"),
            (["caprun", "-x", "a.cap"], 125, "caprun: unknown option '-x' (caprun --help lists them)"),
            (["caprun"], 125, "caprun: no IMAGE.cap or SNAPSHOT given (caprun --help shows usage)"),
            (["capdird", "--listen"], 2, "capdird: option '--listen' needs a value"),
            (["caphostd", "--keys"], 2, "caphostd: option '--keys' needs a value"),
            (["capctl", "migrate", "x", "--to", "2", "--bogus"], 2,
             "capctl migrate: unknown option '--bogus' (capctl migrate --help lists them)"),
            (["capctl", "nosuch"], 2, "capctl: unknown command 'nosuch' (capctl --help lists them)")):
        got = run([os.path.join(BIN, argv[0])] + argv[1:])
        check_eq(got, (code, "", line + "\n"), " ".join(argv))


def caprun_exit_codes():
    d = tempdir(prefix="cli.")
    missing = os.path.join(d, "missing.cap")
    check_eq(run([CAPRUN, missing]), (127, "", "caprun: %s: No such file or directory\n" % missing),
             "caprun MISSING")
    bad = os.path.join(d, "bad.cap")
    with open(bad, "wb") as f:
        f.write(b"not an image")
    code, out, err = run([CAPRUN, bad])
    check_eq((code, out, len(err.splitlines())), (126, "", 1), "caprun NOT-AN-IMAGE (stderr %r)" % err)


def detach_logs_stop():
    host = Host()
    before = net_state()
    code, out, err = run([CAPRUN, "-d", "--name", "bg", os.path.join(IMAGES, "lifecycle.cap"),
                          "serve"], env=host.env)
    check_eq((code, out, err), (0, "bg\n", ""), "caprun -d: (exit, stdout, stderr)")
    pid = None
    try:
        code, out, err = host.capctl(["ps", "--json"])
        import json
        rows = json.loads(out)
        check_eq([r["name"] for r in rows], ["bg"], "capctl ps after caprun -d")
        pid = rows[0]["pid"]
        addr = rows[0]["ip"]
        # "running" was said before caprun -d returned: the capsule answers at once
        s = connect(addr, 9200)
        check_eq(recv_line(s), b"alive\n", "the detached capsule's reply")
        s.close()
        code, out, err = host.capctl(["logs", "bg"])
        check_eq(code, 0, "capctl logs bg (stderr %r)" % err)
        check("capsule bg running at %s\n" % addr in out, "capctl logs bg: %r" % out)
        code, out, err = host.capctl(["stop", "bg"])
        check_eq((code, out, err), (0, "capsule bg stopped\n", ""), "capctl stop bg")
        check(not alive(pid), "caprun %d still alive after capctl stop" % pid)
        check_eq(net_state(), before, "network state after capctl stop")
        code, out, err = host.capctl(["stop", "bg"])
        check_eq((code, err), (1, "capctl: stop: no capsule named bg on this host\n"), "stop again")
        code, out, err = host.capctl(["logs", "--follow", "bg"])   # ended: prints and returns
        check_eq(code, 0, "capctl logs -f of an ended capsule")
    finally:
        if pid and alive(pid):
            os.kill(pid, 9)


def keygen():
    d = tempdir(prefix="cli.")
    path = os.path.join(d, "cluster.keys")
    code, out, err = run([CAPCTL, "keygen", "--hosts", "3", "-o", path])
    check_eq((code, out, err), (0, "", ""), "capctl keygen --hosts 3 -o FILE")
    check_eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "key file mode")
    lines = [l for l in open(path).read().splitlines() if not l.startswith("#")]
    check_eq([l.split()[0] for l in lines], ["data", "1", "2", "3"], "key file's lines")
    check(all(re.fullmatch(r"[0-9a-f]{64}", l.split()[1]) for l in lines), "keys: %r" % lines)
    first = open(path).read()
    code, out, err = run([CAPCTL, "keygen", "--hosts", "3", "-o", path])
    check_eq((code, len(err.splitlines())), (1, 1), "keygen over an existing file (stderr %r)" % err)
    check(path in err and "--force" in err, "keygen's refusal: %r" % err)
    check_eq(open(path).read(), first, "the refused keygen left the file alone")
    check_eq(run([CAPCTL, "keygen", "--hosts", "3", "-o", path, "--force"])[0], 0, "keygen --force")
    check(open(path).read() != first, "--force made new keys")
    hk = os.path.join(d, "host.key")
    check_eq(run([CAPCTL, "keygen", "--host-key", "-o", hk])[:2],
             (0, "host snapshot key written to %s\n" % hk), "keygen --host-key")
    check_eq(os.path.getsize(hk), 32, "host key size")


def snapshot_force_and_ps_units():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="keep").start()
    code, out, err = host.capctl(["ps"])
    mem = out.splitlines()[1].split()[3]
    check(re.fullmatch(r"\d+(\.\d)?[KMGTP]|\d+B", mem), "capctl ps MEMORY %r (%r)" % (mem, out))
    path = os.path.join(d, "there.snap")
    open(path, "w").write("precious")
    code, out, err = host.capctl(["snapshot", "keep", "-o", path])
    check_eq((code, out, err), (1, "", "capctl: snapshot keep: %s exists (--force replaces it)\n" % path),
             "snapshot onto an existing file")
    check_eq(open(path).read(), "precious", "the file after the refusal")
    check(cap.proc.poll() is None, "the capsule stopped after the refused snapshot")
    code, out, err = host.capctl(["snapshot", "keep", "-o", path, "--force"])
    check_eq(code, 0, "snapshot --force (stderr %r)" % err)
    check_eq(cap.wait_exit(10), 0, "caprun after the snapshot")


def main():
    tap = Tap()
    tap.run("cli: --help and -h on stdout exit 0, --version and -V print the version", help_and_version)
    tap.run("cli: an unknown option or a missing value: one line naming it", bad_options)
    if need_capsule_host(tap, "cli"):
        tap.done()
    tap.run("cli: caprun exits 127 for a missing image, 126 for one that cannot run", caprun_exit_codes)
    tap.run("cli: caprun -d prints the name once running; capctl logs; capctl stop", detach_logs_stop)
    tap.run("cli: capctl keygen makes cluster and host keys, refuses to replace without --force",
            keygen)
    tap.run("cli: capctl snapshot -o refuses an existing file without --force; ps in human units",
            snapshot_force_and_ps_units)
    tap.done()


main()
