"""Performance: what a kernel upgrade must not slow down, each figure ten or more short
samples, judged against the thresholds file, the host's own invariants and the baseline
(the same host on its old kernel: --kvmnet-baseline). Each check runs alone, nothing else
of the run loading the host; in the kernel lab they skip (emulated timing means nothing).
"""

import pytest

from kvmnet.host.macvtap_topology import MacvtapTopology
from kvmnet.host.topology import BridgeTopology
from kvmnet.peer import ceiling
from kvmnet.peer.bulk import Peer
from kvmnet.perf import measure
from kvmnet.perf.catalogue import CEILING_SIZES, GUEST_SIZES

from fixtures.host import worker_tag
from fixtures.network import GUEST_MAC

pytestmark = [pytest.mark.perf, pytest.mark.needs_kvm, pytest.mark.needs_root]


def test_the_tap_write_ceiling(perf):
    """One write() per frame into a tap: the wall any userspace backend meets."""
    with ceiling.sink_tap(worker_tag()) as tap:
        for size in CEILING_SIZES:
            perf.check(f"host.tap_write.{size}B", lambda: measure.tap_write(tap, size))


def test_the_bridge_path_with_no_guest(perf, _netns_swept):
    """Verified streams both ways between the peer and C in a guest's place on a bridge's
    tap: what the host's bridge, veth and tap carry when no guest costs anything."""
    with BridgeTopology.create(worker_tag()) as bridge:
        peer = Peer.on(bridge)
        for size in GUEST_SIZES:
            perf.check((f"host.bridge_tap.to_peer.{size}B", f"host.bridge_tap.from_peer.{size}B"),
                       lambda: measure.host_path(peer, bridge.taps[0], GUEST_MAC, size))


def test_the_macvtap_path_with_no_guest(perf, _netns_swept):
    """The same streams through a bridge-mode macvtap on a lower device (a veth standing in
    for the NIC), C on the macvtap's queue in a guest's place."""
    with MacvtapTopology.create(worker_tag(), "bridge", [GUEST_MAC]) as macvtap:
        peer = Peer.on(macvtap)
        for size in GUEST_SIZES:
            perf.check((f"host.macvtap.to_peer.{size}B", f"host.macvtap.from_peer.{size}B"),
                       lambda: measure.host_path(peer, macvtap.taps[0], GUEST_MAC, size))


def test_a_port_io_exit_and_back(perf, runner, guest):
    """A guest's port write caught by its VMM and the guest resumed: the unit of every
    emulated device's cost."""
    perf.check(f"kvm.{runner.name}.pio_exit", lambda: measure.pio_exit(guest))


def test_vm_creation_to_the_guests_first_line(perf, runner, guest_image_path):
    """A new VM, its memory and vCPU set up, to the guest's HELLO on its serial line."""
    perf.check(f"kvm.{runner.name}.boot_to_hello",
               lambda: measure.boot_to_hello(runner, guest_image_path))


def test_guest_streams_on_a_bridge(perf, runner, nic_guest, quiet_peer):
    """Verified frames/s of a guest NIC on a bridge's tap, to the peer and from it, at 64
    and 1514 B (a sample is one stream of each, in turn)."""
    perf.check(*measure.streams(f"guest.{runner.name}.{nic_guest.model}.bridge", nic_guest,
                                quiet_peer))


def test_the_round_trip_of_a_frame_the_guest_bounces(perf, runner, nic_guest, quiet_peer):
    """A frame from the peer, bounced by the guest, back at the peer: the latency of the
    whole path, VMM and device model included."""
    perf.check(f"guest.{runner.name}.{nic_guest.model}.bridge.round_trip",
               lambda: measure.round_trip(nic_guest, quiet_peer))


def test_guest_streams_after_the_vhost_handoff(perf, runner, vhost_path, vhost_guest):
    """Verified frames/s of virtio-net once a vhost backend (vhost-net, or dpdk-testpmd
    over vhost-user) serves its rings, to the peer and from it, at 64 and 1514 B."""
    perf.check(*measure.streams(f"guest.{runner.name}.virtio.{vhost_path}", vhost_guest.nic,
                                vhost_guest.peer))


def test_exits_per_frame_of_the_builtin_vmm(perf, builtin_nic_guest, quiet_peer):
    """Exits the built-in VMM takes per frame. virtio-net's kicks go to ioeventfds and its
    interrupts come through irqfds, and e1000's ring tails through the coalesced ring, so
    on any healthy host those two stay well under 0.1 exits a frame whatever its speed;
    rtl8139 writes a register per frame sent (its ceiling is about one and a quarter)."""
    stem = f"guest.builtin.{builtin_nic_guest.model}.bridge"
    perf.check(f"{stem}.exits_per_frame",
               lambda: measure.exits_per_frame(builtin_nic_guest, quiet_peer))
