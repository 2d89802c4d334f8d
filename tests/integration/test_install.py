"""test_install.py: `make install` into a temporary DESTDIR with its own PREFIX, then the installed tools run from there: capcc finds its sysroot and capctl, caprun its caploader; man pages, bash completion, systemd units (pointing at PREFIX/bin) and config files are in place."""
import os
import subprocess

from caplib import ROOT, Tap, check, check_eq, need_capsule_host, tempdir

PREFIX = "/opt/capsule-test"


def run(argv, **kw):   # (exit, stdout, stderr)
    p = subprocess.run(argv, capture_output=True, timeout=300, stdin=subprocess.DEVNULL, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def installed_tools_run():
    dest = tempdir(prefix="install.")
    code, out, err = run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=" + PREFIX])
    check_eq(code, 0, "make install (stderr %r)" % err[-600:])
    top = dest + PREFIX
    bindir = os.path.join(top, "bin")
    for tool in ("caprun", "caploader", "capctl", "capcc", "capexec", "capdir", "capdird", "caphostd"):
        check(os.access(os.path.join(bindir, tool), os.X_OK), "%s not installed" % tool)
    for page in ("man1/caprun.1", "man1/capctl.1", "man1/capcc.1", "man1/capdir.1", "man1/capexec.1",
                 "man8/capdird.8", "man8/caphostd.8", "man8/caploader.8"):
        path = os.path.join(top, "share/man", page)
        check(os.path.exists(path) and ".SH" in open(path).read(), "man page %s" % page)
    for comp in ("capctl", "caprun"):
        check(os.path.exists(os.path.join(top, "share/bash-completion/completions", comp)),
              "bash completion for %s" % comp)
    for unit, tool in (("capdird.service", "capdird"), ("caphostd.service", "caphostd")):
        text = open(os.path.join(top, "lib/systemd/system", unit)).read()
        check("ExecStart=%s/bin/%s " % (PREFIX, tool) in text and "@" not in text.split("[Unit]")[1],
              "%s: %r" % (unit, text))
        conf = os.path.join(dest, "etc/capsule", tool + ".conf")
        check(os.path.exists(conf), "%s missing" % conf)
    # the installed capcc builds with the installed sysroot, the installed caprun runs it
    d = tempdir(prefix="install-use.")
    with open(os.path.join(d, "hello.c"), "w") as f:
        f.write('#include <stdio.h>\nint main(void) { puts("installed hello"); return 0; }\n')
    code, out, err = run([os.path.join(bindir, "capcc"), "-o", "hello.cap", "hello.c"], cwd=d)
    check_eq((code, err), (0, ""), "installed capcc")
    env = dict(os.environ, CAPSULE_RUN_DIR=os.path.join(d, "run"))
    code, out, err = run([os.path.join(bindir, "caprun"), "--no-net", os.path.join(d, "hello.cap")],
                         env=env)
    check_eq((code, out), (0, "installed hello\n"), "installed caprun (stderr %r)" % err)
    code, out, err = run([os.path.join(bindir, "capcc"), "--version"])
    check(code == 0 and os.path.join(top, "lib/capsule/sysroot") in out,
          "installed capcc names its sysroot: %r" % out[:300])


def unit_settings(path):
    """{KEY: [values]} of a unit file's [Service] section."""
    out, section = {}, None
    for line in open(path).read().splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif line and not line.startswith("#") and "=" in line and section == "Service":
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def units_verify():
    # Installed for real under a PREFIX of its own (no DESTDIR), so the paths the units
    # name are the paths on this machine: systemd-analyze checks that they can run.
    top = tempdir(prefix="install-units.")
    code, out, err = run(["make", "-s", "-C", ROOT, "install", "PREFIX=" + top,
                          "SYSCONFDIR=" + os.path.join(top, "etc")])
    check_eq(code, 0, "make install PREFIX SYSCONFDIR (stderr %r)" % err[-600:])
    units = [os.path.join(top, "lib/systemd/system", u) for u in ("capdird.service", "caphostd.service")]
    for unit in units:
        tool = os.path.basename(unit).split(".")[0]
        svc = unit_settings(unit)
        check_eq(len(svc.get("ExecStart", [])), 1, "%s: one ExecStart" % unit)
        argv = svc["ExecStart"][0].split()
        check_eq(argv[0], os.path.join(top, "bin", tool), "%s: ExecStart's program" % unit)
        check(os.access(argv[0], os.X_OK), "%s: %s is not an installed program" % (unit, argv[0]))
        envfile = svc["EnvironmentFile"][0]
        check_eq(envfile, os.path.join(top, "etc/capsule", tool + ".conf"), "%s: EnvironmentFile" % unit)
        # the variable ExecStart expands is what the installed config file sets
        var = argv[1].lstrip("$")
        conf = dict(l.split("=", 1) for l in open(envfile).read().splitlines()
                    if l and not l.startswith("#"))
        check(var in conf and conf[var].startswith('"--'), "%s: %s sets %s: %r" % (envfile, tool, var, conf))
        # and the daemon takes those options (its --help is the last word: usage, exit 0)
        opts = conf[var].strip('"').split()
        code, out, err = run([argv[0]] + opts + ["--help"])
        check_eq((code, err), (0, ""), "%s %s --help" % (tool, conf[var]))
    env = dict(os.environ, MANPATH=os.path.join(top, "share/man"))   # Documentation=man:...
    code, out, err = run(["systemd-analyze", "verify"] + units, env=env)
    check_eq((code, out, err), (0, "", ""), "systemd-analyze verify of the installed units")


def main():
    tap = Tap()
    if need_capsule_host(tap, "install"):
        tap.done()
    tap.run("install: make install DESTDIR PREFIX; the installed tools build and run a capsule",
            installed_tools_run)
    tap.run("install: the systemd units run installed programs with installed config files "
            "(systemd-analyze verify)", units_verify)
    tap.done()


main()
