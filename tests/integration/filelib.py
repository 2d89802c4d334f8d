"""filelib.py: the image and snapshot file formats as the tests read, forge and convert them (capsule-abi/cap_image.h, cap_snapshot.h; docs/FORMAT-IMAGE.md, FORMAT-SNAPSHOT.md).

caplib re-exports every name here, so tests import them from caplib as before.
"""
import hashlib
import os
import re
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ------------------------------------------------------------ image headers

def abi_constants():
    """The #define'd integers of capsule-abi/cap_abi.h (so tests follow the header)."""
    consts = {}
    with open(os.path.join(ROOT, "capsule-abi", "cap_abi.h")) as f:
        for line in f:
            m = re.match(r"#define\s+(CAP_\w+)\s+\(?(0x[0-9a-fA-F]+|\d+)(UL|ULL|u|U)?\)?\s*(/\*.*)?$",
                         line.strip())
            if m:
                consts[m.group(1)] = int(m.group(2), 0)
    return consts


# struct cap_image_header (capsule-abi/cap_image.h), little-endian, 176 bytes.
HEADER_FMT = "<8sIIIIQQII32s64s32s"
HEADER_SIZE = 4096
CHECKSUM_OFF = struct.calcsize(HEADER_FMT) - 32


def read_header(data):
    f = struct.unpack_from(HEADER_FMT, data)
    keys = ("magic", "format_version", "abi_version", "header_size", "flags", "elf_size",
            "mem_size", "build_id_len", "reserved", "build_id", "name", "checksum")
    return dict(zip(keys, f))


def image_checksum(data):
    """The checksum field's 32 bytes for an image (header and ELF) as its format version
    says: version 1 BLAKE2b-256, version 2 XXH3-128 (canonical, as xxhsum -H2 prints it)
    and 16 zero bytes (docs/FORMAT-IMAGE.md)."""
    data = bytearray(data)
    data[CHECKSUM_OFF:CHECKSUM_OFF + 32] = bytes(32)
    if read_header(data)["format_version"] == 1:
        return hashlib.blake2b(bytes(data), digest_size=32).digest()
    return xxh3_128(bytes(data)) + bytes(16)


def xxh3_128(data):
    """XXH3-128 of data, canonical (big-endian, as xxhsum -H2 prints it): python3-xxhash
    (mk/deps.sh), or for a Python that does not see Debian's modules (a pyenv one, say)
    libxxhash.so.0 itself through ctypes (libxxhash-dev, which the build needs, pulls it in)."""
    try:
        import xxhash
        return xxhash.xxh3_128_digest(data)
    except ImportError:
        pass
    import ctypes

    class Hash128(ctypes.Structure):   # XXH128_hash_t, returned by value
        _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_128bits.restype = Hash128
    lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    h = lib.XXH3_128bits(data, len(data))
    return struct.pack(">QQ", h.high64, h.low64)


def reseal(data):
    """Recompute the checksum of an image after editing it (of the kind its version names)."""
    data = bytearray(data)
    data[CHECKSUM_OFF:CHECKSUM_OFF + 32] = image_checksum(data)
    return bytes(data)


# struct cap_snap_header (capsule-abi/cap_snapshot.h), little-endian, 832 bytes.
SNAP_FMT = "<8sIIIIII32s64s512s64sIIQQqqQQ32s8s32s"
SNAP_KEYS = ("magic", "format_version", "abi_version", "header_size", "flags", "nextents",
             "build_id_len", "build_id", "image_name", "image_path", "capsule_name", "ip", "mtu",
             "arena_size", "memfd_size", "frozen_at_ns", "taken_at_unix_ns", "data_offset",
             "data_size", "checksum", "key_id", "mac")
SNAP_MAC_OFF = struct.calcsize(SNAP_FMT) - 32
SNAP_KEY_ID_OFF = SNAP_MAC_OFF - 8
SNAP_CHECKSUM_OFF = SNAP_KEY_ID_OFF - 32
SNAP_PAGE = 4096


def snap_header(data):
    return dict(zip(SNAP_KEYS, struct.unpack_from(SNAP_FMT, data)))


SNAP_CHUNK = 256 * 1024   # CAP_SNAP_CHUNK_SIZE: data bytes per chunk entry (format version 3)
# struct cap_snap_header_ext, in the header page at 832: procs_size, procs_hash, chunk_salt (5)
SNAP_EXT_OFF = 832
SNAP_PROCS_HASH_OFF = SNAP_EXT_OFF + 8
SNAP_SALT_OFF = SNAP_EXT_OFF + 8 + 32


