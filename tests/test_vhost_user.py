"""The vhost-user handoff on the built-in VMM (and QEMU), against a real backend: DPDK's
dpdk-testpmd forwarding between its vhost-user port and a tap on the topology's bridge.
Every stream is checked frame by frame by its receiver (kvmnet.peer.streams); each check
is also shown failing when what it checks is broken (a wrong vring address, an ioeventfd
not registered, no irqfd)."""

import threading
import time
from contextlib import contextmanager

import pytest

from kvmnet.backends.vhost import VhostUserBackend
from kvmnet.devices import virtio_pci as vp
from kvmnet.guest import GuestGone
from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer import streams
from kvmnet.peer.bulk import Peer
from kvmnet.runners import BuiltinRunner, QemuRunner
from kvmnet.runners.nics import Nic, NicGuest
from kvmnet.backends.vhost import testpmd

from support.virtio_kicks import notify_exits

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root,
              pytest.mark.skipif(testpmd.missing() is not None, reason=str(testpmd.missing()))]

MAC = "02:6b:76:00:00:11"
FRAMES = 2000


class Rig:
    """Bridge topology, testpmd on its bridge, a guest whose virtio NIC is vhost-user."""

    def __init__(self, topo, pmd, backend, guest):
        self.topo, self.pmd, self.backend, self.guest = topo, pmd, backend, guest
        self.peer = Peer.on(topo)
        self.nic = NicGuest(guest, "virtio", MAC)

    @property
    def device(self):
        return self.guest.nics[0]


@contextmanager
def vhost_rig(tmp_path, runner=None, fallback=False, faults=()):
    """fallback: the C datapath's backend while the rings are taken back is the
    topology's tap, made a transmit-only bridge port (no learning, no flooding), so every
    frame to the guest goes through testpmd and none waits in the tap."""
    with BridgeTopology.create("vhu", vnet_hdr=12) as topo:
        if fallback:
            with topo.netns.ipr() as ipr:
                index = ipr.link_lookup(ifname=topo.taps[0].name)[0]
                ipr.brport("set", index=index, learning=0, unicast_flood=0, mcast_flood=0,
                           bcast_flood=0)
        with testpmd.Testpmd.start(topo.netns, tmp_path / "vhost.sock", tmp_path / "testpmd.log",
                                   bridge=topo.bridge) as pmd:
            backend = VhostUserBackend(pmd.socket_path, topo.taps[0] if fallback else None)
            try:
                runner = runner or BuiltinRunner()
                with runner.start(build(), nics=[Nic("virtio", MAC, backend, faults=faults)]) as guest:
                    guest.channel.wait_hello(30)
                    yield Rig(topo, pmd, backend, guest)
            except BaseException:
                print(pmd.log_text()[-4000:])  # testpmd's log, shown with the failure
                raise
            finally:
                backend.close()


def both_ways(rig, count=FRAMES, size=512):
    sent = streams.guest_to_peer(rig.nic, rig.peer, count, size)
    got = streams.peer_to_guest(rig.nic, rig.peer, count, size)
    return sent, got


def test_frames_flow_both_ways_byte_for_byte_through_testpmd(tmp_path):
    """After the handoff at DRIVER_OK, streams both ways arrive whole, and the VMM's own
    datapath moved none of them."""
    with vhost_rig(tmp_path) as rig:
        assert rig.device.handed_off
        sent, got = both_ways(rig)
        assert sent.ok, f"guest to peer through testpmd: {sent.summary()}"
        assert streams.perfect(got, FRAMES), f"peer to guest through testpmd: {got}"
        counters = rig.device.counters
        assert counters["tx_frames"] == counters["rx_frames"] == 0, counters
        rig.pmd.check()


def test_no_exit_on_notify_addresses_during_the_datapath(tmp_path):
    """Kicks reach the backend through the ioeventfds: no exit on a notify address."""
    with vhost_rig(tmp_path) as rig:
        before = notify_exits(rig.guest)
        sent, got = both_ways(rig)
        assert sent.ok and streams.perfect(got, FRAMES)
        assert notify_exits(rig.guest) == before, "kicks exited to the VMM"


def test_an_unregistered_ioeventfd_shows_as_notify_exits(tmp_path):
    """Fault: the TX queue's ioeventfd is not registered. Frames still flow (the VMM
    passes each kick on), but every kick is an exit, which the check above catches."""
    with vhost_rig(tmp_path, faults=("no_ioeventfd",)) as rig:
        before = notify_exits(rig.guest)
        sent = streams.guest_to_peer(rig.nic, rig.peer, FRAMES, 512)
        assert sent.ok
        assert notify_exits(rig.guest) != before


def test_a_wrong_vring_address_breaks_the_stream(tmp_path):
    """Fault: the backend is told a descriptor table one page off: frames do not arrive."""
    with vhost_rig(tmp_path, faults=("bad_vring_addr",)) as rig:
        try:
            sent = streams.guest_to_peer(rig.nic, rig.peer, 200, 512)
            ok = sent.ok
        except (streams.PathFailure, TimeoutError, GuestGone):
            ok = False
        assert not ok, "a stream passed with a wrong descriptor table address"


