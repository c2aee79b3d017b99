"""NIC interrupts, in small numbers (each runs a ring-0 handler, emulated on nested hosts):
INTx through the IOAPIC for every model, MSI-X for virtio-net."""

import pytest

from kvmnet.peer.streams import new_seed, settled

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

FRAMES = 10


def frames_with_interrupts(nic_guest, peer, mode):
    pending = nic_guest.begin(f"irq {nic_guest.index} {mode} {FRAMES}")
    assert pending.data() == ["armed"]
    peer.send(nic_guest.mac, new_seed(), FRAMES, 128)
    return settled(pending)


def test_intx_through_the_ioapic(nic_guest, peer):
    """Received frames raise the NIC's INTx line, routed through the IOAPIC to the guest."""
    got = frames_with_interrupts(nic_guest, peer, "intx")
    assert got["frames"] == FRAMES and got["irqs"] >= 1, f"{nic_guest.model} INTx: {got}"


def test_msix_for_virtio_net(nic_guest, peer):
    """virtio-net signals received frames with an MSI-X message."""
    if not nic_guest.model.startswith("virtio"):
        pytest.skip(f"{nic_guest.model} has no MSI-X")
    got = frames_with_interrupts(nic_guest, peer, "msix")
    assert got["frames"] == FRAMES and got["irqs"] >= 1, f"{nic_guest.model} MSI-X: {got}"
