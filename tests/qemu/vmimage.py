"""vmimage.py: the QEMU guests' boot files: a Debian kernel (vmlinux + the few modules needed) and an initramfs with busybox, the host tools and images; cached under build/qemu/.

Nothing here is committed third-party code: the kernel comes from Debian's
linux-image-6.1.0-*-amd64 package (`apt-get download`, `dpkg-deb -x`), busybox
from busybox-static.  Both are cached by version: the kernel in
build/qemu/kernel-PACKAGE_VERSION/, the initramfs as
build/qemu/initramfs-HASH.cpio where HASH covers every file put in it, so a
rebuilt tool gives a new initramfs and an unchanged tree reuses the old one.

    python3 tests/qemu/vmimage.py      prepare both, print their paths
"""
import glob
import hashlib
import lzma
import os
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
CACHE = os.path.join(BUILD, "qemu")
BUSYBOX = "/bin/busybox"
KERNEL_META = "linux-image-amd64"

# virtio-net is a module in Debian's kernel and the package has no modules.dep: load
# order matters (dependencies first).  tun: caphostd's gateway device, caprun's own.
MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
           "virtio_pci", "failover", "net_failover", "virtio_net", "tun"]
# What each VM runs: the host tools (dynamically linked, see tools_with_libs) and images.
TOOLS = ["caprun", "caploader", "caphostd", "capdird", "capctl", "capdir"]
IMAGES = ["counter", "echo"]
CLIENT = os.path.join(BUILD, "qemu-tools", "countclient")   # static, tests/qemu/build.mk
INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "init.sh")


def die(msg):
    raise SystemExit("vmimage: " + msg)


