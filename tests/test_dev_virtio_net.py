"""virtio-net on its own: a Python driver programs the model through its BARs and rings in
a real memfd, the backend is a datagram socketpair (support.nic_rig.Rig), and every frame is
checked byte for byte with kvmnet.testframe, on the modern and the legacy interface."""

import os
import socket
import struct
import time

import pytest

from kvmnet import testframe
from kvmnet.devices import virtio_pci as vp
from kvmnet.devices.virtio_net import F
from kvmnet.syscall import lib

from support.drivers.virtio import USED, VirtioNetDriver, virtio_rig
from support.nic_rig import open_fds, policies

MAC, PEER, OTHER = "02:00:00:00:00:01", "02:00:00:00:00:99", "02:00:00:00:00:42"
LEGACY = [False, True]


@pytest.fixture(params=LEGACY, ids=["modern", "legacy"])
def net(request):
    rig = virtio_rig(legacy=request.param)
    driver = VirtioNetDriver(rig, legacy=request.param)
    driver.start()
    yield driver
    rig.close()
    assert rig.dev.net.thread_error is None


def wait_used(driver, q, count, timeout=2):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += driver.used(q)
        time.sleep(0.001)
    return got


def receive(driver, frames, room=2048):
    slots = []
    for _ in frames:
        driver.add_buffer(0, writable=room)
        slots.append((driver.free[0] - 1) % driver.size)
    driver.kick(0)
    for frame in frames:
        driver.rig.peer.send(frame)
    used = wait_used(driver, 0, len(frames))
    hdr = driver.hdr_size()
    return [driver.buffer(0, slot, length)[hdr:] for slot, length in used]


def test_ids_and_capabilities_follow_the_spec():
    for transitional, device_id in ((False, 0x1041), (True, 0x1000)):
        rig = virtio_rig(legacy=transitional)
        device = rig.dev
        rig.close()
        assert device.read_config(0, 4) == (0x1AF4 | device_id << 16).to_bytes(4, "little")
        caps, offset = [], device.config[0x34]
        while offset:
            caps.append((device.config[offset], device.config[offset + 3]))
            offset = device.config[offset + 1]
        assert (0x11, caps[0][1]) == caps[0]  # MSI-X first
        assert sorted(t for cap, t in caps[1:]) == [vp.CAP_COMMON, vp.CAP_NOTIFY, vp.CAP_ISR,
                                                   vp.CAP_DEVICE]


def test_features_ok_refused_without_version_1():
    rig = virtio_rig()
    driver = VirtioNetDriver(rig, features=1 << F["VIRTIO_NET_F_MAC"])
    driver.negotiate()
    assert not driver.status() & vp.STATUS_FEATURES_OK
    rig.close()


@pytest.mark.parametrize("size", [42, 60, 64, 128, 512, 1024, 1514])
def test_transmit_reaches_the_backend_byte_for_byte(net, size):
    frames = [testframe.build(PEER, MAC, seq, 7, size) for seq in range(20)]
    for frame in frames:
        net.send(frame)
    got = [net.rig.peer.recv(4096) for _ in frames]
    assert got == frames
    assert len(wait_used(net, 1, 20)) == 20


def test_receive_delivers_to_own_mac_and_broadcast(net):
    frames = [testframe.build(MAC, PEER, seq, 9, 1514) for seq in range(10)]
    frames.append(testframe.build("ff:ff:ff:ff:ff:ff", PEER, 10, 9, 60))
    assert receive(net, frames) == frames
    assert net.dev.counters["rx_frames"] == 11


def test_unicast_to_another_mac_is_filtered_until_promiscuous(net):
    frame = testframe.build(OTHER, PEER, 0, 1, 60)
    net.add_buffer(0, writable=2048)
    net.kick(0)
    net.rig.peer.send(frame)
    assert wait_used(net, 0, 1, timeout=0.3) == []
    assert net.dev.counters["rx_filtered"] == 1
    assert net.control(0, 0, b"\x01") == 0  # VIRTIO_NET_CTRL_RX_PROMISC on
    net.rig.peer.send(frame)
    assert len(wait_used(net, 0, 1)) == 1


def test_multicast_needs_the_mac_table(net):
    group = "01:00:5e:00:00:fb"
    frame = testframe.build(group, PEER, 0, 1, 60)
    net.add_buffer(0, writable=2048)
    net.kick(0)
    net.rig.peer.send(frame)
    assert wait_used(net, 0, 1, timeout=0.3) == []
    table = (0).to_bytes(4, "little") + (1).to_bytes(4, "little") + testframe.mac_bytes(group)
    assert net.control(1, 0, table) == 0  # VIRTIO_NET_CTRL_MAC_TABLE_SET
    net.rig.peer.send(frame)
    assert len(wait_used(net, 0, 1)) == 1


