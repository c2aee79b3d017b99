"""Counting test frames where no guest or peer is: on the wire, or in a host's own stack.

Where a packet socket sits in the receive path decides what it shows:
- `on_the_wire` binds to ETH_P_ALL, which the kernel serves before a device's rx_handler
  (bridge, macvlan): every frame the link carries, whoever takes it next;
- `in_the_stack` binds to one EtherType, which the kernel serves only after the rx_handler
  has passed the frame on: what the namespace's own stack would get. A frame a macvtap
  took for its guest never gets there.
Both count only the suite's test frames (kvmnet.testframe), and are read after the fact.
"""

import os
import select

from kvmnet import testframe
from kvmnet.peer import bulk

WATCH_BUFFER = 4 << 20


class Watch(bulk.HeldSocket):
    """Test frames seen at one interface since the watch began (a context manager)."""

    def __init__(self, netns, ifname, protocol):
        self.where = f"{ifname} in {netns.name}"
        super().__init__(bulk.open_socket(netns, ifname, protocol, buffer_bytes=WATCH_BUFFER,
                                          ignore_outgoing=False))
        self.frames = []  # (dst, src) of each test frame seen, as 'xx:..' strings

    def seen(self, src=None, dst=None):
        """How many test frames (from src, to dst, where given) were seen so far."""
        self._drain()
        return sum(1 for d, s in self.frames
                   if (src is None or s == src) and (dst is None or d == dst))

    def _drain(self):
        while select.select([self.fd], [], [], 0)[0]:
            frame = os.read(self.fd, 65536)
            if testframe.parse(frame) is not None:
                self.frames.append((_mac(frame[0:6]), _mac(frame[6:12])))


def on_the_wire(netns, ifname):
    """A Watch of every test frame link ifname carries, either way."""
    return Watch(netns, ifname, bulk.ETH_P_ALL)


def in_the_stack(netns, ifname):
    """A Watch of the test frames ifname's namespace's own stack receives on it."""
    return Watch(netns, ifname, testframe.ETHERTYPE)


def _mac(raw):
    return ":".join(f"{b:02x}" for b in raw)
