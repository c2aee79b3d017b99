"""Writes the hand-made seeds of tests/fuzz/corpus/<model>/: inputs in the harnesses' format
(tests/fuzz/fuzz.h and each fuzz_<model>.c's enum op) that drive a driver's usual paths, so
that fuzzing starts deep: a legacy and a TSO transmit, a received frame spanning buffers, a
full backend, the RX ring wrapping, mergeable buffers; and regression seeds (regress-*),
one per bug the fuzzers found, each failing on the code before its fix. Those libFuzzer
wrote are kept as it wrote them (this script leaves them alone); the others are here.

    .venv/bin/python tests/fuzz/seeds.py        # rewrites the hand-made seeds
"""

import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
RAM = 4 << 20  # fuzz.h's FUZZ_RAM_SIZE
MAC = bytes([2, 0, 0, 0, 0, 1])


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFF_FFFF)


def u64(v):
    return struct.pack("<Q", v)


def addr(a):
    """fuzz_addr: a raw 32-bit address, or (RAM's end + offset) as mode 1 when negative."""
    if a < 0:
        return u8(1) + struct.pack("<h", a)
    return u8(0) + u32(a)


def value(v):
    """fuzz_value: a raw 32-bit value."""
    return u8(0) + u32(v)


def frame(length, dst=0, data=b""):
    """fuzz_backend_frame: length, destination (0 the model's MAC, 1 broadcast, 2 multicast,
    3 from data), then data (at most 32 bytes)."""
    assert len(data) <= 32
    size = (u8(0) + u8(length)) if length < 256 else (u8(1) + u16(length))
    return size + u8(dst) + u8(len(data)) + data


def ipv4_tcp_header(payload):
    """Ethernet + IPv4 + TCP headers (54 bytes) of a frame with `payload` bytes after them."""
    eth = bytes([2, 0, 0, 0, 0, 2]) + MAC + b"\x08\x00"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + payload, 1, 0x4000, 64, 6, 0,
                     bytes([169, 254, 0, 1]), bytes([169, 254, 0, 2]))
    tcp = struct.pack(">HHIIBBHHH", 1000, 2000, 1, 0, 0x50, 0x18, 65535, 0, 0)
    return eth + ip + tcp


class Seed:
    """An input being written: a configuration byte, then operations (an opcode byte and
    its operands). Each harness's class names its opcodes; POKE writes guest RAM."""
    POKE = None

    def __init__(self, config=0):
        self.b = u8(config)

    def op(self, code, tail=b""):
        self.b += u8(code) + tail
        return self

    def poke(self, gpa, data):
        for i in range(0, len(data), 255):
            chunk = data[i:i + 255]
            self.b += u8(self.POKE) + addr(gpa + i) + u8(len(chunk)) + chunk
        return self


class E1000(Seed):
    """fuzz_e1000.c's operations."""
    (WRITE, READ, IOADDR, IODATA, POKE, TX_DESC, RX_DESC, FRAME, RUN, DRAIN) = range(10)
    REGS = ["CTRL", "STATUS", "ICR", "ICS", "IMS", "IMC", "RCTL", "TCTL", "RDBAL", "RDBAH",
            "RDLEN", "RDH", "RDT", "TDBAL", "TDBAH", "TDLEN", "TDH", "TDT", "VET", "RAL0",
            "RAH0", "MTA", "VFTA", "GPRC", "MDIC"]
    TX_RING, RX_RING, TX_BUF, RX_BUF = 0x10000, 0x20000, 0x100000, 0x200000

    def w(self, reg, v, width=2):
        self.b += u8(self.WRITE) + u8(self.REGS.index(reg)) + u8(width) + value(v)
        return self

    def r(self, reg):
        self.b += u8(self.READ) + u8(self.REGS.index(reg)) + u8(2) + value(0)
        return self

    def tx_desc(self, index, buf, rest):
        self.b += u8(self.TX_DESC) + u16(index) + u8(2) + u64(buf) + rest
        return self

    def rx_desc(self, index, buf):
        self.b += u8(self.RX_DESC) + u16(index) + u8(2) + u64(buf)
        return self

    def tx_ring(self, n=64):
        return (self.w("TDBAL", self.TX_RING).w("TDBAH", 0).w("TDLEN", 16 * n)
                .w("TDH", 0).w("TCTL", 0x2 | 0x8))  # EN, PSP

    def rx_ring(self, n=32, rctl=0x2 | 0x8000, buf=2048):
        self.w("RDBAL", self.RX_RING).w("RDBAH", 0).w("RDLEN", 16 * n).w("RDH", 0)
        for i in range(n):
            self.rx_desc(i, self.RX_BUF + i * buf)
        return self.w("IMS", 0x80 | 0x10 | 0x1).w("RCTL", rctl).w("RDT", n - 1)


