"""test_busybox.py: busybox 1.35.0 from Debian 12 source, built with capcc (mk/build-program.sh), runs `sh -c 'a | b | c'` pipelines whose applets are forked and exec'd (/proc/self/exe, docs/PROCESSES.md section 2b): output and exit status equal to the same busybox built natively; so is a last command, which ash execs in the capsule's pid 1 itself."""
# tests/run timeout: 300
import os
import subprocess

from caplib import BUILD, CAPRUN, Tap, check, check_eq

CAP = os.path.join(BUILD, "programs", "cap", "busybox")
NATIVE = os.path.join(BUILD, "programs", "native", "busybox")

# Each is run as `busybox sh -c SCRIPT`: every applet after a pipe is a forked child, and
# tr, wc, uniq, tail, cat, tee, sed, grep and rev are exec'd (the others run in the child).
PIPELINES = [
    "seq 1 20 | sort -r | head -n 3 | tr 0-9 a-j",
    "seq 1 1000 | grep 7 | wc -l",
    "printf 'b\\na\\nc\\na\\n' | sort | uniq -c | sed 's/^ *//'",
    "echo abcdef | rev | cut -c1-3 | tr a-z A-Z",
    "seq 5 | tee /dev/null | tail -n 2 | cat",
    "seq 100000 | sort -rn | sed -n '1p;$p' | tr '\\n' ' '; echo",
    "yes capsule | head -n 1000 | uniq -c | sed 's/^ *//'",
    "x=$(seq 3 | tr '\\n' +); echo ${x}0 | sed 's/+/ + /g'; expr 1 + 2 + 3",
    "seq 3 | grep 4; echo grep said $?",
    "false | true; echo $?; true | false; echo $?",
    "seq 10 | sed s/1/one/ | grep -v 5 | sort | tail -n 4 | cat; exit 3",
]


def run(exe, script, capsule):
    argv = ([CAPRUN, "--no-net", exe] if capsule else [exe]) + ["sh", "-c", script]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def pipelines_as_linux():
    check(os.path.exists(CAP) and os.path.exists(NATIVE),
          "%s or %s is missing (make test builds them)" % (CAP, NATIVE))
    for script in PIPELINES:
        want = run(NATIVE, script, False)
        check_eq(want[2], "", "Linux's stderr for %r" % script)
        check_eq(run(CAP, script, True), want, "exit code, output and stderr of %r" % script)


def exec_in_pid1():
    # ash execs a script's last simple command itself, in the capsule's pid 1.
    for script in ["cat /dev/null", "seq 3 | cat; tr a b </dev/null", "exec seq 2", "exec false"]:
        want = run(NATIVE, script, False)
        check_eq(run(CAP, script, True), want, "exit code, output and stderr of %r" % script)


def main():
    tap = Tap()
    tap.run("busybox: sh -c pipelines of forked and exec'd applets, the same as busybox on Linux",
            pipelines_as_linux)
    tap.run("busybox: a last command ash execs in pid 1 itself, the same as on Linux",
            exec_in_pid1)
    tap.done()


main()
