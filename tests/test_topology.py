"""kvmnet.topology.bridge and kvmnet.backends.tap: the bridge layout is built as described,
stays quiet, and leaves nothing behind on any exit path."""

import os
import select
import threading

import pytest

from kvmnet import testframe
from kvmnet.backends.tap import TapBackend
from kvmnet.host import links, netns, tun
from kvmnet.topology import bridge as topology
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer.bulk import Peer
from support.links import clean, link_info  # noqa: F401 (a fixture)

pytestmark = pytest.mark.needs_root

GUEST = "02:6b:76:00:00:01"


def test_builds_bridge_taps_and_peer_then_is_gone(clean):
    with BridgeTopology.create("unit", ports=2, mtu=9000, vnet_hdr=[0, 12]) as topo:
        assert topo.netns.name.startswith(f"kvmnet-unit-{os.getpid()}-")
        assert topo.peer_netns.name.startswith(f"kvmnet-unit-{os.getpid()}-")
        msg, bridge, _ = link_info(topo.netns, "br0")
        assert bridge.get("IFLA_BR_STP_STATE") == 0 and bridge.get("IFLA_BR_FORWARD_DELAY") == 0
        assert msg.get("IFLA_MTU") == 9000
        for i, tap in enumerate(topo.taps):
            msg, _, port = link_info(topo.netns, f"tap{i}")
            assert tap.name == f"tap{i}" and msg.get("IFLA_MTU") == 9000
            assert msg.get("IFLA_MASTER") == link_info(topo.netns, "br0")[0]["index"]
            assert port.get("IFLA_BRPORT_STATE") == links.BR_STATE_FORWARDING
        assert [t.vnet_hdr_size for t in topo.taps] == [0, 12]
        assert tun.get_vnet_hdr_size(topo.taps[1].fd) == 12
        msg, _, _ = link_info(topo.peer_netns, "eth0")
        assert msg.get("IFLA_OPERSTATE") == "UP" and msg.get("IFLA_MTU") == 9000
        assert msg.get("IFLA_ADDRESS") == topo.peer_mac
        with topo.netns.ipr() as ipr:
            assert links.unready(ipr, "vbr0", bridge_port=True) is None
        names = (topo.netns.name, topo.peer_netns.name)
    assert not set(names) & set(netns.ours())


def test_both_namespaces_run_without_ipv6():
    with BridgeTopology.create("unit") as topo:
        for ns in (topo.netns, topo.peer_netns):
            for key in ("all", "default", "lo"):
                path = f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6"
                assert ns.call(lambda: open(path).read().strip()) == "1", (ns, key)


def test_the_host_stack_sends_a_guest_nothing():
    """No RS, DAD, MLD after link-up; no ARP or ICMP answer from either namespace."""
    with BridgeTopology.create("unit") as topo:
        tap = topo.taps[0]
        who_has = (b"\xff" * 6 + testframe.mac_bytes(GUEST)
                   + bytes.fromhex("0806 0001 0800 06 04 0001")  # ARP request, Ethernet/IPv4
                   + testframe.mac_bytes(GUEST) + bytes([169, 254, 0, 2]) + b"\0" * 6
                   + bytes([169, 254, 0, 1]))
        os.write(tap.fd, who_has)
        heard = select.select([tap.fd], [], [], 0.5)[0]
        assert not heard, f"the host sent the guest {os.read(tap.fd, 2048).hex()}"


def test_an_exception_mid_build_leaves_nothing(clean, monkeypatch):
    real_open, opened = TapBackend.open, []

    def failing_open(ns, name, vnet_hdr_size=0):
        if opened:
            raise OSError("injected: second tap refused")
        opened.append(real_open(ns, name, vnet_hdr_size))
        return opened[-1]

    monkeypatch.setattr(TapBackend, "open", failing_open)
    with pytest.raises(OSError, match="injected"):
        BridgeTopology.create("unit", ports=2)
    assert opened[0].closed


def test_an_interrupt_while_waiting_for_links_leaves_nothing(clean, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(topology.links, "wait_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        BridgeTopology.create("unit")


def test_bad_arguments_are_refused_before_anything_is_made(clean):
    with pytest.raises(ValueError, match="MTU"):
        BridgeTopology.create("unit", mtu=70000)
    with pytest.raises(ValueError, match="vnet header"):
        BridgeTopology.create("unit", ports=2, vnet_hdr=[0])
    with pytest.raises(ValueError, match="vnet header size 11"):
        BridgeTopology.create("unit", vnet_hdr=11)


def test_two_topologies_side_by_side_do_not_collide(clean):
    built, errors = [], []

    def build():
        try:
            built.append(BridgeTopology.create("unit"))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        a, b = built
        assert len({a.netns.name, a.peer_netns.name, b.netns.name, b.peer_netns.name}) == 4
        # A frame into a's tap reaches a's peer only.
        with Peer.on(a).start_receive(1, 1, timeout=1.0) as in_a, \
                Peer.on(b).start_receive(1, 1, timeout=0.3) as in_b:
            os.write(a.taps[0].fd, testframe.build(a.peer_mac, GUEST, 0, 1, 60))
            assert in_a.wait().got == 1
            assert in_b.wait().got == 0
    finally:
        for topo in built:
            topo.close()


def test_close_twice_is_fine(clean):
    topo = BridgeTopology.create("unit")
    topo.close()
    topo.close()


def test_tap_backend_hands_out_an_inheritable_dup(clean):
    with netns.Netns.create("unit") as ns, TapBackend.open(ns, "kvtap0", 10) as tap:
        assert tap.vnet_hdr_size == 10 and tap.fileno() == tap.fd
        assert not os.get_inheritable(tap.fd)
        dup = tap.inheritable_fd()
        try:
            assert os.get_inheritable(dup)
            tap.close()
            with ns.ipr() as ipr:  # the dup keeps the queue, so the tap
                assert links.lookup(ipr, "kvtap0").kind == "tun"
        finally:
            os.close(dup)
        with ns.ipr() as ipr:
            assert links.lookup(ipr, "kvtap0") is None
        tap.close()
