"""NIC interrupts, in small numbers (each runs a ring-0 handler, emulated on nested hosts):
INTx through the IOAPIC for every model, MSI-X for virtio-net; and virtio-net's queue
notifications the other way, caught by KVM's ioeventfds on the built-in VMM."""

import pytest

from kvmnet.peer.streams import paced_interrupts

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

FRAMES = 5
TAKEN = 5  # seconds a frame may wait for its interrupt and the guest to take it


def verdict(nic_guest, got, path):
    """None, or what the interrupt path did wrong."""
    frames, irqs = got.get("frames", 0), got.get("irqs", 0)
    if frames == FRAMES and irqs >= FRAMES:
        return None
    if frames == 0:
        return (f"{nic_guest.model} {path}: the first of {FRAMES} frames raised no interrupt "
                f"the guest took within {TAKEN} s ({got})")
    return (f"{nic_guest.model} {path}: of {FRAMES} frames, each sent once the guest had "
            f"taken the last, {frames} were taken on {irqs} interrupts: the device did not "
            f"interrupt again after its driver acknowledged the last ({got})")


def test_intx_through_the_ioapic(nic_guest, peer):
    """Each received frame raises the NIC's INTx line, routed through the IOAPIC to the
    guest, again after the driver acknowledged the one before."""
    said = verdict(nic_guest, paced_interrupts(nic_guest, peer, "intx", FRAMES, TAKEN), "INTx")
    assert said is None, said


def test_msix_for_virtio_net(nic_guest, peer):
    """virtio-net signals each received frame with an MSI-X message."""
    if not nic_guest.model.startswith("virtio"):
        pytest.skip(f"{nic_guest.model} has no MSI-X")
    said = verdict(nic_guest, paced_interrupts(nic_guest, peer, "msix", FRAMES, TAKEN), "MSI-X")
    assert said is None, said


KICKS = 500  # notifications of each data queue the guest writes


@pytest.mark.parametrize("nic_model", ["virtio", "virtio-legacy"], indirect=True)
def test_virtio_kicks_are_caught_by_ioeventfds(builtin_nic_guest, evidence):
    """Every notification the guest's virtio-net driver writes to its data queues is caught
    by an ioeventfd inside KVM: none exits to the built-in VMM (on the legacy interface the
    queues share one port, told apart by the value written)."""
    nic = builtin_nic_guest
    device, guest = nic.guest.nics[0], nic.guest
    before = {a: guest.exits.get(a, 0) for a in device.notify_addresses()}
    wrote = nic.kick(KICKS)
    exits = {a: guest.exits.get(a, 0) - n for a, n in before.items()}
    exited = sum(exits.values())
    evidence.value("notifications written", wrote)
    evidence.value("of them exited to the VMM", exited)
    assert wrote == 2 * KICKS, f"the guest wrote {wrote} of {2 * KICKS} notifications"
    assert not exited, (
        f"{nic.model}: {exited} of the {wrote} notifications the guest wrote exited to the "
        "VMM instead of signalling its ioeventfds: "
        + ", ".join(f"{n} on {kind} {address:#x}" for (kind, address), n in exits.items() if n))
