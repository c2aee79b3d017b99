"""kvmnet-agent (guestimg/agent/) on this host: run over stdin/stdout on a veth in a scratch
namespace, driven through the suite's guest protocol (kvmnet.guest), its frames checked at
the veth's other end. A veth filters nothing, so receive modes and multicast are checked
on the interface (flags, the kernel's multicast list); a macvlan, whose receive filter its
driver programs from them, shows them filtering.
"""

import socket
import time
from dataclasses import dataclass

import pytest

from kvmnet import testframe
from kvmnet.guest import GuestError, KernelOwned
from kvmnet.host import links
from kvmnet.linux_guest.agent import build_agent
from support.agent_run import AgentRun

pytestmark = pytest.mark.needs_root

AGENT_IF, PEER_IF, LOWER_IF = "kvagent0", "kvpeer0", "kvlower0"
ETH_P_ALL, SOL_PACKET, PACKET_IGNORE_OUTGOING = 0x0003, 263, 23  # linux/if_packet.h
IFF_PROMISC, IFF_ALLMULTI = 0x100, 0x200
OTHER_HOST = "02:6b:76:00:00:99"  # a unicast address nobody here has
GROUP = "01:00:5e:7f:00:42"
SIZE = 100


@pytest.fixture(scope="module")
def agent_path(tmp_path_factory):
    """Yields the kvmnet-agent built from guestimg/agent/. Module scope."""
    return build_agent(tmp_path_factory.mktemp("agent"))


@dataclass
class Setup:
    ns: object
    agent: AgentRun
    hello: dict
    peer: socket.socket    # packet socket on the peer end
    peer_mac: str
    agent_mac: str

    @property
    def channel(self):
        return self.agent.channel

    def link(self, ifname=AGENT_IF):
        """The agent's interface as rtnetlink reports it now."""
        with self.ns.ipr() as ipr:
            return ipr.link("get", ifname=ifname)[0]

    def multicast_list(self, ifname=AGENT_IF):
        """{group: global use} of the kernel's multicast list of ifname (ip maddr)."""
        def read():
            with open("/proc/thread-self/net/dev_mcast") as f:  # this thread's namespace
                return f.read()
        rows = (line.split() for line in self.ns.call(read).splitlines())
        return {":".join(r[4][i:i + 2] for i in range(0, 12, 2)): int(r[3])
                for r in rows if r[1] == ifname}

    def peer_send(self, frame):
        self.peer.send(frame)

    def peer_take(self, seed, count, timeout=5.0):
        """The test frames of stream seed that reach the peer within timeout, up to count."""
        frames, deadline = [], time.monotonic() + timeout
        while len(frames) < count and (left := deadline - time.monotonic()) > 0:
            self.peer.settimeout(left)
            try:
                frame = self.peer.recv(65536)
            except TimeoutError:
                break
            fields = testframe.parse(frame)
            if fields and fields[1] == seed:
                frames.append(frame)
        return frames

    def arrives(self, dst, seed, marker_seed):
        """Does a test frame from the peer to dst reach the agent? Sent before a broadcast
        marker, it arrives before the marker if at all: the agent's recv stops at the
        marker and counts the frame as foreign."""
        self.peer_send(testframe.build(dst, self.peer_mac, 0, seed, SIZE))
        self.peer_send(testframe.build("ff:ff:ff:ff:ff:ff", self.peer_mac, 0, marker_seed, SIZE))
        reply = self.channel.command(f"recv 0 1 {marker_seed}")
        assert reply.fields["got"] == 1, f"the broadcast marker did not arrive: {reply.text}"
        return reply.fields["foreign"] > 0


def no_ipv6(ns):
    """New links in ns come up without IPv6: nothing but the test's frames on them."""
    try:
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
    except FileNotFoundError:
        pass  # a kernel without IPv6


def open_peer(ns, ifname):
    def open_socket():
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        sock.bind((ifname, ETH_P_ALL))
        return sock
    return ns.call(open_socket)


