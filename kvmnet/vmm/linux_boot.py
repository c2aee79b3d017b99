"""The x86 Linux boot protocol (Documentation/arch/x86/boot.rst): its 64-bit entry on the
kernel decompressed by the host, or its 32-bit entry on the bzImage as it is.

A bzImage is its real-mode setup (setup_sects + 1 sectors of 512 bytes, with the setup
header at 0x1f1) followed by the protected-mode kernel: a decompressor and the compressed
vmlinux. Both entries get the zero page (struct boot_params: the image's setup header,
type_of_loader, the e820 map, the command line and initramfs pointers) with ESI/RSI
pointing at it, and interrupts off; boot.rst's "64-bit Boot Protocol" and "32-bit Boot
Protocol" say what else each needs.

- 64-bit (decompress=True, the default): the vmlinux ELF decompressed on the host
  (vmlinux.py) is loaded at its physical addresses and entered at startup_64 in long mode,
  with page tables that map the first GiB 1:1 and a GDT whose 0x10 and 0x18 are the
  __BOOT_CS and __BOOT_DS the protocol asks for. This is how Firecracker and
  cloud-hypervisor boot; it spares the guest its own decompression, which in the kernel
  lab is minutes of slow ring-0 work.
- 32-bit (decompress=False): the protected-mode kernel is copied to 1 MiB and entered at
  code32_start in flat protected mode with paging off; it decompresses itself. Every
  bzImage has this entry; it asks nothing of the VMM but the zero page.

The real-mode entry would need a BIOS. Memory: the GDT at GDT_ADDRESS, the zero page at
ZERO_PAGE, the page tables at PML4 and the two pages after it, the command line at
CMDLINE, the MP table (mptable.py) at the end of base memory, where Linux looks for it, the
kernel at 1 MiB (32-bit) or its link address (64-bit, 16 MiB for Debian's), and the
initramfs as high as initrd_addr_max and RAM allow, above what the kernel takes first. The
e820 map says base memory up to the MP table, the MP table and the ROM area reserved, and
RAM from 1 MiB up.
"""

import struct
from dataclasses import dataclass, field

from kvmnet.vmm import mptable, vmlinux
from kvmnet.vmm.boot import Entry

HEADER_OFFSET = 0x1F1
MAGIC = b"HdrS"  # at 0x202
MIN_VERSION = 0x020A  # 2.10 (Linux 2.6.31): pref_address and init_size
LOADED_HIGH = 0x01
LOADER_UNDEFINED = 0xFF  # type_of_loader: "a boot loader with no assigned id"
GDT_ADDRESS, ZERO_PAGE, PML4, CMDLINE = 0x500, 0x7000, 0x9000, 0x20000
# null, null, __BOOT_CS (64-bit code), __BOOT_DS (flat data)
GDT = (0, 0, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF)
PAGE_PRESENT, PAGE_WRITE, PAGE_LARGE = 0x1, 0x2, 0x80
IDENTITY_MAPPED = 1 << 30  # what the 64-bit entry's page tables map 1:1
KERNEL_ADDRESS = 0x100000
E820_RAM, E820_RESERVED = 1, 2
E820_MAX = 128
# struct boot_params offsets (arch/x86/include/uapi/asm/bootparam.h)
E820_ENTRIES, HDR, E820_TABLE = 0x1E8, 0x1F1, 0x2D0
# setup header fields, as offsets into the image (and into the zero page)
SETUP_SECTS, BOOT_FLAG, VERSION, TYPE_OF_LOADER, LOADFLAGS = 0x1F1, 0x1FE, 0x206, 0x210, 0x211
CODE32_START, RAMDISK_IMAGE = 0x214, 0x218
CMD_LINE_PTR, INITRD_ADDR_MAX, CMDLINE_SIZE, PREF_ADDRESS, INIT_SIZE = (
    0x228, 0x22C, 0x238, 0x258, 0x260)
PAGE = 4096


class KernelImageError(ValueError):
    """The file is not a bzImage this loader can boot, or it does not fit; says why."""


