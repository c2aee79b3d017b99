"""kvmnet.vmm.bus: an address space that dispatches accesses to devices by range."""

import pytest

from kvmnet.vmm.bus import Bus


class Recorder:
    """A device that answers reads with its name and records every access."""

    def __init__(self, name):
        self.name = name
        self.reads, self.writes = [], []

    def read(self, offset, size):
        self.reads.append((offset, size))
        return bytes([offset & 0xFF]) * size

    def write(self, offset, data):
        self.writes.append((offset, data))

    def __repr__(self):
        return f"<{self.name}>"


def test_find_returns_the_device_whose_range_holds_the_address():
    bus, a, b = Bus("io"), Recorder("a"), Recorder("b")
    bus.insert(b, 0x200, 0x10)
    bus.insert(a, 0x100, 0x10)
    assert bus.find(0x100) == (a, 0)
    assert bus.find(0x10F) == (a, 0xF)
    assert bus.find(0x205) == (b, 5)


def test_find_outside_every_range_returns_nothing():
    bus = Bus("io")
    bus.insert(Recorder("a"), 0x100, 0x10)
    for addr in (0, 0xFF, 0x110, 0x1_0000):
        assert bus.find(addr) == (None, None)


def test_ranges_may_touch_without_overlapping():
    bus, a, b = Bus("io"), Recorder("a"), Recorder("b")
    bus.insert(a, 0x100, 0x10)
    bus.insert(b, 0x110, 0x10)
    assert bus.find(0x10F)[0] is a and bus.find(0x110)[0] is b


def test_device_sees_offsets_relative_to_its_base():
    bus, dev = Bus("mmio"), Recorder("dev")
    bus.insert(dev, 0xE000_0000, 0x1000)
    assert bus.read(0xE000_0004, 4) == b"\x04" * 4
    bus.write(0xE000_0010, b"\x01\x02")
    assert dev.reads == [(4, 4)]
    assert dev.writes == [(0x10, b"\x01\x02")]


def test_writes_reach_the_device_as_bytes():
    bus, dev = Bus("io"), Recorder("dev")
    bus.insert(dev, 0x80, 1)
    bus.write(0x80, bytearray(b"\x2a"))  # e.g. a slice of a KVM exit buffer
    assert type(dev.writes[0][1]) is bytes


@pytest.mark.parametrize("base, length", [
    (0x100, 0x10),   # the same range
    (0x108, 0x10),   # the upper half
    (0xF8, 0x10),    # the lower half
    (0x104, 0x4),    # inside
    (0x0, 0x1000),   # around
])
def test_overlapping_insert_is_refused_naming_both(base, length):
    bus = Bus("port I/O")
    bus.insert(Recorder("uart"), 0x100, 0x10)
    with pytest.raises(ValueError) as e:
        bus.insert(Recorder("intruder"), base, length)
    message = str(e.value)
    assert "port I/O" in message and "<uart>" in message
    assert f"{base:#x}" in message and "0x100" in message


def test_refused_insert_leaves_the_bus_unchanged():
    bus, a = Bus("io"), Recorder("a")
    bus.insert(a, 0x100, 0x10)
    with pytest.raises(ValueError):
        bus.insert(Recorder("b"), 0x108, 0x10)
    assert bus.find(0x10F) == (a, 0xF)
    assert bus.find(0x110) == (None, None)


def test_remove_frees_the_range_for_another_device():
    bus, a, b = Bus("io"), Recorder("a"), Recorder("b")
    bus.insert(a, 0x100, 0x10)
    bus.remove(a, 0x100)
    assert bus.find(0x100) == (None, None)
    bus.insert(b, 0x108, 0x10)
    assert bus.find(0x108) == (b, 0)


def test_remove_takes_only_the_named_device_at_that_base():
    bus, a, b = Bus("io"), Recorder("a"), Recorder("b")
    bus.insert(a, 0x100, 0x10)
    bus.insert(b, 0x200, 0x10)
    bus.remove(a, 0x200)  # a is not at 0x200: nothing happens
    bus.remove(b, 0x200)
    assert bus.find(0x100)[0] is a and bus.find(0x200)[0] is None


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_unclaimed_read_is_all_ones_of_the_access_size(size):
    assert Bus("io").read(0x80, size) == b"\xff" * size


def test_unclaimed_accesses_are_counted_by_address():
    bus = Bus("io")
    bus.insert(Recorder("a"), 0x100, 0x10)
    bus.read(0x80, 1)
    bus.read(0x80, 4)
    bus.write(0x80, b"\0")
    bus.write(0x110, b"\0\0")
    bus.read(0x100, 1)  # claimed: not counted
    assert bus.unclaimed == {0x80: 3, 0x110: 1}


def test_unclaimed_write_reaches_no_device():
    bus, a = Bus("io"), Recorder("a")
    bus.insert(a, 0x100, 0x10)
    bus.write(0xFF, b"\x01")
    bus.write(0x110, b"\x01")
    assert a.writes == []