def start(agent_path, ns, agent_if, peer_if):
    """The agent on agent_if (as virtio) and a socket on peer_if, both links existing."""
    with ns.ipr() as ipr:
        peer_mac = links.up(ipr, peer_if, 1500)
        agent_mac = ipr.link("get", ifname=agent_if)[0].get("IFLA_ADDRESS")
    peer = open_peer(ns, peer_if)
    agent = AgentRun(agent_path, ns, [(agent_if, "virtio")])
    try:
        hello = agent.channel.wait_hello(10)
    except BaseException:
        agent.stop()
        peer.close()
        raise
    return Setup(ns, agent, hello, peer, peer_mac, agent_mac)


@pytest.fixture
def veth(agent_path, scratch_netns):
    """Yields a Setup: the agent on veth AGENT_IF, whose other end is PEER_IF, in a scratch
    namespace. Function scope; the agent is killed and the namespace removed afterwards."""
    no_ipv6(scratch_netns)
    with scratch_netns.ipr() as ipr:
        links.add_veth(ipr, AGENT_IF, PEER_IF)
    setup = start(agent_path, scratch_netns, AGENT_IF, PEER_IF)
    yield setup
    setup.agent.stop()
    setup.peer.close()


@pytest.fixture
def macvlan(agent_path, scratch_netns):
    """Yields a Setup: the agent on macvlan AGENT_IF (bridge mode) over veth LOWER_IF, whose
    other end is PEER_IF. Function scope, cleaned up like `veth`."""
    no_ipv6(scratch_netns)
    with scratch_netns.ipr() as ipr:
        links.add_veth(ipr, LOWER_IF, PEER_IF)
        ipr.link("add", ifname=AGENT_IF, kind="macvlan", macvlan_mode="bridge",
                 link=ipr.link_lookup(ifname=LOWER_IF)[0])
        links.up(ipr, LOWER_IF, 1500)
    setup = start(agent_path, scratch_netns, AGENT_IF, PEER_IF)
    yield setup
    setup.agent.stop()
    setup.peer.close()


def hexmac(mac):
    return mac.replace(":", "").lower()


def test_hello_announces_the_linux_agent_in_ring_3(veth):
    """The agent says HELLO as the guest image does, with its own version, from ring 3."""
    assert veth.hello == {"version": "linux-1", "ring": "3"}, f"HELLO said {veth.hello}"
    assert veth.channel.command("hello").words == ["kvmnet-guest", "linux-1"]


def test_nics_lists_the_named_interface_with_its_mac(veth):
    """`nics` lists the one interface named, up, with the address the kernel gave it."""
    reply = veth.channel.command("nics")
    assert reply.words == ["1"], f"nics counted {reply.words}, one interface was named"
    assert reply.data == [["nic0", "virtio", "00:00.0", f"mac={hexmac(veth.agent_mac)}",
                           "mtu=1500", "link=1", "irq=0"]], \
        f"nics described {AGENT_IF} ({veth.agent_mac}, up) as {reply.data}"


@pytest.mark.parametrize("size", [28, 1514])
def test_send_reaches_the_peer(veth, size):
    """`send` puts each test frame on the wire byte for byte, in order, from the NIC's MAC."""
    count, seed = 16, 0x5EED
    reply = veth.channel.command(f"send 0 {count} {size} {veth.peer_mac} {seed}")
    assert reply.fields["sent"] == count, f"the agent sent {reply.text} of {count}"
    frames = veth.peer_take(seed, count)
    assert len(frames) == count, f"{len(frames)} of {count} frames sent reached the peer"
    for seq, frame in enumerate(frames):
        assert testframe.check(frame, seed) is None, f"frame {seq}: {testframe.check(frame)}"
        assert testframe.parse(frame)[0] == seq, f"frame {seq} arrived as seq " \
                                                 f"{testframe.parse(frame)[0]}"
        assert frame[:12] == testframe.mac_bytes(veth.peer_mac) + \
            testframe.mac_bytes(veth.agent_mac), f"frame {seq} addressed {frame[:12].hex()}"
    assert veth.channel.command("counters 0").fields["tx"] == count


def test_recv_counts_what_the_peer_sends(veth):
    """`recv` takes and verifies every test frame the peer sends: all good, none lost."""
    count, seed = 32, 0xF00D
    pending = veth.channel.begin(f"recv 0 {count} {seed}")
    for seq in range(count):
        veth.peer_send(testframe.build(veth.agent_mac, veth.peer_mac, seq, seed, SIZE))
    fields = pending.result(10).fields
    assert (fields["got"], fields["bad"], fields["lost"]) == (count, 0, 0), \
        f"recv of {count} frames sent by the peer said {fields}"


