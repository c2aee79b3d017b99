"""kvmnet.host.macvtap, kvmnet.backends.macvtap and kvmnet.topology.macvtap: macvtaps
on a lower device are built as described, their queues are found by number in their own
namespace, and nothing is left behind."""

import os
import select

import pytest
from pyroute2 import NetlinkError

from kvmnet import testframe
from kvmnet.host import macvtap, tun
from kvmnet.topology.macvtap import MacvtapTopology
from kvmnet.peer import watch
from kvmnet.peer.bulk import Peer
from kvmnet.syscall import lib

from support.links import clean, link_info  # noqa: F401 (a fixture)

pytestmark = pytest.mark.needs_root

GUEST, SECOND = "02:6b:76:00:00:01", "02:6b:76:00:00:02"


def read_frame(fd, timeout=2.0):
    assert select.select([fd], [], [], timeout)[0], "no frame arrived"
    return os.read(fd, 65536)


def test_builds_macvtaps_on_a_lower_device_with_a_switch_then_is_gone(clean):
    with MacvtapTopology.create("unit", "vepa", [GUEST, SECOND], hairpin=True,
                                vnet_hdr=[0, 12]) as topo:
        for port, mac in enumerate([GUEST, SECOND]):
            msg, data, _ = link_info(topo.netns, f"mvtap{port}")
            assert data.get("IFLA_MACVTAP_MODE") == "vepa"
            assert msg.get("IFLA_ADDRESS") == mac == topo.macvtap_mac(port)
            assert msg.get("IFLA_LINK") == link_info(topo.netns, "nic0")[0]["index"]
        assert [t.vnet_hdr_size for t in topo.taps] == [0, 12]
        assert tun.get_vnet_hdr_size(topo.taps[1].fd) == 12
        _, _, uplink = link_info(topo.peer_netns, "uplink")
        assert uplink.get("IFLA_BRPORT_MODE") == 1, "hairpin is off on the switch's uplink"
        assert topo.host_mac == link_info(topo.netns, "nic0")[0].get("IFLA_ADDRESS")


def test_a_queue_carries_frames_both_ways_with_and_without_the_vnet_header(clean):
    with MacvtapTopology.create("unit", "bridge", [GUEST, SECOND], vnet_hdr=[0, 12]) as topo:
        peer = Peer.on(topo)
        for tap, mac, hdr in zip(topo.taps, [GUEST, SECOND], [0, 12]):
            frame = testframe.build(mac, topo.peer_mac, 1, 2, 128)
            peer.send(mac, 2, 1, 128, first_seq=1)
            assert read_frame(tap.fd)[hdr:] == frame
            with peer.start_receive(3, 1, src=mac) as receiving:
                os.write(tap.fd, bytes(hdr) + testframe.build(topo.peer_mac, mac, 0, 3, 128))
                assert receiving.wait(5).ok


def test_queues_of_two_namespaces_with_the_same_ifindex_are_told_apart(clean):
    """Both namespaces have a macvtap of the same ifindex: /dev/tap<ifindex> would be one
    device for both; the major:minor read in each namespace is not."""
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as one, \
            MacvtapTopology.create("unit", "bridge", [SECOND]) as two:
        assert link_info(one.netns, "mvtap0")[0]["index"] == link_info(two.netns,
                                                                      "mvtap0")[0]["index"]
        numbers = [ns.call(macvtap.device_number, "mvtap0") for ns in (one.netns, two.netns)]
        assert numbers[0] != numbers[1]
        Peer.on(two).send(SECOND, 5, 1, 64)
        assert read_frame(two.taps[0].fd)[:6] == testframe.mac_bytes(SECOND)
        assert not select.select([one.taps[0].fd], [], [], 0.2)[0]


def test_the_private_mounts_stay_with_their_thread(clean):
    """The sysfs and tmpfs a lookup mounts are its thread's: the process still sees the
    host's /sys and /tmp, and the device node is nowhere on them."""
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as topo:
        fd = topo.netns.call(macvtap.open_device, "mvtap0")  # a second queue
        try:
            assert not os.path.exists("/tmp/mvtap0")
            assert not os.path.exists("/sys/class/net/mvtap0")
            assert os.path.exists("/sys/class/net/lo")
        finally:
            os.close(fd)


def test_a_name_that_is_not_a_macvtap_says_so(clean):
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as topo:
        with pytest.raises(LookupError, match="nic0 is not a macvtap"):
            topo.netns.call(macvtap.device_number, "nic0")


def test_the_kernel_refusing_a_macvtap_leaves_nothing(clean):
    with pytest.raises(NetlinkError):
        MacvtapTopology.create("unit", "passthru", [GUEST, SECOND])


def test_bad_arguments_are_refused_before_anything_is_made(clean):
    with pytest.raises(ValueError, match="mode 'hub'"):
        MacvtapTopology.create("unit", "hub")
    with pytest.raises(ValueError, match="vnet header"):
        MacvtapTopology.create("unit", "bridge", [GUEST], vnet_hdr=[0, 12])
    with pytest.raises(ValueError, match="MTU"):
        MacvtapTopology.create("unit", "bridge", [GUEST], mtu=10)


def test_multicast_filter_opens_and_source_mode_takes_listed_sources(clean):
    group = "01:00:5e:00:00:fb"
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as topo:
        peer = Peer.on(topo)
        topo.open_multicast(0, group)
        peer.send(group, 7, 1, 64)
        assert read_frame(topo.taps[0].fd)[:6] == testframe.mac_bytes(group)
        with pytest.raises(OSError):
            topo.close_multicast(0, "01:00:5e:00:00:fc")  # never opened
    with MacvtapTopology.create("unit", "source", [GUEST]) as topo:
        topo.allow_source(0, topo.peer_mac)
        Peer.on(topo).send("02:6b:76:00:00:99", 8, 1, 64)
        assert read_frame(topo.taps[0].fd)[6:12] == testframe.mac_bytes(topo.peer_mac)


def test_watches_tell_the_wire_from_the_stack(clean):
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as topo:
        with watch.on_the_wire(topo.netns, topo.lower) as wire, \
                watch.in_the_stack(topo.netns, topo.lower) as stack:
            Peer.on(topo).send(GUEST, 9, 3, 64)
            read_frame(topo.taps[0].fd)
            Peer.on(topo).send(topo.host_mac, 9, 2, 64)
            assert select.select([stack.fd], [], [], 2)[0]
            assert wire.seen(dst=GUEST) == 3 and stack.seen(dst=GUEST) == 0
            assert wire.seen(dst=topo.host_mac) == 2 == stack.seen(dst=topo.host_mac)


def test_set_flags_turns_the_vnet_header_off(clean):
    with MacvtapTopology.create("unit", "bridge", [GUEST]) as topo:
        topo.taps[0].close()  # frames spread over a macvtap's queues: keep one
        fd = topo.netns.call(macvtap.open_device, "mvtap0")
        try:
            macvtap.set_flags(fd, lib.IFF_TAP | lib.IFF_NO_PI)
            Peer.on(topo).send(GUEST, 4, 1, 64)
            assert read_frame(fd)[:6] == testframe.mac_bytes(GUEST)
        finally:
            os.close(fd)
