"""test_run_dir.py: without CAPSULE_RUN_DIR each network namespace has its own run directory (/run/capsule/net-INODE outside pid 1's, told apart even where /proc/1/ns/net cannot be read): two namespaces run a capsule of the same name, and capctl ps in each shows only its own."""
import json
import os

from caplib import (CAPCTL, CAPRUN, IMAGES, Netns, Tap, alive, check, check_eq, mount_tmpfs,
                    need_capsule_host, private_mounts, recv_line, run_tool)

RUN = "/run/capsule"   # hosts/formats/ctlproto.h: HOST_RUN_DIR_DEFAULT

private_mounts()   # an empty /run/capsule of our own: the machine's is never touched


def netns_inode(path):
    return os.stat(path).st_ino


def tool(ns, argv):
    return ns.run(["env", "-u", "CAPSULE_RUN_DIR"] + argv, timeout=30)


def same_name_two_namespaces():
    mount_tmpfs(RUN)
    nets = [Netns(), Netns()]
    inodes = [netns_inode(ns.path) for ns in nets]
    check(inodes[0] != inodes[1], "two namespaces, one inode %d" % inodes[0])
    pids = []
    try:
        for ns in nets:
            code, out, err = tool(ns, [CAPRUN, "-d", "--name", "web",
                                       os.path.join(IMAGES, "lifecycle.cap"), "serve"])
            check_eq((code, out, err), (0, "web\n", ""), "caprun -d --name web in %s" % ns.path)
        for ns, inode in zip(nets, inodes):
            code, out, err = tool(ns, [CAPCTL, "ps", "--json"])
            check_eq((code, err), (0, ""), "capctl ps --json in %s" % ns.path)
            rows = json.loads(out)
            check_eq([(r["name"], r["ip"]) for r in rows], [("web", "198.18.0.2")],
                     "capctl ps in %s" % ns.path)
            pid = rows[0]["pid"]
            pids.append(pid)
            check_eq(netns_inode("/proc/%d/ns/net" % pid), inode, "the caprun capctl ps named is in "
                     "this namespace")
            check_eq(sorted(os.listdir(os.path.join(RUN, "net-%d" % inode))), ["web.log", "web.sock"],
                     "its run directory %s/net-%d" % (RUN, inode))
            s = ns.connect("198.18.0.2", 9200)
            check_eq(recv_line(s), b"alive\n", "its capsule answers in its namespace")
            s.close()
        check(pids[0] != pids[1], "one caprun for both namespaces")
        # This test's own namespace is not pid 1's either: its directory is empty.
        code, out, err = run_tool(["env", "-u", "CAPSULE_RUN_DIR", CAPCTL, "ps", "--json"])
        check_eq((code, json.loads(out), err), (0, [], ""), "capctl ps in the test's own namespace")
        check_eq(sorted(os.listdir(RUN)), sorted(["net-%d" % i for i in inodes]),
                 "%s holds one directory per namespace (and no socket of its own)" % RUN)
        for ns in nets:
            code, out, err = tool(ns, [CAPCTL, "stop", "web"])
            check_eq((code, out, err), (0, "capsule web stopped\n", ""), "capctl stop web in %s" % ns.path)
        check(not any(alive(p) for p in pids), "a caprun left after capctl stop")
        for inode in inodes:   # the socket went; the detached capsule's log stays
            check_eq(os.listdir(os.path.join(RUN, "net-%d" % inode)), ["web.log"],
                     "%s/net-%d after capctl stop" % (RUN, inode))
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, 9)


def main():
    tap = Tap()
    if need_capsule_host(tap, "run-dir"):
        tap.done()
    tap.run("run dir: two network namespaces, no CAPSULE_RUN_DIR: a capsule named web in each, "
            "capctl ps in each shows its own", same_name_two_namespaces)
    tap.done()


main()
