"""kvmnet.peer.streams.guest_to_guest between two real guests (the suite's image, built-in
VMM) on one bridge: with acks, the sender keeps within the receiver's window by the
acknowledgements the bridge's peer hears; with those acknowledgements lost on the way, the
stream stops at the window and says how far it got."""

import pytest

from faults import tc
from kvmnet import testframe
from kvmnet.guest_image import build
from kvmnet.peer.bulk import Peer
from kvmnet.peer.streams import StreamStalled, guest_to_guest, perfect
from kvmnet.runners import RUNNERS
from kvmnet.runners.nics import Nic, NicGuest
from kvmnet.topology.bridge import BridgeTopology

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

MODELS = ("e1000", "virtio")
MACS = ("02:6b:76:00:00:01", "02:6b:76:00:00:02")
WINDOW = 40  # acks every 20 frames, sends in steps of 20


@pytest.fixture
def pair():
    """(the bridge's topology, its Peer, [two NicGuests] whose streams keep WINDOW)."""
    with BridgeTopology.create("streams", ports=2, vnet_hdr=[0, 12]) as bridge:
        guests = []
        try:
            for model, mac, tap in zip(MODELS, MACS, bridge.taps):
                guest = RUNNERS["builtin"]().start(build(), nics=[Nic(model, mac, tap)])
                guests.append(NicGuest(guest, model, mac, stream_window=WINDOW))
                guest.channel.wait_hello(30)
            yield bridge, Peer.on(bridge), guests
        finally:
            for subject in guests:
                subject.guest.close()


def test_a_paced_stream_between_guests_arrives_whole(pair):
    _, peer, (first, second) = pair
    for sender, receiver in ((first, second), (second, first)):
        got = guest_to_guest(sender, receiver, 300, 1514, acks=peer)
        assert perfect(got, 300), f"{sender.model} -> {receiver.model}: {got}"


def test_without_acknowledgements_the_sender_stops_at_the_window(pair):
    bridge, peer, (first, second) = pair
    with tc.drop(bridge.peer_netns, bridge.peer_ifname, "ingress",
                 ethertype=testframe.ACK_ETHERTYPE):
        with pytest.raises(StreamStalled) as stalled:
            guest_to_guest(first, second, 300, 1514, acks=peer)
    assert stalled.value.received["got"] == WINDOW, stalled.value.received
    assert (f"{WINDOW} of the frames from the e1000 guest to {MACS[1]} reached the virtio "
            f"guest's driver before they stopped arriving") in str(stalled.value)
    assert "acknowledged 0 of the 20 frames needed" in str(stalled.value)
