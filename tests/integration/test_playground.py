"""test_playground.py: `make playground` (tests/playground.py) starts its cluster, prints a working shell line for every host, runs HOST COMMAND at its prompt (capctl, a client's curl, a live migration), and on `exit` or Ctrl-C leaves no process, run directory or bridge behind.
"""
import os
import re
import signal
import subprocess
import sys
import threading

from topolib import Tap, check, check_eq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYGROUND = os.path.join(ROOT, "tests", "playground.py")
HOSTS = ("A", "B", "C", "G", "client", "lab")


def diag(text):
    print("# " + text, flush=True)


def start():
    return subprocess.Popen([sys.executable, "-u", PLAYGROUND], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_until(p, marker, out, timeout=90):
    """Collect p's output lines into out until one contains marker (bounded)."""
    done = threading.Event()

    def reader():
        for line in p.stdout:
            out.append(line)
            if marker in line:
                done.set()
                return
        done.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    done.wait(timeout)
    check(any(marker in l for l in out), "playground never printed %r; output: %s" % (
        marker, "".join(out)[-1500:]))
    return t


def shells(text):
    """{host: (netns path, run dir or None)} from the printed nsenter lines."""
    found = {}
    for name in HOSTS:
        m = re.search(r"^ +nsenter --net=(/proc/\d+/ns/net) env (?:CAPSULE_RUN_DIR=(\S+) )?"
                      r"\"PATH=\S+:\$PATH\" PS1='\[%s\] \\w# ' bash --norc$" % re.escape(name),
                      text, re.M)
        check(m is not None, "no shell line for %s in %r" % (name, text[-2000:]))
        found[name] = (m.group(1), m.group(2))
    return found


def check_gone(found, text):
    """Nothing the playground made is left: run directories, processes, the bridge."""
    for name, (_, run_dir) in found.items():
        if run_dir:
            check(not os.path.exists(run_dir), "host %s's run directory %s is left" % (
                name, run_dir))
    dirs = [d for _, d in found.values() if d]
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
            with open("/proc/%s/environ" % pid, "rb") as f:   # caprun and the capsules
                env = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if any(d in cmd or d in env for d in dirs) or PLAYGROUND in cmd:
            left.append((pid, cmd.replace("\0", " ")))
    check_eq(left, [], "processes left by the playground")
    p = subprocess.run(["ip", "link", "show", "capsw"], capture_output=True)
    check(p.returncode != 0, "the bridge capsw is left")
    check(text.rstrip().endswith("done"), "the playground's last line: %r" % text[-200:])


def session():
    p = start()
    out = []
    read_until(p, "Commands here:", out).join(5)
    text = "".join(out)
    found = shells(text)
    # The shell line really enters host A: same namespace, its caphostd's run directory.
    ns_a, run_a = found["A"]
    q = subprocess.run(["nsenter", "--net=" + ns_a, "env", "CAPSULE_RUN_DIR=" + run_a,
                        os.path.join(ROOT, "build", "bin", "capctl"), "ps"],
                       capture_output=True, text=True, timeout=30)
    check_eq(q.returncode, 0, "capctl ps through A's shell line: %r" % q.stderr)
    check(re.search(r"^web +198\.18\.0\.2 +running", q.stdout, re.M), "A's ps: %r" % q.stdout)
    cmds = ("A capctl ps\n"
            "client curl -s http://198.18.0.2/\n"
            "B capctl migrate count --to 3\n"
            "C capctl ps\n"
            "nosuchhost true\n"
            "exit\n")
    rest, _ = p.communicate(cmds, timeout=120)
    text += rest
    check_eq(p.returncode, 0, "playground exit status")
    check(re.search(r"^playground> Hello from capsule 198\.18\.0\.2: 1 requests served",
                    rest, re.M), "curl through the gateway: %r" % rest[-1500:])
    check(re.search(r"capsule count migrated from host 2 to host 3", rest),
          "migration at the prompt: %r" % rest[-1500:])
    check(re.search(r"^count +198\.18\.0\.3 +running", rest, re.M), "C's ps: %r" % rest[-800:])
    check("HOST COMMAND..., with HOST one of A, B, C, G, client, lab" in rest,
          "unknown host not explained: %r" % rest[-800:])
    check_gone(found, text)
    diag("exit: %d shell lines, curl, a migration, everything removed" % len(found))


def interrupted():
    p = start()
    out = []
    reader = read_until(p, "Commands here:", out)
    reader.join(5)
    found = shells("".join(out))
    p.send_signal(signal.SIGINT)   # Ctrl-C at the prompt
    rest, _ = p.communicate(timeout=60)
    check_eq(p.returncode, 0, "playground exit status after Ctrl-C")
    check_gone(found, "".join(out) + rest)


def main():
    tap = Tap()
    tap.run("playground: shell lines for A B C G client lab enter their namespaces; HOST COMMAND "
            "runs capctl, curl through the gateway and a live migration; exit removes everything",
            session)
    tap.run("playground: Ctrl-C at the prompt removes everything", interrupted)
    tap.done()


main()
