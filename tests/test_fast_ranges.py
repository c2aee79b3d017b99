"""The C run loop's fast ranges: a NIC model's per-frame registers answered by its C handler
without an exit to Python, the range following the BAR wherever the guest puts it, and every
access so answered counted by address like the others. (That an access served in C has the
effect it has through Python is shown by the model tests, which run each register access
both ways: tests/test_dev_e1000.py and test_dev_rtl8139.py, path "c".)"""

import socket
import struct

import pytest

from kvmnet.devices.e1000 import E1000
from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.runners import BuiltinRunner
from kvmnet.runners.nics import Nic
from kvmnet.syscall import lib
from kvmnet.vmm.bus import FAST_SLOTS, Bus
from kvmnet.vmm.pci import BAR0, COMMAND, COMMAND_IO, COMMAND_MEMORY, PciBus
from support.nic_rig import MAC, Backend

FAST, PYTHON = lib.KVMNET_FAST_DONE, lib.KVMNET_FAST_PYTHON


@pytest.fixture
def e1000():
    near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dev = E1000(MAC, Backend(near.fileno()))
    yield dev
    dev.close()
    near.close()
    far.close()


def place(dev, bar, address, command=COMMAND_IO | COMMAND_MEMORY):
    dev.write_config(BAR0 + 4 * bar, struct.pack("<I", address))
    dev.write_config(COMMAND, bytes([command]))


def status(bus, address):
    data = bytearray(4)
    return bus.fast_access(address + lib.E1000_STATUS, data, False), int.from_bytes(data, "little")


def test_a_moved_bar_moves_its_fast_range(e1000):
    pio, mmio = Bus("port I/O"), Bus("MMIO")
    PciBus(pio, mmio).add(3, e1000)
    assert mmio.fast_ranges() == [] and pio.fast_ranges() == []
    place(e1000, 0, 0xFEB0_0000)
    place(e1000, 1, 0xC000)
    assert mmio.fast_ranges() == [(0xFEB0_0000, 0x20000, e1000)]
    assert pio.fast_ranges() == [(0xC000, 0x40, e1000.io)]
    assert status(mmio, 0xFEB0_0000) == (FAST, lib.E1000_STATUS_LINK_UP)

    place(e1000, 0, 0xFEA0_0000)
    assert mmio.fast_ranges() == [(0xFEA0_0000, 0x20000, e1000)]
    assert status(mmio, 0xFEB0_0000)[0] == PYTHON, "the old address is still answered in C"
    assert status(mmio, 0xFEA0_0000) == (FAST, lib.E1000_STATUS_LINK_UP)

    place(e1000, 0, 0xFEA0_0000, command=0)  # decoding off
    assert mmio.fast_ranges() == [] and pio.fast_ranges() == []
    assert status(mmio, 0xFEA0_0000)[0] == PYTHON


def test_a_bar_placed_over_another_gets_no_fast_range(e1000):
    pio, mmio = Bus("port I/O"), Bus("MMIO")
    mmio.insert(object(), 0xFEB0_0000, 0x1000)  # something already there
    PciBus(pio, mmio).add(3, e1000)
    place(e1000, 0, 0xFEB0_0000)
    assert mmio.fast_ranges() == []
    place(e1000, 0, 0xFEA0_0000)
    assert mmio.fast_ranges() == [(0xFEA0_0000, 0x20000, e1000)]


def test_registers_kept_in_python_are_declined_in_c(e1000):
    mmio = Bus("MMIO")
    mmio.insert(e1000, 0xFEB0_0000, 0x20000)
    for offset, size, is_write in [(lib.E1000_CTRL, 4, False), (lib.E1000_EECD, 4, True),
                                   (lib.E1000_STATUS, 2, False), (lib.E1000_TDT, 8, True),
                                   (lib.E1000_TDT + 1, 1, True)]:
        data = bytearray(size)
        assert mmio.fast_access(0xFEB0_0000 + offset, data, is_write) == PYTHON, hex(offset)
        assert data == bytearray(size), "a declined access changed the data"


def test_a_full_table_leaves_further_ranges_to_python(e1000):
    class Fast:
        fast_handler = e1000.fast_handler

    mmio = Bus("MMIO")
    for i in range(FAST_SLOTS):
        mmio.insert(Fast(), 0x1000_0000 + i * 0x20000, 0x20000)
    mmio.insert(e1000, 0xFEB0_0000, 0x20000)
    assert status(mmio, 0xFEB0_0000)[0] == PYTHON
    assert mmio.read(0xFEB0_0000 + lib.E1000_STATUS, 4) == struct.pack("<I", lib.E1000_STATUS_LINK_UP)
    mmio.remove(mmio.find(0x1000_0000)[0], 0x1000_0000)
    mmio.remove(e1000, 0xFEB0_0000)
    mmio.insert(e1000, 0xFEB0_0000, 0x20000)
    assert status(mmio, 0xFEB0_0000) == (FAST, lib.E1000_STATUS_LINK_UP)


# -- in a running guest ------------------------------------------------------------------------

GUEST_MAC = "02:6b:76:00:00:01"
# The register a frame's transmission writes: e1000 TDT (once per batch), rtl8139 TSD0-3
# (once per frame, round robin).
DOORBELLS = {"e1000": ("MMIO", [lib.E1000_TDT]),
             "rtl8139": ("IO", [lib.RTL8139_TSD0 + 4 * i for i in range(4)])}


@pytest.mark.needs_kvm
@pytest.mark.needs_root
@pytest.mark.parametrize("model", ["e1000", "rtl8139"])
def test_doorbells_are_answered_in_c_and_counted_by_address(model):
    frames = 300
    with BridgeTopology.create("fast", vnet_hdr=0) as topo:
        peer = Peer.on(topo)
        with BuiltinRunner().start(build(), nics=[Nic(model, GUEST_MAC, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            vcpu, device = guest.machine.vcpu, guest.nics[0]
            kind, offsets = DOORBELLS[model]
            addresses = [(kind, device.bars[0].address + o) for o in offsets]
            before = vcpu.exits
            with peer.start_receive(7, frames, src=GUEST_MAC, timeout=10) as receiving:
                guest.channel.command(f"send 0 {frames} 200 {peer.mac} 7", timeout=60)
                assert receiving.wait(30).ok
            counted = {a: vcpu.exits[a] - before[a] for a in addresses}
            in_c = vcpu.exits_in_c
            assert all(in_c[a] == vcpu.exits[a] for a in addresses), \
                f"doorbell writes went through Python: {vcpu.exits} vs {in_c}"
            if model == "rtl8139":
                assert sum(counted.values()) == frames, f"one TSD write per frame: {counted}"
            else:
                assert 0 < sum(counted.values()) < frames, f"TDT once per batch: {counted}"
            assert device.counters["tx_frames"] >= frames
