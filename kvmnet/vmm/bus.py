"""An address space (port I/O or MMIO) that dispatches accesses to devices by range.

A device implements read(offset, size) -> bytes and write(offset, data); it sees offsets
into its own range only. Accesses nobody claims read as all-ones and are otherwise ignored,
as on a PC, and are counted so that a test can see them.
"""

import bisect
from collections import Counter


class Bus:
    def __init__(self, name):
        self.name = name
        self._bases = []   # sorted range starts
        self._ranges = []  # (base, length, device), in the order of _bases
        self.unclaimed = Counter()  # address -> accesses nobody claimed

    def insert(self, device, base, length):
        for b, l, d in self._ranges:
            if base < b + l and b < base + length:
                raise ValueError(f"{self.name} {base:#x}+{length:#x} overlaps {d!r} at {b:#x}")
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._ranges.insert(i, (base, length, device))

    def remove(self, device, base):
        for i, (b, _, d) in enumerate(self._ranges):
            if d is device and b == base:
                del self._bases[i], self._ranges[i]
                return

    def find(self, addr):
        """(device, offset) for addr, or (None, None)."""
        i = bisect.bisect(self._bases, addr) - 1
        if i >= 0:
            base, length, device = self._ranges[i]
            if addr < base + length:
                return device, addr - base
        return None, None

    def read(self, addr, size):
        device, offset = self.find(addr)
        if device is None:
            self.unclaimed[addr] += 1
            return b"\xff" * size
        return device.read(offset, size)

    def write(self, addr, data):
        device, offset = self.find(addr)
        if device is None:
            self.unclaimed[addr] += 1
            return
        device.write(offset, bytes(data))
