"""A virtio-net driver in Python, for testing kvmnet.devices.virtio_net without a guest.

It drives the device of a support.nic_rig.Rig (real memfd RAM, a socketpair backend, a
recording interrupt line): it lays split virtqueues out in the rig's RAM and talks to the
device through its BARs (modern BAR4, or the legacy I/O BAR0), as a guest driver would.
"""

import functools
import struct

from kvmnet.devices import virtio_pci as vp
from kvmnet.devices.virtio_net import VirtioNetPci
from support.nic_rig import Rig

DESC, AVAIL, USED = 0, 0x1000, 0x2000  # offsets inside a queue's 16 KiB block
QUEUE_BLOCK, BUFFERS = 0x4000, 0x100000
BUFFER_SIZE = 0x4000


def virtio_rig(legacy=False, faults=()):
    """A Rig with a virtio-net device: transitional when legacy, else modern-only. Its
    backend end is non-blocking, as a tap from kvmnet.backends is: this model needs that."""
    rig = Rig(functools.partial(VirtioNetPci, transitional=legacy), faults=faults)
    rig.near.setblocking(False)
    return rig


class VirtioNetDriver:
    def __init__(self, rig, legacy=False, features=None, queue_size=64):
        self.rig, self.dev, self.legacy, self.size = rig, rig.dev, legacy, queue_size
        self.memory, self.irq, self.msi = rig.memory, rig.irq, []
        device = rig.dev
        device.msix.signal = lambda address, data: self.msi.append((address, data))
        self.bar = device.bars[0 if legacy else 4].device
        self.wanted = features
        self.next_buffer = [BUFFERS + q * 0x100000 for q in range(3)]
        self.avail_idx, self.used_seen, self.free = [0] * 3, [0] * 3, [0] * 3

    # Registers.
    def _w(self, offset, value, size):
        self.bar.write(offset, value.to_bytes(size, "little"))

    def _r(self, offset, size):
        return int.from_bytes(self.bar.read(offset, size), "little")

    def status(self):
        return self._r(0x12, 1) if self.legacy else self._r(vp.COMMON + 0x14, 1)

    def set_status(self, value):
        if self.legacy:
            self._w(0x12, value, 1)
        else:
            self._w(vp.COMMON + 0x14, value, 1)

    def offered(self):
        if self.legacy:
            return self._r(0, 4)
        self._w(vp.COMMON, 0, 4)
        low = self._r(vp.COMMON + 4, 4)
        self._w(vp.COMMON, 1, 4)
        return low | self._r(vp.COMMON + 4, 4) << 32

    def negotiate(self):
        self.set_status(0)
        self.set_status(vp.STATUS_ACKNOWLEDGE | vp.STATUS_DRIVER)
        offered = self.offered()
        features = offered if self.wanted is None else self.wanted & offered
        if self.legacy:
            self._w(4, features & 0xFFFF_FFFF, 4)
        else:
            for half in (0, 1):
                self._w(vp.COMMON + 8, half, 4)
                self._w(vp.COMMON + 0xC, features >> 32 * half & 0xFFFF_FFFF, 4)
            self.set_status(vp.STATUS_ACKNOWLEDGE | vp.STATUS_DRIVER | vp.STATUS_FEATURES_OK)
        self.features = features
        return features

    def queue_base(self, q):
        return QUEUE_BLOCK * (q + 1)

    def setup_queues(self, count=3):
        for q in range(count):
            base = self.queue_base(q)
            if self.legacy:
                self._w(0x0E, q, 2)
                self.size = self._r(0x0C, 2)
                self._w(0x08, base // 4096, 4)
            else:
                self._w(vp.COMMON + 0x16, q, 2)
                self._w(vp.COMMON + 0x18, self.size, 2)
                for offset, addr in ((0x20, base + DESC), (0x28, base + AVAIL),
                                     (0x30, base + USED)):
                    self._w(vp.COMMON + offset, addr, 8)
                self._w(vp.COMMON + 0x1C, 1, 2)

    def start(self):
        self.negotiate()
        self.setup_queues()
        self.set_status(self.status() | vp.STATUS_DRIVER_OK)

    def hdr_size(self):
        return 12 if self.features >> 32 & 1 or self.features >> 15 & 1 else 10

    # Rings.
    def _addr(self, q, part):
        base = self.queue_base(q)
        if not self.legacy:
            return base + part
        avail = base + 16 * self.size
        used = (avail + 6 + 2 * self.size + 4095) & ~4095
        return {DESC: base, AVAIL: avail, USED: used}[part]

    def add_buffer(self, q, data=b"", writable=0):
        """One descriptor (readable data, or `writable` bytes of room) made available."""
        slot = self.free[q] % self.size
        self.free[q] += 1
        addr = self.next_buffer[q] + slot * BUFFER_SIZE
        if data:
            self.memory.write(addr, data)
        flags = 2 if writable else 0
        self.memory.write(self._addr(q, DESC) + 16 * slot,
                          struct.pack("<QIHH", addr, writable or len(data), flags, 0))
        avail = self._addr(q, AVAIL)
        self.memory.write(avail + 4 + 2 * (self.avail_idx[q] % self.size), struct.pack("<H", slot))
        self.avail_idx[q] = (self.avail_idx[q] + 1) & 0xFFFF
        self.memory.write(avail + 2, struct.pack("<H", self.avail_idx[q]))
        return addr

    def kick(self, q):
        if self.legacy:
            self._w(0x10, q, 2)
        else:
            self._w(vp.NOTIFY + vp.NOTIFY_MULT * q, q, 2)

    def used(self, q):
        """New (id, len) used entries since the last call."""
        used = self._addr(q, USED)
        idx = struct.unpack("<H", self.memory.read(used + 2, 2))[0]
        out = []
        while self.used_seen[q] != idx:
            out.append(struct.unpack("<II", self.memory.read(
                used + 4 + 8 * (self.used_seen[q] % self.size), 8)))
            self.used_seen[q] = (self.used_seen[q] + 1) & 0xFFFF
        return out

    def buffer(self, q, slot, length):
        return self.memory.read(self.next_buffer[q] + slot * BUFFER_SIZE, length)

    def send(self, frame):
        self.add_buffer(1, bytes(self.hdr_size()) + frame)
        self.kick(1)

    def control(self, cls, command, data):
        """A control-queue command; returns the device's ack byte."""
        self.add_buffer(2, bytes([cls, command]) + data)
        # The command and its ack are one chain: readable, then one writable byte.
        slot = (self.free[2] - 1) % self.size
        ack_slot = self.free[2] % self.size
        self.free[2] += 1
        ack_addr = self.next_buffer[2] + ack_slot * BUFFER_SIZE
        desc = self._addr(2, DESC)
        addr, length, _, _ = struct.unpack("<QIHH", self.memory.read(desc + 16 * slot, 16))
        self.memory.write(desc + 16 * slot, struct.pack("<QIHH", addr, length, 1, ack_slot))
        self.memory.write(desc + 16 * ack_slot, struct.pack("<QIHH", ack_addr, 1, 2, 0))
        self.kick(2)
        assert self.used(2), "the control queue did not answer"
        return self.memory.read(ack_addr, 1)[0]
