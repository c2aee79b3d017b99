"""The VM's coalesced ring (native/coalesced.h, kvmnet.vmm.coalesced): writes KVM appended
to it are applied oldest first, across zones and ports and MMIO alike, exactly as if each
had exited; one C declines is applied through Python before anything after it; a device
thread waiting for buffers back finds an RDT write sitting in the ring without any exit;
e1000's RDT zone follows BAR0; and coalesced writes are not counted as exits."""

import socket
import struct
import time

import pytest

from kvmnet import testframe
from kvmnet.devices.e1000 import E1000
from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.peer.streams import peer_to_guest, verified_rate
from kvmnet.runners import BuiltinRunner
from kvmnet.runners.nics import Nic, NicGuest
from kvmnet.syscall import ffi, lib
from kvmnet.vmm.bus import Bus
from kvmnet.vmm.coalesced import CoalescedRing
from kvmnet.vmm.pci import BAR0, COMMAND, COMMAND_MEMORY, PciBus
from support.drivers.coalesced_ring import KvmRing
from support.e1000_driver import (Driver, frame_to, give_back, holding_a_batch,
                                  take_without_returning)
from support.nic_rig import MAC, Rig, wait_until

DONE, PYTHON, ATTEND = lib.KVMNET_FAST_DONE, lib.KVMNET_FAST_PYTHON, lib.KVMNET_FAST_ATTEND
PORT, BASE = 0x3F8, 0xFEB0_0000


class Recorder:
    """A device whose C handler (a cffi callback) and Python side both log each write to
    one shared list; `answer` says what the C handler returns for a given first byte."""

    def __init__(self, name, log, answer=lambda byte: DONE):
        self.name, self.log, self.answer, self.attended = name, log, answer, 0

        @ffi.callback("kvmnet_fast_handler")
        def handler(opaque, offset, data, size, is_write):
            ret = self.answer(data[0])
            if ret != PYTHON:
                self.log.append((self.name, "C", offset, bytes(ffi.buffer(data, size))))
            return ret

        self._handler = handler
        self.fast_handler = (handler, ffi.NULL)

    def write(self, offset, data):
        self.log.append((self.name, "Python", offset, bytes(data)))

    def read(self, offset, size):
        return b"\0" * size

    def fast_attend(self):
        self.attended += 1


@pytest.fixture
def two_zones():
    log, ring = [], KvmRing()
    pio, mmio = Bus("port I/O"), Bus("MMIO")
    port, regs = Recorder("port", log), Recorder("regs", log)
    pio.insert(port, PORT, 8)
    mmio.insert(regs, BASE, 0x1000)
    coalesced = CoalescedRing(ring.ring, pio, mmio)
    yield ring, coalesced, port, regs, log
    coalesced.close()


def test_entries_are_applied_oldest_first_across_zones(two_zones):
    ring, coalesced, _, _, log = two_zones
    ring.write(PORT, b"a", pio=True)
    ring.write(BASE + 0x18, b"\x05\x00\x00\x00")
    ring.write(PORT, b"b", pio=True)
    ring.write(BASE + 0x1A, b"\x07\x00")
    coalesced.drain()
    assert log == [("port", "C", 0, b"a"), ("regs", "C", 0x18, b"\x05\0\0\0"),
                   ("port", "C", 0, b"b"), ("regs", "C", 0x1A, b"\x07\0")]
    assert ring.held == 0 and coalesced.applied == 4


def test_an_entry_c_declines_is_applied_by_python_before_the_ones_after_it(two_zones):
    ring, coalesced, port, _, log = two_zones
    port.answer = lambda byte: PYTHON if byte == ord("!") else DONE
    ring.write(PORT, b"a", pio=True)
    ring.write(PORT, b"!", pio=True)
    ring.write(BASE, b"\x01\0\0\0")
    found = lib.kvmnet_coalesced_drain(coalesced.c)
    assert found & lib.KVMNET_COALESCED_DECLINED
    assert log == [("port", "C", 0, b"a")] and ring.held == 2, "entries ran past a declined one"
    assert lib.kvmnet_coalesced_drain(coalesced.c) & lib.KVMNET_COALESCED_DECLINED
    coalesced.attend()  # what the vCPU that found it does, before its exit
    assert log == [("port", "C", 0, b"a"), ("port", "Python", 0, b"!"),
                   ("regs", "C", 0, b"\x01\0\0\0")]
    assert ring.held == 0 and coalesced.applied == 3
    assert port.attended == 1, "the device that declined was not asked to attend"


def test_a_handler_that_asks_for_python_is_attended(two_zones):
    ring, coalesced, _, regs, _ = two_zones
    regs.answer = lambda byte: ATTEND
    ring.write(BASE, b"\x01\0\0\0")
    ring.write(BASE, b"\x02\0\0\0")
    assert lib.kvmnet_coalesced_drain(coalesced.c) == lib.KVMNET_COALESCED_ATTEND
    coalesced.attend()
    assert regs.attended == 1 and ring.held == 0


# -- e1000: RDT written into the ring, and no exit after it ------------------------------------

class RingRegs:
    """BAR0 as a guest whose RDT writes KVM coalesces: RDT goes into the ring (and nothing
    else happens: no exit); every other access exits, and so first drains the ring, as the
    run loop does, then goes through the run loop's C path or Python."""

    def __init__(self, dev, ring, bus, coalesced):
        self.dev, self.ring, self.bus, self.coalesced = dev, ring, bus, coalesced

    def read(self, offset, size):
        self.coalesced.drain()
        data = bytearray(size)
        if self.bus.fast_access(BASE + offset, data, False) == PYTHON:
            return self.dev.read(offset, size)
        return bytes(data)

    def write(self, offset, data):
        if offset == lib.E1000_RDT:
            self.ring.write(BASE + offset, bytes(data))
            return
        self.coalesced.drain()
        if self.bus.fast_access(BASE + offset, bytearray(data), True) == PYTHON:
            self.dev.write(offset, data)


