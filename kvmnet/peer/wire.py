"""IPv4, UDP and TCP frames as they reached the wire, judged as a receiver judges them.

A guest's stack leaves work to its NIC (a checksum to insert, a TCP send to cut into
segments); what the device made of it is on the wire, and these checks read it there:

    udp_problems(frames, flow, size, count, seed)   each datagram's checksums and payload
    tcp_problems(frames, flow, total, seed)         each segment's checksums and length, the
                                                    stream reassembled
    udp_frame(...)                                  a datagram to send, intact or damaged

A problem is a sentence naming the frame (its place in the capture), the field and both
values. Payload byte i of stream (or datagram) s is (s + i + i // 256) mod 256, as
guestimg/agent/agent_inet.c writes and reads it.
"""

import struct
from dataclasses import dataclass

ETH_HLEN, ETH_P_IP = 14, 0x0800
IPPROTO_TCP, IPPROTO_UDP = 6, 17
TCP_SYN, TCP_OPT_MSS = 0x02, 2
SHOWN = 5  # problems quoted in a message; the rest are counted


def pattern(stream: int, length: int, start: int = 0) -> bytes:
    """Bytes start..start+length of stream: (stream + i + i // 256) mod 256."""
    return bytes((stream + i + (i >> 8)) & 0xFF for i in range(start, start + length))


def checksum(data: bytes, initial: int = 0) -> int:
    """The Internet checksum (RFC 1071) of data, folded, not inverted."""
    if len(data) % 2:
        data += b"\0"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def l4_checksum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    """What the TCP or UDP checksum field must hold for segment (its field zeroed or not:
    the result is computed with the field taken as 0)."""
    at = 16 if proto == IPPROTO_TCP else 6
    zeroed = segment[:at] + b"\0\0" + segment[at + 2:]
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(segment))
    value = ~checksum(zeroed, checksum(pseudo)) & 0xFFFF
    return 0xFFFF if proto == IPPROTO_UDP and value == 0 else value


@dataclass(frozen=True)
class Flow:
    """One direction of a conversation: addresses as 'a.b.c.d', the destination port."""
    src: str
    dst: str
    proto: int
    port: int

    def matches(self, ip: "Ipv4") -> bool:
        return (ip.src == _packed(self.src) and ip.dst == _packed(self.dst)
                and ip.proto == self.proto and len(ip.payload) >= 4
                and struct.unpack_from("!H", ip.payload, 2)[0] == self.port)


@dataclass
class Ipv4:
    """A frame's IPv4 packet: header fields, and the payload its total length covers."""
    header: bytes
    src: bytes
    dst: bytes
    proto: int
    total: int
    ident: int
    fragmented: bool
    payload: bytes
    carried: int  # bytes the frame carried after the Ethernet header

    @classmethod
    def parse(cls, frame: bytes):
        """The IPv4 packet in an Ethernet frame, or None for anything else."""
        if len(frame) < ETH_HLEN + 20 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
            return None
        ihl = (frame[ETH_HLEN] & 0x0F) * 4
        header = frame[ETH_HLEN:ETH_HLEN + ihl]
        total, ident, frag = struct.unpack_from("!HHH", header, 2)
        return cls(header, header[12:16], header[16:20], header[9], total, ident,
                   bool(frag & 0x3FFF), frame[ETH_HLEN + ihl:ETH_HLEN + total],
                   len(frame) - ETH_HLEN)

    def problems(self, mtu: int) -> list:
        """What is wrong with the packet itself: its header checksum and lengths."""
        found = []
        if checksum(self.header) != 0xFFFF:
            want = ~checksum(self.header[:10] + b"\0\0" + self.header[12:]) & 0xFFFF
            found.append(f"IPv4 header checksum {self.header[10] << 8 | self.header[11]:#06x},"
                         f" should be {want:#06x}")
        if self.total > self.carried:
            found.append(f"IPv4 total length {self.total} but the frame carries "
                         f"{self.carried} bytes")
        elif self.carried > max(self.total, 46):
            found.append(f"IPv4 total length {self.total} but the frame carries "
                         f"{self.carried - self.total} bytes more than the padding to 60")
        if self.total > mtu:
            found.append(f"a {self.total}-byte IPv4 packet, over the link's MTU {mtu}")
        return found

    def l4_problem(self):
        """The TCP or UDP checksum, if wrong: a sentence, else None."""
        field = 16 if self.proto == IPPROTO_TCP else 6
        if len(self.payload) < field + 2:
            return f"a {len(self.payload)}-byte segment, too short for its header"
        have = struct.unpack_from("!H", self.payload, field)[0]
        name = "TCP" if self.proto == IPPROTO_TCP else "UDP"
        if self.proto == IPPROTO_UDP and have == 0:
            return "UDP checksum 0 (none computed)"
        want = l4_checksum(self.src, self.dst, self.proto, self.payload)
        return None if have == want else f"{name} checksum {have:#06x}, should be {want:#06x}"


def _packed(ip: str) -> bytes:
    return bytes(int(part) for part in ip.split("."))


def _flow_packets(frames, flow):
    """(place in the capture, Ipv4) of each frame of flow."""
    for place, frame in enumerate(frames):
        ip = Ipv4.parse(frame)
        if ip is not None and flow.matches(ip):
            yield place, ip