@dataclass(frozen=True)
class SetupHeader:
    setup_sects: int
    version: int
    loadflags: int
    code32_start: int
    initrd_addr_max: int
    cmdline_size: int
    pref_address: int  # where a relocatable kernel decompresses itself (at the least)
    init_size: int  # bytes from there that the kernel needs before it sets up memory
    header_end: int  # the header's end in the image: what is copied to the zero page

    @property
    def workspace_end(self):
        """The end of what the kernel decompresses into and runs from at first."""
        return max(KERNEL_ADDRESS, self.pref_address) + self.init_size

    @property
    def kernel_offset(self):
        """Where the protected-mode kernel starts in the file."""
        return (self.setup_sects + 1) * 512

    @property
    def version_text(self):
        return f"{self.version >> 8}.{self.version & 0xFF:02d}"


def parse(image):
    """The setup header of a bzImage (bytes); KernelImageError naming what is wrong."""
    if len(image) < 0x264:
        raise KernelImageError(f"{len(image)} bytes: too short for a bzImage setup header")
    if image[0x202:0x206] != MAGIC:
        raise KernelImageError(f"no {MAGIC.decode()} signature at 0x202 (found "
                               f"{image[0x202:0x206]!r}): not a Linux bzImage")
    (boot_flag,) = struct.unpack_from("<H", image, BOOT_FLAG)
    if boot_flag != 0xAA55:
        raise KernelImageError(f"boot_flag is {boot_flag:#06x}, not 0xaa55")
    (version,) = struct.unpack_from("<H", image, VERSION)
    if version < MIN_VERSION:
        raise KernelImageError(f"boot protocol {version >> 8}.{version & 0xFF:02d}: this "
                               "loader needs 2.10 or later")
    loadflags = image[LOADFLAGS]
    if not loadflags & LOADED_HIGH:
        raise KernelImageError("a zImage (loadflags.LOADED_HIGH clear): only bzImages load "
                               "at 1 MiB")
    setup_sects = image[SETUP_SECTS] or 4  # 0 means 4, for old images
    (code32_start,) = struct.unpack_from("<I", image, CODE32_START)
    (initrd_addr_max,) = struct.unpack_from("<I", image, INITRD_ADDR_MAX)
    (cmdline_size,) = struct.unpack_from("<I", image, CMDLINE_SIZE)
    pref_address, init_size = struct.unpack_from("<QI", image, PREF_ADDRESS)
    header = SetupHeader(setup_sects, version, loadflags, code32_start, initrd_addr_max,
                         cmdline_size, pref_address, init_size, 0x202 + image[0x201])
    if header.kernel_offset >= len(image):
        raise KernelImageError(f"setup_sects says the kernel starts at "
                               f"{header.kernel_offset:#x}, past the file's {len(image):#x} "
                               "bytes: the image is truncated")
    return header


