"""The multiboot v1 loader, as QEMU's: a flat image with the header's address fields.

The guest is entered in 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX
pointing at an information block with mem_lower/mem_upper and a memory map.
"""

import struct
from dataclasses import dataclass

from kvmnet.vmm.boot import Entry

HEADER_MAGIC, LOADER_MAGIC = 0x1BADB002, 0x2BADB002
SEARCH_LIMIT = 8192
FLAG_ADDRESSES = 1 << 16
INFO_MEMORY, INFO_MMAP = 1 << 0, 1 << 6
INFO_ADDRESS = 0x9000  # below the image and the EBDA, as QEMU's loader places it
LOW_MEMORY_END = 0x9FC00  # 639 KiB of conventional memory
HIGH_MEMORY_START = 0x100000


class ImageError(ValueError):
    """The file is not a multiboot image this loader can boot; the message says why."""


@dataclass(frozen=True)
class Header:
    offset: int  # of the header in the file
    flags: int
    header_addr: int
    load_addr: int
    load_end_addr: int
    bss_end_addr: int
    entry_addr: int


def parse(image):
    if len(image) < 12:
        raise ImageError(f"image of {len(image)} bytes is too short for a multiboot header")
    for offset in range(0, min(len(image), SEARCH_LIMIT) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", image, offset)
        if magic != HEADER_MAGIC:
            continue
        if (magic + flags + checksum) & 0xFFFF_FFFF:
            raise ImageError(f"multiboot header at {offset:#x} has a bad checksum")
        if not flags & FLAG_ADDRESSES:
            raise ImageError("multiboot header without address fields (flag 16): "
                             "only flat images are supported, as by QEMU for 64-bit code")
        if offset + 32 > len(image):
            raise ImageError("multiboot header is cut off")
        return Header(offset, flags, *struct.unpack_from("<5I", image, offset + 12))
    raise ImageError(f"no multiboot header in the first {SEARCH_LIMIT} bytes")


def extent(image):
    """(header, file offset, length, bss end) of what the image loads; ImageError if the
    file does not hold it or its entry is outside it."""
    h = parse(image)
    start = h.offset - (h.header_addr - h.load_addr)
    length = (h.load_end_addr - h.load_addr) if h.load_end_addr else len(image) - start
    bss_end = max(h.bss_end_addr, h.load_addr + length)
    if start < 0 or start + length > len(image):
        raise ImageError(f"image is truncated: the header asks for {length:#x} bytes from "
                         f"file offset {start:#x}, the file has {len(image):#x}")
    if not h.load_addr <= h.entry_addr < h.load_addr + length:
        raise ImageError(f"entry {h.entry_addr:#x} is outside the loaded image")
    return h, start, length, bss_end


def load(image, memory):
    """Copy the image into guest memory, write the info block; return (entry, info address)."""
    h, start, length, bss_end = extent(image)
    if h.load_addr < HIGH_MEMORY_START or bss_end > memory.size:
        raise ImageError(f"image wants {h.load_addr:#x}..{bss_end:#x}, outside RAM above 1 MiB")
    memory.write(h.load_addr, image[start:start + length])
    memory.write(h.load_addr + length, bytes(bss_end - h.load_addr - length))
    memory.write(INFO_ADDRESS, info_block(memory.size))
    return h.entry_addr, INFO_ADDRESS


def info_block(ram_size):
    """The multiboot information structure, followed by its memory map."""
    mmap_address = INFO_ADDRESS + 88
    regions = [(0, LOW_MEMORY_END, 1), (HIGH_MEMORY_START, ram_size - HIGH_MEMORY_START, 1)]
    mmap = b"".join(struct.pack("<IQQI", 20, base, length, kind) for base, length, kind in regions)
    info = bytearray(88)
    struct.pack_into("<III", info, 0, INFO_MEMORY | INFO_MMAP, LOW_MEMORY_END >> 10,
                     (ram_size - HIGH_MEMORY_START) >> 10)
    struct.pack_into("<II", info, 44, len(mmap), mmap_address)
    return bytes(info) + mmap


class MultibootImage:
    """A multiboot image as a machine boots it (kvmnet.vmm.boot.BootImage): EAX holds the
    loader's magic, EBX the information block."""

    def __init__(self, image):
        self.image = bytes(image)
        extent(self.image)  # a broken image is refused before any VM is made

    def load(self, memory, cpus=1, pci_intx=()):
        entry, info = load(self.image, memory)
        return Entry(entry, {"rax": LOADER_MAGIC, "rbx": info})
