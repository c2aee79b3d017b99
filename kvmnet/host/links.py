"""Links in a scratch namespace through rtnetlink (pyroute2): create, read back, remove."""

import errno
import select
import socket
import struct
import time
from dataclasses import dataclass

from pyroute2 import NetlinkError

from kvmnet.syscall import check, ffi, ioctl, lib


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None
    mode: str | None = None  # macvlan/macvtap mode


def lookup(ipr, name):
    """The link called name, read back from the kernel, or None."""
    found = ipr.link("get", ifname=name) if ipr.link_lookup(ifname=name) else []
    if not found:
        return None
    msg = found[0]
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    data = info.get("IFLA_INFO_DATA") if info else None
    mode = None
    if data and kind in ("macvlan", "macvtap"):
        mode = data.get(f"IFLA_{kind.upper()}_MODE")
    return Link(name, msg["index"], kind, mode)


def remove(ipr, name):
    """Delete link `name`; already gone is fine."""
    try:
        ipr.link("del", ifname=name)
    except NetlinkError as e:
        if e.code != 19:  # ENODEV
            raise


def add_bridge(ipr, name, ports, mtu):
    """A bridge without STP or forwarding delay, multicast snooping off (multicast floods
    like broadcast, as probes expect), with ports (existing links) enslaved; bridge and
    ports at mtu and up. Returns the bridge's index."""
    ipr.link("add", ifname=name, kind="bridge", br_stp_state=0, br_forward_delay=0,
             br_mcast_snooping=0)
    bridge = ipr.link_lookup(ifname=name)[0]
    for port in ports:
        ipr.link("set", index=ipr.link_lookup(ifname=port)[0], mtu=mtu, master=bridge,
                 state="up")
    ipr.link("set", index=bridge, mtu=mtu, state="up")
    return bridge


def multicast(ifname, group, add):
    """Add (or remove) link-layer multicast address group ('01:..') in link ifname's filter,
    as a host does for a group its guest joins (netdevice(7) SIOCADDMULTI, SIOCDELMULTI):
    call it through Netns.call."""
    # struct ifreq: the name, then ifr_hwaddr (a sockaddr: family AF_UNSPEC, the address).
    ifreq = bytearray(struct.pack("16sH6s8x", ifname.encode(), socket.AF_UNSPEC,
                                  bytes.fromhex(group.replace(":", ""))))
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        ioctl(sock.fileno(), "SIOCADDMULTI" if add else "SIOCDELMULTI", ffi.from_buffer(ifreq))


SIOCETHTOOL = 0x8946  # linux/sockios.h
# linux/ethtool.h: the one-feature commands (struct ethtool_value).
ETHTOOL_SET = {"tx_checksum": 0x17, "gro": 0x2C}


def set_offload(ifname, feature, on):
    """Turn one of link ifname's offloads (ETHTOOL_SET's names) on or off, as `ethtool -K`
    does: call it through Netns.call. Turning the TX checksum off takes segmentation with
    it: the kernel then finishes both in software before the link sends."""
    value = ffi.new("uint32_t[2]", [ETHTOOL_SET[feature], int(on)])  # cmd, data
    ifreq = bytearray(struct.pack("16sQ16x", ifname.encode(), int(ffi.cast("uintptr_t", value))))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        check(lib.kvmnet_ioctl_ptr(sock.fileno(), SIOCETHTOOL, ffi.from_buffer(ifreq)),
              f"SIOCETHTOOL({ifname} {feature} {'on' if on else 'off'})")


def add_veth(ipr, name, peer):
    """A veth pair, name and peer, in ipr's namespace (both down)."""
    ipr.link("add", ifname=name, kind="veth", peer={"ifname": peer})


def up(ipr, name, mtu):
    """Set link `name` to mtu and up; returns its MAC."""
    index = ipr.link_lookup(ifname=name)[0]
    ipr.link("set", index=index, mtu=mtu, state="up")
    return ipr.link("get", index=index)[0].get("IFLA_ADDRESS")


@dataclass(frozen=True)
class Sample:
    """The outcome of creating one link of a kind: the link read back, or the refusal."""
    kind: str
    link: Link | None
    error: str | None


def create_sample(ipr, kind, name):
    """Create a link of `kind` called name, with a veth lower device where it needs one.

    Returns a Sample; a refusal by the kernel is reported, not raised.
    """
    args = {"ifname": name, "kind": kind}
    if kind == "veth":
        args["peer"] = {"ifname": f"{name}p"}
    elif kind in ("macvlan", "macvtap"):
        lower = f"{name}l"
        ipr.link("add", ifname=lower, kind="veth", peer={"ifname": f"{name}p"})
        args["link"] = ipr.link_lookup(ifname=lower)[0]
        args[f"{kind}_mode"] = "bridge"
    try:
        ipr.link("add", **args)
    except NetlinkError as e:
        return Sample(kind, None, f"the kernel refused a {kind} link: {e.args[-1]} (errno {e.code})")
    return Sample(kind, lookup(ipr, name), None)


# Readiness: a link carries frames once it is up with carrier and, on a bridge, forwarding.
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
BR_STATE_FORWARDING = 3
RTMGRP_LINK = 0x1


def unready(ipr, name, bridge_port=False):
    """Why link `name` cannot carry frames yet (a phrase), or None when it can."""
    found = ipr.link("get", ifname=name) if ipr.link_lookup(ifname=name) else []
    if not found:
        return f"{name} absent"
    msg = found[0]
    operstate = msg.get("IFLA_OPERSTATE")
    if not msg["flags"] & IFF_UP:
        return f"{name} down"
    if not msg["flags"] & IFF_LOWER_UP or operstate not in ("UP", "UNKNOWN"):
        return f"{name} without carrier (operstate {operstate})"
    if bridge_port:
        data = (msg.get("IFLA_LINKINFO") or {}).get("IFLA_INFO_SLAVE_DATA")
        port_state = data.get("IFLA_BRPORT_STATE") if data else None
        if port_state != BR_STATE_FORWARDING:
            return f"{name} not forwarding (bridge port state {port_state})"
    return None


def wait_ready(netns, names, bridge_ports=(), timeout=5.0):
    """Wait until every link in names (and bridge_ports, also forwarding) in netns can carry
    frames; re-checks on each rtnetlink link notification, never by sleeping.

    Raises TimeoutError saying which links were not ready.
    """
    doorbell = netns.call(_link_notifications)
    try:
        with netns.ipr() as ipr:
            deadline = time.monotonic() + timeout
            while True:
                reasons = [r for r in (unready(ipr, n) for n in names) if r]
                reasons += [r for r in (unready(ipr, n, True) for n in bridge_ports) if r]
                if not reasons:
                    return
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([doorbell], [], [], left)[0]:
                    raise TimeoutError(f"links in {netns.name} not ready after {timeout} s: "
                                       + ", ".join(reasons))
                while _pending(doorbell):
                    pass
    finally:
        doorbell.close()


def _link_notifications():
    """A netlink socket in the calling thread's namespace that wakes on link changes."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                         socket.NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    return sock


def _pending(sock):
    try:
        return bool(sock.recv(65536))
    except BlockingIOError:
        return False
    except OSError as e:  # ENOBUFS: notifications overflowed; there were some
        if e.errno != errno.ENOBUFS:
            raise
        return True
