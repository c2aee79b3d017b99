"""kvmnet.peer on a real bridge topology: streams verified byte for byte both ways, window
flow control against a slow consumer, faults that verification must catch, capture, probes."""

import os
import re
import select
import threading
import time

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.utils import rdpcap

from faults import tc
from kvmnet import testframe
from kvmnet.topology.bridge import BridgeTopology
from kvmnet.peer import bulk, capture, ceiling, probes
from kvmnet.peer.bulk import Peer

GUEST = "02:6b:76:00:00:01"
SEED = 0x5EED


@pytest.fixture
def topo():
    """A one-port BridgeTopology (no vnet header, MTU 1500); function scope."""
    with BridgeTopology.create("unit") as t:
        yield t


@pytest.fixture
def peer(topo):
    return Peer.on(topo)


# --- the C builder and checker against kvmnet.testframe (no root needed)

@pytest.mark.parametrize("size", [28, 29, 30, 31, 32, 59, 60, 61, 64, 1514, 9000, 9018])
def test_c_builds_the_same_frames_as_python(size):
    for seq, seed in [(0, 0), (1, 0xDEADBEEF), (123456, 7), (0xFFFFFFFF, 0xFFFFFFFF)]:
        assert bulk.build_frame(GUEST, "02:00:00:00:00:02", seq, seed, size) == \
            testframe.build(GUEST, "02:00:00:00:00:02", seq, seed, size)


def mutations(frame):
    """The frame, and ways of getting it wrong, each (name, bytes)."""
    yield "intact", frame
    yield "padded", frame.ljust(60, b"\0")
    yield "padded past 60", frame.ljust(61, b"\0")
    yield "trailing garbage", frame + b"\x01"
    yield "truncated", frame[:-1]
    yield "header only", frame[:28]
    for at in (28, 29, 31, 32, len(frame) - 1):
        if at < len(frame):
            yield f"flip {at}", frame[:at] + bytes([frame[at] ^ 0x40]) + frame[at + 1:]
    yield "other ethertype", frame[:12] + b"\x08\x00" + frame[14:]
    yield "too short", frame[:20]


@pytest.mark.parametrize("size", [28, 41, 60, 100, 1514])
def test_c_checks_frames_like_python(size):
    frame = testframe.build(GUEST, "02:00:00:00:00:02", 77, SEED, size)
    for name, variant in mutations(frame):
        for seed in (None, SEED, SEED + 1):
            assert bulk.check_frame(variant, seed) == testframe.check(variant, seed), (name, seed)


# --- streams through the bridge

needs_root = pytest.mark.needs_root


@needs_root
@pytest.mark.parametrize("size", [60, 61, 64, 128, 1000, 1514])
def test_frames_written_into_the_tap_reach_the_peer_intact(topo, peer, size):
    count = 200
    with peer.start_receive(SEED, count, src=GUEST, timeout=2.0) as receiving:
        for seq in range(count):
            os.write(topo.taps[0].fd, testframe.build(peer.mac, GUEST, seq, SEED, size))
        result = receiving.wait()
    assert result.ok and result.other == 0, result.summary()
    assert result.bytes == count * size


@needs_root
def test_frames_with_a_vnet_header_reach_the_peer_intact():
    with BridgeTopology.create("unit", vnet_hdr=12) as topo:
        peer = Peer.on(topo)
        with peer.start_receive(SEED, 100, src=GUEST) as receiving:
            for seq in range(100):
                frame = testframe.build(peer.mac, GUEST, seq, SEED, 1514)
                os.write(topo.taps[0].fd, bytes(12) + frame)  # a zero header: no offloads
            assert receiving.wait().ok


@needs_root
def test_jumbo_frames_cross_both_ways_with_mtu_9000():
    with BridgeTopology.create("unit", mtu=9000) as topo:
        peer, tap = Peer.on(topo), topo.taps[0]
        with peer.start_receive(SEED, 100, src=GUEST) as receiving:
            sent = bulk.send(tap.fd, peer.mac, GUEST, SEED, 100, 9000)
            assert receiving.wait().ok and sent.sent == 100
        back = Receiver(tap, peer.mac, SEED + 1, 100)
        peer.send(GUEST, SEED + 1, 100, 9000)
        assert back.result().ok