def e1000_seeds():
    e = E1000
    legacy = (E1000().tx_ring()
              .poke(e.TX_BUF, ipv4_tcp_header(6) + b"hello!")
              .tx_desc(0, e.TX_BUF, u16(60) + u8(0) + u8(0x0B) + u8(0) + u8(0) + u16(0))
              .tx_desc(1, e.TX_BUF, u16(14) + u8(24) + u8(0x0C) + u8(0) + u8(14) + u16(0))
              .tx_desc(2, e.TX_BUF + 14, u16(46) + u8(0) + u8(0x0B) + u8(0) + u8(0) + u16(0))
              .w("TDT", 3).op(e.DRAIN).r("ICR").r("GPRC"))
    # TSO: a context descriptor (IPv4, TCP, MSS 500, header 54), then two data descriptors
    # (IXSM, TXSM; VLE on the last, with CTRL.VME).
    payload = 1500
    offsets = int.from_bytes(bytes([14, 24, 33, 0, 34, 50, 0, 0]), "little")
    tso = (E1000(1).tx_ring()
           .w("CTRL", 0x40 | 0x40000000)  # SLU, VME
           .poke(e.TX_BUF, ipv4_tcp_header(payload))
           .poke(e.TX_BUF + 54, bytes(range(256)) * 6)
           .tx_desc(0, offsets, u32(payload | 0x27 << 24) + u8(0) + u8(54) + u16(500))
           .tx_desc(1, e.TX_BUF, u32(54 | 1 << 20 | 0x26 << 24) + u8(0) + u8(3) + u16(5))
           .tx_desc(2, e.TX_BUF + 54, u32(payload | 1 << 20 | 0x6F << 24) + u8(0) + u8(3)
                    + u16(5))
           .w("TDT", 3).op(e.DRAIN).op(e.RUN).r("ICR"))
    rx = (E1000().rx_ring()
          .op(e.FRAME, frame(100, 0, b"\x02\x00\x00\x00\x00\x02\x08\x00"))
          .op(e.FRAME, frame(1514, 1))
          .op(e.FRAME, frame(40, 2))
          .op(e.FRAME, frame(64, 3, b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
                                    b"\x81\x00\x00\x05\x08\x00"))
          .op(e.RUN).r("ICR").w("RDT", 3).r("RDH").r("GPRC"))
    # Buffers of 256 bytes (BSIZE 11): a frame spans descriptors; LPE and SECRC; VLAN filter.
    rx_small = (E1000(2).w("CTRL", 0x40 | 0x40000000).w("VFTA", 1 << 5)
                .rx_ring(16, 0x2 | 0x8 | 0x20 | 0x8000 | 3 << 16 | 0x40000 | 0x4000000, 256)
                .op(e.FRAME, frame(1000, 0, b"\x02\x00\x00\x00\x00\x02\x81\x00\x00\x05"))
                .op(e.FRAME, frame(3000, 1)).op(e.RUN).r("ICR")
                .op(e.FRAME, frame(300, 0)).op(e.RUN).w("RDT", 15).op(e.RUN).r("ICR"))
    # The backend full: frames queue unsent until the network reads them.
    full = E1000().tx_ring(64)
    for i in range(24):
        full.tx_desc(i, e.TX_BUF, u16(1514) + u8(0) + u8(0x09) + u8(0) + u8(0) + u16(0))
    full.w("TDT", 24).r("TDH").op(e.RUN).op(e.DRAIN).op(e.RUN).r("TDH").op(e.DRAIN)
    # The same registers through BAR1's IOADDR/IODATA; a narrow RDT write.
    io = (E1000().rx_ring(8)
          .op(e.IOADDR, value(0x3818)).op(e.IODATA, u8(1) + u8(2) + value(0))
          .op(e.IOADDR, value(0x00C0)).op(e.IODATA, u8(0) + u8(2) + value(0))
          .op(e.WRITE, u8(e.REGS.index("RDT")) + u8(0) + value(2))
          .op(e.FRAME, frame(60, 0)).op(e.RUN))
    # Rings and buffers at the very end of RAM.
    edge = (E1000().w("TDBAL", RAM - 256).w("TDLEN", 128 * 2).w("TCTL", 0x2)
            .tx_desc(0, RAM - 60, u16(60) + u8(0) + u8(0x09) + u8(0) + u8(0) + u16(0))
            .w("TDT", 1).w("RDBAL", RAM - 128).w("RDLEN", 128).rx_desc(0, RAM - 2048)
            .w("RCTL", 0x2 | 0x8).w("RDT", 5).op(e.FRAME, frame(100, 0)).op(e.RUN))
    return {"tx-legacy": legacy, "tx-tso-vlan": tso, "rx": rx, "rx-spanning": rx_small,
            "tx-backend-full": full, "io-window": io, "ram-edge": edge}


