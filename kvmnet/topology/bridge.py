"""The common production layout, in scratch namespaces: tap ports on a Linux bridge.

    bridge namespace                                 peer namespace
    tap0 ─┐
    tap1 ─┼─ br0 (STP off, forward delay 0) ─ vbr0 ══ veth ══ eth0  (kvmnet.peer
    ...  ─┘                                                          plays the network)

Each tap is a TapBackend a guest NIC takes. Both namespaces are suite-named (Netns), so a
killed run's leftovers are swept by the next; inside them names are fixed. The kernel in
both is kept quiet (IPv6 off: no RS, DAD or MLD; no IPv4 address or route: no ARP, no ICMP
errors), so a guest sees only test traffic. The veth finishes offloads in software, so the
peer sees frames as they would be on a wire.
"""

from kvmnet.backends.tap import TapBackend
from kvmnet.host import links
from kvmnet.host.netns import Netns

BRIDGE = "br0"
BRIDGE_VETH = "vbr0"
PEER_IFNAME = "eth0"
MIN_MTU, MAX_MTU = 68, 65535

# Set before any link exists, so that every link starts (and stays) without IPv6.
QUIET = {
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
}


def tap_name(port):
    return f"tap{port}"


class ScratchTopology:
    """What every topology shares: a namespace holding the guests' queues (`taps`) and a
    peer namespace, both made quiet, removed by close() (or `with`)."""

    def __init__(self):
        self.netns = self.peer_netns = None
        self.taps = []

    @classmethod
    def _create(cls, topo, queues, vnet_hdr, mtu, build):
        """topo built by build(hdrs, mtu), after checking the arguments every topology
        takes: vnet_hdr, one size (0, 10, 12) for all `queues` or a sequence of them, and
        mtu. Everything built so far is removed if building fails or is interrupted."""
        hdrs = list(vnet_hdr) if isinstance(vnet_hdr, (list, tuple)) else [vnet_hdr] * queues
        if len(hdrs) != queues or queues < 1:
            raise ValueError(f"{queues} queues with vnet header sizes {hdrs}")
        if not MIN_MTU <= mtu <= MAX_MTU:
            raise ValueError(f"MTU {mtu} outside {MIN_MTU}..{MAX_MTU}")
        try:
            build(hdrs, mtu)
        except BaseException:
            topo.close()
            raise
        return topo

    def _make_namespaces(self, tag):
        self.netns = Netns.create(tag)
        self.peer_netns = Netns.create(tag)
        for ns in (self.netns, self.peer_netns):
            for key, value in QUIET.items():
                ns.sysctl(key, value)

    def close(self):
        """Close the queues, then remove both namespaces (their links go with them).

        Queues first: an open tap fd would keep its namespace alive, unnamed. Idempotent.
        """
        for tap in self.taps:
            tap.close()
        for ns in (self.netns, self.peer_netns):
            if ns is not None:
                ns.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BridgeTopology(ScratchTopology):
    """Bridge, taps and peer, built by create() and removed by close() (or `with`).

    netns        the bridge's Netns;  peer_netns  the peer's Netns
    taps         [TapBackend], port i is taps[i] ("tap<i>")
    peer_ifname  the peer's interface ("eth0");  peer_mac  its address, 'xx:..'
    mtu          of every link
    """

    def __init__(self):
        super().__init__()
        self.mtu = None
        self.peer_ifname = PEER_IFNAME
        self.peer_mac = None

    @classmethod
    def create(cls, tag="main", ports=1, mtu=1500, vnet_hdr=0, timeout=5.0):
        """Build the topology with `ports` taps. vnet_hdr: the vnet header size of every
        tap (0, 10, 12) or a sequence, one per port. Everything built so far is removed if
        building fails or is interrupted."""
        topo = cls()
        return cls._create(topo, ports, vnet_hdr, mtu,
                           lambda hdrs, mtu: topo._build(tag, hdrs, mtu, timeout))

    def _build(self, tag, hdrs, mtu, timeout):
        self.mtu = mtu
        self._make_namespaces(tag)
        for port, hdr in enumerate(hdrs):
            self.taps.append(TapBackend.open(self.netns, tap_name(port), hdr))
        ports = [tap.name for tap in self.taps] + [BRIDGE_VETH]
        with self.netns.ipr() as ipr:
            ipr.link("add", ifname=BRIDGE_VETH, kind="veth", mtu=mtu,
                     peer={"ifname": PEER_IFNAME, "net_ns_fd": self.peer_netns.path})
            links.add_bridge(ipr, BRIDGE, ports, mtu)
        with self.peer_netns.ipr() as ipr:
            self.peer_mac = links.up(ipr, PEER_IFNAME, mtu)
        # The peer sees the wire: what a guest left to offloads (a checksum to finish, a
        # TCP send to cut) is finished in software before vbr0 sends it, as a NIC without
        # offloads would, and eth0 merges nothing back (no GRO).
        self.netns.call(links.set_offload, BRIDGE_VETH, "tx_checksum", False)
        self.peer_netns.call(links.set_offload, PEER_IFNAME, "gro", False)
        links.wait_ready(self.netns, [BRIDGE], bridge_ports=ports, timeout=timeout)
        links.wait_ready(self.peer_netns, [PEER_IFNAME], timeout=timeout)

    @property
    def bridge(self):
        return BRIDGE

    def __repr__(self):
        where = self.netns.name if self.netns else "unbuilt"
        return f"BridgeTopology({where}, {len(self.taps)} taps, mtu {self.mtu})"
