"""test_readme.py: the README's "Using it" steps run as written (in this test's network namespace, from a scratch directory whose build/ is the real one): every command exits 0, the capsule says hello, curl gets the page, and capctl stop leaves nothing behind."""
import os
import re
import subprocess

from caplib import (ROOT, Tap, check, check_eq, mount_tmpfs, my_children, need_capsule_host,
                    net_state, no_guard, private_mounts, tempdir)

private_mounts()   # the default /run/capsule, empty as on a fresh machine, and ours alone


def using_it_block():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## Using it", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def steps_run():
    mount_tmpfs("/run/capsule")
    before = no_guard(net_state())
    d = tempdir(prefix="readme.")
    os.symlink(os.path.join(ROOT, "build"), os.path.join(d, "build"))
    script = using_it_block()
    env = dict(os.environ)
    env.pop("CAPSULE_RUN_DIR", None)   # the default, as a new user has it
    p = subprocess.run(["sh", "-e", "-x", "-c", script], cwd=d, env=env, capture_output=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    check_eq(p.returncode, 0, "the README's steps (stderr %r)" % err[-600:])
    for want in ("hello from a capsule\n", "http\n", "Hello from capsule 198.18.0.2",
                 "capsule http running at 198.18.0.2\n", "capsule http stopped\n"):
        check(want in out, "the steps' output lacks %r: %r" % (want, out[-800:]))
    check_eq(my_children(), [], "processes left")
    check_eq(no_guard(net_state()), before, "links, addresses, routes left")
    # outside pid 1's network namespace the default run directory is one of its own
    ns = os.stat("/proc/self/ns/net").st_ino
    check_eq(sorted(os.listdir("/run/capsule/net-%d" % ns)), ["http.log"],
             "the run directory after the steps")


def main():
    tap = Tap()
    if need_capsule_host(tap, "readme"):
        tap.done()
    tap.run("readme: the Using it steps run as written", steps_run)
    tap.done()


main()