class Rtl8139(Seed):
    """fuzz_rtl8139.c's operations."""
    (WRITE, READ, TX_SLOT, POKE, FRAME, RUN, DRAIN) = range(7)
    REGS = ["IDR0", "MAR0", "TSD0", "TSD1", "TSD2", "TSD3", "TSAD0", "TSAD1", "TSAD2", "TSAD3",
            "RBSTART", "CR", "CAPR", "CBR", "IMR", "ISR", "TCR", "RCR", "9346CR", "TSAD"]
    WIDTH = {"IDR0": 0, "MAR0": 0, "CR": 0, "9346CR": 0, "CAPR": 1, "CBR": 1, "IMR": 1,
             "ISR": 1, "TSAD": 1}
    RING, TX_BUF = 0x200000, 0x100000

    def w(self, reg, v):
        self.b += (u8(self.WRITE) + u8(self.REGS.index(reg)) + u8(self.WIDTH.get(reg, 2))
                   + value(v))
        return self

    def r(self, reg):
        self.b += (u8(self.READ) + u8(self.REGS.index(reg)) + u8(self.WIDTH.get(reg, 2))
                   + value(0))
        return self

    def w_at(self, offset, width, v):
        """A write at any offset (past the register table: one more byte of offset)."""
        self.b += u8(self.WRITE) + u8(0xFF) + u8(offset) + u8(width) + value(v)
        return self

    def send(self, slot, buf, size):
        self.b += u8(self.TX_SLOT) + u8(slot) + addr(buf) + value(size)
        return self

    def up(self, rcr):
        return (self.w("RBSTART", self.RING).w("RCR", rcr).w("IMR", 0xE07F)
                .w("CR", 0x0C).w("CAPR", 0xFFF0))


