"""kvmnet.vmm.multiboot: loading flat multiboot v1 images and the information block."""

import struct
import subprocess
from pathlib import Path

import pytest

from kvmnet.vmm import multiboot
from kvmnet.vmm.memory import GuestMemory
from support.images import CODE, MAGIC, MEMINFO, MiB, image

RAM = 64 * MiB
GUESTIMG = Path(__file__).resolve().parent.parent / "guestimg"


@pytest.fixture
def memory():
    m = GuestMemory(RAM)
    yield m
    m.close()


def test_image_bytes_land_at_the_load_address(memory):
    img = image(load=2 * MiB)
    multiboot.load(img, memory)
    assert memory.read(2 * MiB, len(img)) == img


def test_header_after_other_bytes_loads_the_file_from_its_start(memory):
    img = image(pad=b"\xeb\xfe" * 32)
    entry, _ = multiboot.load(img, memory)
    assert memory.read(MiB, len(img)) == img
    assert entry == MiB + 64 + 32


def test_load_end_address_limits_what_is_copied(memory):
    img = image(load_end=MiB + 40)
    memory.write(MiB, b"\xaa" * len(img))
    multiboot.load(img, memory)
    assert memory.read(MiB, 40) == img[:40]
    assert memory.read(MiB + 40, len(img) - 40) == b"\xaa" * (len(img) - 40)  # rest not copied


def test_bss_is_zeroed_up_to_its_end_and_no_further(memory):
    img = image(bss_end=MiB + 0x3000)
    memory.write(MiB, b"\xaa" * 0x4000)  # what a previous boot might have left
    multiboot.load(img, memory)
    assert memory.read(MiB + len(img), 0x3000 - len(img)) == bytes(0x3000 - len(img))
    assert memory.read(MiB + 0x3000, 0x1000) == b"\xaa" * 0x1000


def test_load_returns_the_entry_and_the_information_block_address(memory):
    entry, info = multiboot.load(image(entry=MiB + 40), memory)
    assert entry == MiB + 40
    assert info == multiboot.INFO_ADDRESS


def test_information_block_gives_memory_sizes_and_map(memory):
    _, info = multiboot.load(image(), memory)
    flags, lower, upper = struct.unpack("<III", memory.read(info, 12))
    assert flags & 1 and flags & 1 << 6  # mem_* and mmap_* valid
    assert lower == 639
    assert upper == (RAM - MiB) // 1024
    mmap_length, mmap_addr = struct.unpack("<II", memory.read(info + 44, 8))
    assert mmap_length == 2 * 24
    entries = list(struct.iter_unpack("<IQQI", memory.read(mmap_addr, mmap_length)))
    assert entries == [(20, 0, 639 * 1024, 1), (20, MiB, RAM - MiB, 1)]


def load_error(img, memory):
    with pytest.raises(multiboot.ImageError) as e:
        multiboot.load(img, memory)
    return str(e.value)


def test_empty_file_is_refused(memory):
    assert "0 bytes" in load_error(b"", memory)


def test_image_without_magic_in_the_first_8192_bytes_is_refused(memory):
    assert "no multiboot header in the first 8192" in load_error(
        image(pad=bytes(8192)), memory)


def test_bad_checksum_is_refused(memory):
    assert "bad checksum" in load_error(image(checksum=0x1234), memory)


def test_header_without_address_fields_is_refused(memory):
    flags = MEMINFO
    assert "flag 16" in load_error(image(flags=flags), memory)


def test_header_cut_off_by_the_end_of_file_is_refused(memory):
    assert "cut off" in load_error(image()[:20], memory)


def test_truncated_file_is_refused(memory):
    message = load_error(image(load_end=MiB + 0x10000), memory)
    assert "truncated" in message and "0x10000" in message


@pytest.mark.parametrize("load", [0x8000, 0xFF000])
def test_load_address_below_1_mib_is_refused(memory, load):
    assert f"{load:#x}" in load_error(image(load=load), memory)


def test_image_beyond_ram_is_refused(memory):
    assert "outside RAM" in load_error(image(load=RAM - 32), memory)


def test_bss_beyond_ram_is_refused(memory):
    assert "outside RAM" in load_error(image(bss_end=RAM + 4096), memory)


@pytest.mark.parametrize("entry", [MiB - 1, MiB + 32 + len(CODE), MiB + 0x1000])
def test_entry_outside_the_image_is_refused(memory, entry):
    message = load_error(image(entry=entry, bss_end=MiB + 0x2000), memory)
    assert "entry" in message and f"{entry:#x}" in message


@pytest.mark.xfail(strict=True, reason="a magic word with a bad checksum ends the search; "
                   "QEMU's and GRUB's loaders skip it and keep looking")
def test_stray_magic_before_the_header_is_skipped(memory):
    stray = struct.pack("<III", MAGIC, 0, 0)
    entry, _ = multiboot.load(image(pad=stray + bytes(4)), memory)
    assert entry == MiB + 16 + 32


def test_refused_image_leaves_memory_untouched(memory):
    load_error(image(entry=MiB + 0x1000), memory)
    assert memory.read(MiB, 256) == bytes(256)
    assert memory.read(multiboot.INFO_ADDRESS, 136) == bytes(136)


def test_the_guest_image_enters_inside_what_it_loads(tmp_path, memory):
    try:
        subprocess.run(["make", "-s", "-C", str(GUESTIMG), f"O={tmp_path}"], check=True,
                       capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        pytest.skip(f"cannot build the guest image: {e}")
    img = (tmp_path / "kvmnet-guest.bin").read_bytes()
    h = multiboot.parse(img)
    assert h.load_addr == MiB
    end = h.load_end_addr or h.load_addr + len(img) - h.offset
    assert h.load_addr <= h.entry_addr < end
    assert multiboot.load(img, memory)[0] == h.entry_addr
