"""A macvtap queue as a NIC backend: the same face as a tap (kvmnet.backends.tap), another
device behind it.

Unlike a tap, the link outlives the fd (it belongs to its lower device and goes with the
namespace), and a queue opens with the vnet header on: a model without virtio-net's header
turns it off. QEMU takes the queue as `-netdev tap,fd=N`, as it would a tap's.
"""

import os

from kvmnet.backends.tap import VNET_HDR_SIZES, TapBackend
from kvmnet.host import macvtap, tun
from kvmnet.syscall import lib


class MacvtapBackend(TapBackend):
    """One queue of macvtap `name` in `netns`; vnet_hdr_size 0 (none), 10 or 12."""

    @classmethod
    def open(cls, netns, name, vnet_hdr_size=0):
        if vnet_hdr_size and vnet_hdr_size not in VNET_HDR_SIZES:
            raise ValueError(f"vnet header size {vnet_hdr_size}: a macvtap takes 0 or "
                             f"{VNET_HDR_SIZES}")
        fd = netns.call(macvtap.open_device, name)
        try:
            flags = lib.IFF_TAP | lib.IFF_NO_PI | (lib.IFF_VNET_HDR if vnet_hdr_size else 0)
            macvtap.set_flags(fd, flags)
            if vnet_hdr_size:
                tun.set_vnet_hdr_size(fd, vnet_hdr_size)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, name, netns, vnet_hdr_size)

    def __repr__(self):
        return (f"MacvtapBackend({self.name!r} in {self.netns.name}, fd={self.fd}, "
                f"vnet_hdr={self.vnet_hdr_size})")
