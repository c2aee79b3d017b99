"""macvtap links in a scratch namespace, and their character devices opened by number.

A macvtap is a macvlan whose frames go to a tap-like character device instead of the host
stack. The kernel names that device /dev/tap<ifindex>, and an ifindex is per namespace: two
scratch namespaces can both have a /dev/tap4, and the host's /dev shows at most one of them.
So the device is found by the major:minor its link lists in sysfs, read through a sysfs that
shows the link's namespace, and opened through a node made where nobody else can see it:
a thread with its own mount namespace (native/mounts.c) does both, and takes them with it.
"""

import errno
import os
import stat

from pyroute2 import NetlinkError

from kvmnet.syscall import check, ffi, lib

# IFLA_MACVLAN_MODE values (linux/if_link.h) by the names `ip link` uses.
MODES = ("private", "vepa", "bridge", "passthru", "source")
# The flags a macvtap queue opens with (drivers/net/tap.c): it carries the vnet header until
# told otherwise, unlike a tap.
OPEN_FLAGS = ("TAP", "NO_PI", "VNET_HDR")


class MacvtapUnsupported(OSError):
    """The kernel has no macvtap (CONFIG_MACVTAP), or not this mode."""


def create(ipr, name, lower, mode, mac=None):
    """Add macvtap `name` on link `lower` (a name in the same namespace) in `mode`, up.

    Raises MacvtapUnsupported when the kernel lacks macvtap links or the mode, and the
    kernel's NetlinkError for any other refusal (a second macvtap in passthru mode, say)."""
    if mode not in MODES:
        raise ValueError(f"macvtap mode {mode!r}: the kernel knows {', '.join(MODES)}")
    args = {"ifname": name, "kind": "macvtap", "link": ipr.link_lookup(ifname=lower)[0],
            "macvtap_mode": mode}
    if mac:
        args["address"] = mac
    try:
        ipr.link("add", **args)
    except NetlinkError as e:
        if e.code == errno.EOPNOTSUPP:
            raise MacvtapUnsupported(e.code, "the kernel has no macvtap links "
                                     "(CONFIG_MACVTAP)") from None
        if e.code == errno.EINVAL and mode == "source" and not ipr.link_lookup(ifname=name):
            raise MacvtapUnsupported(e.code, "the kernel refuses macvtap mode source "
                                     "(added in Linux 4.9)") from None
        raise
    ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")


def mode_of(ipr, name):
    """The mode the kernel reports for macvtap `name` (IFLA_MACVLAN_MODE, as `ip -d link`
    shows it)."""
    [link] = ipr.get_links(ifname=name)
    return link.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA").get_attr(
        "IFLA_MACVTAP_MODE")  # pyroute2 names macvtap's attributes so


def device_number(name):
    """(major, minor) of macvtap `name`'s character device, as the calling thread's network
    namespace sees it: call it through Netns.call, from a thread it alone uses."""
    check(lib.kvmnet_private_mounts(), "private mount namespace")
    return _read_device_number(name)


def _read_device_number(name):
    queues = f"/sys/class/net/{name}/macvtap"
    try:
        (node,) = os.listdir(queues)
        with open(f"{queues}/{node}/dev") as f:
            major, minor = f.read().strip().split(":")
    except FileNotFoundError:
        raise LookupError(f"{name} is not a macvtap in this namespace "
                          f"(no {queues})") from None
    return int(major), int(minor)


def open_device(name, flags=os.O_RDWR | os.O_NONBLOCK):
    """Open macvtap `name`'s character device; return the fd. Call it through Netns.call.

    The node is made on a tmpfs only this thread's mount namespace has, and goes with it.
    """
    major, minor = device_number(name)
    node = f"/tmp/{name}"
    os.mknod(node, stat.S_IFCHR | 0o600, os.makedev(major, minor))
    return os.open(node, flags | os.O_CLOEXEC)


def set_flags(fd, flags):
    """TUNSETIFF on a macvtap queue: only the IFF_* flags matter (it has its link already);
    IFF_VNET_HDR on or off is what a model with or without virtio-net's header needs."""
    name_out = ffi.new("char[]", 16)
    check(lib.kvmnet_tun_set_iff(fd, b"", flags, name_out), "TUNSETIFF(macvtap)")
