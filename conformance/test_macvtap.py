"""MacVTap: guests on macvtaps over one lower device (a veth standing in for the host's
physical NIC), in every mode, for every NIC model and runner.

What reaches a macvtap from the network depends on its mode (drivers/net/macvlan.c):
- bridge, vepa, private: frames to the macvtap's own MAC, broadcast, and the multicast
  groups its filter lets through (the host opens the filter for a group; the guest's own
  NIC joining is not enough);
- passthru: the lower device goes promiscuous and every unicast frame is the one macvtap's;
- source: every frame from a source MAC on the macvtap's list, whatever its destination.
The guest's NIC filters again behind that; checks of the macvtap's filter put the NIC in
promiscuous mode, so that only the macvtap decides.
"""

import pytest

from kvmnet.peer.streams import guest_to_peer, peer_blast, peer_to_guest, perfect

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

SIZE = 1514
OTHER_MAC = "02:6b:76:00:00:99"
GROUP, BROADCAST = "01:00:5e:00:00:fb", "ff:ff:ff:ff:ff:ff"
COUNT = 200  # frames for a filter check: enough that a leak cannot hide
TAKES_ANY_UNICAST = ("passthru", "source")
TAKES_ANY_GROUP = ("source",)


def mismatch(topology, guest):
    """Why frames for the guest may not reach it, when its NIC's MAC is not its macvtap's."""
    macvtap_mac = topology.macvtap_mac(0)
    if macvtap_mac == guest.mac or topology.mode in TAKES_ANY_UNICAST:
        return ""
    return (f"; the guest's NIC has MAC {guest.mac} but its macvtap has {macvtap_mac}: in "
            f"{topology.mode} mode the macvtap passes only frames for {macvtap_mac}")


def test_frames_to_the_guest_mac_reach_the_guest(macvtap, macvtap_guest, macvtap_peer,
                                                kvmnet_settings, evidence):
    """Every frame from the network to the guest's MAC reaches it, intact and in order."""
    count = kvmnet_settings.frame_count
    got = peer_to_guest(macvtap_guest, macvtap_peer, count, SIZE)
    evidence.value("guest received", got)
    assert perfect(got, count), (f"{macvtap_guest.model} on a {macvtap.mode} macvtap: "
                                 f"{got}{mismatch(macvtap, macvtap_guest)}")


def test_guest_frames_reach_the_network(macvtap, macvtap_guest, macvtap_peer, kvmnet_settings,
                                        evidence):
    """Every frame the guest sends reaches the network, intact and in order."""
    result = guest_to_peer(macvtap_guest, macvtap_peer, kvmnet_settings.frame_count, SIZE)
    evidence.value("peer received", result.summary())
    assert result.ok, f"{macvtap_guest.model} on a {macvtap.mode} macvtap: {result.summary()}"
