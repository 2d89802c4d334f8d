"""demo_qemu.py: `make demo-qemu`: four QEMU virtual machines are the hosts; a counter capsule migrates live from VM a to VM b and back while an ordinary client in VM c keeps its TCP connection through the gateway VM g.

  VM a 198.19.0.1   caphostd, host 1: the capsule starts here
  VM b 198.19.0.2   caphostd, host 2
  VM g 198.19.0.3   capdird (the directory) and caphostd --gateway, host 3
  VM c 198.19.0.100 an ordinary machine: countclient, route to 198.18.0.0/16 via g

The VMs share one bridge in the network namespace `make demo-qemu` made
(unshare -n); the bridge has no address and the namespace no route, so
nothing leaves it.  Everything is stopped and removed at the end, also on
Ctrl-C.  docs/QEMU.md tells how the guests are built.
"""
import os
import signal
import sys
import time

import vmimage
import vmlib

HOSTS = (("a", 1), ("b", 2), ("g", 3))
CLIENT_IP = "198.19.0.100"
GATEWAY_IP = "198.19.0.3"
BOOT_TIMEOUT = 180


def say(text=""):
    print(text, flush=True)


def keys_text():
    """A fresh cluster: one key per host, the data-plane key (DIRECTORY.md's key file)."""
    lines = ["# demo-qemu cluster, made for this run"]
    lines += ["%d %s" % (i, os.urandom(32).hex()) for _, i in HOSTS]
    lines.append("data %s" % os.urandom(32).hex())
    return "\n".join(lines) + "\n"


def migrate(vm, to_id, target):
    """capctl migrate on vm; a move that failed leaves the capsule running where it was
    (docs/MIGRATION.md), so under a starved emulator (a 5 s connect timeout) it is tried
    once more, and said so."""
    for attempt in (1, 2):
        say("$ capctl migrate web --to %d        (on VM %s)" % (to_id, vm.name))
        code, out = vm.sh("capctl migrate web --to %d" % to_id, timeout=120, check=False)
        for line in out.strip().splitlines():
            say("  " + line)
        if code == 0:
            return
        say("  (exit %d: the capsule still runs on VM %s%s)" % (
            code, vm.name, "; once more" if attempt == 1 else ""))
        for side in (vm, target):   # what the two daemons saw, for whoever looks into it
            _, log = side.sh("tail -n 4 /tmp/caphostd.log", check=False, rerun=True)
            say("  caphostd on VM %s: %s" % (side.name, " | ".join(log.strip().splitlines())))
    raise vmlib.VMError("capctl migrate exited %d twice" % code)


def client_answers(c, n):
    """Wait until the client printed its n-th answer (it prints every 100th)."""
    return c.waitlog("client.log", r"client: answers %d |client: (connection lost|got)" % n, 90)


def start_cluster():
    """Boot VMs a, b, g and c; the directory and the gateway on g, caphostd on a and b; the
    counter capsule web on a.  Returns (vms by name, web's address, boot seconds)."""
    kernel, initrd = vmimage.prepare()
    say("guests: %s, %s" % (os.path.relpath(kernel), os.path.relpath(initrd)))
    vmlib.make_bridge()
    vms = {}
    for name, host_id in HOSTS:
        vms[name] = vmlib.VM(name, "198.19.0.%d/24" % host_id, host_id, kernel, initrd)
    vms["c"] = vmlib.VM("c", CLIENT_IP + "/24", 100, kernel, initrd,
                        route="198.18.0.0/16," + GATEWAY_IP)
    boot = max(vm.wait_ready(BOOT_TIMEOUT) for vm in vms.values())
    say("4 VMs booted (software emulation) in %.1f s" % boot)
    a, b, g, c = vms["a"], vms["b"], vms["g"], vms["c"]
    keys = keys_text()
    for vm in (a, b, g):
        vm.sh("true")   # the shell's banner goes with this first command
        vm.put("/etc/capsule/keys", keys)
    g.sh("echo 1 > /proc/sys/net/ipv4/ip_forward")
    g.daemon("capdird --listen %s:7470 --db /tmp/dir.db --keys /etc/capsule/keys "
             "--network 198.18.0.0/16" % GATEWAY_IP, "capdird.log")
    g.waitlog("capdird.log", "capdird listening on", 60)
    for vm, (_, host_id) in zip((g, a, b), (HOSTS[2], HOSTS[0], HOSTS[1])):
        extra = "--gateway" if vm is g else "--gateway-host 3"
        vm.daemon("caphostd --host-id %d --listen %s --dir %s --keys /etc/capsule/keys "
                  "--run-dir /run/capsule %s" % (host_id, vm.ip, GATEWAY_IP, extra),
                  "caphostd.log")
        vm.waitlog("caphostd.log", "caphostd %d listening" % host_id, 60)
    say("capdird on VM g; caphostd on VMs a (host 1), b (host 2), g (host 3, the gateway)")
    a.daemon("caprun --name web /images/counter.cap", "web.log")
    addr = a.waitlog("web.log", "running at", 60).split()[-1]
    say("capsule web (images/counter) runs on VM a at %s" % addr)
    c.sh("true")
    return vms, addr, boot


def run():
    t0 = time.monotonic()
    vms, addr, boot = start_cluster()
    a, b, c = vms["a"], vms["b"], vms["c"]
    c.sh("countclient %s 9000 > /tmp/client.log 2>&1 & echo $! > /tmp/client.pid" % addr)
    say(client_answers(c, 100).strip().splitlines()[-1] +
        "   (VM c asks for the next number every 10 ms, through VM g)")
    say()
    migrate(a, 2, b)
    say(client_answers(c, 300).strip().splitlines()[-1])
    _, ps = b.sh("capctl ps", rerun=True)
    say("$ capctl ps        (on VM b)\n  " + "\n  ".join(ps.strip().splitlines()))
    say()
    migrate(b, 1, a)
    say(client_answers(c, 500).strip().splitlines()[-1])
    c.sh("kill $(cat /tmp/client.pid)")
    done = c.waitlog("client.log", "client: done", 30).strip().splitlines()[-1]
    say()
    say(done)
    words = done.split("client: done", 1)[-1].split()
    f = dict(zip(words[0::2], words[1::2]))
    ok = f.get("errors") == "0"
    say("%s: the same TCP connection counted %s..%s across two live migrations between VMs; "
        "the client's longest wait for one answer was %s ms" % (
            "OK" if ok else "FAILED", f.get("first"), f.get("last"), f.get("longest_gap_ms")))
    say("demo took %.1f s (boot %.1f s)" % (time.monotonic() - t0, boot))
    return ok


def main():
    # Ctrl-C or a TERM: unwind through finally, which stops every VM and removes every link.
    # (SIGINT explicitly too: started in the background by a shell, python would ignore it.)
    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    ok = False
    try:
        ok = run()
    except KeyboardInterrupt:
        say("interrupted: stopping the VMs")
    except (vmlib.VMError, RuntimeError, SystemExit) as e:
        say("demo-qemu failed: %s" % e)
    finally:
        vmlib.stop_all()
        say("VMs stopped, bridge and TAPs removed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