@dataclass(frozen=True)
class LinuxImage:
    """A kernel to boot (kvmnet.vmm.boot.BootImage): the bzImage's bytes, an initramfs
    (bytes, may be empty), the command line, and which entry (see the module's docstring).
    A broken image, or a payload the host cannot decompress, is refused here; load() may
    be called again (a warm reset)."""
    kernel: bytes
    initrd: bytes = b""
    cmdline: str = "console=ttyS0 nokaslr"
    decompress: bool = True
    decompressed: vmlinux.Vmlinux | None = field(default=None, init=False, repr=False,
                                                 compare=False)

    def __post_init__(self):
        header = parse(self.kernel)
        if self.decompress:
            try:
                found = vmlinux.extract(self.kernel, header.kernel_offset)
            except vmlinux.PayloadError as e:
                raise KernelImageError(str(e)) from None
            object.__setattr__(self, "decompressed", found)

    def load(self, memory, cpus=1, pci_intx=()):
        """Copy the kernel, initramfs, command line, zero page and MP table (cpus, and
        pci_intx: (slot, pin, gsi) for each PCI function's INTx) into memory."""
        header = parse(self.kernel)
        cmdline = self.cmdline.encode() + b"\0"
        if len(cmdline) - 1 > min(header.cmdline_size, PAGE - 1):
            raise KernelImageError(f"command line of {len(cmdline) - 1} bytes: this kernel "
                                   f"takes at most {header.cmdline_size}")
        kernel = self.decompressed
        kernel_end = max(header.workspace_end, kernel.end if kernel else 0)
        if kernel_end > min(memory.size, IDENTITY_MAPPED):
            raise KernelImageError(f"this kernel needs RAM up to {kernel_end >> 20} MiB to "
                                   f"start (pref_address + init_size): it does not fit in "
                                   f"{memory.size >> 20} MiB")
        initrd_at = self._initrd_address(header, memory.size, kernel_end)
        if kernel:
            for segment in kernel.segments:
                memory.write(segment.paddr, segment.data)
                memory.write(segment.paddr + len(segment.data),
                             bytes(segment.memsz - len(segment.data)))
            write_long_mode_tables(memory)
            entry = Entry(kernel.entry, {"rsi": ZERO_PAGE},
                          long_mode=(PML4, GDT_ADDRESS, 8 * len(GDT) - 1))
        else:
            memory.write(KERNEL_ADDRESS, self.kernel[header.kernel_offset:])
            entry = Entry(header.code32_start, {"rsi": ZERO_PAGE})
        memory.write(CMDLINE, cmdline)
        if self.initrd:
            memory.write(initrd_at, self.initrd)
        memory.write(mptable.ADDRESS, mptable.build(cpus, pci_intx))
        memory.write(ZERO_PAGE, self.zero_page(header, memory.size, initrd_at))
        return entry

    def _initrd_address(self, header, ram_size, kernel_end):
        """As high as allowed: clear of what the kernel takes first."""
        if not self.initrd:
            return 0
        top = min(ram_size, header.initrd_addr_max + 1)
        at = (top - len(self.initrd)) & ~(PAGE - 1)
        if at < kernel_end:
            raise KernelImageError(f"an initramfs of {len(self.initrd)} bytes does not fit "
                                   f"in {ram_size >> 20} MiB of RAM above the kernel's "
                                   f"{kernel_end >> 20} MiB")
        return at

    def zero_page(self, header, ram_size, initrd_at):
        """struct boot_params for this boot."""
        page = bytearray(PAGE)
        page[HDR:header.header_end] = self.kernel[HDR:header.header_end]
        page[TYPE_OF_LOADER] = LOADER_UNDEFINED
        struct.pack_into("<I", page, CMD_LINE_PTR, CMDLINE)
        struct.pack_into("<II", page, RAMDISK_IMAGE, initrd_at, len(self.initrd))
        regions = e820_map(ram_size)
        page[E820_ENTRIES] = len(regions)
        for i, (base, length, kind) in enumerate(regions):
            struct.pack_into("<QQI", page, E820_TABLE + 20 * i, base, length, kind)
        return bytes(page)


def e820_map(ram_size):
    """(base, length, type): base memory below the MP table, the table and the legacy ROM
    area reserved, RAM from 1 MiB."""
    return [(0, mptable.ADDRESS, E820_RAM),
            (mptable.ADDRESS, 0xA0000 - mptable.ADDRESS, E820_RESERVED),
            (0xF0000, 0x10000, E820_RESERVED),
            (KERNEL_ADDRESS, ram_size - KERNEL_ADDRESS, E820_RAM)]


def write_long_mode_tables(memory):
    """The GDT, and page tables mapping the first IDENTITY_MAPPED bytes 1:1 in 2 MiB pages:
    a PML4 at PML4, its first PDPT in the page after, that PDPT's first directory after it."""
    memory.write(GDT_ADDRESS, struct.pack(f"<{len(GDT)}Q", *GDT))
    pdpt, directory = PML4 + PAGE, PML4 + 2 * PAGE
    table = PAGE_PRESENT | PAGE_WRITE
    memory.write(PML4, struct.pack("<Q", pdpt | table).ljust(PAGE, b"\0"))
    memory.write(pdpt, struct.pack("<Q", directory | table).ljust(PAGE, b"\0"))
    memory.write(directory, struct.pack("<512Q", *(i << 21 | table | PAGE_LARGE
                                                   for i in range(512))))
