"""Samplers: each call measures one sample of a figure, short (a stream, a batch of round
trips, a batch of exits), so that a figure is ten or more of them."""

import time

from kvmnet.peer import ceiling
from kvmnet.perf.catalogue import GUEST_SIZES
from kvmnet.peer.latency import bounced_round_trip
from kvmnet.peer.streams import guest_to_peer, peer_to_guest, perfect, verified_rate

TAP_WRITES = 50_000     # write()s in one tap-write sample
PATH_FRAMES = 4_000     # frames each way in one bridge path sample
GUEST_FRAMES = 2_000    # frames in one guest stream sample
ROUND_TRIPS = 50        # bounced frames in one round-trip sample
EXITS = 500             # port-I/O exits in one exit sample
DOORBELLS = 200         # ioeventfd writes, or write-to-interrupt rounds, in one sample
EXIT_FRAMES = 20_000    # frames each way in one exits-per-frame sample: the guest's command
                        # channel costs a few hundred exits a stream, whatever its length
EXIT_FRAMES_SLOW = 4_000  # the same for a model that exits per frame (rtl8139): its own
                          # exits swamp the channel's, and each costs tens of µs here


class SampleInvalid(RuntimeError):
    """A sample measured something other than its figure names (writes that exited where an
    ioeventfd should have caught them, streams that lost frames): it must not be counted."""


def tap_write(tap, size):
    """frames/s of one write() per frame into tap (kvmnet.peer.ceiling.sink_tap)."""
    return ceiling.tap_write_ceiling(tap.fd, size, TAP_WRITES).frames_per_s


def host_path(peer, tap, mac, size):
    """(to the peer, from the peer) frames/s of verified streams with C in a guest's place
    on tap (a bridge's tap, a macvtap): what the host's path carries with no guest."""
    out, back = ceiling.path_ceiling(peer, tap, mac, size, PATH_FRAMES)
    return out.frames_per_s, back.frames_per_s


def pio_exit(guest):
    """µs per port-I/O exit from the guest (ring 3) to its VMM and back: `exits N`, net of
    the same command's round trip with none."""
    took, _ = _timed(guest, f"exits {EXITS} 0x80", "exits 0 0x80")
    return took / EXITS * 1e6


def _timed(guest, command, empty):
    """Seconds command took, net of the same command's round trip doing nothing."""
    start = time.perf_counter()
    reply = guest.channel.command(command)
    total = time.perf_counter() - start
    start = time.perf_counter()
    guest.channel.command(empty)
    return total - (time.perf_counter() - start), reply


def ioeventfd_write(guest, bell):
    """µs per guest port write that an ioeventfd catches (kvmnet.vmm.doorbell.Doorbell with
    no vector): KVM signals the eventfd and resumes the guest, no exit to userspace. Raises
    if any write was not the eventfd's (it exited instead)."""
    bell.signals()  # drained: only this sample's writes count
    took, _ = _timed(guest, f"exits {DOORBELLS} {bell.port:#x}", f"exits 0 {bell.port:#x}")
    caught = bell.signals()
    if caught != DOORBELLS:
        raise SampleInvalid(f"the ioeventfd on port {bell.port:#x} caught {caught} of "
                             f"{DOORBELLS} writes: the rest exited to the VMM")
    return took / DOORBELLS * 1e6


def irqfd_round_trip(guest, bell):
    """µs from the guest's port write to its handler taking the interrupt, the write caught
    by an ioeventfd whose eventfd is an irqfd (a Doorbell with a vector): KVM's in-kernel
    signalling both ways. Raises if a round got no interrupt."""
    took, reply = _timed(guest, f"doorbell {bell.port:#x} {DOORBELLS}",
                         f"doorbell {bell.port:#x} 0")
    rounds = int(reply.fields["rounds"])
    if rounds != DOORBELLS:
        raise SampleInvalid(f"{rounds} of {DOORBELLS} writes to port {bell.port:#x} raised "
                             f"the irqfd's interrupt at vector {bell.vector:#x}")
    return took / DOORBELLS * 1e6


def boot_to_hello(runner, image):
    """ms from starting a VM to the guest's first line."""
    start = time.perf_counter()
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        hello = time.perf_counter() - start
    return hello * 1e3


def stream_rate(nic_guest, peer, direction, size):
    """frames/s of one verified stream, to_peer (guest -> peer) or from_peer."""
    stream = guest_to_peer if direction == "to_peer" else peer_to_guest
    return verified_rate(stream, nic_guest, peer, GUEST_FRAMES, size)


def streams(stem, nic_guest, peer):
    """(names, sampler) for perf.check: the figures stem.{to,from}_peer.{64,1514}B, one
    sample a stream of each in turn."""
    legs = [(direction, size) for size in GUEST_SIZES for direction in ("to_peer", "from_peer")]
    names = tuple(f"{stem}.{direction}.{size}B" for direction, size in legs)
    return names, lambda: tuple(stream_rate(nic_guest, peer, d, s) for d, s in legs)


def round_trip(nic_guest, peer):
    """Median µs of ROUND_TRIPS frames the guest bounces back to the peer."""
    return bounced_round_trip(nic_guest, peer, ROUND_TRIPS) * 1e6


def exits_per_frame(nic_guest, peer, size=1514):
    """Exits the built-in VMM took per frame over one stream each way."""
    frames = EXIT_FRAMES_SLOW if nic_guest.model == "rtl8139" else EXIT_FRAMES
    before = sum(nic_guest.guest.exits.values())  # a snapshot of the vCPU's counts
    sent = guest_to_peer(nic_guest, peer, frames, size)
    got = peer_to_guest(nic_guest, peer, frames, size)
    if not sent.ok or not perfect(got, frames):  # exits of frames that went nowhere
        raise SampleInvalid(f"{nic_guest.model} streams went wrong while exits were "
                             f"counted: guest -> peer {sent.summary()}; peer -> guest {got}")
    return (sum(nic_guest.guest.exits.values()) - before) / (2 * frames)
