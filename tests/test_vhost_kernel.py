"""The kernel vhost-net transport and the shared frontend without a backend process.

The test that needs /dev/vhost-net runs wherever it exists; where the host has none,
tests/test_lab.py runs it inside a lab kernel that has (tests/conftest.py leaves it to
the lab instead of skipping it here). The rest exercises the same code: the
ioctl numbers and structs as <linux/vhost.h> has them, and the whole handoff of a
virtio-net model (support.drivers.virtio) over KernelVhostNet with its ioctls recorded
instead of sent, and over a transport that lacks features.
"""

import os
import time

import pytest

from kvmnet.devices.virtio_net import F, VirtioNetPci
from kvmnet.host.vhost import VhostNetUnavailable
from kvmnet.syscall import ffi, lib
from kvmnet.backends.vhost import VhostFrontend, kernel
from kvmnet.backends.vhost.frontend import BACKEND_FEATURES

from support.drivers.virtio import VirtioNetDriver
from support.nic_rig import MAC, Rig

_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction, nr, size):
    return direction << 30 | size << 16 | 0xAF << 8 | nr


def test_opening_an_absent_device_names_config_vhost_net():
    with pytest.raises(VhostNetUnavailable, match="CONFIG_VHOST_NET"):
        kernel.KernelVhostNet("/nonexistent/vhost-net")


def test_ioctl_numbers_and_structs_are_linux_vhost_h():
    sizes = {"struct vhost_vring_state": 8, "struct vhost_vring_file": 8,
             "struct vhost_vring_addr": 40, "struct vhost_memory_region": 32,
             "struct vhost_memory": 8}
    assert {name: ffi.sizeof(name) for name in sizes} == sizes
    assert lib.VHOST_SET_VRING_ADDR == _ioc(_IOC_WRITE, 0x11, 40)
    assert lib.VHOST_GET_VRING_BASE == _ioc(_IOC_READ | _IOC_WRITE, 0x12, 8)
    assert lib.VHOST_NET_SET_BACKEND == _ioc(_IOC_WRITE, 0x30, 8)
    assert lib.VHOST_SET_MEM_TABLE == _ioc(_IOC_WRITE, 0x03, 8)
    table = kernel.memory_table([(0, 1 << 20, 0x7F00_0000_0000, 5, 0)])
    assert table.nregions == 1 and ffi.sizeof(table[0]) == 8 + 32
    assert (table.regions[0].memory_size, table.regions[0].userspace_addr) == (1 << 20,
                                                                               0x7F00_0000_0000)


class RecordedIoctls:
    """kvmnet.backends.vhost.kernel's ioctl, recorded: (request, decoded struct) per call."""

    def __init__(self, features):
        self.calls, self.features = [], features
        self.bases = {}  # ring -> what GET_VRING_BASE answers (default 0)

    def __call__(self, fd, name, arg=None):
        if name == "VHOST_GET_FEATURES":
            arg[0] = self.features
        elif name == "VHOST_GET_VRING_BASE":
            arg.num = self.bases.get(arg.index, 0)
        value = None
        if name in ("VHOST_SET_VRING_ADDR",):
            value = (arg.index, arg.desc_user_addr, arg.avail_user_addr, arg.used_user_addr)
        elif name in ("VHOST_SET_VRING_NUM", "VHOST_SET_VRING_BASE"):
            value = (arg.index, arg.num)
        elif name in ("VHOST_SET_VRING_KICK", "VHOST_SET_VRING_CALL", "VHOST_NET_SET_BACKEND"):
            value = (arg.index, arg.fd)
        self.calls.append((name, value))
        return 0


@pytest.fixture
def recorded(monkeypatch):
    """A KernelVhostNet on /dev/null whose ioctls are recorded (a backend offering all
    features but MRG_RXBUF and EVENT_IDX)."""
    lacking = 1 << F["VIRTIO_NET_F_MRG_RXBUF"] | 1 << F["VIRTIO_RING_F_EVENT_IDX"]
    ioctls = RecordedIoctls(BACKEND_FEATURES & ~lacking)
    monkeypatch.setattr(kernel, "ioctl", ioctls)
    return VhostFrontend(kernel.KernelVhostNet(os.devnull)), ioctls


def vhost_rig(frontend):
    rig = Rig(lambda mac, backend, faults: VirtioNetPci(mac, backend, faults=faults,
                                                       vhost=frontend))
    rig.near.setblocking(False)
    return rig


@pytest.fixture
def started(recorded):
    """(driver, ioctls): a VirtioNetDriver started on a vhost_rig over the recorded
    frontend, its rings handed off at DRIVER_OK; the rig is closed after the test."""
    frontend, ioctls = recorded
    rig = vhost_rig(frontend)
    try:
        driver = VirtioNetDriver(rig)
        driver.start()
        yield driver, ioctls
    finally:
        rig.close()