def test_recv_reports_where_a_corrupted_frame_differs(veth):
    """A frame with one payload byte changed is bad, why=payload, at that byte's offset."""
    seed, at = 0xBAD, 40
    good = testframe.build(veth.agent_mac, veth.peer_mac, 1, seed, SIZE)
    bad = bytearray(good)
    bad[at] ^= 0xFF
    pending = veth.channel.begin(f"recv 0 3 {seed}")
    for frame in (testframe.build(veth.agent_mac, veth.peer_mac, 0, seed, SIZE), bytes(bad),
                  testframe.build(veth.agent_mac, veth.peer_mac, 2, seed, SIZE)):
        veth.peer_send(frame)
    reply = pending.result(10)
    assert (reply.fields["got"], reply.fields["bad"]) == (2, 1), f"recv said {reply.text}"
    assert reply.data == [["bad", "seq=1", "why=payload", f"len={SIZE}", f"length={SIZE}",
                           f"at={at}", f"want={good[at]:02x}", f"got={bad[at]:02x}"]], \
        f"the corrupted frame was reported as {reply.data}"


def test_rxmode_reaches_the_interface_flags(veth):
    """`rxmode` sets IFF_PROMISC / IFF_ALLMULTI on the interface, and normal clears both;
    in promisc a frame to another host's MAC reaches the agent."""
    def flags():
        return veth.link()["flags"] & (IFF_PROMISC | IFF_ALLMULTI)

    assert flags() == 0, f"the interface came up with flags {flags():#x}, not normal mode"
    veth.channel.command("rxmode 0 promisc")
    link = veth.link()
    assert flags() == IFF_PROMISC and link.get("IFLA_PROMISCUITY") >= 1, \
        f"rxmode promisc left flags {flags():#x}, promiscuity {link.get('IFLA_PROMISCUITY')}"
    assert veth.arrives(OTHER_HOST, 0x0711, 0x3A4B), \
        f"in promisc, a frame to {OTHER_HOST} did not reach the agent"
    veth.channel.command("rxmode 0 allmulti")
    assert flags() == IFF_ALLMULTI, f"rxmode allmulti left flags {flags():#x}"
    veth.channel.command("rxmode 0 normal")
    assert flags() == 0, f"rxmode normal left flags {flags():#x}"


def test_mcast_reaches_the_interface_multicast_list(veth):
    """`mcast` adds the group to the kernel's list for the interface (SIOCADDMULTI, what
    the driver's filter is made from), and an empty list takes it out again."""
    assert GROUP not in veth.multicast_list(), f"{GROUP} listed before mcast"
    veth.channel.command(f"mcast 0 {GROUP}")
    listed = veth.multicast_list()
    assert listed.get(GROUP) == 1, f"after mcast {GROUP} the interface lists {listed}"
    assert veth.arrives(GROUP, 0x0712, 0x3A4C), f"a frame to {GROUP} did not reach the agent"
    veth.channel.command("mcast 0")
    assert GROUP not in veth.multicast_list(), f"{GROUP} still listed after mcast 0"


def test_mcast_and_allmulti_program_a_filtering_device(macvlan):
    """On a macvlan, whose driver hashes the multicast list into its receive filter, a
    group arrives only once `mcast` lists it, and every group under allmulti."""
    # The filter is a 256-bucket hash: an unlisted group may share a bucket with the
    # broadcast address or 224.0.0.1's group. Those the filter stops are the ones to use.
    candidates = [f"01:00:5e:7f:01:{i:02x}" for i in range(8)]
    stopped = [g for i, g in enumerate(candidates)
               if not macvlan.arrives(g, 0x1000 + i, 0x2000 + i)]
    assert len(stopped) >= 2, \
        f"in normal mode frames to unlisted groups reached the agent: only {stopped} stopped"
    listed, other = stopped[:2]
    macvlan.channel.command(f"mcast 0 {listed}")
    assert macvlan.arrives(listed, 0x1100, 0x2100), f"after mcast {listed} it did not arrive"
    macvlan.channel.command("rxmode 0 allmulti")
    assert macvlan.arrives(other, 0x1101, 0x2101), f"in allmulti {other} did not arrive"
    macvlan.channel.command("rxmode 0 normal")
    macvlan.channel.command("mcast 0")
    assert not macvlan.arrives(listed, 0x1102, 0x2102), \
        f"{listed} still arrives after mcast 0 and rxmode normal"


