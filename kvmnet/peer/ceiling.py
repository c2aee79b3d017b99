"""Ceilings: what the host carries with no guest in the way, from C.

The tap write ceiling: frames/s of one write() per frame into a tap, the wall for any
userspace backend on this host (DESIGN.md quotes ~1 M frames/s). The tap needs somewhere
harmless for its frames: `sink_tap` is a tap alone in a scratch namespace, where the kernel
drops them (an unknown EtherType to a foreign MAC).

The path ceiling: the same streams the guests run (testframe frames, verified, the peer's
window and the receiver's acks), between the peer and C on a topology's tap where a guest
would be: what the bridge, veth and tap carry on this host's cores when the guest and its
VMM cost nothing. Benchmarks print both beside what a VMM's datapath reaches.
"""

import os
from contextlib import contextmanager
from dataclasses import dataclass

from kvmnet.backends.tap import TapBackend
from kvmnet.host import links
from kvmnet.host.netns import Netns
from kvmnet.peer import bulk
from kvmnet.peer.streams import ACK_EVERY, new_seed
from kvmnet.runners.images import IMAGE_STREAM_WINDOW
from kvmnet.syscall import check, ffi, lib

SINK_TAP = "tapsink0"


@dataclass(frozen=True)
class Ceiling:
    size: int
    frames: int
    seconds: float

    @property
    def frames_per_s(self):
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def gbit_per_s(self):
        return self.frames_per_s * self.size * 8 / 1e9

    def __str__(self):
        return (f"{self.size} B: {self.frames_per_s / 1e6:.2f} M frames/s, "
                f"{self.gbit_per_s:.1f} Gbit/s")


def tap_write_ceiling(tap_fd, size, count, hdr_len=0):
    """count write()s of one size-byte test frame (after hdr_len zero bytes) into tap_fd."""
    ns = ffi.new("uint64_t *")
    written = check(lib.kvmnet_peer_write_ceiling(tap_fd, hdr_len, size, count, ns),
                    f"write ceiling ({size} B)")
    return Ceiling(size, written, ns[0] / 1e9)


@contextmanager
def sink_tap(tag="ceiling", vnet_hdr=0):
    """Yields a TapBackend, up, alone in a scratch namespace; removed afterwards."""
    with Netns.create(tag) as ns:
        ns.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
        ns.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        with TapBackend.open(ns, SINK_TAP, vnet_hdr) as tap:
            with ns.ipr() as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname=SINK_TAP)[0], state="up")
            links.wait_ready(ns, [SINK_TAP])
            yield tap


def measure(sizes=(60, 1514), count=500_000, tag="ceiling"):
    """The ceiling for each frame size, on one sink tap."""
    with sink_tap(tag) as tap:
        return [tap_write_ceiling(tap.fd, size, count) for size in sizes]


def path_ceiling(peer, tap, mac, size, count):
    """(to the peer, from the peer) Ceiling of the path between peer (a kvmnet.peer.bulk
    Peer) and tap, C standing in for a guest with address mac: unwindowed to the peer, as
    a guest sends; windowed from it, acked every ACK_EVERY, timed to the last ack."""
    hdr, seed = tap.vnet_hdr_size, new_seed()
    with peer.start_receive(seed, count, src=mac) as receiving:
        bulk.send(tap.fd, peer.mac, mac, seed, count, size, hdr_len=hdr)
        out = receiving.wait(60)
    seed = new_seed()
    receiving = bulk.Receiving(os.dup(tap.fd), dict(
        seed=seed, count=count, ack_every=ACK_EVERY, dst=mac, src=peer.mac, hdr_len=hdr))
    with receiving:
        sent = peer.send(mac, seed, count, size, window=IMAGE_STREAM_WINDOW, await_last=True)
        back = receiving.wait(60)
    if not (out.ok and back.ok and sent.acked_seconds):
        raise RuntimeError(f"path ceiling at {size} B: to the peer {out.summary()}; "
                           f"from it {back.summary()}")
    return Ceiling(size, out.got, out.seconds), Ceiling(size, count, sent.acked_seconds)