@pytest.fixture
def ring_rig():
    rig = Rig(E1000)
    ring, mmio = KvmRing(), Bus("MMIO")
    mmio.insert(rig.dev, BASE, 0x20000)
    coalesced = CoalescedRing(ring.ring, Bus("port I/O"), mmio)
    with rig.dev.lock:
        rig.dev.core.coalesced = coalesced.c
    rig.regs = RingRegs(rig.dev, ring, mmio, coalesced)
    yield rig, ring
    rig.close()
    coalesced.close()


def test_a_frame_held_for_room_arrives_when_rdt_sits_in_the_ring(ring_rig):
    """The ring was full, the driver returned buffers by a coalesced RDT write and then only
    polls descriptors: the device thread finds the write itself."""
    rig, ring = ring_rig
    drv = Driver(rig)
    drv.linux_up(n=8, give=0)
    ring.write(BASE + lib.E1000_RDT, struct.pack("<I", 0))  # (ring empty first: in order)
    rig.peer.send(frame_to(MAC, seq=1))
    wait_until(lambda: drv.dev.counters["rx_no_buffer"] == 1, "the frame to be held")
    drv.w(lib.E1000_RDT, 7)  # into the ring only
    start = time.monotonic()
    assert testframe.parse(take_without_returning(drv, 1)[0])[0] == 1
    assert time.monotonic() - start < 0.5, "the held frame waited for an exit"
    assert ring.held == 0


def test_a_deferring_device_thread_finds_rdt_in_the_ring(ring_rig):
    """A driver holding its batch returns it by a coalesced write and exits never: RX,
    deferring to that write, must not wait for its deferral to time out."""
    rig, ring = ring_rig
    # only the ring can end the deferral in time; the STATUS read is an exit, which
    # applies the give-back: the driver's batch is 16
    drv = holding_a_batch(rig, defer_ms=10_000, settle=lambda drv: drv.r(lib.E1000_STATUS))
    wait_until(lambda: drv.dev.counters["rx_deferred"], "RX to defer to the driver")
    for seq in range(32, 35):
        rig.peer.send(frame_to(MAC, seq=seq))
    take_without_returning(drv, 16)
    give_back(drv)  # into the ring only
    start = time.monotonic()
    assert [testframe.parse(f)[0] for f in take_without_returning(drv, 3)] == [32, 33, 34]
    assert time.monotonic() - start < 0.5, "RX waited out its deferral"


# -- e1000's zone follows BAR0 -------------------------------------------------------------------

class ZoneLog:
    """A Vm that records coalesced zones registered and unregistered."""

    def __init__(self):
        self.calls = []

    def register_coalesced_mmio(self, addr, size, pio=False):
        self.calls.append(("register", addr, size))

    def unregister_coalesced_mmio(self, addr, size, pio=False):
        self.calls.append(("unregister", addr, size))


def test_rdt_zone_moves_with_bar0():
    near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dev = E1000(MAC, type("B", (), {"fd": near.fileno(), "vnet_hdr_size": 0})())
    pio, mmio = Bus("port I/O"), Bus("MMIO")
    PciBus(pio, mmio).add(3, dev)
    dev.vm, ring = ZoneLog(), KvmRing()
    dev.coalesced = CoalescedRing(ring.ring, pio, mmio)
    try:
        for address, command in [(0xFEB0_0000, COMMAND_MEMORY), (0xFEA0_0000, COMMAND_MEMORY),
                                 (0xFEA0_0000, 0)]:
            dev.write_config(BAR0, struct.pack("<I", address))
            dev.write_config(COMMAND, bytes([command]))
        rdt = lib.E1000_RDT
        assert dev.vm.calls == [("register", 0xFEB0_0000 + rdt, 4),
                                ("unregister", 0xFEB0_0000 + rdt, 4),
                                ("register", 0xFEA0_0000 + rdt, 4),
                                ("unregister", 0xFEA0_0000 + rdt, 4)]
    finally:
        dev.coalesced.close()
        dev.close()
        near.close()
        far.close()


# -- in a running guest --------------------------------------------------------------------------

@pytest.mark.needs_kvm
@pytest.mark.needs_root
def test_a_guest_returns_rx_buffers_without_exits_and_gets_every_frame(kvm):
    from kvmnet.kvm import Cap
    if not kvm.check_extension(Cap.COALESCED_MMIO):
        pytest.skip("no KVM_CAP_COALESCED_MMIO: each RDT write exits (to C)")
    mac, frames = "02:6b:76:00:00:01", 2000
    with BridgeTopology.create("coal", vnet_hdr=0) as topo:
        peer = Peer.on(topo)
        with BuiltinRunner().start(build(), nics=[Nic("e1000", mac, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            vcpu, device = guest.machine.vcpu, guest.nics[0]
            rdt = ("MMIO", device.bars[0].address + lib.E1000_RDT)
            before, applied = vcpu.exits[rdt], guest.machine.coalesced.applied
            verified_rate(peer_to_guest, NicGuest(guest, "e1000", mac), peer, frames, 1514)
            assert vcpu.exits[rdt] == before, "RDT writes exited"
            assert guest.machine.coalesced.applied - applied >= frames // 64 - 1, \
                "the guest's RDT writes were not applied from the ring"
