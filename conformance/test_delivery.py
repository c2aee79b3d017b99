"""Frame delivery: a guest NIC on a tap port of a Linux bridge, a peer namespace on the
bridge's far side, every frame checked byte for byte.

Parametrized runner x NIC model: the built-in VMM's device models and QEMU's answer to the
same guest drivers, so a host change that breaks either shows as a broken path here.
"""

import random

import pytest

from kvmnet import testframe
from kvmnet.guest import GuestError

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

SIZES = [60, 64, 128, 512, 1024, 1514]
SHORT = 42  # below the Ethernet minimum: the NIC pads it, or the host delivers it as is
ACK_EVERY, WINDOW = 32, 128
OTHER_MAC = "02:6b:76:00:00:99"
GROUP, OTHER_GROUP = "01:00:5e:00:00:fb", "01:00:5e:00:00:fc"


def stream_seed():
    return random.getrandbits(32)


def seconds_for(frames):
    return 30 + frames / 500  # generous: ~60 µs per exit, a few exits per frame


def guest_sends(nic_guest, peer, count, size, dst=None):
    """The guest sends count frames of size; the peer's verdict (a ReceiveResult)."""
    seed = stream_seed()
    receiving = peer.start_receive(seed, count, src=nic_guest.mac, timeout=seconds_for(count))
    with receiving:
        reply = nic_guest.command(f"send {nic_guest.index} {count} {size} "
                                  f"{dst or peer.mac} {seed}", timeout=seconds_for(count))
        result = receiving.wait(seconds_for(count) + 5)
    assert reply.fields.get("sent") == count, f"the guest sent {reply.text}, not {count} frames"
    return result


def peer_sends(nic_guest, peer, count, size, dst=None, window=WINDOW):
    """The peer sends count frames of size to the guest (acknowledged every ACK_EVERY, at
    most `window` unacknowledged); the guest's verdict (its recv reply fields)."""
    seed = stream_seed()
    pending = nic_guest.begin(f"recv {nic_guest.index} {count} {seed} "
                              f"{peer.mac.replace(':', '')} {ACK_EVERY}")
    try:
        peer.send(dst or nic_guest.mac, seed, count, size, window=window,
                  timeout=seconds_for(count))
    except TimeoutError as e:  # acknowledgements stopped: say how far the guest got
        pending.interrupt()
        raise AssertionError(f"{e}; the guest had {pending.result(10).text}") from None
    return pending.result(seconds_for(count)).fields


@pytest.mark.parametrize("size", SIZES)
def test_guest_to_peer_every_frame_intact_and_in_order(nic_guest, peer, size, kvmnet_settings,
                                                       evidence):
    """Every frame the guest sends reaches the peer once, intact, in order."""
    count = kvmnet_settings.frame_count
    result = guest_sends(nic_guest, peer, count, size)
    evidence.value("peer received", result.summary())
    assert result.ok, f"{nic_guest.model} guest -> peer at {size} B: {result.summary()}"


@pytest.mark.parametrize("size", SIZES)
def test_peer_to_guest_every_frame_intact_and_in_order(nic_guest, peer, size, kvmnet_settings,
                                                       evidence):
    """Every frame the peer sends to the guest's MAC reaches the guest once, intact, in order."""
    count = kvmnet_settings.frame_count
    got = peer_sends(nic_guest, peer, count, size)
    evidence.value("guest received", got)
    assert (got["got"], got["bad"], got["lost"], got["dup"], got["reordered"]) == (
        count, 0, 0, 0, 0), f"{nic_guest.model} peer -> guest at {size} B: {got}"


def test_short_frames_are_padded_with_zeros_or_left_short(nic_guest, peer):
    """A 42-byte frame arrives as 42 bytes, or padded to 60 with zeros: never with garbage."""
    result = guest_sends(nic_guest, peer, 100, SHORT)
    assert result.ok, f"{nic_guest.model} 42-byte frames: {result.summary()}"


def test_broadcast_reaches_the_guest(nic_guest, peer):
    """Frames to ff:ff:ff:ff:ff:ff are delivered in the guest's normal receive mode."""
    got = peer_sends(nic_guest, peer, 200, 128, dst="ff:ff:ff:ff:ff:ff")
    assert got["got"] == 200, f"{nic_guest.model} broadcast: {got}"


def test_unicast_to_another_mac_is_filtered_in_normal_mode(nic_guest, peer):
    """Frames to a MAC that is not the guest's never reach its driver."""
    peer.send(OTHER_MAC, stream_seed(), 50, 128)
    got = peer_sends(nic_guest, peer, 50, 128)  # a stream to its own MAC, after them
    assert got["got"] == 50 and got["other"] == 0, (
        f"{nic_guest.model}: frames to {OTHER_MAC} passed the NIC's unicast filter: {got}")


def test_unicast_to_another_mac_is_delivered_in_promiscuous_mode(nic_guest, peer):
    """With the guest's NIC promiscuous, frames to any MAC reach its driver."""
    nic_guest.command(f"rxmode {nic_guest.index} promisc")
    got = peer_sends(nic_guest, peer, 200, 128, dst=OTHER_MAC, window=WINDOW)
    assert got["got"] == 200, f"{nic_guest.model} promiscuous, frames to {OTHER_MAC}: {got}"


def test_multicast_is_delivered_for_joined_groups_only(nic_guest, peer):
    """A group in the NIC's multicast filter is delivered; another group is not."""
    nic_guest.command(f"mcast {nic_guest.index} {GROUP}")
    peer.send(OTHER_GROUP, stream_seed(), 50, 128)
    got = peer_sends(nic_guest, peer, 200, 128, dst=GROUP)
    assert got["got"] == 200, f"{nic_guest.model}: joined group {GROUP} not delivered: {got}"
    assert got["other"] == 0, f"{nic_guest.model}: {OTHER_GROUP} (not joined) delivered: {got}"


def test_all_multicast_mode_delivers_any_group(nic_guest, peer):
    """With all-multicast on, a group the guest never joined is delivered."""
    nic_guest.command(f"rxmode {nic_guest.index} allmulti")
    got = peer_sends(nic_guest, peer, 200, 128, dst=OTHER_GROUP)
    assert got["got"] == 200, f"{nic_guest.model} all-multicast, {OTHER_GROUP}: {got}"


def test_changed_mac_moves_the_unicast_filter(nic_guest, peer):
    """After the guest sets a new MAC, frames to it arrive and frames to the old one do not."""
    nic_guest.command(f"mac {nic_guest.index} {OTHER_MAC}")
    peer.send(nic_guest.mac, stream_seed(), 20, 128)
    got = peer_sends(nic_guest, peer, 200, 128, dst=OTHER_MAC)
    assert got["got"] == 200 and got["other"] == 0, f"{nic_guest.model} new MAC: {got}"