def rtl8139_seeds():
    r = Rtl8139
    aab = 0x1 | 0x2 | 0x4 | 0x8  # AAP, APM, AM, AB
    tx = (Rtl8139().up(aab).poke(r.TX_BUF, ipv4_tcp_header(6) + b"hello!")
          .send(0, r.TX_BUF, 60).send(1, r.TX_BUF, 30).send(2, r.TX_BUF, 1800)
          .send(3, RAM - 40, 60).op(r.DRAIN).r("TSAD").r("ISR").w("ISR", 0xFFFF)
          .send(0, r.TX_BUF, 1514).r("TSD0"))
    # Frames until the 8 KiB ring is full (RXOVW), then CAPR moves and more fit.
    rx = Rtl8139().up(aab | 0x80)
    for i in range(6):
        rx.op(r.FRAME, frame(1514, i % 3))
    rx.op(r.RUN).r("CBR").r("CR").w("CAPR", 0x0600 - 16).op(r.RUN).w("CAPR", 0x1800 - 16)
    rx.op(r.FRAME, frame(60, 1)).op(r.RUN).r("ISR")
    # WRAP clear: a record wraps around to RBSTART; a 64 KiB ring; the ring at RAM's end.
    wrap = Rtl8139(1).up(aab)
    for _ in range(5):
        wrap.op(r.FRAME, frame(1514, 1))
    wrap.op(r.RUN).w("CAPR", 0x1E00 - 16)
    for _ in range(3):
        wrap.op(r.FRAME, frame(1000, 0))
    wrap.op(r.RUN).w("RBSTART", RAM - 0x2000).w("CR", 0x10).w("CR", 0x0C).w("CAPR", 0xFFF0)
    wrap.w("RCR", aab | 3 << 11).op(r.FRAME, frame(1514, 1)).op(r.RUN)
    # The multicast hash (MAR), the MAC in config-write mode, a soft reset.
    mcast = (Rtl8139().w("9346CR", 0xC0).w("IDR0", 0x02).w("9346CR", 0x00)
             .w_at(0x08, 2, 0xFFFF_FFFF).w_at(0x0C, 2, 0xFFFF_FFFF).up(0x4)
             .op(r.FRAME, frame(64, 2)).op(r.RUN)
             .w("CR", 0x10).r("CR").w("9346CR", 0x40))
    return {"tx": tx, "rx-ring-full": rx, "rx-wrap-edge": wrap, "multicast-reset": mcast}