def snap_chunk_table_offset(nextents):
    return SNAP_PAGE + -(-16 * nextents // SNAP_PAGE) * SNAP_PAGE


def snap_chunk_entry_len(version):
    """A chunk table entry: BLAKE2b-256 (versions 3, 4) or a Poly1305 tag (5)."""
    return 16 if version >= 5 else 32


def snap_data_offset(version, nextents, data_size):
    """Where the data starts: after the header page, the extent table and the chunk table."""
    table = -(-data_size // SNAP_CHUNK) * snap_chunk_entry_len(version) if version >= 3 else 0
    return snap_chunk_table_offset(nextents) + -(-table // SNAP_PAGE) * SNAP_PAGE


def snap_chunk_key(key, salt):
    """Version 5's chunk key: keyed BLAKE2b-256 with the file's salt and the personalization
    CAP_SNAP_CHUNK_PERSONAL, empty message (capsule-abi/cap_snapshot.h)."""
    return hashlib.blake2b(b"", digest_size=32, key=key, salt=salt,
                           person=b"capsnap5-chunks\0").digest()


def snap_chunk_entry(version, chunk_key, index, chunk):
    """Chunk index's table entry: version 5 a Poly1305 tag under the one-time key ChaCha20
    makes from the chunk key at nonce 0^4 || le64(index) (RFC 8439 2.6, wirelib's code
    written from the RFC); before, its BLAKE2b-256."""
    if version < 5:
        return hashlib.blake2b(bytes(chunk), digest_size=32).digest()
    from wirelib import chacha20_block, poly1305
    otk = chacha20_block(chunk_key, 0, bytes(4) + struct.pack("<Q", index))[:32]
    return poly1305(otk, bytes(chunk))


def host_snapshot_key():
    """This test run's host key (caplib points CAPSULE_HOST_KEY at a file of its own)."""
    with open(os.environ["CAPSULE_HOST_KEY"], "rb") as f:
        return f.read()


def snap_reseal(data, key=None):
    """The plain checksum made to fit again after an edit, with the checksum and MAC fields
    zeroed: versions 3 and 4 redo each chunk's BLAKE2b-256 from the data, then hash the
    header page and the tables; version 2 hashes the whole file.  Anyone can do this; the
    MAC is what stops it.  Version 5's chunk tags need the snapshot key: redone with key
    (a key holder, as a buggy writer here), else left as they are (anyone else)."""
    data = bytearray(data)
    h = snap_header(data)
    covered = len(data)
    if h["format_version"] >= 3:
        table = snap_chunk_table_offset(h["nextents"])
        n = snap_chunk_entry_len(h["format_version"])
        ck = snap_chunk_key(key, bytes(data[SNAP_SALT_OFF:SNAP_SALT_OFF + 16])) if key else None
        for i, pos in enumerate(range(0, h["data_size"], SNAP_CHUNK)):
            if h["format_version"] >= 5 and not key:
                break
            chunk = data[h["data_offset"] + pos:h["data_offset"] + min(pos + SNAP_CHUNK, h["data_size"])]
            data[table + n * i:table + n * i + n] = snap_chunk_entry(h["format_version"], ck, i, chunk)
        covered = h["data_offset"]
    mac = bytes(data[SNAP_MAC_OFF:SNAP_MAC_OFF + 32])
    data[SNAP_CHECKSUM_OFF:SNAP_CHECKSUM_OFF + 32] = bytes(32)
    data[SNAP_MAC_OFF:SNAP_MAC_OFF + 32] = bytes(32)
    data[SNAP_CHECKSUM_OFF:SNAP_CHECKSUM_OFF + 32] = hashlib.blake2b(bytes(data[:covered]),
                                                                     digest_size=32).digest()
    data[SNAP_MAC_OFF:SNAP_MAC_OFF + 32] = mac
    return bytes(data)


def snap_as_version(data, version, key):
    """The same snapshot (version 5, one process) as this host wrote it in version 4 or 3
    (no salt; one process was version 3, several version 4) with chunk hashes, or 2 (no
    chunk table, the checksum over the whole file): data moved to its new offset, the
    checksum and the MAC (with key) made to fit."""
    h = snap_header(data)
    page = bytearray(data[:SNAP_PAGE])
    struct.pack_into("<I", page, 8, version)
    page[SNAP_SALT_OFF:SNAP_SALT_OFF + 16] = bytes(16)
    procs_size, = struct.unpack_from("<Q", page, SNAP_EXT_OFF)
    if (version < 4) != (procs_size == 0):
        raise ValueError("version %d and %s" % (version, "a process section" if procs_size else "none"))
    if version < 4:
        page[SNAP_EXT_OFF:SNAP_SALT_OFF] = bytes(SNAP_SALT_OFF - SNAP_EXT_OFF)
    offset = snap_data_offset(version, h["nextents"], h["data_size"])
    struct.pack_into("<Q", page, struct.calcsize(SNAP_FMT[:SNAP_FMT.index("QQ32s8s32s")]), offset)
    tables = bytearray(offset - SNAP_PAGE)
    ext_len = snap_chunk_table_offset(h["nextents"]) - SNAP_PAGE
    tables[:ext_len] = data[SNAP_PAGE:SNAP_PAGE + ext_len]
    out = bytes(page) + bytes(tables) + data[h["data_offset"]:]
    return snap_remac(snap_reseal(out, key), key)


def snap_remac(data, key):
    """What only a holder of key can do: the MAC over the header page (MAC field zeroed)."""
    data = bytearray(data)
    data[SNAP_MAC_OFF:SNAP_MAC_OFF + 32] = bytes(32)
    mac = hashlib.blake2b(bytes(data[:SNAP_PAGE]), digest_size=32, key=key).digest()
    data[SNAP_MAC_OFF:SNAP_MAC_OFF + 32] = mac
    return bytes(data)


def snapshot_key_id(key):
    """A snapshot key's fingerprint: the first 8 bytes of its unkeyed BLAKE2b-256."""
    return hashlib.blake2b(key, digest_size=32).digest()[:8]


def cluster_snapshot_key(data_key):
    """crypto_kdf_derive_from_key(32, 1, "capsnap1", data_key), which is keyed BLAKE2b with
    the subkey id as salt and the context as personalization."""
    return hashlib.blake2b(b"", digest_size=32, key=data_key, salt=struct.pack("<Q", 1) + bytes(8),
                           person=b"capsnap1" + bytes(8)).digest()
