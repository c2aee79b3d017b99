"""vhost handoff: virtio-net's rings handed from the VMM to a vhost backend, the kernel's
vhost-net or a vhost-user backend (DPDK's dpdk-testpmd), proven frame by frame.

After the handoff, the guest's kicks go to the backend through ioeventfds and the
backend's interrupts come to the guest through irqfds: the VMM is out of the datapath.
Parametrized by runner and path (transport-topology); checks that look inside the VMM (its
exits, its irqfds, handing the rings back) run on the built-in VMM. Where /dev/vhost-net is
absent its paths skip, naming CONFIG_VHOST_NET.
"""

import pytest

from kvmnet.guest import GuestGone
from kvmnet.peer.streams import (guest_to_peer, new_seed, paced_interrupts, peer_to_guest,
                                 perfect)
from kvmnet.backends.vhost.flip import flipping
from kvmnet.backends.vhost.frontend import BACKEND_FEATURES, backend_feature_names

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

SIZES = [60, 64, 128, 512, 1024, 1514]
INTERRUPTS = 5  # frames the irqfd check sends, each to raise its own interrupt
KICKS = 500  # notifications of each data queue the no-kick-exit check has the guest write
FLIP_PERIOD = 0.03  # seconds between handing the rings back and handing them off again


@pytest.mark.parametrize("size", SIZES)
def test_after_handoff_frames_flow_both_ways_intact(vhost_guest, size, kvmnet_settings,
                                                    evidence):
    """Once the backend has the rings, every frame each way arrives once, intact, in order,
    and the backend carried them all."""
    count = kvmnet_settings.frame_count
    sent = guest_to_peer(vhost_guest.nic, vhost_guest.peer, count, size)
    evidence.value("guest -> peer", sent.summary())
    assert sent.ok, f"guest -> peer at {size} B through the vhost backend: {sent.summary()}"
    bypassed = vhost_guest.not_handed_off()
    assert bypassed is None, f"guest -> peer at {size} B, not through the backend: {bypassed}"
    got = peer_to_guest(vhost_guest.nic, vhost_guest.peer, count, size)
    evidence.value("peer -> guest", got)
    assert perfect(got, count), f"peer -> guest at {size} B through the vhost backend: {got}"
    bypassed = vhost_guest.not_handed_off()
    assert bypassed is None, f"peer -> guest at {size} B, not through the backend: {bypassed}"


def test_the_vmm_moves_no_frame_and_takes_no_kick_exit(vhost_builtin, evidence):
    """During streams both ways the VMM's own datapath moves nothing, and none of the many
    notifications the guest then writes to its queues exits to the VMM: they reach the
    backend through the ioeventfds. (A polling backend asks for almost no kick, so the
    guest writes KICKS of each queue itself: one exit among them is the verdict.)"""
    device, nic, guest = vhost_builtin.device, vhost_builtin.nic, vhost_builtin.nic.guest
    addresses = device.notify_addresses()
    before = {a: guest.exits.get(a, 0) for a in addresses}
    notified_before = nic.counters()["notify"]
    sent = guest_to_peer(nic, vhost_builtin.peer, 2000, 512)
    got = peer_to_guest(nic, vhost_builtin.peer, 2000, 512)
    assert sent.ok and perfect(got, 2000), f"{sent.summary()}; {got}"
    nic.kick(KICKS)
    exits = {a: guest.exits.get(a, 0) - n for a, n in before.items()}
    notified = nic.counters()["notify"] - notified_before
    exited = sum(exits.values())
    evidence.value("notifications the guest wrote", notified)
    evidence.value("of them exited to the VMM", exited)
    assert notified >= 2 * KICKS, (
        f"the guest wrote {notified} notifications, fewer than the {2 * KICKS} asked of it: "
        "a kick it does not write cannot exit")
    assert device.handed_off, "the rings were never handed to the backend"
    assert not exited, (
        f"{exited} of the {notified} notifications the guest wrote to its queues exited to "
        "the VMM instead of reaching the backend's ioeventfds: "
        + ", ".join(f"{n} on {kind} {address:#x}" for (kind, address), n in exits.items() if n))
    counters = device.counters
    assert counters["tx_frames"] == counters["rx_frames"] == 0, (
        f"the VMM's own datapath moved frames: {counters}")


