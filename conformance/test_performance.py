"""Performance: what a kernel upgrade must not slow down, each figure ten or more short
samples, judged against the thresholds file, the host's own invariants and the baseline
(the same host on its old kernel: --kvmnet-baseline). Each check runs alone, nothing else
of the run loading the host; in the kernel lab they skip (emulated timing means nothing).
"""

import pytest

from kvmnet.perf import measure
from kvmnet.perf.catalogue import CEILING_SIZES, GUEST_SIZES
from kvmnet.vmm.doorbell import Doorbell

from fixtures.network import GUEST_MAC

pytestmark = [pytest.mark.perf, pytest.mark.needs_kvm, pytest.mark.needs_root]

DOORBELL_PORT = 0x6B0    # a port no device of the built-in VMM decodes
DOORBELL_VECTOR = 0x50   # the guest's doorbell vector (guestimg/x86.h)


def test_the_tap_write_ceiling(perf, sink_tap):
    """One write() per frame into a tap: the wall any userspace backend meets."""
    for size in CEILING_SIZES:
        perf.check(f"host.tap_write.{size}B", lambda: measure.tap_write(sink_tap, size))


def test_the_bridge_path_with_no_guest(perf, bare_bridge):
    """Verified streams both ways between the peer and C in a guest's place on a bridge's
    tap: what the host's bridge, veth and tap carry when no guest costs anything."""
    bridge, peer = bare_bridge
    for size in GUEST_SIZES:
        perf.check((f"host.bridge_tap.to_peer.{size}B", f"host.bridge_tap.from_peer.{size}B"),
                   lambda: measure.host_path(peer, bridge.taps[0], GUEST_MAC, size))


def test_the_macvtap_path_with_no_guest(perf, bare_macvtap):
    """The same streams through a bridge-mode macvtap on a lower device (a veth standing in
    for the NIC), C on the macvtap's queue in a guest's place."""
    macvtap, peer = bare_macvtap
    for size in GUEST_SIZES:
        perf.check((f"host.macvtap.to_peer.{size}B", f"host.macvtap.from_peer.{size}B"),
                   lambda: measure.host_path(peer, macvtap.taps[0], GUEST_MAC, size))


def test_a_port_io_exit_and_back(perf, runner, guest):
    """A guest's port write caught by its VMM and the guest resumed: the unit of every
    emulated device's cost."""
    perf.check(f"kvm.{runner.name}.pio_exit", lambda: measure.pio_exit(guest))


@pytest.mark.parametrize("runner", ["builtin"], indirect=True)
def test_a_port_write_caught_by_an_ioeventfd(perf, guest):
    """The same write caught by an ioeventfd: KVM signals an eventfd and resumes the guest
    with no exit to userspace, the path of every virtio kick. (The built-in VMM only: the
    eventfd is the check's own, on a port no device decodes.) Whatever the host's speed, it
    costs less than the exit it spares."""
    with Doorbell(guest.machine, DOORBELL_PORT) as bell:
        [caught] = perf.check("kvm.builtin.ioeventfd_write",
                              lambda: measure.ioeventfd_write(guest, bell))
    exits = sorted(measure.pio_exit(guest) for _ in range(3))
    assert caught.median < exits[1], (
        f"a write caught by an ioeventfd took {caught.median:.1f} µs, no less than the same "
        f"write exiting to the VMM ({exits[1]:.1f} µs, this guest): KVM's in-kernel path "
        "saves nothing")


@pytest.mark.parametrize("runner", ["builtin"], indirect=True)
def test_a_write_answered_by_an_irqfd_interrupt(perf, guest):
    """The write's eventfd is also an irqfd routed to an MSI: KVM injects the interrupt the
    guest then takes, the path of every virtio interrupt, all inside the host kernel."""
    with Doorbell(guest.machine, DOORBELL_PORT, DOORBELL_VECTOR) as bell:
        perf.check("kvm.builtin.irqfd_round_trip",
                   lambda: measure.irqfd_round_trip(guest, bell))


def test_vm_creation_to_the_guests_first_line(perf, runner, guest_image):
    """A new VM, its memory and vCPU set up, to the guest's HELLO on its serial line."""
    perf.check(f"kvm.{runner.name}.boot_to_hello",
               lambda: measure.boot_to_hello(runner, guest_image))


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


@pytest.mark.parametrize("nic_model", ["virtio"], indirect=True)
@pytest.mark.parametrize("macvtap_mode", ["bridge"], indirect=True)
def test_guest_streams_on_a_macvtap(perf, runner, macvtap_guest, quiet_macvtap_peer):
    """Verified frames/s of virtio-net on a bridge-mode macvtap, both ways, 64 and 1514 B:
    the path that bypasses the host's bridge."""
    perf.check(*measure.streams(f"guest.{runner.name}.virtio.macvtap", macvtap_guest,
                                quiet_macvtap_peer))


def test_guest_streams_after_the_vhost_handoff(perf, runner, vhost_path, vhost_guest):
    """Verified frames/s of virtio-net once a vhost backend (vhost-net, or dpdk-testpmd
    over vhost-user) serves its rings, to the peer and from it, at 64 and 1514 B, and the
    round trip of a frame the guest bounces."""
    stem = f"guest.{runner.name}.virtio.{vhost_path}"
    perf.check(*measure.streams(stem, vhost_guest.nic, vhost_guest.peer))
    perf.check(f"{stem}.round_trip", lambda: measure.round_trip(vhost_guest.nic, vhost_guest.peer))


def test_exits_per_frame_of_the_builtin_vmm(perf, builtin_nic_guest, quiet_peer):
    """Exits the built-in VMM takes per frame. virtio-net's kicks go to ioeventfds and its
    interrupts come through irqfds, and e1000's ring tails through the coalesced ring, so
    on any healthy host those two stay well under 0.1 exits a frame whatever its speed;
    rtl8139 writes a register per frame sent (its ceiling is about one and a quarter)."""
    stem = f"guest.builtin.{builtin_nic_guest.model}.bridge"
    perf.check(f"{stem}.exits_per_frame",
               lambda: measure.exits_per_frame(builtin_nic_guest, quiet_peer))