def udp_problems(frames, flow: Flow, size: int, count: int, seed: int, mtu: int):
    """(problems, datagrams that arrived intact) for count datagrams of size payload bytes,
    datagram k being stream seed + k, sent on flow."""
    found, intact, seen = [], 0, set()
    for place, ip in _flow_packets(frames, flow):
        where = f"frame {place} (UDP, {len(ip.payload)} bytes)"
        wrong = ip.problems(mtu)
        if ip.fragmented:
            wrong.append("fragmented")  # sizes here fit the MTU: the guest's stack never is
        elif (problem := ip.l4_problem()) is not None:
            wrong.append(problem)
        data = ip.payload[8:]
        if not wrong:
            length = struct.unpack_from("!H", ip.payload, 4)[0]
            k = (data[0] - seed) & 0xFF if data else 0
            if length != size + 8 or data != pattern(seed + k, size):
                wrong.append(f"UDP length {length} or payload not the {size} bytes sent")
            elif k not in seen:
                seen.add(k)
                intact += 1
        found += [f"{where}: {w}" for w in wrong]
    if intact < count and not found:
        found.append(f"{intact} of {count} datagrams reached the wire")
    return found, intact


def _tcp_fields(segment: bytes):
    seq, = struct.unpack_from("!I", segment, 4)
    offset, flags = (segment[12] >> 4) * 4, segment[13]
    return seq, offset, flags, segment[offset:]


def _mss_option(segment: bytes, offset: int):
    """The MSS option of a SYN, or None."""
    at = 20
    while at < offset:
        kind = segment[at]
        if kind == 0:
            break
        if kind == 1:
            at += 1
            continue
        if kind == TCP_OPT_MSS:
            return struct.unpack_from("!H", segment, at + 2)[0]
        at += max(segment[at + 1], 2)
    return None


def tcp_problems(frames, flow: Flow, total: int, seed: int, mtu: int, peer_mss: int):
    """Problems with the guest's side of one TCP connection on flow, which sent total bytes
    of stream seed: each segment's IPv4 and TCP checksums and lengths (data and options
    within peer_mss, the MSS the peer announced), and the data reassembled from the first
    SYN's sequence number."""
    found, data, isn = [], {}, None
    for place, ip in _flow_packets(frames, flow):
        seq, offset, flags, payload = _tcp_fields(ip.payload)
        where = f"frame {place} (TCP seq {seq}, {len(payload)} bytes)"
        wrong = ip.problems(mtu)
        if (problem := ip.l4_problem()) is not None:
            wrong.append(problem)
        if flags & TCP_SYN:
            isn = seq if isn is None else isn
        elif len(payload) + offset - 20 > peer_mss:
            wrong.append(f"{len(payload)} bytes of data and {offset - 20} of options, over "
                         f"the peer's MSS {peer_mss}")
        if not wrong and payload and isn is not None:
            data[(seq - isn - 1) & 0xFFFFFFFF] = payload
        found += [f"{where}: {w}" for w in wrong]
    if isn is None:
        return found + ["no SYN from the guest reached the wire"]
    stream, end = bytearray(total), 0
    for start in sorted(data):
        if start > end:
            break
        chunk = data[start][:max(0, total - start)]
        stream[start:start + len(chunk)] = chunk
        end = max(end, start + len(chunk))
    if end < total and not found:
        found.append(f"the intact segments cover bytes 0..{end} of {total}")
    elif end >= total and (first := first_difference(stream, pattern(seed, total))) is not None:
        found.append(f"stream byte {first} is {stream[first]:#04x}, should be "
                     f"{pattern(seed, 1, first)[0]:#04x}")
    return found


def first_difference(a: bytes, b: bytes):
    """The first offset where a and b differ (within the shorter), else None."""
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)


def mss_announced(frames, src: str, dst: str, port: int):
    """The MSS option of the SYN-ACK src sent from port to dst, or None."""
    for ip in filter(None, map(Ipv4.parse, frames)):
        if (ip.src, ip.dst, ip.proto) != (_packed(src), _packed(dst), IPPROTO_TCP):
            continue
        if struct.unpack_from("!H", ip.payload, 0)[0] != port:
            continue
        _, offset, flags, _ = _tcp_fields(ip.payload)
        if flags & TCP_SYN:
            return _mss_option(ip.payload, offset)
    return None


def udp_frame(dst_mac: str, src_mac: str, src: str, dst: str, port: int, payload: bytes,
              damaged: bool = False) -> bytes:
    """An Ethernet frame carrying one UDP datagram (source port = port), its checksums
    right; damaged: its payload's last byte flipped after the UDP checksum was computed,
    as if in flight."""
    udp = struct.pack("!HHHH", port, port, 8 + len(payload), 0) + payload
    udp = udp[:6] + struct.pack("!H", l4_checksum(_packed(src), _packed(dst), IPPROTO_UDP,
                                                   udp)) + udp[8:]
    if damaged:
        udp = udp[:-1] + bytes([udp[-1] ^ 0xFF])
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, IPPROTO_UDP,
                         0, _packed(src), _packed(dst))
    header = header[:10] + struct.pack("!H", ~checksum(header) & 0xFFFF) + header[12:]
    macs = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    return macs + struct.pack("!H", ETH_P_IP) + header + udp


def summary(problems) -> str:
    """The first SHOWN problems, one a line, and how many more."""
    more = len(problems) - SHOWN
    return "\n  ".join(problems[:SHOWN] + ([f"... and {more} more"] if more > 0 else []))