class Receiver:
    """bulk.receive on the tap in a thread: the guest's side, in C."""

    def __init__(self, tap, peer_mac, seed, count, ack_every=0, timeout=2.0):
        self._out = {}
        kwargs = dict(seed=seed, count=count, timeout=timeout, ack_every=ack_every, dst=GUEST,
                      src=peer_mac, hdr_len=tap.vnet_hdr_size)
        self._thread = threading.Thread(target=lambda: self._out.update(
            r=bulk.receive(tap.fd, **kwargs)))
        self._thread.start()

    def result(self):
        self._thread.join()
        return self._out["r"]


@needs_root
@pytest.mark.parametrize("size", [60, 1514])
def test_the_peers_frames_reach_the_tap_intact(topo, peer, size):
    tap = topo.taps[0]
    peer.send(GUEST, SEED, 300, size)
    got = []
    while select.select([tap.fd], [], [], 0.5)[0]:
        got.append(os.read(tap.fd, 65536))
    assert [testframe.check(f, SEED) for f in got] == [None] * 300
    assert [testframe.parse(f)[0] for f in got] == list(range(300))


@needs_root
def test_c_streams_both_ways_with_acks_at_speed(topo, peer):
    tap = topo.taps[0]
    with peer.start_receive(SEED, 20000, src=GUEST, ack_every=32) as receiving:
        sent = bulk.send(tap.fd, peer.mac, GUEST, SEED, 20000, 1514, window=256)
        result = receiving.wait()
    assert result.ok and sent.max_outstanding <= 256, (result.summary(), sent)
    back = Receiver(tap, peer.mac, SEED + 1, 20000, ack_every=32)
    sent = peer.send(GUEST, SEED + 1, 20000, 1514, window=256)
    assert back.result().ok and sent.sent == 20000


def slow_consumer(tap, peer_mac, seed, count, ack_every, pause):
    """Reads the tap from Python, pausing every ack_every frames, then acks; returns the
    seqs read and the most frames it ever saw beyond its last ack."""
    seqs, acked, beyond = [], 0, 0
    while len(seqs) < count and select.select([tap.fd], [], [], 1.0)[0]:
        frame = os.read(tap.fd, 65536)
        if testframe.check(frame, seed) is not None:
            continue
        seq = testframe.parse(frame)[0]
        seqs.append(seq)
        beyond = max(beyond, seq + 1 - acked)
        if len(seqs) % ack_every == 0 or len(seqs) == count:
            time.sleep(pause)  # the slow part: a guest that drains its ring late
            acked = len(seqs)
            os.write(tap.fd, testframe.ack(peer_mac, GUEST, acked, 0))
    return seqs, beyond


def consume_in_thread(*args):
    out = {}
    thread = threading.Thread(target=lambda: out.update(r=slow_consumer(*args)))
    thread.start()
    return lambda: (thread.join(), out["r"])[1]


@needs_root
def test_a_window_keeps_a_slow_consumer_whole(topo, peer):
    count, window, ack_every = 3000, 64, 16
    done = consume_in_thread(topo.taps[0], peer.mac, SEED, count, ack_every, 0.002)
    sent = peer.send(GUEST, SEED, count, 256, window=window)
    seqs, beyond = done()
    assert seqs == list(range(count)), f"{count - len(seqs)} frames lost"
    assert beyond <= window, f"the consumer saw {beyond} frames beyond its last ack"
    assert sent.max_outstanding <= window and sent.full_waits > 0, sent


@needs_root
def test_awaiting_the_last_ack_times_the_stream_to_its_arrival(topo, peer):
    # The consumer pauses 20 ms before each ack, the last one included: timed to the last
    # write, the stream would end before the consumer had the final window.
    count, window = 256, 64
    done = consume_in_thread(topo.taps[0], peer.mac, SEED, count, 32, 0.02)
    sent = peer.send(GUEST, SEED, count, 256, window=window, await_last=True)
    seqs, _ = done()
    assert seqs == list(range(count)) and sent.acked == count, sent
    assert sent.acked_seconds >= sent.seconds + 0.02, sent


