"""playground.py: `make playground`: a small capsule cluster of network namespaces that stays up for exploring (hosts A, B, C, gateway G, the directory, a client, three capsules); prints how to get a shell on each and what to try; removes everything on exit.

Everything lives inside the namespace `make playground` made (unshare -n):
the bridge, the hosts' namespaces, their veths, the directory.  Addresses
come from 198.18.0.0/15 (capsules 198.18.0.0/16, hosts 198.19.0.0/24), so
nothing reaches a real network.  Typing `exit` (or Ctrl-D, Ctrl-C, or a
SIGTERM) stops every process the playground started and removes every
namespace, device and file it made (tests/integration/caplib.py: stop_all).
"""
import os
import shlex
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
from miglib import CountClient, Topology, stop_all  # noqa: E402
from topolib import CLIENT_IP, DIR_IP  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")


def say(text=""):
    print(text, flush=True)


def env_of(host):
    """The environment a shell on host needs: its run directory, the tools on PATH."""
    return {"CAPSULE_RUN_DIR": host.run_dir, "PATH": BIN + ":" + os.environ.get("PATH", "")}


def shell_line(ns_path, env, name):
    """The command that gives a person a shell in a namespace (from any terminal, as root)."""
    assigns = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items())
                       if k != "PATH")
    assigns = (assigns + " " if assigns else "") + '"PATH=%s:$PATH"' % BIN
    return "nsenter --net=%s env %s PS1='[%s] \\w# ' bash --norc" % (ns_path, assigns, name)


def run_in(prefix, env, words):
    """One command typed at the prompt, in a host's namespace and environment."""
    try:
        p = subprocess.run(prefix + ["env"] + ["%s=%s" % kv for kv in env.items()] + words,
                           stdin=subprocess.DEVNULL, timeout=120)
        if p.returncode:
            say("(exit %d)" % p.returncode)
    except subprocess.TimeoutExpired:
        say("(stopped after 120 s: for long commands use a shell, above)")
    except OSError as e:
        say("(%s)" % e)


def on_term(signum, frame):
    raise KeyboardInterrupt   # the same clean exit as Ctrl-C


def main():
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        say("starting: a bridge, hosts A B C and gateway G (namespaces, each with caphostd), "
            "capdird, a client namespace ...")
        topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
        a, b, c = topo["A"], topo["B"], topo["C"]
        web = a.capsule("http", name="web").start()
        count = b.capsule("counter", name="count").start()
        echo = c.capsule("echo", name="echo").start()
        # One long-lived client connection, so a migration has someone to keep waiting.
        client = CountClient(topo.client.connect(count.addr, 9000), rate=0.5)
        client.more(2, 30)

        lab_ns = "/proc/%d/ns/net" % os.getpid()
        hosts = [(h.name, h.netns.path, env_of(h), h.netns.prefix, "host %d, %s%s" % (
            h.host_id, h.ip, ", the gateway" if h.gateway else "")) for h in topo.hosts.values()]
        hosts.append(("client", topo.client.path, {"PATH": BIN + ":" + os.environ["PATH"]},
                      topo.client.prefix, "an ordinary Linux machine, %s, routes 198.18.0.0/16 "
                      "via G" % CLIENT_IP))
        hosts.append(("lab", lab_ns, {"PATH": BIN + ":" + os.environ["PATH"]},
                      ["nsenter", "--net=" + lab_ns], "the bridge capsw (tcpdump here sees "
                      "every wrapped packet) and capdird at %s:7470" % DIR_IP))
        say()
        say("The playground is up.")
        say("  capsule web   (images/http)    on host A at %s: curl http://%s/" % (web.addr,
                                                                                  web.addr))
        say("  capsule count (images/counter) on host B at %s: nc %s 9000, type n" % (
            count.addr, count.addr))
        say("  capsule echo  (images/echo)    on host C at %s: nc %s 7" % (echo.addr, echo.addr))
        say("  (one client connection to count asks for the next number every 0.5 s)")
        say()
        say("A shell on each (run in another terminal, as root; exit the shell when done):")
        for name, path, env, _, what in hosts:
            say("  %-6s %s" % (name, what))
            say("         " + shell_line(path, env, name))
        say()
        say("Things to try (in a host's shell, or here as: HOST COMMAND):")
        say("  A capctl ps                          capsules on host A (ps --all: every host's)")
        say("  client curl -s http://%s/       ask web, through the gateway G" % web.addr)
        say("  A capctl migrate web --to 3          move web to host C, live; the timeline")
        say("  C capctl migrate web --to 1 --svg /tmp/web.svg   back, and draw it")
        say("  B capctl migrate count --to 3        the client's connection keeps counting")
        say("  A capctl stats web                   packets in and out of web")
        say("  B capctl snapshot count -o /tmp/count.snap --keep-running")
        say("  B capctl inspect /tmp/count.snap     threads, sockets, TCP state inside")
        say("  A caprun --name e2 build/images/echo.cap   a capsule of your own (in a shell)")
        say("  lab tcpdump -nc 20 -i capsw udp port 7471  wrapped packets between the hosts%s" % (
            "" if shutil.which("tcpdump") else " (apt-get install tcpdump)"))
        say("  client ss -tni dst 198.18.0.0/16     the client's TCP connections")
        say("docs/TEACHING.md is a guided lab built on this playground.")
        say()
        say("Commands here: HOST COMMAND... (HOST: %s), hosts, exit (or Ctrl-D / Ctrl-C)." %
            ", ".join(h[0] for h in hosts))
        by_name = {h[0]: h for h in hosts}
        while True:
            try:
                line = input("playground> ")
            except EOFError:
                say()
                break
            words = shlex.split(line) if line.strip() else []
            if not words:
                continue
            if words[0] in ("exit", "quit"):
                break
            if words[0] == "hosts":
                for name, path, env, _, what in hosts:
                    say("  %-6s %s" % (name, what))
                continue
            if words[0] in by_name and len(words) > 1:
                _, _, env, prefix, _ = by_name[words[0]]
                run_in(prefix, env, words[1:])
                continue
            say("HOST COMMAND..., with HOST one of %s; hosts; exit" % ", ".join(by_name))
        client.stopping = True   # the count client's thread ends with the playground
    except KeyboardInterrupt:
        say()
    finally:
        say("removing the playground: every process it started, its namespaces, bridge and files")
        stop_all()
        say("done")


main()
