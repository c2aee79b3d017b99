"""kvmnet-agent's IPv4 commands (inet, udpsend, tcpsend, udprecv) on this host, and the
wire checks of the offload conformance checks (kvmnet.peer.wire) on what they send: the
agent on a veth in one scratch namespace, the peer's kernel (kvmnet.peer.inet.PeerHost) on
the other end in another. A veth that finishes its checksums in software passes the
checks; one that leaves them, and TCP segmentation, to offloads nobody performs (the
veth's own, which only mark them) is what a device that did neither puts on the wire, and
fails them.
"""

import time

import pytest

from fixtures.host import worker_tag
from kvmnet.guest import GuestError
from kvmnet.host import links
from kvmnet.host.netns import Netns
from kvmnet.linux_guest.agent import build_agent
from kvmnet.peer import wire
from kvmnet.peer.bulk import Peer
from kvmnet.peer.inet import PeerHost, datagrams
from kvmnet.runners.nics import NicGuest
from support.agent_run import AgentRun

pytestmark = pytest.mark.needs_root

AGENT_IF, PEER_IF = "kvagent0", "eth0"
GUEST_IP, PEER_IP, PORT = "169.254.78.2", "169.254.78.1", 5515
MTU = 1500


@pytest.fixture(scope="module")
def agent_path(tmp_path_factory):
    """Yields the kvmnet-agent built from guestimg/agent/. Module scope."""
    return build_agent(tmp_path_factory.mktemp("agent"))


@pytest.fixture(params=[True, False], ids=["software-checksums", "checksums-left-undone"])
def inet(request, agent_path, scratch_netns):
    """Yields (NicGuest on the agent, its MAC, PeerHost, checksums finished?): the agent's
    veth finishes its TX checksums in software or leaves them to an offload. Function
    scope; agent, namespaces and address go afterwards."""
    with Netns.create(worker_tag()) as peer_ns:
        with scratch_netns.ipr() as ipr:
            ipr.link("add", ifname=AGENT_IF, kind="veth",
                     peer={"ifname": PEER_IF, "net_ns_fd": peer_ns.path})
            links.up(ipr, AGENT_IF, MTU)
            agent_mac = ipr.link("get", ifname=AGENT_IF)[0].get("IFLA_ADDRESS")
        with peer_ns.ipr() as ipr:
            peer_mac = links.up(ipr, PEER_IF, MTU)
        scratch_netns.call(links.set_offload, AGENT_IF, "tx_checksum", not request.param)
        agent = AgentRun(agent_path, scratch_netns, [(AGENT_IF, "virtio")])
        try:
            agent.channel.wait_hello(10)
            guest = NicGuest(agent, "virtio", agent_mac)
            with PeerHost(Peer(peer_ns, PEER_IF, peer_mac), PEER_IP) as host:
                yield guest, host, request.param
        finally:
            agent.stop()


def test_udp_datagrams_on_the_wire(inet):
    """Datagrams the agent sends through Linux's stack pass the wire checks when the link
    finished their checksums, and fail them, naming the UDP checksum, when nobody did."""
    guest, host, finished = inet
    sink = host.udp_sink(PORT)
    assert guest.set_inet(GUEST_IP)["txcsum"] == int(not finished)
    assert guest.udp_send(PEER_IP, PORT, 100, 5, 7) == 5
    time.sleep(0.5)
    flow = wire.Flow(GUEST_IP, PEER_IP, wire.IPPROTO_UDP, PORT)
    problems, intact = wire.udp_problems(host.frames(), flow, 100, 5, 7, MTU)
    if finished:
        assert (problems, intact, len(datagrams(sink))) == ([], 5, 5)
    else:
        assert intact == 0 and len(problems) == 5, problems
        assert all("UDP checksum" in p and "should be" in p for p in problems), problems


def test_a_tcp_stream_on_the_wire(inet):
    """A TCP send reaches the peer's kernel whole; its segments pass the wire checks when
    the link finished checksums and segmentation, and fail them, naming the TCP checksum
    and the segments over the MSS, when nobody did."""
    guest, host, finished = inet
    guest.set_inet(GUEST_IP)
    sink = host.tcp_sink(PORT)
    total = 200_000
    sent, mss = guest.tcp_send(PEER_IP, PORT, total, 9)
    assert (sent, sink.result(10)) == (total, wire.pattern(9, total))
    frames = host.frames()
    peer_mss = wire.mss_announced(frames, PEER_IP, GUEST_IP, PORT)
    assert peer_mss == MTU - 40 and mss <= peer_mss
    problems = wire.tcp_problems(frames, wire.Flow(GUEST_IP, PEER_IP, wire.IPPROTO_TCP, PORT),
                                 total, 9, MTU, peer_mss)
    if finished:
        assert problems == []
    else:
        assert any("TCP checksum" in p for p in problems), problems
        assert any("over the peer's MSS" in p for p in problems), problems  # sent uncut


def test_a_damaged_datagram_is_dropped_and_counted_by_the_stack(inet):
    """Of datagrams from the peer, the intact reach the agent's socket; one damaged after
    its checksum was computed is dropped by Linux's stack and counted as a checksum error."""
    guest, host, _ = inet
    guest.set_inet(GUEST_IP)
    pending = guest.start_udp_recv(PORT, 4, 3)
    for k in range(4):
        host.send_frame(wire.udp_frame(guest.mac, host.peer.mac, PEER_IP, GUEST_IP, PORT,
                                       wire.pattern(3 + k, 64), damaged=k == 3))
    time.sleep(0.5)
    pending.interrupt()
    assert pending.result(5).fields == {"got": 3, "bad": 0, "csumerrors": 1}


def test_addresses_other_than_link_local_are_refused(inet):
    """The agent gives its NIC, and sends to, link-local IPv4 addresses only."""
    guest, _, _ = inet
    for command in ("inet 0 10.0.0.2", f"udpsend 0 192.0.2.1 {PORT} 10 1 1",
                    f"tcpsend 0 8.8.8.8 {PORT} 10 1"):
        with pytest.raises(GuestError, match="badargs"):
            guest.command(command)
