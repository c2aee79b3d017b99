"""The tap write ceiling: frames/s of one write() per frame into a tap, from C.

That is the wall for any userspace backend on this host (DESIGN.md quotes ~1 M frames/s);
benchmarks print it beside what a VMM's datapath reaches. The tap needs somewhere harmless
for its frames: `sink_tap` is a tap alone in a scratch namespace, where the kernel drops
them (an unknown EtherType to a foreign MAC).
"""

from contextlib import contextmanager
from dataclasses import dataclass

from kvmnet.backends.tap import TapBackend
from kvmnet.host import links
from kvmnet.host.netns import Netns
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