def _run(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        die("%s: exit %d: %s" % (" ".join(argv), p.returncode, (p.stderr or p.stdout).strip()[-400:]))
    return p.stdout


def _cached_kernel():
    """The newest kernel already unpacked under build/qemu, or None."""
    dirs = sorted(d for d in glob.glob(os.path.join(CACHE, "kernel-*"))
                  if os.path.exists(os.path.join(d, "vmlinux")))
    return dirs[-1] if dirs else None


def extract_vmlinux(vmlinuz, out):
    """The uncompressed ELF inside a bzImage (Debian's is xz): booted via PVH, it skips the
    decompression that costs seconds under software emulation."""
    data = open(vmlinuz, "rb").read()
    at = data.find(b"\xfd7zXZ\x00")
    if at < 0:
        die("%s: no xz stream inside" % vmlinuz)
    dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    elf = dec.decompress(data[at:])
    if elf[:4] != b"\x7fELF":
        die("%s: the xz stream is not an ELF kernel" % vmlinuz)
    with open(out + ".tmp", "wb") as f:
        f.write(elf)
    os.rename(out + ".tmp", out)


def kernel():
    """Directory holding vmlinux and modules/NAME.ko, fetched once."""
    have = _cached_kernel()
    if have:
        return have
    deps = _run(["apt-cache", "depends", KERNEL_META])
    pkg = next((l.split(":", 1)[1].strip() for l in deps.splitlines()
                if l.strip().startswith("Depends: linux-image-")), None)
    if not pkg:
        die("apt-cache knows no %s (run apt-get update)" % KERNEL_META)
    ver = next((l.split()[1] for l in _run(["apt-cache", "policy", pkg]).splitlines()
                if l.strip().startswith("Candidate:")), "unknown")
    dest = os.path.join(CACHE, "kernel-%s_%s" % (pkg, ver))
    work = dest + ".work"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        _run(["apt-get", "download", "-q", pkg], cwd=work)
        deb = glob.glob(os.path.join(work, "*.deb"))[0]
        _run(["dpkg-deb", "-x", deb, os.path.join(work, "x")])
        os.makedirs(os.path.join(dest, "modules"), exist_ok=True)
        for m in MODULES:
            found = glob.glob(os.path.join(work, "x", "lib", "modules", "*", "kernel", "**",
                                           m + ".ko"), recursive=True)
            if not found:
                die("%s has no module %s" % (pkg, m))
            shutil.copy(found[0], os.path.join(dest, "modules", m + ".ko"))
        extract_vmlinux(glob.glob(os.path.join(work, "x", "boot", "vmlinuz-*"))[0],
                        os.path.join(dest, "vmlinux"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def tools_with_libs():
    """{path in the guest: path here}: the tools, images, and every shared library the tools
    need (they are dynamically linked, so they bring their libs)."""
    files = {}
    for t in TOOLS:
        src = os.path.join(BUILD, "bin", t)
        if not os.access(src, os.X_OK):
            die("%s is not built (run make)" % src)
        files["/bin/" + t] = src
        p = subprocess.run(["ldd", src], capture_output=True, text=True)
        for line in p.stdout.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if path.startswith("/"):
                files[path] = os.path.realpath(path)
    for i in IMAGES:
        files["/images/%s.cap" % i] = os.path.join(BUILD, "images", i + ".cap")
    if not os.access(CLIENT, os.X_OK):
        die("%s is not built (make demo-qemu / make test build it)" % CLIENT)
    files["/bin/countclient"] = CLIENT
    if not os.access(BUSYBOX, os.X_OK):
        die("%s is missing (mk/deps.sh installs busybox-static)" % BUSYBOX)
    files["/bin/busybox"] = BUSYBOX
    files["/init"] = INIT
    return files


class Cpio:
    """A newc cpio archive written directly (no cpio tool needed), with device nodes."""

    def __init__(self, f):
        self.f, self.ino, self.dirs = f, 1, set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        self.ino += 1
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0))
        self.f.write(hdr.encode() + name.encode() + b"\0")
        self.f.write(b"\0" * ((4 - (110 + len(name) + 1) % 4) % 4))
        self.f.write(data)
        self.f.write(b"\0" * ((4 - len(data) % 4) % 4))

    def mkdir(self, path):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, 0o40755)

    def file(self, path, data, mode=0o100755):
        self.mkdir(os.path.dirname(path))
        self._entry(path.lstrip("/"), mode, data)

    def symlink(self, path, target):
        self.mkdir(os.path.dirname(path))
        self._entry(path.lstrip("/"), 0o120777, target.encode())

    def chardev(self, path, major, minor):
        self.mkdir(os.path.dirname(path))
        self._entry(path.lstrip("/"), 0o20600, b"", (major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)


def initramfs(kdir):
    """Path of the initramfs for this kernel and these tools (built if not cached)."""
    files = tools_with_libs()
    mods = {"/lib/modules/%s.ko" % m: os.path.join(kdir, "modules", m + ".ko") for m in MODULES}
    files.update(mods)
    h = hashlib.sha256()
    for dest in sorted(files):
        h.update(dest.encode() + b"\0")
        h.update(hashlib.sha256(open(files[dest], "rb").read()).digest())
    out = os.path.join(CACHE, "initramfs-%s.cpio" % h.hexdigest()[:16])
    if os.path.exists(out):
        return out
    for old in glob.glob(os.path.join(CACHE, "initramfs-*.cpio")):
        os.unlink(old)   # one cached at a time: they are rebuilt in about a second
    with open(out + ".tmp", "wb") as f:
        c = Cpio(f)
        for d in ("/dev", "/proc", "/sys", "/tmp", "/run", "/etc", "/lib64", "/usr/bin",
                  "/sbin", "/usr/sbin"):
            c.mkdir(d)
        c.chardev("/dev/console", 5, 1)   # the kernel opens it for init's stdin/stdout
        c.chardev("/dev/null", 1, 3)
        for dest in sorted(files):
            c.file(dest, open(files[dest], "rb").read())
        c.symlink("/bin/sh", "busybox")
        c.close()
    os.rename(out + ".tmp", out)
    return out


def prepare():
    """(vmlinux, initramfs): everything a VM boots from."""
    os.makedirs(CACHE, exist_ok=True)
    kdir = kernel()
    return os.path.join(kdir, "vmlinux"), initramfs(kdir)


if __name__ == "__main__":
    # `vmimage.py kernel`: fetch the kernel only (make does it before the tests, which run
    # without a network); no argument: everything a VM boots from.
    try:
        if sys.argv[1:] == ["kernel"]:
            os.makedirs(CACHE, exist_ok=True)
            print(kernel())
        else:
            print("%s\n%s" % prepare())
    except SystemExit as e:
        print(e, file=sys.stderr)
        sys.exit(1)
