"""The Linux boot protocol loader and the MP table, read back as Linux reads them: a real
Debian bzImage loaded into guest memory, its zero page, e820 map and command line, the MP
floating pointer found by Linux's scan and the table's entries; broken images and tables
that do not fit refused naming why."""

import struct
from contextlib import contextmanager

import pytest

from kvmnet.lab import kernel
from kvmnet.lab.lab import DEFAULT_CACHE
from kvmnet.vmm import linux_boot, mptable
from kvmnet.vmm.linux_boot import KernelImageError, LinuxImage
from kvmnet.vmm.memory import GuestMemory

PACKAGE = "linux-image-6.1.0-47-amd64-unsigned"  # the lab's "old" kernel (tests/test_lab.py)
MiB = 1 << 20


@pytest.fixture(scope="module")
def bzimage():
    return kernel.resolve(PACKAGE, DEFAULT_CACHE).vmlinuz.read_bytes()


@pytest.fixture
def memory():
    m = GuestMemory(256 * MiB)
    yield m
    m.close()


@contextmanager
def ram(size):
    m = GuestMemory(size)
    try:
        yield m
    finally:
        m.close()


def u32(memory, address):
    return struct.unpack("<I", memory.read(address, 4))[0]


def check_zero_page(memory, bzimage, initrd, cmdline):
    zero = memory.read(linux_boot.ZERO_PAGE, 4096)
    assert zero[0x1F1:0x210] == bzimage[0x1F1:0x210]  # the setup header, as in the image
    assert zero[0x202:0x206] == b"HdrS" and zero[0x210] == 0xFF  # type_of_loader
    line = memory.read(u32(memory, linux_boot.ZERO_PAGE + 0x228), 64)
    assert line.split(b"\0")[0] == cmdline.encode()
    ramdisk, size = struct.unpack_from("<II", zero, 0x218)
    assert size == len(initrd) and memory.read(ramdisk, size) == initrd
    assert ramdisk % 4096 == 0 and ramdisk + size <= memory.size
    return ramdisk


def test_the_32_bit_entry_loads_the_bzimage_at_1_mib_with_its_zero_page(bzimage, memory):
    header = linux_boot.parse(bzimage)
    assert header.version >= 0x020F and header.code32_start == linux_boot.KERNEL_ADDRESS
    initrd = bytes(range(256)) * 64
    entry = LinuxImage(bzimage, initrd, "console=ttyS0 acpi=off", decompress=False).load(memory)
    assert (entry.eip, entry.regs, entry.long_mode) == (header.code32_start,
                                                         {"rsi": linux_boot.ZERO_PAGE}, None)
    kernel_bytes = bzimage[header.kernel_offset:]
    assert memory.read(linux_boot.KERNEL_ADDRESS, len(kernel_bytes)) == kernel_bytes
    check_zero_page(memory, bzimage, initrd, "console=ttyS0 acpi=off")


def translate(memory, cr3, virtual):
    """A 4-level walk of the page tables at cr3, 2 MiB pages allowed; None if unmapped."""
    table = cr3
    for level, shift in enumerate((39, 30, 21)):
        entry = struct.unpack("<Q", memory.read(table + 8 * (virtual >> shift & 511), 8))[0]
        if not entry & 1:
            return None
        if level == 2 and entry & 0x80:
            return (entry & ~0x1FFFFF & (1 << 52) - 1) | virtual & 0x1FFFFF
        table = entry & ~0xFFF & (1 << 52) - 1
    return None


def test_the_64_bit_entry_loads_vmlinux_on_identity_page_tables(bzimage, memory):
    initrd = b"initramfs" * 1000
    image = LinuxImage(bzimage, initrd, "console=ttyS0 acpi=off")
    entry = image.load(memory)
    kernel = image.decompressed
    assert entry.eip == kernel.entry == 0x1000000 and entry.regs == {"rsi": linux_boot.ZERO_PAGE}
    for segment in kernel.segments:
        assert memory.read(segment.paddr, 4096) == segment.data[:4096]
    assert memory.read(entry.eip, 16) == kernel.segments[0].data[:16]
    cr3, gdt, limit = entry.long_mode
    for address in (entry.eip, linux_boot.ZERO_PAGE, linux_boot.CMDLINE, memory.size - 1):
        assert translate(memory, cr3, address) == address, hex(address)
    descriptors = struct.unpack("<4Q", memory.read(gdt, limit + 1))
    assert descriptors[2] >> 53 & 1 and descriptors[2] >> 47 & 1  # 0x10: 64-bit, present
    assert descriptors[3] >> 41 & 1 and not descriptors[3] >> 43 & 1  # 0x18: writable data
    ramdisk = check_zero_page(memory, bzimage, initrd, "console=ttyS0 acpi=off")
    assert ramdisk >= kernel.end


