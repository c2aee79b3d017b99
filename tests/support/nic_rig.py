"""The rig the device-model tests share: a NIC model started on real memfd guest RAM, a
datagram socketpair for its backend, and a recording interrupt line, so that a test plays
the vCPU and no VM is needed. Beside it, what those tests check frames and threads with:
waiting, deliveries past the filters, open fds, device threads, CRCs and checksums."""

import os
import socket
import struct
import threading
import time
import zlib
from collections import Counter

import pytest

from kvmnet import testframe
from kvmnet.syscall import lib
from kvmnet.vmm.bus import Bus
from kvmnet.vmm.memory import GuestMemory

MAC, PEER = "02:00:00:00:00:01", "02:00:00:00:00:02"
RAM = 4 << 20


class Backend:
    """What the machine hands a device: a datagram fd, one frame per read/write."""

    vhost = None  # no vhost backend to hand virtio-net's rings to

    def __init__(self, fd):
        self.fd, self.vnet_hdr_size = fd, 0


class IrqLine:
    """The INTx line as the device drives it: every level it was set to."""

    def __init__(self):
        self.levels = []

    @property
    def level(self):
        return bool(self.levels and self.levels[-1])


def wait_until(condition, what, timeout=2.0):
    """Poll condition() until true; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def deliveries(drv, frames, frame_to):
    """Which of frames reach the guest driver drv: each frame is followed by a marker to
    the device's own MAC (frame_to(MAC, seq=1000 + k)), so a dropped frame shows as the
    marker coming first."""
    got = []
    for k, frame in enumerate(frames):
        drv.rig.peer.send(frame)
        drv.rig.peer.send(frame_to(MAC, seq=1000 + k))
        seq = testframe.parse(drv.receive())[0]
        if seq != 1000 + k:
            got.append(seq)
            assert testframe.parse(drv.receive())[0] == 1000 + k
    return got


class RunLoop:
    """BAR0's registers as a vCPU's run loop reaches them: through the bus's table of fast
    ranges to the model's C handler (native kvmnet_fast_access, what kvmnet_vcpu_loop
    calls), and to Python's read/write only where the handler declines. `served` counts,
    by offset, the accesses C answered."""

    BASE = 0xFEBC_0000

    def __init__(self, dev):
        self.dev, self.bus = dev, Bus("test MMIO" if not dev.bars[0].io else "test I/O")
        self.bus.insert(dev.bars[0].device, self.BASE, dev.bars[0].size)
        self.served = Counter()

    def _access(self, offset, data, is_write):
        ret = self.bus.fast_access(self.BASE + offset, data, is_write)
        if ret == lib.KVMNET_FAST_PYTHON:
            return False
        self.served[offset] += 1
        if ret == lib.KVMNET_FAST_ATTEND:
            self.bus.attend(self.BASE + offset)
        return True

    def read(self, offset, size):
        data = bytearray(size)
        return bytes(data) if self._access(offset, data, False) else self.dev.read(offset, size)

    def write(self, offset, data):
        if not self._access(offset, bytearray(data), True):
            self.dev.write(offset, data)


class Rig:
    """A started device on real guest RAM, its backend's far end as `peer`. `regs` is how
    a driver reaches BAR0: the device's read/write (path "python") or the run loop's
    (path "c", RunLoop)."""

    def __init__(self, model, faults=(), path="python"):
        self.fds_before = open_fds()
        self.memory = GuestMemory(RAM)
        self.near, self.peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.peer.settimeout(2)
        self.irq = IrqLine()
        self.irq.set = self.irq.levels.append
        self.dev = model(MAC, Backend(self.near.fileno()), faults=faults)
        self.dev.memory = self.memory
        self.dev.irq = self.irq
        self.dev.start()
        self.regs = RunLoop(self.dev) if path == "c" else self.dev

    def close(self):
        self.dev.close()
        self.near.close()
        self.peer.close()
        self.memory.close()

    def recv(self):
        return self.peer.recv(65536)

    def nothing_sent(self):
        self.peer.settimeout(0.05)
        try:
            self.peer.recv(65536)
        except (TimeoutError, socket.timeout):
            return True
        finally:
            self.peer.settimeout(2)
        return False


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def device_threads():
    return [t for t in threading.enumerate() if t.name.startswith("kvmnet-") and
            t.name != "kvmnet-vcpu0"]


def policies(threads):
    """{thread name: scheduling policy} once each thread has set its own (it does first)."""
    deadline = time.monotonic() + 5
    while True:
        got = {t.name: os.sched_getscheduler(t.native_id) for t in threads}
        if all(p == os.SCHED_BATCH for p in got.values()) or time.monotonic() > deadline:
            return got


def ether_crc(data):
    """Linux's ether_crc(), from zlib's CRC-32: bit-reversed, not inverted."""
    crc = ~zlib.crc32(data) & 0xFFFF_FFFF
    return int(f"{crc:032b}"[::-1], 2)


def fcs(frame):
    return struct.pack("<I", zlib.crc32(frame))


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total
