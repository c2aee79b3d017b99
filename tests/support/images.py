"""Flat multiboot v1 images made in memory, for tests that load or boot one without
building the guest image: a header (`header`) in front of a few bytes of code (`image`)."""

import struct

MAGIC, ADDRESSES, MEMINFO = 0x1BADB002, 1 << 16, 1 << 1
MiB = 1 << 20
CODE = bytes(range(1, 65))  # no zero bytes, so zeroed bss is told apart


def header(load, at=0, *, flags=ADDRESSES | MEMINFO, checksum=None, load_end=0, bss_end=0,
           entry=None):
    """A multiboot header for an image loaded at `load` whose header is at file offset `at`."""
    if checksum is None:
        checksum = -(MAGIC + flags) & 0xFFFF_FFFF
    entry = load + at + 32 if entry is None else entry
    return struct.pack("<8I", MAGIC, flags, checksum, load + at, load, load_end, bss_end, entry)


def image(load=MiB, pad=b"", code=CODE, **fields):
    return pad + header(load, len(pad), **fields) + code
