"""/dev/net/tun: what the tun driver supports, and tap queues opened in a namespace."""

import os
from contextlib import contextmanager

from kvmnet.host.flags import flag_names
from kvmnet.syscall import ffi, ioctl, lib, check

TUN_DEVICE = "/dev/net/tun"

# What a VMM's tap backend relies on: an Ethernet device, no packet-info prefix, the
# virtio-net header for offloads (virtio-net), and one queue per vCPU.
REQUIRED_FEATURES = ("TAP", "NO_PI", "VNET_HDR", "MULTI_QUEUE")


def get_features(path=TUN_DEVICE):
    """TUNGETFEATURES: the IFF_* flags the tun driver accepts in TUNSETIFF."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        out = ffi.new("unsigned int *")
        ioctl(fd, "TUNGETFEATURES", out)
        return out[0]
    finally:
        os.close(fd)


def feature_names(features):
    return flag_names(features, "IFF_")


def open_tap(name, flags=None, path=TUN_DEVICE):
    """Open one queue of tap `name` in the calling thread's namespace; return the fd.

    The tap exists while any of its queues is open (it is not made persistent).
    Use Netns.call(open_tap, ...) to open it inside a namespace.
    """
    if flags is None:
        flags = lib.IFF_TAP | lib.IFF_NO_PI | lib.IFF_VNET_HDR
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        name_out = ffi.new("char[]", 16)
        check(lib.kvmnet_tun_set_iff(fd, name.encode(), flags, name_out), f"TUNSETIFF({name})")
        return fd
    except BaseException:
        os.close(fd)
        raise


def get_vnet_hdr_size(fd):
    out = ffi.new("int *")
    ioctl(fd, "TUNGETVNETHDRSZ", out)
    return out[0]


def set_vnet_hdr_size(fd, size):
    """TUNSETVNETHDRSZ: 10 for legacy virtio-net, 12 with MRG_RXBUF or VERSION_1."""
    value = ffi.new("int *", size)
    ioctl(fd, "TUNSETVNETHDRSZ", value)


@contextmanager
def multiqueue_tap(netns, name, queues, path=TUN_DEVICE):
    """Yields the fds of `queues` queues of one tap `name` (IFF_TAP, NO_PI, VNET_HDR,
    MULTI_QUEUE) made inside netns; all closed on the way out, which removes the tap."""
    flags = lib.IFF_TAP | lib.IFF_NO_PI | lib.IFF_VNET_HDR | lib.IFF_MULTI_QUEUE
    fds = []
    try:
        for _ in range(queues):
            fds.append(netns.call(open_tap, name, flags, path))
        yield fds
    finally:
        for fd in fds:
            os.close(fd)
