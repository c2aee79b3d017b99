"""NIC reset: a NIC its driver resets (rtl8139 CR.RST and an EEPROM auto-load, e1000
CTRL.RST, virtio-net device status 0) and brings up again comes back as it was at boot,
whatever was set before: the station address of its EEPROM or config space, not the one
the driver set since; receive filters that pass neither another unicast MAC nor a group
joined before; rings that start again where the driver's new ones do, frame by frame.

The same after the guest reboots, warm, through its VMM (a system reset of the whole
machine: the built-in VMM's Machine.reset, QEMU's system_reset): the NIC is back in its
power-on state and the guest, booted again, brings it up from there.

Before each reset or reboot the guest has moved its rings well past their starts, set
another MAC, made the NIC promiscuous and joined a group: state a device model might keep.
"""

import pytest

from kvmnet.guest import GuestError, GuestGone
from kvmnet.peer.streams import (COUNT_CARRIER, arrivals, guest_to_peer, peer_to_guest,
                                 perfect, said_as)

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

OTHER_MAC = "02:6b:76:00:00:99"
GROUP = "01:00:5e:00:00:fb"
MOVED = 700   # frames each way before the reset: no ring size divides it
COUNT = 1000  # frames each way after it
BLAST = 20
RESET, REBOOT = ("a reset", "the reset"), ("a warm reboot", "the reboot")  # (after, before)


def change_state(nic_guest, peer):
    """Move nic_guest's rings both ways, set OTHER_MAC, go promiscuous and join GROUP; the
    MAC it was configured with."""
    assert guest_to_peer(nic_guest, peer, MOVED, 512).ok, "the stream to the peer before"
    assert perfect(peer_to_guest(nic_guest, peer, MOVED, 512), MOVED), "the stream from it"
    configured = nic_guest.mac
    nic_guest.set_mac(OTHER_MAC)
    nic_guest.set_rx_mode("promisc")
    nic_guest.join(GROUP)
    return configured


def reset_after_changes(nic_guest, peer):
    """nic_guest, its state changed, then reset by its driver and brought up again, which
    must succeed."""
    configured = change_state(nic_guest, peer)
    try:
        nic_guest.reset()
    except GuestError as e:
        raise AssertionError(f"the guest's {nic_guest.model} NIC did not come back from a "
                             f"reset by its driver: {e}") from None
    nic_guest.mac = configured
    return nic_guest


def reboot_after_changes(nic_guest, peer):
    """nic_guest, its state changed, then its guest rebooted (warm, through the VMM),
    which must come back with the NIC up."""
    configured = change_state(nic_guest, peer)
    try:
        nic_guest.reboot()
    except (GuestError, GuestGone, TimeoutError) as e:
        raise AssertionError(f"the guest's {nic_guest.model} NIC did not come back from a "
                             f"warm reboot: {e}") from None
    nic_guest.mac = configured
    return nic_guest


def has_its_configured_mac(nic, when):
    after, before = when
    read = nic.read_mac()
    assert read == nic.mac.lower(), (
        f"after {after} the guest's {nic.model} NIC reads MAC {read}, not the configured "
        f"{nic.mac}: the device kept the MAC set before {before}"
        + (" (set to " + OTHER_MAC + ")" if read == OTHER_MAC else ""))


def flows_both_ways_intact(nic, peer, when):
    after, _ = when
    with said_as(f"{nic.model} guest -> peer after {after}"):
        sent = guest_to_peer(nic, peer, COUNT, 512)
    assert sent.ok, f"{nic.model} guest -> peer after {after}: {sent.summary()}"
    with said_as(f"{nic.model} peer -> guest after {after}"):
        got = peer_to_guest(nic, peer, COUNT, 512)
    assert perfect(got, COUNT), f"{nic.model} peer -> guest after {after}: {got}"


def filters_pass_only_its_own_frames(nic, peer, when):
    after, before = when
    for dst, what in ((OTHER_MAC, "another unicast MAC"), (GROUP, f"a group left by {before}")):
        with said_as(f"{nic.model} after {after}: frames to {dst} ({what})"):
            came, carrier = arrivals(nic, peer, dst, BLAST)
        assert perfect(carrier, COUNT_CARRIER), (
            f"{nic.model} after {after}: the stream to its own MAC: {carrier}")
        assert came == 0, (f"{nic.model} after {after}: {came} of {BLAST} frames to "
                           f"{dst} ({what}) passed its filter: the device kept the receive "
                           f"mode set before {before}")


def test_after_a_reset_the_nic_has_its_configured_mac(nic_guest, peer):
    """The driver reads the configured MAC from the reset NIC, not the one it set since."""
    has_its_configured_mac(reset_after_changes(nic_guest, peer), RESET)


def test_after_a_reset_frames_flow_both_ways_intact(nic_guest, peer):
    """Every frame each way arrives once, intact, in order, through the NIC's new rings."""
    flows_both_ways_intact(reset_after_changes(nic_guest, peer), peer, RESET)


def test_after_a_reset_the_filters_pass_only_the_nics_own_frames(nic_guest, peer):
    """Frames to another MAC and to the group joined before the reset stop at the NIC's
    filter (it is no longer promiscuous, nor in the group); its own frames arrive."""
    filters_pass_only_its_own_frames(reset_after_changes(nic_guest, peer), peer, RESET)


def test_after_a_warm_reboot_the_nic_has_its_configured_mac(rebootable_nic_guest, peer):
    """The rebooted guest's driver reads the configured MAC (EEPROM, config space), not the
    one it set before the reboot."""
    has_its_configured_mac(reboot_after_changes(rebootable_nic_guest, peer), REBOOT)


def test_after_a_warm_reboot_frames_flow_both_ways_intact(rebootable_nic_guest, peer):
    """Every frame each way arrives once, intact, in order, through the rebooted guest's
    new rings."""
    flows_both_ways_intact(reboot_after_changes(rebootable_nic_guest, peer), peer, REBOOT)


def test_after_a_warm_reboot_the_filters_pass_only_the_nics_own_frames(rebootable_nic_guest,
                                                                      peer):
    """Frames to another MAC and to the group joined before the reboot stop at the NIC's
    filter; its own frames arrive."""
    filters_pass_only_its_own_frames(reboot_after_changes(rebootable_nic_guest, peer), peer,
                                     REBOOT)


def test_after_a_warm_reboot_its_pci_function_is_found_as_at_boot(rebootable_nic_guest, peer):
    """The guest, booted again, finds the NIC's PCI function as it found it at boot (COMMAND
    and BARs: power-on's, or what firmware made of them): a reset that left its decoding on
    and its BARs where the last boot put them would pass every other check, since the guest
    brings the NIC up itself."""
    at_boot = rebootable_nic_guest.pci_found()
    reboot_after_changes(rebootable_nic_guest, peer)
    after = rebootable_nic_guest.pci_found()
    assert after == at_boot, (
        f"after a warm reboot the guest found its {rebootable_nic_guest.model}'s PCI function "
        f"with COMMAND {after[0]:#06x} and BARs {', '.join(f'{b:#x}' for b in after[1])}; at "
        f"boot COMMAND {at_boot[0]:#06x} and BARs {', '.join(f'{b:#x}' for b in at_boot[1])}: "
        "the reset left the function as the last boot set it")
