"""test_logs.py: caprun -d's console log is bounded (NAME.log and NAME.log.1, --log-size each): a capsule printing many times the bound leaves both files within it, `capctl logs` prints the console's last bytes exactly, and `capctl logs -f` follows across the rotations to the end; a keeper killed from outside is replaced and the capsule runs on."""
import json
import os
import re
import signal
import subprocess
import time

from caplib import (CAPCTL, CAPRUN, IMAGES, Host, Tap, alive, check, check_eq, connect, descendants,
                    need_capsule_host, recv_line)

SIZE = 16384
LINES = 5000   # 32 bytes each: ten times the two files


def run(argv, env):
    p = subprocess.run(argv, capture_output=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def bounded_log():
    host = Host()
    code, out, err = run([CAPRUN, "-d", "--log-size", "16K", "--name", "chat",
                          os.path.join(IMAGES, "lifecycle.cap"), "chatter", str(LINES)], host.env)
    check_eq((code, out, err), (0, "chat\n", ""), "caprun -d --log-size 16K: (exit, stdout, stderr)")
    code, out, err = host.capctl(["ps", "--json"])
    row = json.loads(out)[0]
    pid, addr = row["pid"], row["ip"]
    follow = subprocess.Popen([CAPCTL, "logs", "-f", "chat"],
                              env=host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    try:
        # The follower has seen the console's start: what it prints next crosses rotations.
        first = follow.stdout.readline()
        check_eq(first, b"lifecycle: chatter waits on 9200\n", "capctl logs -f: its first line")
        s = connect(addr, 9200)
        check_eq(recv_line(s), b"done\n", "the capsule printed its lines")
        s.close()
        # The capsule wrote them to its console; the log keeper, another process, writes
        # them to the files when it has read them: wait for the last one to be there.
        newest = "lifecycle: line %07d of %d\nlifecycle: chatter done\n" % (LINES, LINES)

        def newest_last():
            code, out, err = host.capctl(["logs", "chat"])
            check_eq((code, err), (0, ""), "capctl logs chat while it runs")
            return out.endswith(newest)
        wait_for("capctl logs: the newest lines last (%r)" % newest, newest_last)
        code, out, err = host.capctl(["stop", "chat"])
        check_eq((code, out, err), (0, "capsule chat stopped\n", ""), "capctl stop chat")
        check(not alive(pid), "caprun %d after capctl stop" % pid)
        rest, ferr = follow.communicate(timeout=20)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    check_eq((follow.returncode, ferr), (0, b""), "capctl logs -f ended with its capsule")
    files = sorted(os.listdir(host.run_dir))
    check_eq(files, ["chat.log", "chat.log.1"], "the run directory after the stop")
    sizes = [os.path.getsize(os.path.join(host.run_dir, f)) for f in files]
    check(all(s <= SIZE for s in sizes), "file sizes %r over the bound %d" % (sizes, SIZE))
    check_eq(sizes[1], SIZE, "chat.log.1: a full file (16 KiB is 512 whole lines)")

    # The whole console, as the capsule and caprun wrote it; the log keeps its end exactly.
    lines = ["lifecycle: line %07d of %d\n" % (i, LINES) for i in range(1, LINES + 1)]
    code, out, err = host.capctl(["logs", "chat"])
    check_eq((code, err), (0, ""), "capctl logs chat after it ended")
    tail = "".join(lines[-(SIZE // 32 + 1):]) + "lifecycle: chatter done\n"
    check_eq(out[-len(tail):], tail, "the console's last lines, byte for byte")
    before = out[:-len(tail)]
    check(len(out) > SIZE and len(out) <= 2 * SIZE, "capctl logs printed %d bytes" % len(out))
    check_eq(before, "".join(lines[-(len(out) // 32):-(SIZE // 32 + 1)]),
             "everything before them: whole lines of the console, in order")
    check_eq(out, open(os.path.join(host.run_dir, "chat.log.1")).read() +
             open(os.path.join(host.run_dir, "chat.log")).read(), "capctl logs = NAME.log.1 + NAME.log")

    # The follower: every line once, in order, from the first to the last (a bounded log may
    # rotate twice between two of its looks: it then skips to the newest file, as tail -F).
    followed = (first + rest).decode()
    got = [int(m.group(1)) for m in re.finditer(r"^lifecycle: line (\d+) of", followed, re.M)]
    check(got and got[0] == 1 and got[-1] == LINES and all(a < b for a, b in zip(got, got[1:])),
          "capctl logs -f: line numbers %r...%r not increasing from 1 to %d" % (got[:3], got[-3:], LINES))
    check(followed.endswith(open(os.path.join(host.run_dir, "chat.log")).read()),
          "capctl logs -f ends with the whole of the last file")
    check_eq([p for p in descendants(os.getpid()) if alive(p)], [], "processes left")


def ticks_in(path):
    try:
        text = open(path).read()
    except OSError:
        return []
    return [int(n) for n in re.findall(r"^tick (\d+)$", text, re.M)]


def keepers_of(caprun_pid):
    """caprun's children that are caprun itself (its log keepers; the capsule is caploader)."""
    exe = os.path.realpath(CAPRUN)
    out = []
    for p in descendants(caprun_pid):
        try:
            if os.path.realpath("/proc/%d/exe" % p) == exe and alive(p):
                out.append(p)
        except OSError:
            pass
    return out


def wait_for(what, cond, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        check(time.monotonic() < deadline, "after %d s: %s" % (timeout, what))
        time.sleep(0.02)   # bounded poll of another process's files


def keeper_killed():
    host = Host()
    code, out, err = run([CAPRUN, "-d", "--no-net", "--name", "tk",
                          os.path.join(IMAGES, "ticker.cap")], host.env)
    check_eq((code, out, err), (0, "tk\n", ""), "caprun -d ticker: (exit, stdout, stderr)")
    code, out, err = host.capctl(["ps", "--json"])
    rows = json.loads(out)
    check_eq([(r["name"], r["ip"], r["state"]) for r in rows], [("tk", None, "running")],
             "capctl ps --json of a capsule without a network")
    pid = rows[0]["pid"]
    log = os.path.join(host.run_dir, "tk.log")
    try:
        for round_ in range(3):
            old = wait_for("a log keeper under caprun %d" % pid, lambda: keepers_of(pid))
            check_eq(len(old), 1, "log keepers under caprun")
            seen = len(ticks_in(log))
            os.kill(old[0], signal.SIGKILL)
            new = wait_for("a new keeper after killing %d" % old[0],
                           lambda: [k for k in keepers_of(pid) if k != old[0]])
            wait_for("ticks after the new keeper %d" % new[0], lambda: len(ticks_in(log)) > seen + 10)
            check(alive(pid), "caprun %d after its keeper was killed" % pid)
        code, out, err = host.capctl(["stop", "tk"])
        check_eq((code, out, err), (0, "capsule tk stopped\n", ""), "capctl stop tk")
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    # Every tick once, in order.  A keeper killed between its read of the pipe and its
    # write loses what it had read (one tick here): at most one gap per kill.
    got = ticks_in(log)
    gaps = [(a, b) for a, b in zip(got, got[1:]) if b != a + 1]
    check(len(got) > 30 and got[0] == 1 and all(b > a for a, b in zip(got, got[1:])) and
          len(gaps) <= 3, "the log's ticks are not 1..N in order with at most one gap per "
          "kill: %r" % gaps[:5])
    check_eq([p for p in descendants(os.getpid()) if alive(p)], [], "processes left")


def bad_sizes():
    host = Host()
    image = os.path.join(IMAGES, "lifecycle.cap")
    for size in ("1K", "2G", "12Q", "-5", ""):
        code, out, err = run([CAPRUN, "-d", "--log-size", size, image, "serve"], host.env)
        check_eq((code, out, err), (125, "", "caprun: --log-size %s: must be 4K..1G\n" % size),
                 "caprun --log-size %r" % size)
    code, out, err = run([CAPRUN, "--log-size", "64K", image, "serve"], host.env)
    check_eq((code, err), (125, "caprun: --log-size: only a detached capsule (-d) keeps a log "
                                "(caprun --help shows usage)\n"), "--log-size without -d")


def main():
    tap = Tap()
    if need_capsule_host(tap, "logs"):
        tap.done()
    tap.run("logs: a console ten times the bound: two files within it, capctl logs prints its "
            "last bytes exactly, -f follows across rotations", bounded_log)
    tap.run("logs: the log keeper killed three times: a new one takes over each time, the "
            "capsule runs on, the log holds its ticks in order (a kill loses at most what that keeper "
            "had read)", keeper_killed)
    tap.run("logs: --log-size out of range, or without -d: exit 125, one line", bad_sizes)
    tap.done()


main()
