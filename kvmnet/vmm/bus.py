"""An address space (port I/O or MMIO) that dispatches accesses to devices by range.

A device implements read(offset, size) -> bytes and write(offset, data); it sees offsets
into its own range only. Accesses nobody claims read as all-ones and are otherwise ignored,
as on a PC, and are counted so that a test can see them.

A device may also have its accesses answered in C, in the vCPU's run loop, without an exit
to Python: it says how with `fast_handler`, a pair (C handler, opaque pointer) as
native/kvmnet_native.h's struct kvmnet_fast_range describes, and `fast_attend()`, called
when the handler served an access but wants Python to act. The bus keeps `fast`, the C table
of those ranges, in step with its own: a range goes in, moves and leaves with its device's.
"""

import bisect
from collections import Counter

from kvmnet.syscall import ffi, lib

FAST_SLOTS = 16


class Bus:
    def __init__(self, name):
        self.name = name
        self._bases = []   # sorted range starts
        self._ranges = []  # (base, length, device), in the order of _bases
        self.unclaimed = Counter()  # address -> accesses nobody claimed
        self.fast = ffi.new("struct kvmnet_fast_range[]", FAST_SLOTS)
        self._fast_owner = [None] * FAST_SLOTS  # (device, base) in each slot

    def insert(self, device, base, length):
        for b, l, d in self._ranges:
            if base < b + l and b < base + length:
                raise ValueError(f"{self.name} {base:#x}+{length:#x} overlaps {d!r} at {b:#x}")
        i = bisect.bisect(self._bases, base)
        self._bases.insert(i, base)
        self._ranges.insert(i, (base, length, device))
        self._fast_insert(device, base, length)

    def remove(self, device, base):
        for i, (b, _, d) in enumerate(self._ranges):
            if d is device and b == base:
                del self._bases[i], self._ranges[i]
                self._fast_remove(device, base)
                return

    def _fast_insert(self, device, base, length):
        handler = getattr(device, "fast_handler", None)
        if handler is None:
            return
        try:
            i = self._fast_owner.index(None)
        except ValueError:
            return  # table full: this range's accesses all go through Python
        slot = self.fast[i]
        # Off, then the range, then on: a vCPU in the loop sees it whole or not at all.
        slot.enabled = 0
        slot.handler, slot.opaque = handler
        slot.base, slot.length = base, length
        slot.enabled = 1
        self._fast_owner[i] = (device, base)

    def _fast_remove(self, device, base):
        for i, owner in enumerate(self._fast_owner):
            if owner is not None and owner[0] is device and owner[1] == base:
                self.fast[i].enabled = 0
                self._fast_owner[i] = None

    def fast_ranges(self):
        """[(base, length, device)] of the ranges the C loop answers now."""
        return [(self.fast[i].base, self.fast[i].length, owner[0])
                for i, owner in enumerate(self._fast_owner) if owner is not None]

    def fast_access(self, addr, data, is_write):
        """One access through the C table, as the run loop makes it: lib.KVMNET_FAST_*.
        data is a bytearray of the access's size, filled on a read."""
        buf = ffi.from_buffer(data)
        return lib.kvmnet_fast_access(self.fast, FAST_SLOTS, addr, buf, len(data), is_write)

    def attend(self, addr):
        """A fast range's handler served an access at addr and wants Python to act."""
        device, _ = self.find(addr)
        if device is not None:
            device.fast_attend()

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
