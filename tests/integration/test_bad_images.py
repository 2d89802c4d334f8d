"""test_bad_images.py: broken images get a one-line error naming the file, a non-zero exit, and leave nothing behind."""
import os
import shutil
import struct
import tempfile

from caplib import (HEADER_SIZE, IMAGES, Tap, check, check_eq, my_children, net_state,
                    read_header, reseal, run_caprun, need_capsule_host)

GOOD = os.path.join(IMAGES, "echo.cap")


def make_cases(dirname):
    """name -> path of a broken image (or of no file at all)."""
    with open(GOOD, "rb") as f:
        good = f.read()
    elf_size = read_header(good)["elf_size"]
    cases = {}

    def put(name, data):
        path = os.path.join(dirname, name + ".cap")
        with open(path, "wb") as f:
            f.write(data)
        cases[name] = path

    cases["missing"] = os.path.join(dirname, "missing.cap")
    put("empty", b"")
    put("truncated-header", good[:1000])
    put("truncated-elf", good[:HEADER_SIZE + elf_size // 2])
    corrupt = bytearray(good)
    corrupt[HEADER_SIZE + elf_size // 2] ^= 0x40   # one bit in the ELF: checksum must catch it
    put("corrupt", bytes(corrupt))
    put("wrong-magic", b"NOTACAP!" + good[8:])
    wrong_abi = bytearray(good)
    struct.pack_into("<I", wrong_abi, 12, 7)           # abi_version, with a valid checksum
    put("wrong-abi", reseal(bytes(wrong_abi)))
    # Oversized: the header claims (and the file really has, sparsely) a 300 MiB ELF.
    big = bytearray(good[:HEADER_SIZE])
    struct.pack_into("<Q", big, 24, 300 << 20)
    path = os.path.join(dirname, "oversized.cap")
    with open(path, "wb") as f:
        f.write(big)
        f.truncate(HEADER_SIZE + (300 << 20))
    cases["oversized"] = path
    return cases


def refused(path):
    before = net_state()
    code, out = run_caprun([path], timeout=20)
    check(code is not None, "caprun still running after 20 s: %r" % out[-300:])
    check(code != 0, "caprun exited 0: %r" % out[-300:])
    lines = out.strip().splitlines()
    check_eq(len(lines), 1, "lines of error output (%r)" % out[-400:])
    check(os.path.basename(path) in lines[0], "error does not name the file: %r" % lines[0])
    check_eq(my_children(), [], "processes left behind")
    check_eq(net_state(), before, "network state (links, addresses, routes)")


def main():
    tap = Tap()
    if need_capsule_host(tap, "bad images"):
        tap.done()
    tmp = tempfile.mkdtemp(prefix="bad-images.")
    try:
        for name, path in make_cases(tmp).items():
            tap.run("bad image: %s" % name, refused, path)
    finally:
        shutil.rmtree(tmp)
    tap.done()


main()