def test_handoff_over_vhost_net_sends_the_rings_in_user_addresses(started):
    driver, ioctls = started
    rig, device = driver.rig, driver.dev
    assert device.handed_off
    names = [name for name, _ in ioctls.calls]
    assert names[:3] == ["VHOST_SET_OWNER", "VHOST_GET_FEATURES", "VHOST_SET_MEM_TABLE"]
    per_ring = ["VHOST_SET_VRING_NUM", "VHOST_SET_VRING_BASE", "VHOST_SET_VRING_ADDR",
                "VHOST_SET_VRING_KICK", "VHOST_SET_VRING_CALL", "VHOST_NET_SET_BACKEND"]
    assert names[3:] == ["VHOST_SET_FEATURES"] + per_ring * 2
    host = rig.memory.host_address
    addrs = dict(ioctls.calls)["VHOST_SET_VRING_ADDR"]  # the last: the TX ring
    base = driver.queue_base(1)
    assert addrs == (1, host + base, host + base + 0x1000, host + base + 0x2000)
    kicks = [v for n, v in ioctls.calls if n == "VHOST_SET_VRING_KICK"]
    assert kicks == [(0, device.net.kick_fd(0)), (1, device.net.kick_fd(1))]
    backends = [v for n, v in ioctls.calls if n == "VHOST_NET_SET_BACKEND"]
    assert backends == [(0, rig.near.fileno()), (1, rig.near.fileno())]
    ioctls.calls.clear()
    # Three frames the "backend" took (and completed) while it had the TX ring: the
    # C datapath must resume after them, not send them again.
    for seq in range(3):
        driver.add_buffer(1, bytes(driver.hdr_size()) + bytes(60))
    ioctls.bases = {0: 0, 1: 3}
    driver.memory.write(driver._addr(1, 0x2000) + 2, (3).to_bytes(2, "little"))
    assert device.take_back() == {0: 0, 1: 3}
    assert [n for n, _ in ioctls.calls] == ["VHOST_NET_SET_BACKEND", "VHOST_GET_VRING_BASE"] * 2
    driver.kick(1)
    assert device.net._state.tx.last_avail == 3
    assert device.counters["tx_frames"] == 0, "frames the backend sent were sent again"


def test_a_frame_waiting_for_buffers_at_handoff_goes_into_those_added_since(started):
    """The C datapath read a frame when the driver had no RX buffer; the driver then added
    one without kicking. Handing the rings to vhost-net (which shares the backend) must
    deliver that frame first (the RX thread's last pass does) rather than lose it."""
    driver, _ = started
    rig, device = driver.rig, driver.dev
    device.take_back()
    frame = bytes.fromhex(MAC.replace(":", "")) + bytes(range(6)) + b"\x08\x00" + bytes(50)
    rig.peer.send(frame)
    deadline = time.monotonic() + 5
    while not device.counters["rx_no_buffer"]:  # read, and held for want of a buffer
        assert time.monotonic() < deadline, "the RX thread never read the frame"
        time.sleep(0.001)
    driver.add_buffer(0, writable=2048)  # no kick: the RX thread keeps waiting
    device.handoff()
    assert device.handoff_dropped == 0, "the frame was dropped at handoff"
    [(slot, length)] = driver.used(0)
    assert driver.buffer(0, slot, length)[driver.hdr_size():] == frame


def test_features_the_backend_lacks_are_not_offered(recorded):
    frontend, _ = recorded
    rig = vhost_rig(frontend)
    try:
        offered = VirtioNetDriver(rig).offered()
        assert not offered >> F["VIRTIO_NET_F_MRG_RXBUF"] & 1
        assert not offered >> F["VIRTIO_RING_F_EVENT_IDX"] & 1
        assert offered >> F["VIRTIO_NET_F_MAC"] & 1  # the VMM's own, whatever the backend
    finally:
        rig.close()


def test_features_check_fails_when_the_mask_is_ignored(recorded, monkeypatch):
    """Fault: the device offers its features unmasked; the check above would catch it."""
    frontend, _ = recorded
    monkeypatch.setattr(frontend, "offer", lambda ours: ours)
    rig = vhost_rig(frontend)
    try:
        assert VirtioNetDriver(rig).offered() >> F["VIRTIO_NET_F_MRG_RXBUF"] & 1
    finally:
        rig.close()


@pytest.mark.needs_root
@pytest.mark.needs_vhost_net
def test_vhost_net_owner_and_features_on_this_kernel():
    """The real module (in the kernel lab where this host has none: tests/test_lab.py)."""
    frontend = VhostFrontend(kernel.KernelVhostNet())
    try:
        assert frontend.features >> lib.VIRTIO_F_VERSION_1 & 1
    finally:
        frontend.close()
