"""kvmnet.peer.wire, the offload checks' judge, on frames built here: right ones pass, and
each fault the checks name (a checksum, a length, a segment over the MSS, a hole or a wrong
byte in the stream) is found and named."""

import struct

from kvmnet.peer import wire

GUEST, PEER, PORT, MTU = "169.254.78.2", "169.254.78.1", 5515, 1500
MACS = "02:00:00:00:00:01", "02:00:00:00:00:02"
ISN, SEED = 1000, 0x22


def ip(n):
    return bytes(int(x) for x in n.split("."))


def tcp_frame(seq, payload, flags=0x10, options=b"", checksum_ok=True, src=GUEST, dst=PEER,
              sport=40000, dport=PORT):
    offset = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, offset << 4, flags, 65535, 0, 0)
    tcp += options + payload
    value = wire.l4_checksum(ip(src), ip(dst), wire.IPPROTO_TCP, tcp) ^ (0 if checksum_ok else 1)
    tcp = tcp[:16] + struct.pack("!H", value) + tcp[18:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64,
                         wire.IPPROTO_TCP, 0, ip(src), ip(dst))
    header = header[:10] + struct.pack("!H", ~wire.checksum(header) & 0xFFFF) + header[12:]
    return b"\2" * 12 + b"\x08\x00" + header + tcp


def stream(total, mss, skip=(), bad=(), flip=None):
    """SYN, then total bytes of stream SEED in mss-sized segments."""
    frames = [tcp_frame(ISN, b"", flags=0x02, options=b"\x02\x04" + struct.pack("!H", mss))]
    data = bytearray(wire.pattern(SEED, total))
    if flip is not None:
        data[flip] ^= 0xFF
    for n, start in enumerate(range(0, total, mss)):
        if n not in skip:
            frames.append(tcp_frame(ISN + 1 + start, bytes(data[start:start + mss]),
                                    checksum_ok=n not in bad))
    return frames


FLOW = wire.Flow(GUEST, PEER, wire.IPPROTO_TCP, PORT)


def test_the_internet_checksum_of_rfc_1071s_example():
    assert wire.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2


def test_a_right_tcp_stream_has_no_problems():
    assert wire.tcp_problems(stream(10_000, 1460), FLOW, 10_000, SEED, MTU, 1460) == []


def test_segments_over_the_mss_a_bad_checksum_a_hole_and_a_wrong_byte_are_named():
    over = wire.tcp_problems(stream(10_000, 1461), FLOW, 10_000, SEED, MTU, 1460)
    assert sum("1461 bytes of data and 0 of options, over the peer's MSS 1460" in p
               for p in over) == 6, over  # every full segment of 10,000 bytes
    assert sum("1501-byte IPv4 packet, over the link's MTU 1500" in p for p in over) == 6
    bad = wire.tcp_problems(stream(10_000, 1460, bad={2}), FLOW, 10_000, SEED, MTU, 1460)
    assert len(bad) == 1 and "frame 3 (TCP seq 3921, 1460 bytes): TCP checksum" in bad[0], bad
    hole = wire.tcp_problems(stream(10_000, 1460, skip={3}), FLOW, 10_000, SEED, MTU, 1460)
    assert hole == ["the intact segments cover bytes 0..4380 of 10000"]
    wrong = wire.tcp_problems(stream(10_000, 1460, flip=5000), FLOW, 10_000, SEED, MTU, 1460)
    assert wrong == [f"stream byte 5000 is {wire.pattern(SEED, 1, 5000)[0] ^ 0xFF:#04x}, "
                     f"should be {wire.pattern(SEED, 1, 5000)[0]:#04x}"]


def test_no_syn_is_a_problem():
    assert wire.tcp_problems(stream(3000, 1460)[1:], FLOW, 3000, SEED, MTU, 1460) == [
        "no SYN from the guest reached the wire"]


def test_the_mss_the_peer_announced_is_read_from_its_syn_ack():
    syn_ack = tcp_frame(7, b"", flags=0x12, options=b"\x01\x01\x02\x04\x05\xb4", src=PEER,
                        dst=GUEST, sport=PORT, dport=40000)
    assert wire.mss_announced([syn_ack], PEER, GUEST, PORT) == 1460
    assert wire.mss_announced([syn_ack], GUEST, PEER, PORT) is None


def test_udp_datagrams_intact_damaged_and_missing():
    flow = wire.Flow(PEER, GUEST, wire.IPPROTO_UDP, PORT)
    frames = [wire.udp_frame(*MACS, PEER, GUEST, PORT, wire.pattern(5 + k, 1)) for k in range(3)]
    assert wire.udp_problems(frames, flow, 1, 3, 5, MTU) == ([], 3)
    damaged = wire.udp_frame(*MACS, PEER, GUEST, PORT, wire.pattern(5, 1), damaged=True)
    problems, intact = wire.udp_problems([damaged], flow, 1, 1, 5, MTU)
    assert intact == 0 and "UDP checksum" in problems[0] and "should be" in problems[0]
    assert wire.udp_problems(frames[:2], flow, 1, 3, 5, MTU) == (
        ["2 of 3 datagrams reached the wire"], 2)


def test_ipv4_header_checksum_and_lengths():
    frame = bytearray(tcp_frame(ISN, b"x" * 100))
    frame[14 + 10] ^= 1
    assert any("IPv4 header checksum" in p for p in wire.Ipv4.parse(bytes(frame)).problems(MTU))
    short = tcp_frame(ISN, b"x" * 100)[:-10]
    assert any("total length 140 but the frame carries 130" in p
               for p in wire.Ipv4.parse(short).problems(MTU))
    big = tcp_frame(ISN, b"x" * 1461)
    assert any("1501-byte IPv4 packet, over the link's MTU 1500" in p
               for p in wire.Ipv4.parse(big).problems(MTU))
