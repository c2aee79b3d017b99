"""NIC reset: a NIC its driver resets (rtl8139 CR.RST and an EEPROM auto-load, e1000
CTRL.RST, virtio-net device status 0) and brings up again comes back as it was at boot,
whatever was set before: the station address of its EEPROM or config space, not the one
the driver set since; receive filters that pass neither another unicast MAC nor a group
joined before; rings that start again where the driver's new ones do, frame by frame.

Before each reset the guest has moved its rings well past their starts, set another MAC,
made the NIC promiscuous and joined a group: state a device model might keep.
"""

import pytest

from kvmnet.guest import GuestError
from kvmnet.peer.streams import (COUNT_CARRIER, arrivals, guest_to_peer, peer_to_guest,
                                 perfect)

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

OTHER_MAC = "02:6b:76:00:00:99"
GROUP = "01:00:5e:00:00:fb"
MOVED = 700   # frames each way before the reset: no ring size divides it
COUNT = 1000  # frames each way after it
BLAST = 20


def reset_after_changes(nic_guest, peer):
    """nic_guest, its rings moved, another MAC set, promiscuous, in GROUP: then reset by
    its driver and brought up again, which must succeed."""
    assert guest_to_peer(nic_guest, peer, MOVED, 512).ok, "the stream before the reset"
    assert perfect(peer_to_guest(nic_guest, peer, MOVED, 512), MOVED), "the stream before"
    configured = nic_guest.mac
    nic_guest.set_mac(OTHER_MAC)
    nic_guest.set_rx_mode("promisc")
    nic_guest.join(GROUP)
    try:
        nic_guest.reset()
    except GuestError as e:
        raise AssertionError(f"the guest's {nic_guest.model} NIC did not come back from a "
                             f"reset by its driver: {e}") from None
    nic_guest.mac = configured
    return nic_guest


def test_after_a_reset_the_nic_has_its_configured_mac(nic_guest, peer):
    """The driver reads the configured MAC from the reset NIC, not the one it set since."""
    reset_nic = reset_after_changes(nic_guest, peer)
    read = reset_nic.read_mac()
    assert read == reset_nic.mac.lower(), (
        f"after a reset the guest's {reset_nic.model} NIC reads MAC {read}, not the "
        f"configured {reset_nic.mac}: the device kept the MAC set before the reset"
        + (" (set to " + OTHER_MAC + ")" if read == OTHER_MAC else ""))


def test_after_a_reset_frames_flow_both_ways_intact(nic_guest, peer):
    """Every frame each way arrives once, intact, in order, through the NIC's new rings."""
    reset_nic = reset_after_changes(nic_guest, peer)
    sent = guest_to_peer(reset_nic, peer, COUNT, 512)
    assert sent.ok, f"{reset_nic.model} guest -> peer after a reset: {sent.summary()}"
    got = peer_to_guest(reset_nic, peer, COUNT, 512)
    assert perfect(got, COUNT), f"{reset_nic.model} peer -> guest after a reset: {got}"


def test_after_a_reset_the_filters_pass_only_the_nics_own_frames(nic_guest, peer):
    """Frames to another MAC and to the group joined before the reset stop at the NIC's
    filter (it is no longer promiscuous, nor in the group); its own frames arrive."""
    reset_nic = reset_after_changes(nic_guest, peer)
    for dst, what in ((OTHER_MAC, "another unicast MAC"), (GROUP, "a group left by the reset")):
        came, carrier = arrivals(reset_nic, peer, dst, BLAST)
        assert perfect(carrier, COUNT_CARRIER), (
            f"{reset_nic.model} after a reset: the stream to its own MAC: {carrier}")
        assert came == 0, (f"{reset_nic.model} after a reset: {came} of {BLAST} frames to "
                           f"{dst} ({what}) passed its filter: the device kept the receive "
                           "mode set before the reset")
