"""Round-trip times through a guest that bounces frames (the guest's `bounce` command).

One test frame at a time from the peer's interface, timed until the guest's copy comes
back. Python on both ends of the timing adds the same few microseconds to every topology,
so compare round trips measured here with each other, not with ping from elsewhere.
"""

import os
import select
import statistics
import time

from kvmnet import testframe
from kvmnet.peer import bulk

TIMEOUT = 2.0


def round_trips(peer, guest_mac, count, size=64, seed=0x5254):
    """Seconds each of count round trips took, peer -> guest -> peer; raises TimeoutError
    if a frame does not come back within TIMEOUT seconds."""
    fd = bulk.open_socket(peer.netns, peer.ifname, testframe.ETHERTYPE)
    try:
        times = []
        for seq in range(count):
            frame = testframe.build(guest_mac, peer.mac, seq, seed, size)
            start = time.perf_counter()
            os.write(fd, frame)
            while True:
                if not select.select([fd], [], [], TIMEOUT)[0]:
                    raise TimeoutError(f"frame {seq} not bounced back within {TIMEOUT} s")
                back = os.read(fd, 65536)
                if testframe.parse(back) == (seq, seed, size):
                    break
            times.append(time.perf_counter() - start)
        return times
    finally:
        os.close(fd)


def bounced_round_trip(nic_guest, peer, count, size=64):
    """The median of count round trips through nic_guest, which bounces them (`bounce`)."""
    bouncing = nic_guest.begin(f"bounce {nic_guest.index} {count}")
    try:
        rtt = statistics.median(round_trips(peer, nic_guest.mac, count, size))
    except BaseException:
        bouncing.interrupt()
        raise
    bouncing.result(10)
    return rtt
