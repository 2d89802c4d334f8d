"""wirelib.py: the host-to-host wire datagram (hosts/formats/wire.h) for tests that forge or open them: the header, the sequence numbers, and the Poly1305 tag, with ChaCha20 and Poly1305 written in Python from RFC 8439, apart from the C code."""
import hmac
import struct
import time

NETWORK_ID = 1   # the network id of topolib's hosts (caphostd --network-id)

WIRE_HDR = struct.Struct(">BBHIIIQHH")     # version type flags network sender epoch seq length reserved
WIRE_DATA, WIRE_REDIRECT = 1, 2
WIRE_REDIR = struct.Struct(">IIIHHI")      # capsule_ip host_id locator_ip port reserved epoch
_wire_last = [0]


def wire_seq():
    """Like wire_seq_next: (CLOCK_REALTIME ms << 20) | counter, strictly increasing."""
    s = max(int(time.time() * 1000) << 20, _wire_last[0] + 1)
    _wire_last[0] = s
    return s


def chacha20_block(key, counter, nonce):
    """RFC 8439 section 2.3: one 64-byte block of ChaCha20's key stream."""
    def rotl(v, c):
        return ((v << c) & 0xffffffff) | (v >> (32 - c))

    def quarter(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xffffffff
        s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xffffffff
        s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xffffffff
        s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xffffffff
        s[b] = rotl(s[b] ^ s[c], 7)
    state = ([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] + list(struct.unpack("<8I", key)) +
             [counter] + list(struct.unpack("<3I", nonce)))
    w = state[:]
    for _ in range(10):
        for q in ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
                  (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)):
            quarter(w, *q)
    return struct.pack("<16I", *((a + b) & 0xffffffff for a, b in zip(w, state)))


def poly1305(key, msg):
    """RFC 8439 section 2.5."""
    r = int.from_bytes(key[:16], "little") & 0x0ffffffc0ffffffc0ffffffc0fffffff
    s = int.from_bytes(key[16:32], "little")
    p, acc = (1 << 130) - 5, 0
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b"\x01", "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def wire_tag(key, body):
    """wire.h's tag of header + payload: Poly1305 under ChaCha20's one-time key at the nonce
    sender || seq (RFC 8439 section 2.6), written from the RFC apart from the C code."""
    return poly1305(chacha20_block(key, 0, body[8:12] + body[16:24])[:32], body)


def wire_seal(key, mtype, sender, epoch, payload, seq=None, network=NETWORK_ID, version=2,
              flags=0, reserved=0, length=None):
    hdr = WIRE_HDR.pack(version, mtype, flags, network, sender, epoch,
                        wire_seq() if seq is None else seq,
                        len(payload) if length is None else length, reserved)
    return hdr + payload + wire_tag(key, hdr + payload)


def wire_open(key, data):
    """(fields dict, payload) of a datagram whose tag verifies under key, else None."""
    if len(data) < WIRE_HDR.size + 16:
        return None
    body, tag = data[:-16], data[-16:]
    if not hmac.compare_digest(wire_tag(key, body), tag):
        return None
    f = dict(zip(("version", "type", "flags", "network", "sender", "epoch", "seq", "length",
                  "reserved"), WIRE_HDR.unpack(body[:WIRE_HDR.size])))
    return f, body[WIRE_HDR.size:]