def test_guest_interrupts_arrive_through_the_irqfd(vhost_builtin):
    """The backend interrupts the guest through the irqfd on the queue's MSI-X vector; the
    VMM delivers none itself."""
    got = paced_interrupts(vhost_builtin.nic, vhost_builtin.peer, "msix", INTERRUPTS)
    device = vhost_builtin.device
    assert got.get("frames") == INTERRUPTS and got.get("irqs", 0) >= INTERRUPTS, (
        f"of {INTERRUPTS} frames, each sent once the guest had taken the last, "
        f"{got.get('frames')} were taken on {got.get('irqs')} interrupts ({got})")
    assert device.msix.sent == 0 and device.calls.delivered[0] == 0, (
        f"the VMM delivered interrupts itself ({device.msix.sent} MSI-X messages)")


def test_rings_handed_back_and_forth_mid_stream_lose_nothing(vhost_builtin, kvmnet_settings):
    """Taking the rings back (GET_VRING_BASE) and handing them off again every 30 ms
    during streams both ways loses and duplicates no frame, and each side resumes at the
    index the other stopped at. Each stream starts with the VMM holding the rings, so the
    VMM's own datapath carries part of it. (Frames take two paths then, the backend's port
    and the VMM's tap, so they may pass each other: order is not the rings' to keep.)"""
    device, nic, peer = vhost_builtin.device, vhost_builtin.nic, vhost_builtin.peer
    count = kvmnet_settings.frame_count
    with flipping(device, FLIP_PERIOD) as flips:
        got = peer_to_guest(nic, peer, count, 256)
    assert handed_over_cleanly(flips) is None, handed_over_cleanly(flips)
    assert (got["got"], got["lost"], got["dup"], got["bad"]) == (count, 0, 0, 0), (
        f"peer -> guest with {len(flips.log)} handbacks: {got}")
    sent_by_vmm = device.counters["tx_frames"]
    with flipping(device, FLIP_PERIOD) as flips:
        sent = guest_to_peer(nic, peer, count, 256)
    assert handed_over_cleanly(flips) is None, handed_over_cleanly(flips)
    sent_by_vmm = device.counters["tx_frames"] - sent_by_vmm
    assert (sent.got, sent.lost, sent.dup, sent.bad) == (count, 0, 0, 0), (
        f"guest -> peer with {len(flips.log)} handbacks ({sent_by_vmm} frames sent by the VMM "
        f"while it held the rings): {sent.summary()}")
    assert sent_by_vmm, "the VMM never sent while it held the rings: nothing was handed back"


def handed_over_cleanly(flips):
    """What went wrong handing the rings over, or None."""
    if flips.error is not None:
        return f"handing the rings over failed: {flips.error!r}"
    if not flips.log:
        return "the rings were never handed back during the stream"
    early = flips.resumed_early()
    if early:
        return f"taken back at {early[0][0]}, the backend resumed at {early[0][1]}: before it"
    return None


def test_a_feature_the_backend_lacks_is_not_offered(vhost_builtin, evidence):
    """The guest is offered only the backend-served features the backend has: the offer as
    the guest's driver read it from the device, not what it accepted (it accepts few)."""
    offered, accepted = vhost_builtin.nic.virtio_features()
    advertised = vhost_builtin.backend.vhost.features
    evidence.value("offered to the guest", f"{offered:#x}")
    evidence.value("the backend's features", f"{advertised:#x}")
    assert offered, "the guest read no feature bits from the device: nothing to judge"
    lacking = offered & BACKEND_FEATURES & ~advertised
    assert not lacking, (
        f"the guest was offered {', '.join(backend_feature_names(lacking))}, which the "
        f"backend lacks (offered {offered:#x}, the backend has {advertised:#x}; the guest "
        f"accepted {accepted:#x})")


def test_the_backend_going_away_stops_the_guest_cleanly(vhost_builtin):
    """When the backend goes away the VMM reports it, marks the device as needing a reset
    and stops the guest; nothing waits forever."""
    if vhost_builtin.testpmd is None:
        pytest.skip("only a vhost-user backend can be killed from outside")
    pending = vhost_builtin.nic.start_recv(1000, new_seed())
    vhost_builtin.testpmd.kill()
    try:
        with pytest.raises(GuestGone, match="vhost backend is gone"):
            pending.result(20)
    except TimeoutError:
        pytest.fail("the backend went away and the guest still ran 20 s later: the VMM did "
                    "not notice")
    assert vhost_builtin.device.vhost_error, "the device did not record why"