def test_mac_sets_the_interface_address(veth):
    """`mac` changes the interface's address, which frames sent afterwards carry."""
    new, seed = "02:6b:76:00:00:01", 0xAC
    veth.channel.command(f"mac 0 {new}")
    assert veth.link().get("IFLA_ADDRESS") == new, \
        f"after mac {new} the interface has {veth.link().get('IFLA_ADDRESS')}"
    veth.channel.command(f"send 0 1 {SIZE} {veth.peer_mac} {seed}")
    frames = veth.peer_take(seed, 1)
    assert frames and frames[0][6:12] == testframe.mac_bytes(new), \
        f"the frame sent after mac {new} came from {frames[0][6:12].hex() if frames else None}"


def test_mtu_sets_the_interface_mtu(veth):
    """`mtu` sets the interface's MTU; beyond what the agent can carry it is unsupported."""
    veth.channel.command("mtu 0 9000")
    assert veth.link().get("IFLA_MTU") == 9000, \
        f"after mtu 9000 the interface has MTU {veth.link().get('IFLA_MTU')}"
    assert veth.channel.command("nics").data[0][4] == "mtu=9000"
    with pytest.raises(GuestError, match="unsupported"):
        veth.channel.command("mtu 0 65535")
    assert veth.link().get("IFLA_MTU") == 9000, "a refused mtu changed the interface's"


def test_reset_brings_the_interface_back_as_at_start(veth):
    """`reset` restores the address, MTU 1500, normal mode and no group of ours."""
    for command in ("mac 0 02:6b:76:00:00:02", "mtu 0 4000", "rxmode 0 promisc",
                    f"mcast 0 {GROUP}", "reset 0"):
        veth.channel.command(command)
    link = veth.link()
    state = (link.get("IFLA_ADDRESS"), link.get("IFLA_MTU"),
             link["flags"] & (IFF_PROMISC | IFF_ALLMULTI), GROUP in veth.multicast_list())
    assert state == (veth.agent_mac, 1500, 0, False), \
        f"after reset: address, MTU, mode flags, {GROUP} listed = {state}"
    assert veth.channel.command("nics").data[0][3:6] == [
        f"mac={hexmac(veth.agent_mac)}", "mtu=1500", "link=1"]
    seed = 0xAFE
    pending = veth.channel.begin(f"recv 0 4 {seed}")
    for seq in range(4):
        veth.peer_send(testframe.build(veth.agent_mac, veth.peer_mac, seq, seed, SIZE))
    fields = pending.result(10).fields
    assert (fields["got"], fields["bad"]) == (4, 0), f"recv after the reset said {fields}"


@pytest.mark.parametrize("command", ["pci", "mem", "spin3 1", "features 0",
                                     "kick 0 1", "fault"])
def test_what_belongs_to_the_kernel_is_refused_as_the_kernels(veth, command):
    """The guest image's CPU, PCI and interrupt commands answer ERR kernel, which the host
    reads as KernelOwned, naming the command (the plugin skips a check on it)."""
    with pytest.raises(KernelOwned, match="kernel") as raised:
        veth.channel.command(command)
    assert raised.value.command == command.split()[0]


@pytest.mark.parametrize("path", ["intx", "msix"])
def test_irq_on_an_interface_that_is_no_pci_function_is_unsupported(veth, path):
    """`irq` counts the interrupts of the NIC's PCI function in /proc/interrupts; a veth has
    none to count."""
    with pytest.raises(GuestError, match="unsupported"):
        veth.channel.command(f"irq 0 {path} 1")


def test_an_unknown_command_is_named(veth):
    """A command PROTOCOL.md does not have is ERR unknown, naming it."""
    with pytest.raises(GuestError, match="unknown nosuch"):
        veth.channel.command("nosuch")


def test_exit_ends_the_agent_with_the_code(veth):
    """`exit 3` answers OK, then the process ends with status 3."""
    veth.channel.command("exit 3")
    assert veth.agent.proc.wait(5) == 3, f"the agent ended with {veth.agent.proc.returncode}"
