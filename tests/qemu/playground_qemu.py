"""playground_qemu.py: `make playground-qemu`: the cluster of `make demo-qemu` (QEMU VMs a, b, g and client c, a counter capsule on a) that stays up for exploring: a prompt runs commands in any VM over its serial console; everything is removed on exit.

The VMs' consoles are QEMU's stdio, held by this program (docs/QEMU.md), so
a "shell" on a VM is this prompt: `a capctl ps` runs `capctl ps` in VM a
and prints its output and exit status.  `use a` makes a VM the default, so
plain commands go to it.  Commands run one at a time, to completion (a
command that never ends blocks the prompt: start such things with `&` and
a log file, as below).  `exit`, Ctrl-D, Ctrl-C or SIGTERM stop every VM
and remove the bridge and the TAPs; all of it lives in the namespace
`make playground-qemu` made, on 198.19.0.0/24 and 198.18.0.0/16.
"""
import signal
import sys

import vmlib
from demo_qemu import start_cluster

TRY = """Things to try (VM COMMAND, or `use VM` and then COMMAND):
  a capctl ps                        capsules on VM a (host 1): web, the counter
  a capctl migrate web --to 2        move web live to VM b; the timeline
  b capctl migrate web --to 1 --svg /tmp/web.svg    back again, drawn (b cat /tmp/web.svg)
  c countclient %(addr)s 9000 > /tmp/client.log 2>&1 &     a client in VM c
  c tail -n 3 /tmp/client.log        its answers (every 100th) and, at the end, its longest gap
  c kill $(pidof countclient)        stop it: its log ends "client: done ... longest_gap_ms N"
  a capctl stats web                 packets in and out of web
  g cat /tmp/caphostd.log            the gateway's log (holds and flushes during a move)
  a ps                               the processes of host 1: caphostd, caprun, the capsule
"""


def say(text=""):
    print(text, flush=True)


def prompt_loop(vms):
    current = None
    while True:
        try:
            line = input("playground-qemu%s> " % ("" if current is None else ":" + current))
        except EOFError:
            say()
            return
        line = line.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if word in ("exit", "quit"):
            return
        if word == "help":
            say("VM COMMAND... (VM: %s); use VM; vms; exit" % ", ".join(vms))
            continue
        if word == "vms":
            for name, vm in vms.items():
                say("  %s  %s" % (name, vm.ip))
            continue
        if word == "use":
            if rest.strip() in vms:
                current = rest.strip()
            else:
                say("use VM, VM one of %s" % ", ".join(vms))
            continue
        if word in vms and rest.strip():
            name, cmd = word, rest
        elif current is not None:
            name, cmd = current, line
        else:
            say("VM COMMAND..., VM one of %s (or `use VM` first)" % ", ".join(vms))
            continue
        try:
            code, out = vms[name].sh(cmd, timeout=300, check=False)
        except vmlib.VMError as e:
            say("(%s)" % e)
            continue
        if out.strip():
            say(out.rstrip("\n"))
        if code:
            say("(exit %d)" % code)


def main():
    def interrupted(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    try:
        say("booting four QEMU VMs (software emulation; a minute or two) ...")
        vms, addr, boot = start_cluster()
        say()
        say("The QEMU playground is up (booted in %.1f s):" % boot)
        say("  VM a 198.19.0.1    caphostd, host 1; capsule web (images/counter) at %s" % addr)
        say("  VM b 198.19.0.2    caphostd, host 2")
        say("  VM g 198.19.0.3    capdird (the directory) and caphostd --gateway, host 3")
        say("  VM c 198.19.0.100  an ordinary machine, routes 198.18.0.0/16 via g")
        say("A shell on a VM is this prompt: each line goes to the VM's serial console "
            "(vmlib.VM.sh), its output comes back.")
        say()
        say(TRY % {"addr": addr})
        say("docs/TEACHING.md is a guided lab; docs/QEMU.md tells how the VMs are built.")
        say("Commands here: VM COMMAND..., use VM, vms, help, exit (or Ctrl-D / Ctrl-C).")
        prompt_loop(vms)
    except KeyboardInterrupt:
        say()
    except (vmlib.VMError, RuntimeError) as e:
        say("playground-qemu failed: %s" % e)
    finally:
        say("stopping the VMs, removing the bridge and the TAPs")
        vmlib.stop_all()
        say("done")


if __name__ == "__main__":
    main()