class Virtio(Seed):
    """fuzz_virtio_net.c's operations."""
    (ACTIVATE, RESET, DESC, POST, AVAIL_IDX, AVAIL_FLAGS, POKE, KICK_TX, KICK_RX, RUN_RX,
     RUN_TX, FRAME, DRAIN, FILTER, CTRL_LAYOUT, KICK_CTRL) = range(16)
    RX, TX, CTRL = 0, 1, 2
    RINGS = {RX: (0x10000, 0x11000, 0x12000), TX: (0x20000, 0x21000, 0x22000),
             CTRL: (0x30000, 0x31000, 0x32000)}
    RX_BUF, TX_BUF = 0x200000, 0x100000
    F_MRG, F_EVENT_IDX, F_V1 = 1, 2, 4
    NEXT, WRITE = 1, 2

    def activate(self, features, size=256, legacy=False):
        log2 = size.bit_length() - 1
        self.b += u8(self.ACTIVATE) + u8(features)
        for q in (self.RX, self.TX):
            if legacy:
                self.b += u8(1 | log2 << 2) + u32(self.RINGS[q][0] // 4096)
            else:
                self.b += u8(2 | log2 << 2) + b"".join(addr(a) for a in self.RINGS[q])
        return self

    def desc(self, q, index, gpa, length, flags=0, nxt=0):
        self.b += (u8(self.DESC) + u8(q) + u16(index) + addr(gpa) + value(length) + u16(flags)
                   + u16(nxt))
        return self

    def post(self, q, head):
        self.b += u8(self.POST) + u8(q) + u16(head)
        return self

    def rx_buffers(self, count, size, flags=0):
        for i in range(count):
            self.desc(self.RX, i, self.RX_BUF + i * 2048, size, self.WRITE | flags)
            self.post(self.RX, i)
        return self.op(self.KICK_RX)


def virtio_seeds():
    v = Virtio
    hdr = bytes(12)
    tx = (Virtio(2).activate(v.F_V1 | v.F_EVENT_IDX)
          .poke(v.TX_BUF, hdr + ipv4_tcp_header(6) + b"hello!")
          .desc(v.TX, 0, v.TX_BUF, 12 + 60)
          .desc(v.TX, 1, v.TX_BUF, 12, v.NEXT, 2).desc(v.TX, 2, v.TX_BUF + 12, 60)
          .post(v.TX, 0).post(v.TX, 1).op(v.KICK_TX).op(v.DRAIN)
          .desc(v.TX, 3, v.TX_BUF, 12 + 9000).post(v.TX, 3).op(v.KICK_TX).op(v.RUN_TX))
    rx = (Virtio(0x40).activate(v.F_V1 | v.F_EVENT_IDX).rx_buffers(8, 1526)
          .op(v.FRAME, frame(100, 0)).op(v.FRAME, frame(1514, 1)).op(v.FRAME, frame(60, 2))
          .op(v.RUN_RX).op(v.FRAME, frame(2000, 0)).op(v.RUN_RX))
    # Mergeable buffers of 256 bytes: one frame over several chains; the ring runs dry.
    mrg = Virtio(1).activate(v.F_MRG | v.F_EVENT_IDX, 64).rx_buffers(16, 256)
    for k in range(4):
        mrg.op(v.FRAME, frame(1514, k % 3))
    mrg.op(v.RUN_RX).rx_buffers(8, 256).op(v.RUN_RX)
    # Legacy layout (one page frame per ring), 10-byte header, chains of two buffers.
    legacy = Virtio().activate(0, 128, legacy=True)
    for i in range(4):
        legacy.desc(v.RX, 2 * i, v.RX_BUF + i * 4096, 10, v.WRITE | v.NEXT, 2 * i + 1)
        legacy.desc(v.RX, 2 * i + 1, v.RX_BUF + i * 4096 + 10, 1514, v.WRITE)
        legacy.post(v.RX, 2 * i)
    legacy.op(v.KICK_RX).op(v.FRAME, frame(300, 0)).op(v.RUN_RX)
    legacy.poke(v.TX_BUF, bytes(10) + ipv4_tcp_header(0)).desc(v.TX, 0, v.TX_BUF, 64)
    legacy.post(v.TX, 0).op(v.KICK_TX).op(v.RESET).op(v.KICK_TX)
    # The filter: promiscuous off, a MAC table, all-multicast.
    flt = (Virtio(0).activate(v.F_V1).rx_buffers(8, 1526)
           .op(v.FILTER, u8(0) + u8(0)).op(v.FILTER, u8(3) + u8(1) + bytes([2, 0, 0, 0, 0, 9])
                                           + u8(1) + bytes([1, 0, 0x5e, 0, 0, 1]))
           .op(v.FRAME, frame(64, 2)).op(v.FRAME, frame(64, 3, bytes([2, 0, 0, 0, 0, 9])))
           .op(v.FILTER, u8(1) + u8(1)).op(v.FRAME, frame(64, 3, bytes([1, 2, 3, 4, 5, 6])))
           .op(v.RUN_RX))
    # The control queue: a command and its ack in one chain, a command with no room for
    # the ack, one longer than the harness's buffer, and a writable descriptor before a
    # readable one (malformed: the queue stops).
    ctrl_at = 0x300000
    ctl = (Virtio(0).activate(v.F_V1 | v.F_EVENT_IDX)
           .op(v.CTRL_LAYOUT, u8(2 | 4 << 2) + b"".join(addr(a) for a in v.RINGS[v.CTRL]))
           .poke(ctrl_at, bytes([0, 0, 1]))
           .desc(v.CTRL, 0, ctrl_at, 3, v.NEXT, 1).desc(v.CTRL, 1, ctrl_at + 64, 1, v.WRITE)
           .post(v.CTRL, 0).op(v.KICK_CTRL, u8(0))
           .desc(v.CTRL, 2, ctrl_at, 3).post(v.CTRL, 2).op(v.KICK_CTRL, u8(1))
           .desc(v.CTRL, 3, ctrl_at, 4096, v.NEXT, 4).desc(v.CTRL, 4, ctrl_at, 1, v.WRITE)
           .post(v.CTRL, 3).op(v.KICK_CTRL, u8(1))
           .desc(v.CTRL, 5, ctrl_at, 1, v.WRITE | v.NEXT, 6).desc(v.CTRL, 6, ctrl_at, 3)
           .post(v.CTRL, 5).op(v.KICK_CTRL, u8(0)))
    # Rings at RAM's end, and an available index that jumps past the ring.
    edge = (Virtio().activate(v.F_V1 | v.F_EVENT_IDX, 16)
            .rx_buffers(4, 1526)
            .op(v.AVAIL_IDX, u8(v.RX) + u16(0x8000)).op(v.FRAME, frame(64, 0)).op(v.RUN_RX)
            .op(v.AVAIL_FLAGS, u8(v.TX) + u16(1) + u16(0)).op(v.ACTIVATE, u8(v.F_V1)
                                                              + u8(2 | 4 << 2) + addr(-256)
                                                              + addr(-40) + addr(-136)
                                                              + u8(2 | 4 << 2) + addr(-256)
                                                              + addr(-40) + addr(-136))
            .op(v.KICK_TX).op(v.RUN_RX))
    # Regressions (native/virtio_net.c). The RX loop spun, polling a backend it
    # would not read, while the RX ring was unusable (here outside RAM) and a frame waited:
    # a timeout before the fix.
    outside = u8(2 | 4 << 2) + addr(0x7000_0000) * 3
    spin = (Virtio().op(v.ACTIVATE, u8(v.F_V1) + outside * 2).op(v.FRAME, frame(64, 0))
            .op(v.RUN_RX))
    # ask_kick_at stored avail_event as 32 bits, 2 bytes past the used ring: past RAM's end
    # for a TX used ring ending 2 bytes before it (misaligned, which UBSan reports first;
    # ring_ok now refuses such a ring, and the store is 16 bits).
    rings = b"".join(addr(a) for a in v.RINGS[v.RX])
    past = (Virtio().op(v.ACTIVATE, u8(v.F_V1 | v.F_EVENT_IDX) + u8(2 | 4 << 2) + rings
                        + u8(2 | 4 << 2) + addr(0x20000) + addr(0x21000) + addr(-134))
            .op(v.KICK_TX))
    # A misaligned available ring (virtio 1.2, 2.7: 2-byte aligned) was walked: UBSan
    # reported its idx read (ring_ok now refuses the ring; the queue stays idle).
    odd = u8(2 | 4 << 2) + addr(0x20000) + addr(0x21001) + addr(0x22000)
    misaligned = (Virtio().op(v.ACTIVATE, u8(v.F_V1) + odd * 2).post(v.TX, 0).op(v.KICK_TX)
                  .op(v.FRAME, frame(64, 0)).op(v.RUN_RX))
    # avail->idx jumping 65535 entries ahead, kick after kick: each kick took 65535 chains
    # (here of 16 descriptors: the same 16 slots over and over), and this ran far past the
    # test's -timeout before the fix (now the first jump breaks the queue).
    jump = Virtio().activate(v.F_V1, 16)
    for i in range(16):
        jump.desc(v.TX, i, v.TX_BUF, 0, v.NEXT if i < 15 else 0, i + 1)
    jump.post(v.TX, 0).op(v.KICK_TX)
    for k in range(200):
        jump.op(v.AVAIL_IDX, u8(v.TX) + u16(1 + 0xFFFF * (k + 1))).op(v.KICK_TX)
    return {"tx": tx, "rx": rx, "rx-mergeable": mrg, "legacy": legacy, "filter": flt,
            "control": ctl, "ram-edge": edge, "regress-rx-spin-unusable-ring": spin,
            "regress-avail-event-past-used-ring": past,
            "regress-misaligned-avail-ring": misaligned, "regress-avail-idx-jump": jump}


def main():
    for model, seeds in (("e1000", e1000_seeds()), ("rtl8139", rtl8139_seeds()),
                         ("virtio_net", virtio_seeds())):
        out = CORPUS / model
        out.mkdir(parents=True, exist_ok=True)
        for name, seed in seeds.items():
            (out / name).write_bytes(seed.b)


if __name__ == "__main__":
    main()
