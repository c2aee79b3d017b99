"""Receive filters: each NIC model's own address filter (rtl8139 RCR and MAR; e1000 RCTL,
RAL/RAH and MTA; virtio-net CTRL_RX and the MAC table) decides what reaches the guest.

A frame the filter drops never reaches the guest driver; a stream to the guest's own MAC
sent after it shows the path was open all along (`foreign` counts the blocked stream's frames
that came).
"""

import pytest

from kvmnet.peer.streams import peer_blast, peer_to_guest, perfect, said_as

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

OTHER_MAC = "02:6b:76:00:00:99"
# OTHER_GROUP shares no hash bin with GROUP, nor with the groups a guest's OS joins by
# itself (IPv4 all-hosts 01:00:5e:00:00:01, IPv6 all-nodes 33:33:00:00:00:01): not
# rtl8139's 64 (CRC-32 >> 26) and not e1000's 4096 (MTA, any RCTL.MO). A group that
# shares a bin with a joined one passes a hash filter by design (01:00:5e:00:00:fc shares
# rtl8139's bin 62 with all-nodes, which Linux joins even with IPv6 disabled).
GROUP, OTHER_GROUP = "01:00:5e:00:00:fb", "01:00:5e:00:00:fd"
BROADCAST = "ff:ff:ff:ff:ff:ff"
COUNT = 200


def test_broadcast_reaches_the_guest(nic_guest, peer):
    """Frames to ff:ff:ff:ff:ff:ff are delivered in the NIC's normal receive mode."""
    with said_as(f"broadcast not delivered by {nic_guest.model}'s filter"):
        got = peer_to_guest(nic_guest, peer, COUNT, 128, dst=BROADCAST)
    assert perfect(got, COUNT), f"{nic_guest.model} broadcast: {got}"


def test_unicast_to_another_mac_is_filtered_in_normal_mode(nic_guest, peer):
    """Frames to a MAC that is not the guest's never reach its driver."""
    peer_blast(peer, OTHER_MAC, 50, 128)
    got = peer_to_guest(nic_guest, peer, COUNT, 128)
    assert perfect(got, COUNT), f"{nic_guest.model}: the stream to its own MAC: {got}"
    assert got["foreign"] == 0, (
        f"{nic_guest.model}: frames to {OTHER_MAC} passed the NIC's unicast filter: {got}")


def test_unicast_to_another_mac_is_delivered_in_promiscuous_mode(nic_guest, peer):
    """With the NIC promiscuous, frames to any MAC reach its driver."""
    nic_guest.set_rx_mode("promisc")
    with said_as(f"{nic_guest.model} promiscuous, frames to {OTHER_MAC} not delivered"):
        got = peer_to_guest(nic_guest, peer, COUNT, 128, dst=OTHER_MAC)
    assert perfect(got, COUNT), f"{nic_guest.model} promiscuous, frames to {OTHER_MAC}: {got}"


def test_multicast_is_delivered_for_joined_groups_only(nic_guest, peer):
    """A group in the NIC's multicast filter is delivered; a group outside it is not."""
    nic_guest.join(GROUP)
    peer_blast(peer, OTHER_GROUP, 50, 128)
    with said_as(f"multicast to {GROUP}, joined, not delivered by {nic_guest.model}'s filter"):
        got = peer_to_guest(nic_guest, peer, COUNT, 128, dst=GROUP)
    assert perfect(got, COUNT), f"{nic_guest.model}: joined group {GROUP}: {got}"
    assert got["foreign"] == 0, f"{nic_guest.model}: {OTHER_GROUP}, not joined, came through: {got}"


def test_all_multicast_mode_delivers_any_group(nic_guest, peer):
    """With all-multicast on, a group the guest never joined is delivered."""
    nic_guest.set_rx_mode("allmulti")
    with said_as(f"multicast to {OTHER_GROUP} not delivered by {nic_guest.model}'s filter in "
                 "all-multicast mode"):
        got = peer_to_guest(nic_guest, peer, COUNT, 128, dst=OTHER_GROUP)
    assert perfect(got, COUNT), f"{nic_guest.model} all-multicast, {OTHER_GROUP}: {got}"


def test_changed_mac_moves_the_unicast_filter(nic_guest, peer):
    """After the guest sets a new MAC, frames to it arrive and frames to the old one do not."""
    old = nic_guest.mac
    nic_guest.set_mac(OTHER_MAC)
    peer_blast(peer, old, 20, 128)
    with said_as(f"frames to the new MAC {OTHER_MAC} not delivered by {nic_guest.model}'s "
                 "filter"):
        got = peer_to_guest(nic_guest, peer, COUNT, 128)
    assert perfect(got, COUNT), f"{nic_guest.model} new MAC {OTHER_MAC}: {got}"
    assert got["foreign"] == 0, (
        f"{nic_guest.model}: frames to its old MAC passed the filter after the change: {got}")
