"""A macvtap queue as a NIC backend: the same face as a tap (kvmnet.backends.tap), another
device behind it.

Unlike a tap, the link outlives the fd (it belongs to its lower device and goes with the
namespace), and a queue opens with the vnet header on: a model without virtio-net's header
turns it off. QEMU takes the queue as `-netdev tap,fd=N`, as it would a tap's.
"""

from kvmnet.backends.tap import TapBackend, flags_for, queue_flags
from kvmnet.host import macvtap


class MacvtapBackend(TapBackend):
    """One queue of macvtap `name` in `netns`; vnet_hdr_size 0 (none), 10 or 12."""

    @classmethod
    def open(cls, netns, name, vnet_hdr_size=0):
        flags_for(vnet_hdr_size)  # refuses a bad size before anything is opened
        fd = netns.call(macvtap.open_device, name)
        return cls(queue_flags(vnet_hdr_size, fd, macvtap.set_flags), name, netns,
                   vnet_hdr_size)

    def __repr__(self):
        return (f"MacvtapBackend({self.name!r} in {self.netns.name}, fd={self.fd}, "
                f"vnet_hdr={self.vnet_hdr_size})")