@needs_root
def test_a_stream_missing_its_last_ack_has_no_arrival_time(peer):
    sent = peer.send(GUEST, SEED, 16, 128, window=16, timeout=0.2, await_last=True)
    assert (sent.sent, sent.acked, sent.acked_seconds) == (16, 0, 0.0), sent


@needs_root
def test_without_a_window_the_same_slow_consumer_loses_frames(topo, peer):
    count = 5000
    done = consume_in_thread(topo.taps[0], peer.mac, SEED, count, 16, 0.002)
    peer.send(GUEST, SEED, count, 256)
    seqs, _ = done()
    assert len(seqs) < count


@needs_root
def test_a_windowed_sender_times_out_when_acks_stop(peer):
    start = time.monotonic()
    with pytest.raises(bulk.AckTimeout) as caught:
        peer.send(GUEST, SEED, 1000, 128, window=16, timeout=0.2)
    assert caught.value.result.sent == 16 and caught.value.result.acked == 0
    assert "no acknowledgement for 0.2 s after 16 frames sent" in str(caught.value)
    assert time.monotonic() - start < 2


@needs_root
def test_a_receive_gives_up_and_counts_what_never_came(peer):
    result = peer.receive(SEED, 50, timeout=0.1)
    assert (result.got, result.lost, result.timed_out, result.ok) == (0, 50, True, False)


@needs_root
def test_a_cancelled_receive_ends_at_once(peer):
    receiving = peer.start_receive(SEED, 50, timeout=30)
    start = time.monotonic()
    result = receiving.cancel()
    assert result.stopped and time.monotonic() - start < 1


@needs_root
def test_duplicates_reordering_and_foreign_frames_are_counted(topo, peer):
    tap = topo.taps[0]
    order = [0, 2, 1, 1, 3]
    with peer.start_receive(SEED, 5, src=GUEST) as receiving:
        os.write(tap.fd, testframe.build(peer.mac, GUEST, 0, SEED + 1, 64))  # another stream
        for seq in order:
            os.write(tap.fd, testframe.build(peer.mac, GUEST, seq, SEED, 64))
        os.write(tap.fd, testframe.build(peer.mac, GUEST, 4, SEED, 64))
        result = receiving.wait()
    assert (result.got, result.dup, result.reordered, result.other) == (5, 1, 1, 1), result


# --- faults the verification must catch

@needs_root
def test_dropped_frames_are_counted_lost(topo, peer):
    with tc.drop(topo.netns, "tap0", "ingress", fraction=0.5):
        with peer.start_receive(SEED, 1000, src=GUEST, timeout=0.3) as receiving:
            bulk.send(topo.taps[0].fd, peer.mac, GUEST, SEED, 1000, 128)
            result = receiving.wait()
    assert 300 < result.lost < 700 and result.got + result.lost == 1000, result.summary()
    assert not result.ok


@needs_root
def test_corrupted_frames_are_counted_bad(topo, peer):
    with tc.corrupt(topo.netns, "vbr0", "egress", offset=40):
        with peer.start_receive(SEED, 100, src=GUEST, timeout=0.3) as receiving:
            bulk.send(topo.taps[0].fd, peer.mac, GUEST, SEED, 100, 128)
            result = receiving.wait()
    assert (result.got, result.bad, result.lost) == (0, 100, 0), result.summary()
    said = re.fullmatch(r"seq 0 corrupted: byte 40 \(of 128\) is (\w\w), expected (\w\w)",
                        result.bad_frames[0])
    assert said, result.bad_frames[0]
    assert int(said[1], 16) == int(said[2], 16) ^ 0xFF, "the filter flips every bit of it"


@needs_root
def test_a_removed_fault_lets_frames_through_again(topo, peer):
    with tc.drop(topo.netns, "tap0", "ingress"):
        pass
    with peer.start_receive(SEED, 100, src=GUEST) as receiving:
        bulk.send(topo.taps[0].fd, peer.mac, GUEST, SEED, 100, 128)
        assert receiving.wait().ok


# --- capture and the write ceiling

