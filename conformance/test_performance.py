"""Performance: what a kernel upgrade must not slow down, each figure ten or more short
samples, judged against the thresholds file, the host's own invariants and the baseline
(the same host on its old kernel: --kvmnet-baseline). Each check runs alone, nothing else
of the run loading the host; in the kernel lab they skip (emulated timing means nothing).
"""

import pytest

from kvmnet.host.topology import BridgeTopology
from kvmnet.peer import ceiling
from kvmnet.peer.bulk import Peer
from kvmnet.perf import measure
from kvmnet.perf.catalogue import CEILING_SIZES, GUEST_SIZES

from fixtures.host import worker_tag
from fixtures.network import GUEST_MAC

pytestmark = [pytest.mark.perf, pytest.mark.needs_kvm, pytest.mark.needs_root]


def test_the_tap_write_ceiling(perf):
    """One write() per frame into a tap: the wall any userspace backend meets."""
    with ceiling.sink_tap(worker_tag()) as tap:
        for size in CEILING_SIZES:
            perf.check(f"host.tap_write.{size}B", lambda: measure.tap_write(tap, size))


def test_the_bridge_path_with_no_guest(perf, _netns_swept):
    """Verified streams both ways between the peer and C in a guest's place on a bridge's
    tap: what the host's bridge, veth and tap carry when no guest costs anything."""
    with BridgeTopology.create(worker_tag()) as bridge:
        peer = Peer.on(bridge)
        for size in GUEST_SIZES:
            perf.check((f"host.bridge_tap.to_peer.{size}B", f"host.bridge_tap.from_peer.{size}B"),
                       lambda: measure.bridge_path(peer, bridge.taps[0], GUEST_MAC, size))