def test_mac_addr_set_moves_the_filter(net):
    assert net.control(1, 1, testframe.mac_bytes(OTHER)) == 0
    frames = [testframe.build(OTHER, PEER, 0, 3, 128)]
    assert receive(net, frames) == frames


def test_a_frame_waits_for_buffers_and_is_not_lost(net):
    frame = testframe.build(MAC, PEER, 0, 5, 256)
    net.rig.peer.send(frame)
    time.sleep(0.05)
    assert net.dev.counters["rx_frames"] == 0
    net.add_buffer(0, writable=2048)
    net.kick(0)
    used = wait_used(net, 0, 1)
    assert [net.buffer(0, slot, n)[net.hdr_size():] for slot, n in used] == [frame]


def avail_event(driver, q):
    """The avail index at which the device asks to be kicked next (EVENT_IDX)."""
    used = driver._addr(q, USED)
    return struct.unpack("<H", driver.memory.read(used + 4 + 8 * driver.size, 2))[0]


def test_a_busy_driver_is_asked_to_kick_once_it_catches_up(net):
    """With frames enough that the driver has not given back, RX leaves the backend alone
    and asks for a kick once the driver has given back half of them; the kick resumes it."""
    net.dev.net.rx_defer_ms = 10_000  # no falling back to the backend during the test
    behind = lib.KVMNET_VNET_RX_DEFER_BACKLOG  # read one by one or at once, RX defers here
    for _ in range(net.size):
        net.add_buffer(0, writable=2048)
    net.kick(0)
    for seq in range(behind):
        net.rig.peer.send(testframe.build(MAC, PEER, seq, 7, 256))
    assert len(wait_used(net, 0, behind)) == behind
    deadline = time.monotonic() + 2
    while not net.dev.counters["rx_deferred"] and time.monotonic() < deadline:
        time.sleep(0.001)
    assert net.dev.counters["rx_deferred"], f"a driver {behind} frames behind was not deferred to"
    assert avail_event(net, 0) == (net.avail_idx[0] + behind // 2) & 0xFFFF
    late = [testframe.build(MAC, PEER, behind + seq, 7, 256) for seq in range(5)]
    for frame in late:
        net.rig.peer.send(frame)
    assert not wait_used(net, 0, 5, timeout=0.1), "RX read the backend while deferring"
    for _ in range(behind // 2 + 1):  # past the asked index
        net.add_buffer(0, writable=2048)
    net.kick(0)
    used = wait_used(net, 0, 5)
    assert [net.buffer(0, slot, n)[net.hdr_size():] for slot, n in used] == late


def test_a_driver_that_stops_giving_back_still_gets_its_frames(net):
    """A driver far behind that never kicks (its buffer count shrank, or it stopped
    receiving): RX falls back to the backend within RX_DEFER_MS and delivers what came."""
    for _ in range(net.size):
        net.add_buffer(0, writable=2048)
    net.kick(0)
    for seq in range(40):
        net.rig.peer.send(testframe.build(MAC, PEER, seq, 9, 256))
    assert len(wait_used(net, 0, 40)) == 40
    late = [testframe.build(MAC, PEER, 40 + seq, 9, 256) for seq in range(5)]
    for frame in late:
        net.rig.peer.send(frame)
    used = wait_used(net, 0, 5, timeout=1)
    assert [net.buffer(0, slot, n)[net.hdr_size():] for slot, n in used] == late


def test_a_full_backend_holds_transmit_chains_and_loses_no_frame(net):
    """A backend that stops taking frames (EAGAIN: a macvtap's socket buffer, here a
    datagram queue nobody reads) keeps the rest of the chains in the ring until it can."""
    net.rig.near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # a few frames
    frames = [testframe.build(PEER, MAC, seq, 11, 1514) for seq in range(60)]
    for frame in frames:
        net.send(frame)
    time.sleep(0.1)  # the backend's queue fills; the chains after it must wait
    held = len(wait_used(net, 1, 60, timeout=0.1))
    got = [net.rig.peer.recv(4096) for _ in frames]
    assert held < 60, "the backend never filled: this test shows nothing"
    assert got == frames
    assert len(wait_used(net, 1, 60 - held)) == 60 - held
    assert net.dev.counters["tx_errors"] == 0


def test_bad_descriptor_address_breaks_the_queue_not_the_vmm(net):
    net.memory.write(net._addr(1, 0), (1 << 40).to_bytes(8, "little") + (60).to_bytes(4, "little")
                     + bytes(4))
    avail = net._addr(1, 0x1000)
    net.memory.write(avail + 4, bytes(2))
    net.memory.write(avail + 2, (1).to_bytes(2, "little"))
    net.kick(1)
    assert net.dev.counters["ring_errors"] == 1
    assert net.status() & vp.STATUS_NEEDS_RESET


def test_control_commands_answer_ok_or_err(net):
    """Known commands are acked OK; an unknown class, a short command and a MAC table with
    more entries than it carries are acked ERR, and change nothing."""
    assert net.control(0, 1, b"\x01") == 0  # VIRTIO_NET_CTRL_RX_ALLMULTI on
    assert net.control(9, 0, b"\x01") == 1
    assert net.control(0, 0, b"") == 1
    assert net.control(1, 0, (5).to_bytes(4, "little") + bytes(6)) == 1
    assert not net.status() & vp.STATUS_NEEDS_RESET


def test_bad_control_chain_breaks_the_control_queue_not_the_vmm(net):
    """A control command whose descriptor points outside guest RAM: the control queue stops
    and the driver is told to reset (virtio 1.2, 2.1.2); RX still delivers."""
    before = net.dev.counters["ring_errors"]
    net.add_buffer(2, b"\x00\x00\x01")
    slot = (net.free[2] - 1) % net.size
    net.memory.write(net._addr(2, 0) + 16 * slot, struct.pack("<QIHH", 1 << 40, 3, 0, 0))
    net.kick(2)
    assert net.dev.counters["ring_errors"] == before + 1
    assert net.status() & vp.STATUS_NEEDS_RESET
    frames = [testframe.build(MAC, PEER, 0, 1, 60)]
    assert receive(net, frames) == frames


def test_fault_switches_break_what_they_name():
    rig = virtio_rig(faults=["corrupt_rx", "filter_bug"])
    device, backend = rig.dev, rig
    driver = VirtioNetDriver(rig)
    driver.start()
    try:
        frame = testframe.build(OTHER, PEER, 0, 1, 128)
        got = receive(driver, [frame])
        assert len(got) == 1 and testframe.check(got[0]) is not None
        device.faults.discard("corrupt_rx")
        device.faults.add("lose_descriptor")
        for seq in range(100):
            driver.send(testframe.build(PEER, MAC, seq, 2, 60))
        assert (device.counters["tx_frames"], device.counters["tx_lost"]) == (99, 1)
        backend.peer.settimeout(0.2)
        sent = []
        while True:
            try:
                sent.append(backend.peer.recv(2048))
            except TimeoutError:
                break
        assert len(sent) == 99
    finally:
        rig.close()


def test_msix_vector_signals_when_enabled_and_unmasked():
    rig = virtio_rig()
    device = rig.dev
    driver = VirtioNetDriver(rig)
    driver.start()
    cap = device.config[0x34]
    device.write_config(cap + 2, (0x8000).to_bytes(2, "little"))  # MSI-X enable
    table = device.msix.bar.device
    table.write(16, (0xFEE00000).to_bytes(8, "little") + (0x41).to_bytes(4, "little"))
    table.write(28, bytes(4))  # unmask vector 1
    driver._w(vp.COMMON + 0x16, 1, 2)
    driver._w(vp.COMMON + 0x1A, 1, 2)  # TX queue -> vector 1
    driver.send(testframe.build(PEER, MAC, 0, 1, 60))
    assert driver.msi == [(0xFEE00000, 0x41)]
    assert not any(driver.irq.levels)
    rig.close()


def test_a_system_reset_is_a_device_reset_with_msix_off(net):
    assert net.control(1, 1, testframe.mac_bytes(OTHER)) == 0  # MAC_ADDR_SET
    device = net.rig.dev
    cap = device.config[0x34]
    device.write_config(cap + 2, (0x8000).to_bytes(2, "little"))  # MSI-X enable
    device.msix.bar.device.write(0, bytes(12) + bytes(4))  # vector 0 unmasked
    device.system_reset()
    assert device.status == 0 and not device.msix.enabled
    assert device.msix.read(12, 4) == (1).to_bytes(4, "little")  # vector 0 masked again
    assert device.net.config()[:6] == testframe.mac_bytes(MAC)
    assert device.read_config(0x04, 2) == b"\x00\x00"


def test_intx_and_isr_without_msix(net):
    net.send(testframe.build(PEER, MAC, 0, 1, 60))
    assert net.irq.level
    isr = net._r(0x13, 1) if net.legacy else net._r(vp.ISR, 1)
    assert isr == vp.ISR_QUEUE and not net.irq.level


def test_the_rx_thread_is_batch_scheduled_and_tx_is_not(net):
    """RX must not preempt the sender of every frame it is woken for; TX stays as it is."""
    threads = {t.name: t for t in net.dev.net.threads}
    assert policies([threads["kvmnet-virtio-net"]]) == {"kvmnet-virtio-net": os.SCHED_BATCH}
    assert os.sched_getscheduler(threads["kvmnet-virtio-net-tx"].native_id) == os.SCHED_OTHER


def test_close_leaves_no_thread_or_fd():
    rig = virtio_rig()
    rig.close()
    assert open_fds() == rig.fds_before