def flipping(device, period=0.03):
    """Hands the rings back and forth every `period` s until the returned event is set;
    the log collects (take_back bases, handoff bases)."""
    stop, log, errors = threading.Event(), [], []

    def run():
        try:
            while not stop.wait(period):
                back = device.take_back()
                stop.wait(period)
                log.append((back, device.handoff()))
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, name="vhost-flip")
    thread.start()
    return stop, thread, log, errors


def test_rings_handed_back_and_forth_mid_stream_lose_and_duplicate_nothing(tmp_path):
    """GET_VRING_BASE to the VMM's C datapath and back, every 30 ms, during a stream each
    way: every frame arrives once, intact, and each side resumes at the other's index."""
    count = 20000
    with vhost_rig(tmp_path, fallback=True) as rig:
        stop, thread, log, errors = flipping(rig.device)
        try:
            # Peer to guest first: the bridge learns the peer's MAC, so the guest's frames
            # out of the VMM's tap are not flooded back to it through testpmd.
            got = streams.peer_to_guest(rig.nic, rig.peer, count, 256)
            sent = streams.guest_to_peer(rig.nic, rig.peer, count, 256)
        finally:
            stop.set()
            thread.join()
        assert not errors, errors
        assert len(log) >= 4, f"only {len(log)} handbacks during the streams"
        # Frames take two paths (testpmd's tap, the VMM's tap), so they may pass each
        # other at a handover: order is the network's; loss and duplication are the rings'.
        assert (sent.got, sent.lost, sent.dup, sent.bad) == (count, 0, 0, 0), sent.summary()
        assert (got["got"], got["lost"], got["dup"], got["bad"]) == (count, 0, 0, 0), got
        assert rig.device.counters["tx_frames"] > 0, "the C datapath never took over"
        for back, off in log:  # the VMM handed back exactly where it resumed, or later
            assert all((off[q] - back[q]) & 0xFFFF < 0x8000 for q in back), (back, off)


def test_killed_backend_is_detected_and_the_guest_stopped(tmp_path):
    """testpmd killed mid-run: the device reports it (DEVICE_NEEDS_RESET and the reason),
    the guest is stopped, and the command waiting on it ends at once instead of hanging."""
    with vhost_rig(tmp_path) as rig:
        pending = rig.guest.channel.begin(f"recv 0 {FRAMES} 1")
        rig.pmd.kill()
        start = time.monotonic()
        with pytest.raises(GuestGone, match="vhost backend is gone"):
            pending.result(20)
        assert time.monotonic() - start < 10
        assert rig.device.status & vp.STATUS_NEEDS_RESET
        assert "closed the connection" in rig.device.vhost_error
        assert rig.guest.vhost_error == rig.device.vhost_error
        deadline = time.monotonic() + 5
        while rig.guest.machine.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not rig.guest.machine.running


def frames_with_interrupts(rig, count=10):
    pending = rig.nic.begin(f"irq 0 msix {count}")
    assert pending.data() == ["armed"]
    rig.peer.send(MAC, streams.new_seed(), count, 128)
    return streams.settled(pending)


def test_guest_interrupts_arrive_through_the_irqfd(tmp_path):
    """The backend's call eventfd is an irqfd on the RX queue's MSI-X vector: the guest
    takes its interrupts and the VMM sent none."""
    with vhost_rig(tmp_path) as rig:
        got = frames_with_interrupts(rig)
        assert got["frames"] == 10 and got["irqs"] >= 1, got
        assert rig.device.msix.sent == 0 and rig.device.calls.delivered[0] == 0, \
            "the VMM delivered interrupts the irqfd should have"


def test_without_msi_routes_the_vmm_delivers_and_the_irqfd_check_fails(tmp_path, monkeypatch):
    """Fault: no MSI routes (no irqfd): interrupts still arrive, through the VMM."""
    monkeypatch.setattr("kvmnet.devices.virtio_calls.QueueCalls.sync", lambda self: None)
    with vhost_rig(tmp_path) as rig:
        got = frames_with_interrupts(rig)
        assert got["frames"] == 10 and got["irqs"] >= 1, got
        assert rig.device.msix.sent > 0


def test_offered_features_are_ours_less_what_testpmd_lacks(tmp_path):
    """The guest accepted only backend features testpmd offers."""
    from kvmnet.backends.vhost.frontend import BACKEND_FEATURES
    with vhost_rig(tmp_path) as rig:
        frontend = rig.backend.vhost
        accepted = rig.device.driver_features
        assert accepted & BACKEND_FEATURES & ~frontend.features == 0
        assert frontend.negotiated == accepted & BACKEND_FEATURES


@pytest.mark.skipif(QemuRunner.missing() is not None, reason=str(QemuRunner.missing()))
def test_qemu_vhost_user_against_the_same_testpmd(tmp_path):
    """QEMU's virtio-net on -netdev vhost-user to testpmd: streams both ways arrive whole."""
    with vhost_rig(tmp_path, runner=QemuRunner()) as rig:
        sent, got = both_ways(rig)
        assert sent.ok, f"guest to peer, QEMU vhost-user: {sent.summary()}"
        assert streams.perfect(got, FRAMES), f"peer to guest, QEMU vhost-user: {got}"
