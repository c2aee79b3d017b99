"""The kernel inside a bzImage, decompressed on the host: the ELF vmlinux that the image's
own decompressor would make, and the segments it loads.

Why on the host: in the kernel lab, where a Linux guest boots, guest ring 0 runs ~150
times slower than natively, and decompressing a Debian kernel's 8 MB of xz is ring-0 work
measured in minutes there; Python's lzma does it in a second. The bzImage says where its
payload is (payload_offset and payload_length, boot protocol 2.08) and the payload's magic
says its format; xz and gzip are read here, the kernel's other formats are refused naming
themselves.
"""

import gzip
import lzma
import struct
from dataclasses import dataclass

PAYLOAD_OFFSET = 0x248  # and payload_length after it
FORMATS = {b"\xfd7zXZ\x00": "xz", b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd",
           b"\x5d\x00\x00": "lzma", b"\x02\x21\x4c\x18": "lz4", b"\x89LZO": "lzo",
           b"BZh": "bzip2"}
PT_LOAD = 1


class PayloadError(ValueError):
    """The payload cannot be decompressed or read here; the message names why."""


@dataclass(frozen=True)
class Segment:
    paddr: int
    data: bytes
    memsz: int  # data, then zeros up to memsz


@dataclass(frozen=True)
class Vmlinux:
    entry: int  # startup_64, physical
    segments: tuple

    @property
    def end(self):
        return max(s.paddr + s.memsz for s in self.segments)


def payload_format(payload):
    return next((name for magic, name in FORMATS.items() if payload.startswith(magic)),
                "unknown")


def extract(image, kernel_offset):
    """The Vmlinux in a bzImage (bytes) whose protected-mode kernel starts at kernel_offset."""
    offset, length = struct.unpack_from("<II", image, PAYLOAD_OFFSET)
    payload = image[kernel_offset + offset:kernel_offset + offset + length]
    kind = payload_format(payload)
    try:
        if kind == "xz":
            # The kernel appends the uncompressed size after the stream: the decompressor
            # stops at the stream's end and leaves it.
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
        elif kind == "gzip":
            elf = gzip.decompress(payload)
        else:
            raise PayloadError(f"the kernel's payload is {kind}-compressed: this loader reads "
                               "xz and gzip (boot it with decompress=False: its own "
                               "decompressor)")
    except (lzma.LZMAError, OSError, EOFError) as e:
        raise PayloadError(f"the {kind} payload does not decompress: {e}") from None
    return parse_elf(elf)


def parse_elf(elf):
    """A 64-bit little-endian x86-64 ELF executable's entry and PT_LOAD segments."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise PayloadError("the decompressed payload is not a 64-bit little-endian ELF")
    (entry,) = struct.unpack_from("<Q", elf, 24)
    (phoff,) = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    segments = []
    for i in range(phnum):
        kind, _, offset, _, paddr, filesz, memsz = struct.unpack_from(
            "<IIQQQQQ", elf, phoff + i * phentsize)
        if kind != PT_LOAD:
            continue
        if offset + filesz > len(elf) or filesz > memsz:
            raise PayloadError(f"PT_LOAD at {paddr:#x} is cut off or larger than its memory")
        segments.append(Segment(paddr, elf[offset:offset + filesz], memsz))
    if not segments:
        raise PayloadError("the vmlinux has no PT_LOAD segment")
    # x86's vmlinux.lds makes the ELF entry startup_64's physical address.
    return Vmlinux(entry, tuple(segments))
