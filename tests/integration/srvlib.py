"""srvlib.py: build real servers from Debian 12 source packages with their own build systems and capcc, cached under build/servers-test."""

import hashlib
import os
import shutil
import subprocess
import time

from caplib import BIN, BUILD, ROOT, CAPRUN, Capsule, check, check_eq

CAPCC = os.path.join(BIN, "capcc")
CAPCTL = os.path.join(BIN, "capctl")
SYSROOT_LIB = os.path.realpath(os.path.join(BUILD, "sysroot", "lib"))
CACHE = os.path.join(BUILD, "servers-test")
BINFMT_NAME = "capsule-test-%d" % os.getpid()   # binfmt_misc is global: our own entry only
ARCHIVES = {"libevent": "libevent.a", "zlib": "libz.a"}   # mk/sysroot-lib.sh NAME -> what it makes


def sh(args, cwd=None, timeout=600):
    """Run a command; (exit status, stdout bytes, stderr bytes)."""
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def ok(args, what, **kw):
    rc, out, err = sh(args, **kw)
    check(rc == 0, "%s: exit %d: %s" % (what, rc, (err or out).decode(errors="replace")[-800:]))
    return out


def need_source(name):
    """Tests have no network: make test fetched the sources (tests/build.mk)."""
    check(os.path.exists(os.path.join(BUILD, "src", name, ".fetched")),
          "build/src/%s is missing: run make test, or first `make build/src/.fetched-servers-test` "
          "(tests run without a network)" % name)


def sysroot_lib(name):
    """mk/sysroot-lib.sh NAME (nothing to do when test_capcc built it already)."""
    ok(["sh", os.path.join(ROOT, "mk", "sysroot-lib.sh"), name], "mk/sysroot-lib.sh " + name,
       timeout=900)


def cache_key(libs):
    """A hash of capcc and the sysroot libraries a server links: a change rebuilds it."""
    h = hashlib.sha256()
    for p in [CAPCC] + [os.path.join(SYSROOT_LIB, n) for n in
                        ["libc.a", "libcaprt.a", "liblp.a", "liblwip.a"] + list(libs)]:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def build(name, version, libs, steps, product):
    """Copy build/src/NAME to build/servers-test/NAME-VERSION-KEY and run steps there (a list of
    (argv, what)), with the binfmt handler installed for configure's test programs; returns the
    path of product (the image) and the seconds the build took (0: cached)."""
    need_source(name)
    for lib in libs:
        sysroot_lib(lib)
    key = cache_key([ARCHIVES[l] for l in libs])
    work = os.path.join(CACHE, "%s-%s-%s" % (name, version, key))
    image = os.path.join(work, product)
    if os.path.exists(os.path.join(work, ".built")):
        return image, 0.0
    t0 = time.monotonic()
    for old in os.listdir(CACHE) if os.path.isdir(CACHE) else []:   # older keys of this server
        if old.startswith(name + "-"):
            shutil.rmtree(os.path.join(CACHE, old), ignore_errors=True)
    shutil.copytree(os.path.join(BUILD, "src", name), work, symlinks=True)
    try:
        ok([CAPCTL, "binfmt", "install", "--name", BINFMT_NAME], "binfmt install")
        for argv, what in steps:
            ok(argv, "%s: %s" % (name, what), cwd=work)
    finally:
        sh([CAPCTL, "binfmt", "remove", "--name", BINFMT_NAME])
    with open(image, "rb") as f:
        check_eq(f.read(8), b"CAPIMG\r\n", "%s's magic" % product)
    open(os.path.join(work, ".built"), "w").close()
    return image, time.monotonic() - t0


def resume(host, path, volumes=(), app_ready=None):
    """caprun [-v VOL]... SNAPSHOT, started (the plain form a user types)."""
    argv = [CAPRUN]
    for v in volumes:
        argv += ["-v", v]
    cap = Capsule(os.path.basename(path), env=host.env, prefix=host.prefix, argv=argv + [path])
    return cap.start(app_ready=app_ready)