def test_a_payload_the_host_cannot_decompress_is_refused_naming_its_format(bzimage):
    header = linux_boot.parse(bzimage)
    offset = header.kernel_offset + struct.unpack_from("<I", bzimage, 0x248)[0]
    zstd = bzimage[:offset] + b"\x28\xb5\x2f\xfd" + bzimage[offset + 4:]
    with pytest.raises(KernelImageError, match="zstd-compressed.*decompress=False"):
        LinuxImage(zstd)
    LinuxImage(zstd, decompress=False)  # its own decompressor would read it


def test_the_e820_map_covers_ram_and_reserves_the_mp_table(bzimage, memory):
    LinuxImage(bzimage).load(memory)
    zero = memory.read(linux_boot.ZERO_PAGE, 4096)
    regions = [struct.unpack_from("<QQI", zero, 0x2D0 + 20 * i) for i in range(zero[0x1E8])]
    ram = [(base, base + length) for base, length, kind in regions if kind == 1]
    reserved = [(base, base + length) for base, length, kind in regions if kind == 2]
    assert ram == [(0, mptable.ADDRESS), (MiB, memory.size)]
    assert (mptable.ADDRESS, 0xA0000) in reserved


def find_mp_pointer(memory):
    """Linux's smp_scan_config over the last KiB of base memory: 16-byte steps."""
    for at in range(639 * 1024, 640 * 1024, 16):
        block = memory.read(at, 16)
        if block[:4] == b"_MP_" and sum(block) % 256 == 0:
            return at
    return None


def test_linux_finds_the_mp_table_and_reads_cpus_ioapic_and_pci_intx(bzimage, memory):
    LinuxImage(bzimage).load(memory, cpus=2, pci_intx=[(1, 1, 16), (2, 1, 17)])
    pointer = find_mp_pointer(memory)
    assert pointer is not None, "no _MP_ floating pointer where Linux scans"
    table = u32(memory, pointer + 4)
    length, = struct.unpack("<H", memory.read(table + 4, 2))
    raw = memory.read(table, length)
    assert raw[:4] == b"PCMP" and sum(raw) % 256 == 0
    count, lapic = struct.unpack_from("<HI", raw, 34)
    assert lapic == mptable.LAPIC_ADDRESS
    at, seen = 44, []
    for _ in range(count):
        seen.append(raw[at:at + (20 if raw[at] == mptable.PROCESSOR else 8)])
        at += len(seen[-1])
    assert at == length
    cpus = [e for e in seen if e[0] == mptable.PROCESSOR]
    assert [(e[1], e[3]) for e in cpus] == [(0, 3), (1, 1)]  # APIC ids; enabled, the BSP
    ioapic = next(e for e in seen if e[0] == mptable.IOAPIC)
    assert struct.unpack_from("<I", ioapic, 4)[0] == mptable.IOAPIC_ADDRESS
    pci = [(e[5] >> 2, (e[5] & 3) + 1, e[7]) for e in seen
           if e[0] == mptable.IO_INTERRUPT and e[4] == mptable.PCI_BUS]
    assert pci == [(1, 1, 16), (2, 1, 17)]
    isa = {e[5]: e[7] for e in seen if e[0] == mptable.IO_INTERRUPT and e[4] == mptable.ISA_BUS}
    assert isa == {irq: irq for irq in range(16)}


@pytest.mark.parametrize("damage, why", [
    (lambda k: k[:0x200], "too short"),
    (lambda k: k[:0x202] + b"XXXX" + k[0x206:], "not a Linux bzImage"),
    (lambda k: k[:0x206] + b"\x09\x02" + k[0x208:], "boot protocol 2.09"),
    (lambda k: k[:0x211] + bytes([k[0x211] & ~1]) + k[0x212:], "zImage"),
    (lambda k: k[:0x1F1] + b"\xff" + k[0x1F2:0x1F1 + 0x400], "truncated"),
])
def test_a_broken_kernel_image_is_refused_naming_why(bzimage, damage, why):
    with pytest.raises(KernelImageError, match=why):
        LinuxImage(damage(bzimage))


def test_what_does_not_fit_is_refused_naming_sizes(bzimage):
    with ram(64 * MiB) as small, pytest.raises(KernelImageError, match="needs RAM up to 79"):
        LinuxImage(bzimage, decompress=False).load(small)
    with ram(128 * MiB) as memory:
        with pytest.raises(KernelImageError, match="initramfs of .* does not fit"):
            LinuxImage(bzimage, bytes(60 * MiB)).load(memory)
        with pytest.raises(KernelImageError, match="command line of 3000 bytes"):
            LinuxImage(bzimage, cmdline="x" * 3000).load(memory)


def test_an_mp_table_refuses_a_wiring_it_cannot_state():
    with pytest.raises(mptable.TableError, match="slot 3 pin 5"):
        mptable.build(1, [(3, 5, 16)])
    with pytest.raises(mptable.TableError, match="0 CPUs"):
        mptable.build(0)
