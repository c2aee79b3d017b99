"""Guests on macvtaps over one lower device: the layout the article recommends for Linux guests.

    host namespace                              peer namespace (the network)
    mvtap0 (guest 0's MAC) ─┐
    mvtap1 (guest 1's MAC) ─┼─ nic0 ═══ veth ═══ uplink ─┐
    ...                    ─┘  (the host's           sw0 (a switch: bridge, hairpin on
                                physical NIC)          │   uplink when asked, as VEPA needs)
                                                     swp0 ═══ veth ═══ eth0 (kvmnet.peer)

Each macvtap carries its guest's MAC and is a MacvtapBackend a guest NIC takes. The switch
lets the checks see what leaves the host (capture on uplink) and turn hairpin on or off; the
peer is a station on it. Both namespaces are kept quiet as in kvmnet.topology.bridge.
"""

from kvmnet.backends.macvtap import MacvtapBackend
from kvmnet.host import links, macvtap
from kvmnet.syscall import lib
from kvmnet.topology.bridge import PEER_IFNAME, ScratchTopology

LOWER, UPLINK, SWITCH, SWITCH_PORT = "nic0", "uplink", "sw0", "swp0"
# netdevice(7): add or remove a link-layer multicast address in a device's filter.


def macvtap_name(port):
    return f"mvtap{port}"


class MacvtapTopology(ScratchTopology):
    """Macvtaps on a lower device, a switch and a peer, built by create() and removed by
    close() (or `with`).

    netns       the host's Netns (lower device and macvtaps); peer_netns  the switch's
    taps        [MacvtapBackend], guest i's is taps[i] ("mvtap<i>", MAC macs[i])
    mode        every macvtap's mode (kvmnet.host.macvtap.MODES)
    lower, host_mac   the lower device's name ("nic0") and MAC
    uplink      the switch port facing the host, in peer_netns
    peer_ifname, peer_mac   the peer station ("eth0") and its address
    """

    def __init__(self, mode, macs, hairpin):
        super().__init__()
        self.mode, self.macs, self.hairpin = mode, list(macs), hairpin
        self.mtu = None
        self.lower, self.uplink, self.peer_ifname = LOWER, UPLINK, PEER_IFNAME
        self.host_mac = self.peer_mac = None

    @classmethod
    def create(cls, tag="main", mode="bridge", macs=("02:6b:76:00:00:01",), hairpin=False,
               mtu=1500, vnet_hdr=0, timeout=5.0):
        """Build the topology with one macvtap per MAC in macs. vnet_hdr: the vnet header
        size of every queue (0, 10, 12) or a sequence, one per macvtap. Everything built so
        far is removed if building fails (the kernel refusing a macvtap, say) or is
        interrupted."""
        if mode not in macvtap.MODES:
            raise ValueError(f"macvtap mode {mode!r}: the kernel knows {', '.join(macvtap.MODES)}")
        topo = cls(mode, macs, hairpin)
        return cls._create(topo, len(macs), vnet_hdr, mtu,
                           lambda hdrs, mtu: topo._build(tag, hdrs, mtu, timeout))

    def _build(self, tag, hdrs, mtu, timeout):
        self.mtu = mtu
        self._make_namespaces(tag)
        self._build_switch(mtu)
        with self.netns.ipr() as ipr:
            lower = ipr.link_lookup(ifname=LOWER)[0]
            ipr.link("set", index=lower, mtu=mtu, state="up")
            self.host_mac = ipr.link("get", index=lower)[0].get("IFLA_ADDRESS")
            for port, mac in enumerate(self.macs):
                macvtap.create(ipr, macvtap_name(port), LOWER, self.mode, mac)
        names = [macvtap_name(port) for port in range(len(self.macs))]
        for name, hdr in zip(names, hdrs):
            self.taps.append(MacvtapBackend.open(self.netns, name, hdr))
        links.wait_ready(self.netns, [LOWER] + names, timeout=timeout)
        links.wait_ready(self.peer_netns, [PEER_IFNAME, SWITCH], bridge_ports=[UPLINK, SWITCH_PORT],
                         timeout=timeout)

    def _build_switch(self, mtu):
        with self.peer_netns.ipr() as ipr:
            ipr.link("add", ifname=UPLINK, kind="veth", mtu=mtu,
                     peer={"ifname": LOWER, "net_ns_fd": self.netns.path})
            ipr.link("add", ifname=SWITCH_PORT, kind="veth", mtu=mtu,
                     peer={"ifname": PEER_IFNAME})
            links.add_bridge(ipr, SWITCH, [UPLINK, SWITCH_PORT], mtu)
            if self.hairpin:  # IFLA_BRPORT_MODE: send frames back out of the port they came in
                ipr.brport("set", index=ipr.link_lookup(ifname=UPLINK)[0], mode=1)
            self.peer_mac = links.up(ipr, PEER_IFNAME, mtu)

    def allow_source(self, port, mac):
        """Source mode: macvtap `port` takes every frame whose source is mac."""
        with self.netns.ipr() as ipr:
            index = ipr.link_lookup(ifname=macvtap_name(port))[0]
            ipr.link("set", index=index, kind="macvtap", macvtap_mode="source",
                     macvtap_macaddr_mode="add", macvtap_macaddr=mac)

    def macvtap_mac(self, port):
        """macvtap `port`'s MAC as the kernel has it now."""
        with self.netns.ipr() as ipr:
            return ipr.link("get", ifname=macvtap_name(port))[0].get("IFLA_ADDRESS")

    def open_multicast(self, port, group):
        """Let multicast `group` ('01:..') through macvtap `port`'s filter, as the host side
        must for a group its guest joins (libvirt does it for trusted guests)."""
        self.netns.call(links.multicast, macvtap_name(port), group, True)

    def close_multicast(self, port, group):
        self.netns.call(links.multicast, macvtap_name(port), group, False)

    def recompute_filters(self, port):
        """Make the kernel rebuild macvtap `port`'s address filters (all-multicast on, then
        off): the next change after a group is closed, as any later filter change would be."""
        with self.netns.ipr() as ipr:
            index = ipr.link_lookup(ifname=macvtap_name(port))[0]
            for flags in (lib.IFF_ALLMULTI, 0):
                ipr.link("set", index=index, flags=flags, mask=lib.IFF_ALLMULTI)

    def mode_mismatch(self):
        """None, or a sentence naming each macvtap whose mode, read back from the kernel,
        is not the one this topology was asked for."""
        with self.netns.ipr() as ipr:
            found = {macvtap_name(i): macvtap.mode_of(ipr, macvtap_name(i))
                     for i in range(len(self.taps))}
        wrong = {name: mode for name, mode in found.items() if mode != self.mode}
        if not wrong:
            return None
        return ", ".join(f"{name} is in {mode} mode" for name, mode in wrong.items()) + \
            f" (the kernel says so), not the {self.mode} mode asked for"

    def __repr__(self):
        where = self.netns.name if self.netns else "unbuilt"
        return f"MacvtapTopology({where}, {self.mode}, {len(self.taps)} macvtaps)"

