"""A tap queue as a NIC backend: the fd a VMM reads and writes frames on.

The tap is opened inside a scratch namespace (kvmnet.host.netns) and exists as long as the
fd is open: closing the backend removes the link. QEMU takes the same queue with
`-netdev tap,fd=N` from `inheritable_fd()`.
"""

import os

from kvmnet.host import tun
from kvmnet.syscall import lib

# Sizes TUNSETVNETHDRSZ takes that a virtio-net device uses: legacy, and MRG_RXBUF/VERSION_1.
VNET_HDR_SIZES = (10, 12)


def flags_for(vnet_hdr_size):
    """The IFF_* flags of a queue with that vnet header size (0: none); ValueError for a
    size no virtio-net device uses."""
    if vnet_hdr_size and vnet_hdr_size not in VNET_HDR_SIZES:
        raise ValueError(f"vnet header size {vnet_hdr_size}: a queue takes 0 or "
                         f"{VNET_HDR_SIZES}")
    return lib.IFF_TAP | lib.IFF_NO_PI | (lib.IFF_VNET_HDR if vnet_hdr_size else 0)


def queue_flags(vnet_hdr_size, fd, set_flags=None):
    """Finish opening queue fd: set_flags(fd, flags) if given, then the vnet header size;
    the fd is closed if that fails. Returns fd."""
    try:
        if set_flags is not None:
            set_flags(fd, flags_for(vnet_hdr_size))
        if vnet_hdr_size:
            tun.set_vnet_hdr_size(fd, vnet_hdr_size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class TapBackend:
    """One queue of tap `name` in `netns`; vnet_hdr_size 0 (none), 10 or 12."""

    vhost = None        # no vhost frontend: the VMM's own datapath serves it
    socket_path = None  # not a vhost-user server

    def __init__(self, fd, name, netns, vnet_hdr_size):
        self.fd = fd
        self.name = name
        self.netns = netns
        self.vnet_hdr_size = vnet_hdr_size

    def vnet_hdr_mismatch(self):
        """None, or a sentence: the kernel's vnet header size on this queue
        (TUNGETVNETHDRSZ) is not the one the device was given (a VMM and its tap that
        disagree on it misframe every frame: nothing arrives whole)."""
        if not self.vnet_hdr_size:
            return None
        kernel = tun.get_vnet_hdr_size(self.fd)
        if kernel == self.vnet_hdr_size:
            return None
        return (f"{self.name}'s vnet header is {kernel} bytes (TUNGETVNETHDRSZ) but its "
                f"virtio-net device uses {self.vnet_hdr_size}: every frame is misframed")

    @classmethod
    def open(cls, netns, name, vnet_hdr_size=0):
        """Open (creating) tap `name` in netns with IFF_TAP|IFF_NO_PI (|IFF_VNET_HDR)."""
        return cls(queue_flags(vnet_hdr_size, netns.call(tun.open_tap, name,
                                                      flags_for(vnet_hdr_size))),
                   name, netns, vnet_hdr_size)

    def fileno(self):
        return self.fd

    def inheritable_fd(self):
        """A dup of the queue that a child process inherits (QEMU's `fd=N`); the caller
        closes it once the child has started."""
        fd = os.dup(self.fd)
        os.set_inheritable(fd, True)
        return fd

    @property
    def closed(self):
        return self.fd < 0

    def close(self):
        """Close the queue (the tap goes with its last queue). Closing twice is fine."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"TapBackend({self.name!r} in {self.netns.name}, fd={self.fd}, "
                f"vnet_hdr={self.vnet_hdr_size})")
