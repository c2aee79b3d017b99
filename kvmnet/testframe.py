"""The suite's test frames: the one layout the guest, the peer and the VMM all build and check.

    offset  size  field
    0       6     destination MAC
    6       6     source MAC
    12      2     EtherType 0x88B5 (IEEE 802 local experimental 1)
    14      4     magic b"KVMN"
    18      4     seq, big-endian: 0, 1, 2 ... within one stream
    22      4     seed, big-endian: names the stream
    26      2     length, big-endian: the frame's length as sent (28..9018), before padding
    28      ...   payload: PAYLOAD(seed, seq), length - 28 bytes

Payload bytes come from a 32-bit LCG (Numerical Recipes' constants) started at
seed XOR (seq * 0x9E3779B1): each step's state is written little-endian, four bytes a step.
A frame shorter than 60 bytes may arrive padded with zeros to 60; the length field says
where the frame ends.

Acknowledgements, sent by a receiver every N frames so that a sender can keep a window:

    12      2     EtherType 0x88B6
    14      4     magic b"KACK"
    18      4     frames received so far, big-endian
    22      4     frames that failed verification so far, big-endian
    (zero-padded to 60 bytes)
"""

import struct

ETHERTYPE, ACK_ETHERTYPE = 0x88B5, 0x88B6
MAGIC, ACK_MAGIC = b"KVMN", b"KACK"
HEADER = 28
MIN_LENGTH, MAX_LENGTH = HEADER, 9018
LCG_A, LCG_C, SEQ_MIX = 1664525, 1013904223, 0x9E3779B1
MASK32 = 0xFFFF_FFFF


def mac_bytes(mac):
    """'02:00:00:00:00:01' (or bytes) -> 6 bytes."""
    return mac if isinstance(mac, bytes) else bytes.fromhex(mac.replace(":", ""))


def payload(seed, seq, length):
    state = (seed ^ (seq * SEQ_MIX)) & MASK32
    words = []
    for _ in range((length + 3) // 4):
        state = (state * LCG_A + LCG_C) & MASK32
        words.append(state)
    return struct.pack(f"<{len(words)}I", *words)[:length]


def build(dst, src, seq, seed, length):
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"test frame length {length} outside {MIN_LENGTH}..{MAX_LENGTH}")
    head = mac_bytes(dst) + mac_bytes(src) + struct.pack(">H4sIIH", ETHERTYPE, MAGIC, seq, seed,
                                                         length)
    return head + payload(seed, seq, length - HEADER)


def parse(frame):
    """(seq, seed, length) of a test frame, or None if frame is not one."""
    if len(frame) < HEADER or frame[12:18] != struct.pack(">H4s", ETHERTYPE, MAGIC):
        return None
    return struct.unpack_from(">IIH", frame, 18)


def check(frame, seed=None):
    """None if frame is a whole, correct test frame (of stream seed, if given); otherwise
    a sentence saying what is wrong with it."""
    fields = parse(frame)
    if fields is None:
        return "not a kvmnet test frame"
    seq, frame_seed, length = fields
    if seed is not None and frame_seed != seed:
        return f"seed {frame_seed:#x}, expected {seed:#x}"
    if len(frame) < length:
        return f"seq {seq}: {len(frame)} bytes, the header says {length}"
    if any(frame[length:]) or (len(frame) > length and len(frame) > 60):
        return f"seq {seq}: {len(frame) - length} bytes past the end that are not padding"
    expected = payload(frame_seed, seq, length - HEADER)
    if frame[HEADER:length] != expected:
        at = next(i for i, (a, b) in enumerate(zip(frame[HEADER:length], expected)) if a != b)
        return f"seq {seq}: payload differs at byte {HEADER + at}"
    return None


def ack(dst, src, received, bad):
    frame = mac_bytes(dst) + mac_bytes(src) + struct.pack(">H4sII", ACK_ETHERTYPE, ACK_MAGIC,
                                                           received, bad)
    return frame.ljust(60, b"\0")


def parse_ack(frame):
    """(received, bad) of an acknowledgement, or None."""
    if len(frame) < 26 or frame[12:18] != struct.pack(">H4s", ACK_ETHERTYPE, ACK_MAGIC):
        return None
    return struct.unpack_from(">II", frame, 18)
