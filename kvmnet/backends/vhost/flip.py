"""Handing a virtio-net device's rings back and forth between the VMM and its vhost backend
while frames flow: what a VMM does on live migration or a backend restart, as often as a
check likes."""

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Flips:
    """What a flipping block did: each (ring indexes when taken back, when handed off
    again), and the error that stopped the flipping, if any."""
    log: list = field(default_factory=list)
    error: BaseException | None = None

    def resumed_early(self):
        """(taken back at, handed off at) pairs where the backend would resume before the
        index the VMM stopped at: frames it would send again, or lose."""
        return [(back, off) for back, off in self.log
                if not all((off[q] - back[q]) & 0xFFFF < 0x8000 for q in back)]


@contextmanager
def flipping(device, period):
    """Take device's rings back before the block starts (so that the VMM carries its first
    frames), then hand them off and back every `period` seconds, on a thread of its own,
    until the block ends; they end with the backend. Yields the Flips, complete once the
    block has ended."""
    stop, flips = threading.Event(), Flips()
    first = device.take_back()

    def flip():
        back = first
        try:
            while True:
                stop.wait(period)
                flips.log.append((back, device.handoff()))
                if stop.wait(period):
                    return
                back = device.take_back()
        except BaseException as e:  # the caller's to report
            flips.error = e

    flipper = threading.Thread(target=flip, name="vhost-flip")
    flipper.start()
    try:
        yield flips
    finally:
        stop.set()
        flipper.join()
