"""Offloads, as Linux's own drivers use them (--kvmnet-guest=linux, in the kernel lab).

What a guest's stack leaves to its NIC (a checksum to insert, a TCP send to cut into
segments) is judged where it lands: on the wire, frame by frame, as a receiver judges it.
What a NIC tells the stack it verified on receive is judged by what the stack accepts.
Where a driver turns an offload off (8139too has none), its software must pass the same
checks. The peer's kernel is the guest's partner; the link finishes nothing for the guest
(kvmnet.topology.bridge), so a checksum or segment the device got wrong stays wrong.
"""

import time

import pytest

from kvmnet.peer import wire
from kvmnet.peer.inet import datagrams

pytestmark = [pytest.mark.needs_kvm, pytest.mark.needs_root]

PORT = 5515
DATAGRAMS = 20
STREAM = 512 << 10  # ~360 full segments: many TSO sends, and the stack's smaller tails
GOOD = 5            # datagrams that must arrive before the one with a bad checksum
ARRIVE = 5.0        # seconds a datagram may take to reach its socket
SETTLE = 3.0        # seconds the guest has to take (or drop) the one with a bad checksum


def wait_for(sock, count, timeout):
    """The datagrams sock received, once count arrived or timeout passed."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += datagrams(sock)
        time.sleep(0.05)
    return got


@pytest.mark.parametrize("size", [1, 1472], ids=["1B", "1472B"])
def test_udp_checksums_the_guest_sends_are_right_on_the_wire(inet_pair, size, evidence):
    """Every datagram the guest's stack sends reaches the wire with a right IPv4 header
    checksum and UDP checksum (inserted by the device where the driver offloads it), its
    length and payload as sent: the shortest padded to a minimum frame, the longest filling
    the MTU."""
    pair, seed = inet_pair, 0x11
    sink = pair.host.udp_sink(PORT)
    sent = pair.guest.udp_send(pair.peer_ip, PORT, size, DATAGRAMS, seed)
    assert sent == DATAGRAMS, f"{pair.describe()}: the guest's stack took {sent} of {DATAGRAMS}"
    took = wait_for(sink, DATAGRAMS, ARRIVE)
    flow = wire.Flow(pair.guest_ip, pair.peer_ip, wire.IPPROTO_UDP, PORT)
    problems, intact = wire.udp_problems(pair.host.frames(), flow, size, DATAGRAMS, seed,
                                         pair.mtu)
    evidence.value("datagrams intact on the wire", intact)
    evidence.value("datagrams the peer's kernel took", len(took))
    assert not problems, (f"{pair.describe()}, {size}-byte datagrams:\n  "
                          f"{wire.summary(problems)}")


def test_tcp_segments_the_guest_sends_are_right_on_the_wire(inet_pair, evidence):
    """A TCP send of 512 KiB reaches the wire as segments each within the peer's MSS (data
    and options) and the MTU, their IPv4 and TCP checksums right (the device cut and
    checksummed them where the driver offloads segmentation), and the stream they carry,
    and the one the peer's kernel read, is the one sent."""
    pair, seed = inet_pair, 0x22
    sink = pair.host.tcp_sink(PORT)
    sent, mss = pair.guest.tcp_send(pair.peer_ip, PORT, STREAM, seed)
    read = sink.result(60)
    frames = pair.host.frames()
    peer_mss = wire.mss_announced(frames, pair.peer_ip, pair.guest_ip, PORT)
    evidence.value("bytes sent", sent)
    evidence.value("guest MSS", mss)
    evidence.value("peer's MSS", peer_mss)
    assert sent == STREAM, f"{pair.describe()}: the guest's stack took {sent} of {STREAM} bytes"
    assert peer_mss, f"{pair.describe()}: no SYN-ACK with an MSS option from the peer on the wire"
    problems = wire.tcp_problems(frames, wire.Flow(pair.guest_ip, pair.peer_ip,
                                                   wire.IPPROTO_TCP, PORT),
                                 STREAM, seed, pair.mtu, peer_mss)
    assert not problems, f"{pair.describe()}, TCP send:\n  {wire.summary(problems)}"
    first = wire.first_difference(read, wire.pattern(seed, STREAM))
    assert len(read) == STREAM and first is None, (
        f"{pair.describe()}: the peer's kernel read {len(read)} of {STREAM} bytes"
        + (f", byte {first} not as sent" if first is not None else ""))


def test_a_datagram_with_a_bad_checksum_is_dropped_by_the_guest(inet_pair, peer, evidence):
    """Intact datagrams reach the guest's socket; one damaged after its UDP checksum was
    computed does not, and the guest's stack counts it as a checksum error: the device did
    not tell the driver it had verified a checksum it had not."""
    pair, seed = inet_pair, 0x33
    pending = pair.guest.start_udp_recv(PORT, GOOD + 1, seed)
    for k in range(GOOD + 1):
        pair.host.send_frame(wire.udp_frame(pair.guest.mac, peer.mac, pair.peer_ip,
                                            pair.guest_ip, PORT, wire.pattern(seed + k, 200),
                                            damaged=k == GOOD))
    time.sleep(SETTLE)
    pending.interrupt()
    got = pending.result(10).fields
    evidence.value("guest received", got)
    assert got["got"] == GOOD, (f"{pair.describe()}: {got['got']} of the {GOOD} intact "
                                f"datagrams reached the guest's socket ({got})")
    assert got["bad"] == 0 and got["csumerrors"] >= 1, (
        f"{pair.describe()}: the datagram damaged after its UDP checksum was computed "
        + ("reached the guest's socket, its payload altered: the device marked it verified"
           if got["bad"] else "was not counted as a checksum error by the guest's stack")
        + f" ({got})")
