"""virtio-net kicks on the built-in VMM are caught by KVM (ioeventfd): a stream moves with
no exit on any notify address, on the modern and the legacy interface. (Control-queue
kicks still exit, by design: on the legacy interface they share the port, so only the
streams are counted.)"""

import pytest

from kvmnet.guest_image import build
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from kvmnet.runners import BuiltinRunner
from kvmnet.runners.nics import Nic
from support.virtio_kicks import notify_exits

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

MAC = "02:6b:76:00:00:01"


@pytest.mark.parametrize("model", ["virtio", "virtio-legacy"])
def test_streams_both_ways_without_a_notify_exit(model):
    with BridgeTopology.create("kicks", vnet_hdr=12) as topo:
        peer = Peer.on(topo)
        with BuiltinRunner().start(build(), nics=[Nic(model, MAC, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            before = notify_exits(guest)
            with peer.start_receive(11, 2000, src=MAC, timeout=10) as receiving:
                guest.channel.command(f"send 0 2000 512 {peer.mac} 11", timeout=60)
                assert receiving.wait(30).ok
            pending = guest.channel.begin(f"recv 0 2000 12 {peer.mac.replace(':', '')} 32")
            peer.send(MAC, 12, 2000, 512, window=128, timeout=10)
            assert pending.result(30).fields["got"] == 2000
            assert notify_exits(guest) == before
            assert guest.nics[0].counters["tx_frames"] >= 2000


def interrupts(guest, peer, mode, count=10):
    pending = guest.channel.begin(f"irq 0 {mode} {count}")
    assert pending.data() == ["armed"]
    peer.send(MAC, 13, count, 128)
    return pending.result(30).fields


def test_userspace_datapath_interrupts_through_the_irqfd_and_intx_survives_msi_routes():
    """The C RX thread signals the queue's call eventfd, an irqfd on its MSI-X vector: the
    guest takes MSI-X interrupts the VMM never sent. The MSI routes replace KVM's routing
    table, which keeps the IOAPIC routes: INTx still arrives afterwards."""
    with BridgeTopology.create("irqfd", vnet_hdr=12) as topo:
        peer = Peer.on(topo)
        with BuiltinRunner().start(build(), nics=[Nic("virtio", MAC, topo.taps[0])]) as guest:
            guest.channel.wait_hello(30)
            device = guest.nics[0]
            got = interrupts(guest, peer, "msix")
            assert got["frames"] == 10 and got["irqs"] >= 1, got
            assert device.msix.sent == 0 and device.calls.delivered[0] == 0
            assert guest.machine.msi_routes.commits >= 1
            got = interrupts(guest, peer, "intx")
            assert got["frames"] == 10 and got["irqs"] >= 1, got
