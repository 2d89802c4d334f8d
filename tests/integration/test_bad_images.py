"""test_bad_images.py: broken images get a one-line error naming the file, a non-zero exit, and leave nothing behind; version 1 images (BLAKE2b-256) still run."""
import json
import os
import shutil
import struct
import tempfile

from caplib import (CAPCTL, CHECKSUM_OFF, HEADER_SIZE, IMAGES, Capsule, Tap, check, check_eq,
                    connect, image_checksum, my_children, net_state, read_header, recv_exact,
                    reseal, run_caprun, run_tool, need_capsule_host, stop_all)

GOOD = os.path.join(IMAGES, "echo.cap")
PT_LOAD, PF_W = 1, 2
want = {}   # case name -> the exact problem caprun must name (after "caprun: PATH: ")


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
    want["corrupt"] = "checksum mismatch: image is corrupt"
    # Format version 2's checksum is XXH3-128 in the field's first 16 bytes; the rest must
    # be zero, and is checked as part of it.
    tail = bytearray(good)
    tail[CHECKSUM_OFF + 31] ^= 1
    put("checksum-tail", bytes(tail))
    want["checksum-tail"] = "checksum mismatch: image is corrupt"
    # A version 1 image (BLAKE2b-256) is read too, and checked as before.
    v1 = as_version_1(good)
    v1[HEADER_SIZE + elf_size // 2] ^= 0x40
    put("corrupt-v1", bytes(v1))
    want["corrupt-v1"] = "checksum mismatch: image is corrupt"
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
    # A PT_LOAD turned into another type, checksum recomputed: what it mapped (the capsule's
    # .data/.bss) would simply be missing at run time.  The exact line is checked for these.
    e_phoff, = struct.unpack_from("<Q", good, HEADER_SIZE + 32)
    e_phnum, = struct.unpack_from("<H", good, HEADER_SIZE + 56)
    types = [struct.unpack_from("<II", good, HEADER_SIZE + e_phoff + 56 * i) for i in range(e_phnum)]
    rw = [i for i, (t, flags) in enumerate(types) if t == PT_LOAD and flags & PF_W][0]
    for new_type, name, why in ((4, "PT_NOTE", "outside every PT_LOAD"),
                                (0x6474e551, "PT_GNU_STACK", "describes memory (it may only carry flags)"),
                                (0x12345, "type 0x12345", "a type the capsule loader does not know"),
                                (3, "PT_INTERP", "dynamically linked (static executables only)")):
        mutated = bytearray(good)
        struct.pack_into("<I", mutated, HEADER_SIZE + e_phoff + 56 * rw, new_type)
        label = "pt-load-to-" + name.replace(" ", "-").lower()
        put(label, reseal(bytes(mutated)))
        want[label] = "bad ELF: program header %d (%s): %s" % (rw, name, why)
    return cases


def as_version_1(data):
    """The same image in format version 1: its checksum BLAKE2b-256 again."""
    v1 = bytearray(data)
    struct.pack_into("<I", v1, 8, 1)
    return bytearray(reseal(bytes(v1)))


def packed_as_version_2():
    """What the packer writes: format version 2, and the checksum this test computes."""
    with open(GOOD, "rb") as f:
        good = f.read()
    h = read_header(good)
    check_eq(h["format_version"], 2, "echo.cap's format version")
    check_eq(h["checksum"], image_checksum(good), "echo.cap's checksum (XXH3-128, then 16 zeros)")
    info_says(GOOD, "XXH3-128", h["checksum"][:16])


def info_says(path, algorithm, checksum):
    """capctl info names the checksum's algorithm and shows the bytes it uses, and (ok)."""
    code, out, err = run_tool([CAPCTL, "info", "--json", path])
    check_eq(code, 0, "capctl info --json's exit code (stderr %r)" % err)
    got = json.loads(out)
    check_eq((got["checksum_algorithm"], got["checksum"], got["valid"]),
             (algorithm, checksum.hex(), True), "capctl info --json: algorithm, checksum, valid")
    code, out, err = run_tool([CAPCTL, "info", path])
    check("checksum:       %s %s (ok)" % (algorithm, checksum.hex()) in out.splitlines(),
          "capctl info's checksum line: %r" % out)


def version_1_runs(dirname):
    """A version 1 copy of echo.cap still validates (capctl info), starts and echoes."""
    with open(GOOD, "rb") as f:
        path = os.path.join(dirname, "echo-v1.cap")
        with open(path, "wb") as out:
            out.write(as_version_1(f.read()))
    with open(path, "rb") as f:
        info_says(path, "BLAKE2b-256", read_header(f.read(HEADER_SIZE))["checksum"])
    cap = Capsule("echo", image=path).start()
    try:
        with connect(cap.addr, 7) as s:
            s.sendall(b"v1\n")
            check_eq(recv_exact(s, 3), b"v1\n", "the echo of a version 1 image")
    finally:
        stop_all()


def refused(path, problem=None):
    before = net_state()
    code, out = run_caprun([path], timeout=20)
    check(code is not None, "caprun still running after 20 s: %r" % out[-300:])
    want = 127 if not os.path.exists(path) else 126   # docker's: not found, cannot be run
    check_eq(code, want, "caprun's exit code (output %r)" % out[-300:])
    lines = out.strip().splitlines()
    check_eq(len(lines), 1, "lines of error output (%r)" % out[-400:])
    check(os.path.basename(path) in lines[0], "error does not name the file: %r" % lines[0])
    if problem:
        check_eq(lines[0], "caprun: %s: %s" % (path, problem), "the error line")
    check_eq(my_children(), [], "processes left behind")
    check_eq(net_state(), before, "network state (links, addresses, routes)")


def main():
    tap = Tap()
    if need_capsule_host(tap, "bad images"):
        tap.done()
    tmp = tempfile.mkdtemp(prefix="bad-images.")
    try:
        tap.run("images are packed as format version 2 (XXH3-128)", packed_as_version_2)
        for name, path in make_cases(tmp).items():
            tap.run("bad image: %s" % name, refused, path, want.get(name))
        tap.run("a version 1 image (BLAKE2b-256) still runs", version_1_runs, tmp)
    finally:
        shutil.rmtree(tmp)
    tap.done()


main()
