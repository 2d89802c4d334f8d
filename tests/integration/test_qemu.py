"""test_qemu.py: two QEMU virtual machines as capsule hosts; an echo capsule migrates live from one to the other while a client's numbered lines all come back byte-exact, exactly once.

The directory (capdird), the gateway host G (caphostd --gateway, id 1) and
the ordinary client are the usual namespaces of topolib, on the bridge
capsw in this test's own namespace; the VMs A (198.19.0.2, id 2) and B
(198.19.0.3, id 3) sit on TAP ports of the same bridge and run the host tools
from their initramfs (tests/qemu/, docs/QEMU.md).  QEMU missing is a
failure, not a skip: mk/deps.sh installs it.
"""
# tests/run timeout: 300
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qemu"))
import vmimage  # noqa: E402
import vmlib  # noqa: E402
from topolib import DIR_IP, LineStream, Tap, Topology, _started, check  # noqa: E402

BOOT_TIMEOUT = 120      # two guests under software emulation on a loaded 2-core machine
VM_HOSTS = (("a", 2), ("b", 3))


def diag(text):
    print("# " + text, flush=True)


class QemuTopology(Topology):
    """topolib's topology with keys for the two VM hosts as well (ids 2 and 3)."""

    def write_keys(self):
        names = self.names
        self.names = names + [n for n, _ in VM_HOSTS]
        try:
            super().write_keys()
        finally:
            self.names = names


def start_host(vm, host_id, keys_text):
    vm.sh("true")   # the shell's banner goes with this first command
    vm.put("/etc/capsule/keys", keys_text)
    vm.daemon("caphostd --host-id %d --listen %s --dir %s --keys /etc/capsule/keys "
              "--run-dir /run/capsule --gateway-host 1" % (host_id, vm.ip, DIR_IP), "caphostd.log")
    vm.waitlog("caphostd.log", "caphostd %d listening" % host_id, 60)


def qemu_migration():
    check(vmlib.qemu_path() is not None,
          "qemu-system-x86_64 is not installed (mk/deps.sh installs qemu-system-x86)")
    t0 = time.monotonic()
    try:
        kernel, initrd = vmimage.prepare()
    except SystemExit as e:   # vmimage's one-line reason (no package, tool not built, ...)
        check(False, str(e))
    diag("kernel and initramfs ready in %.1f s" % (time.monotonic() - t0))
    topo = QemuTopology(hosts=("G",), gateway="G").start()
    keys_text = open(topo.keys).read()
    vms = {}
    for name, host_id in VM_HOSTS:
        vms[name] = vmlib.VM(name, "198.19.0.%d/24" % host_id, host_id, kernel, initrd,
                             registry=_started)
    for name, vm in vms.items():
        diag("VM %s ready %.1f s after its start" % (name, vm.wait_ready(BOOT_TIMEOUT)))
    a, b = vms["a"], vms["b"]
    for vm, (_, host_id) in zip((a, b), VM_HOSTS):
        start_host(vm, host_id, keys_text)
    a.daemon("caprun --name echo /images/echo.cap", "echo.log")
    addr = a.waitlog("echo.log", "running at", 60).split()[-1]
    diag("echo capsule on VM a at %s, %.1f s after the start" % (addr, time.monotonic() - t0))

    stream = LineStream(topo.client.connect(addr, 7, timeout=30), "qemu", rate=0.01,
                        max_inflight=20)
    stream.wait_got(50, 60)
    t_mig = time.monotonic()
    code, out = a.sh("capctl migrate echo --to 3", timeout=120, check=False)
    for line in out.strip().splitlines():
        diag("  " + line)
    check(code == 0, "capctl migrate on VM a exited %d: %s" % (code, out.strip()[-400:]))
    diag("migration a -> b took %.1f s as seen from the driver" % (time.monotonic() - t_mig))
    stream.more(50, 60)
    sent = stream.finish(60)
    _, ps = b.sh("capctl ps", rerun=True)
    check("echo" in ps, "capctl ps on VM b does not list echo: %r" % ps)
    code, _ = a.sh("capctl ps | grep -q echo", check=False, rerun=True)
    check(code != 0, "echo is still listed on VM a after the move")
    for vm in (a, b):
        for line in vm.shell_restarts():
            diag("VM %s: %s" % (vm.name, line))
    diag("%d lines back byte-exact, longest wait %.0f ms; total %.1f s" % (
        sent, stream.longest_stall[0] * 1000, time.monotonic() - t0))


tap = Tap()
tap.run("two QEMU VMs: echo capsule migrates live, client's lines byte-exact", qemu_migration)
tap.done()