@needs_root
def test_capture_writes_a_pcap_of_both_directions(topo, peer, tmp_path):
    path = tmp_path / "peer.pcap"
    with capture.Capture(topo.peer_netns, topo.peer_ifname, path) as cap:
        os.write(topo.taps[0].fd, testframe.build(peer.mac, GUEST, 0, SEED, 100))
        peer.send(GUEST, SEED, 3, 80)
        select.select([topo.taps[0].fd], [], [], 0.2)
    frames = [f for _, f in capture.read_pcap(path)]
    assert cap.frames == 4 and cap.dropped == 0
    assert frames[0] == testframe.build(peer.mac, GUEST, 0, SEED, 100)
    assert [bytes(p) for p in rdpcap(str(path))] == frames


@needs_root
def test_the_tap_write_ceiling_writes_every_frame():
    with ceiling.sink_tap("unit") as tap:
        result = ceiling.tap_write_ceiling(tap.fd, 60, 20000)
    assert result.frames == 20000 and result.frames_per_s > 0


# --- probes, against a guest played by scapy on the tap

GUEST_IP = "169.254.0.2"


class FakeGuest:
    """Answers ARP who-has GUEST_IP and ICMP echo to it on a tap, until stopped."""

    def __init__(self, tap):
        self.tap, self.seen = tap, []
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        while self._stop_r not in select.select([self.tap.fd, self._stop_r], [], [])[0]:
            frame = Ether(os.read(self.tap.fd, 65536))
            self.seen.append(frame)
            reply = None
            if ARP in frame and frame[ARP].op == 1 and frame[ARP].pdst == GUEST_IP:
                reply = Ether(dst=frame.src, src=GUEST) / ARP(
                    op=2, hwsrc=GUEST, psrc=GUEST_IP, hwdst=frame.src, pdst=frame[ARP].psrc)
            elif ICMP in frame and frame[ICMP].type == 8 and frame[IP].dst == GUEST_IP:
                echo = frame[ICMP]
                reply = (Ether(dst=frame.src, src=GUEST) / IP(src=GUEST_IP, dst=frame[IP].src)
                         / ICMP(type=0, id=echo.id, seq=echo.seq) / bytes(echo.payload))
            if reply is not None:
                os.write(self.tap.fd, bytes(reply))

    def stop(self):
        os.write(self._stop_w, b"x")
        self._thread.join()
        os.close(self._stop_r)
        os.close(self._stop_w)


@pytest.fixture
def fake_guest(topo):
    guest = FakeGuest(topo.taps[0])
    yield guest
    guest.stop()


@needs_root
def test_arp_and_ping_probes_get_the_guests_answers(topo, peer, fake_guest):
    assert probes.arp_who_has(topo.peer_netns, topo.peer_ifname, GUEST_IP, peer.mac) == GUEST
    reply = probes.ping(topo.peer_netns, topo.peer_ifname, GUEST, GUEST_IP, peer.mac)
    assert reply is not None and bytes(reply["ICMP"].payload) == b"kvmnet probe"
    assert probes.arp_who_has(topo.peer_netns, topo.peer_ifname, "169.254.0.9", peer.mac,
                              timeout=0.2) is None


@needs_root
def test_a_crafted_frame_goes_out_as_built_and_what_returns_is_collected(topo, peer, fake_guest):
    frame = Ether(dst="01:00:5e:00:00:fb", src=peer.mac, type=0x88B5) / (b"\0" * 46)
    assert probes.exchange(topo.peer_netns, topo.peer_ifname, frame, timeout=0.2) == []
    assert [bytes(f) for f in fake_guest.seen] == [bytes(frame)]


def test_probes_refuse_addresses_outside_link_local():
    with pytest.raises(ValueError, match="not link-local"):
        probes.ping(None, "eth0", GUEST, "10.0.0.1", GUEST)
    with pytest.raises(ValueError, match="not link-local"):
        probes.exchange(None, "eth0", Ether() / IP(src="169.254.0.1", dst="192.168.0.1"))
    with pytest.raises(ValueError, match="IPv6 only within"):
        probes.exchange(None, "eth0", Ether() / IPv6(src="fe80::1", dst="2001:db8::1"))
