"""kvmnet.devices.rtl8139: the RTL8139C driven as Linux's 8139too drives it, with guest RAM
and a datagram backend, checking the bytes on both sides."""

import struct

import pytest

from kvmnet import testframe
from kvmnet.devices.rtl8139 import Rtl8139
from kvmnet.syscall import lib
from kvmnet.vmm.pci import BAR0
from support.nic_rig import (MAC, PEER, RAM, Rig, ether_crc, fcs, wait_until,
                             deliveries as shared_deliveries)

L = lib
RX_RING, TX_BUFS = 0x100000, 0x40000
TX_BUF_SIZE = 0x800
OUTSIDE = RAM + 0x1000
CFG9346_UNLOCK, CFG9346_LOCK = 0xC0, 0x00
EE_ENB, EE_CS, EE_SK, EE_DI, EE_DO = 0x80, 0x08, 0x04, 0x02, 0x01
RBLEN = {8192: 0, 16384: 1, 32768: 2, 65536: 3}
# 8139too: rtl8139_rx_config = 32K ring, RxNoWrap, FIFO and DMA thresholds
RX_CONFIG = 2 << 11 | L.RTL8139_RCR_WRAP | 7 << 13 | 7 << 8
INTR_MASK = 0xC07F  # PCIErr PCSTimeout RxUnderrun RxOverflow RxFIFOOver TxErr TxOK RxErr RxOK


class Driver:
    """The guest's side, register by register as Linux's 8139too does it."""

    def __init__(self, rig):
        self.rig, self.dev, self.mem = rig, rig.dev, rig.memory
        self.regs = rig.regs  # BAR0 as the driver reaches it (support.nic_rig.Rig)
        self.cur_tx = self.cur_rx = 0
        self.ring = 32768

    def r(self, reg, size=4):
        return int.from_bytes(self.regs.read(reg, size), "little")

    def w(self, reg, value, size=4):
        self.regs.write(reg, value.to_bytes(size, "little"))

    # -- probe -----------------------------------------------------------------------
    def chip_reset(self):
        self.w(L.RTL8139_CR, L.RTL8139_CR_RST, 1)
        assert not self.r(L.RTL8139_CR, 1) & L.RTL8139_CR_RST, "CR.RST did not clear"

    def read_eeprom(self, location, addr_len):
        """8139too's read_eeprom(): 93C46 bit-bang through 9346CR."""
        out = lambda value: self.w(L.RTL8139_9346CR, value, 1)  # noqa: E731
        read_cmd = location | 6 << addr_len
        out(EE_ENB & ~EE_CS)
        out(EE_ENB | EE_CS)
        for i in reversed(range(5 + addr_len)):
            data = EE_DI if read_cmd & 1 << i else 0
            out(EE_ENB | EE_CS | data)
            out(EE_ENB | EE_CS | data | EE_SK)
        out(EE_ENB | EE_CS)
        value = 0
        for _ in range(16):
            out(EE_ENB | EE_CS | EE_SK)
            value = value << 1 | (self.r(L.RTL8139_9346CR, 1) & EE_DO)
            out(EE_ENB | EE_CS)
        out(~EE_CS & 0xFF)  # 8139too leaves it so: EEM = 11, config write enable
        return value

    def eeprom_mac(self):
        addr_len = 8 if self.read_eeprom(0, 8) == 0x8129 else 6
        return struct.pack("<3H", *(self.read_eeprom(7 + i, addr_len) for i in range(3)))

    def hw_start(self, rcr=RX_CONFIG, ring=32768):
        """rtl8139_hw_start(), then rtl8139_set_rx_mode() for a plain interface."""
        self.chip_reset()
        self.w(L.RTL8139_9346CR, CFG9346_UNLOCK, 1)
        mac = bytes.fromhex(MAC.replace(":", ""))
        self.w(L.RTL8139_IDR0, struct.unpack("<I", mac[:4])[0])
        self.w(L.RTL8139_IDR0 + 4, struct.unpack("<H", mac[4:])[0])
        self.cur_rx, self.cur_tx, self.ring = 0, 0, ring
        self.w(L.RTL8139_RBSTART, RX_RING)
        self.w(L.RTL8139_CR, L.RTL8139_CR_RE | L.RTL8139_CR_TE, 1)
        rcr = rcr & ~(3 << 11) | RBLEN[ring] << 11
        self.w(L.RTL8139_RCR, rcr | L.RTL8139_RCR_AB | L.RTL8139_RCR_APM)
        self.w(L.RTL8139_TCR, 6 << 8 | 3 << 24)
        self.w(L.RTL8139_9346CR, CFG9346_LOCK, 1)
        for i in range(4):
            self.w(L.RTL8139_TSAD0 + 4 * i, TX_BUFS + i * TX_BUF_SIZE)
        self.w(L.RTL8139_MPC, 0)
        self.w(L.RTL8139_MAR0, 0)
        self.w(L.RTL8139_MAR0 + 4, 0)
        self.w(L.RTL8139_IMR, INTR_MASK, 2)

    def rcr_set(self, bits):
        self.w(L.RTL8139_RCR, self.r(L.RTL8139_RCR) | bits)

    # -- transmit --------------------------------------------------------------------------
    def transmit(self, frame, size=None):
        entry = self.cur_tx % 4
        self.mem.write(TX_BUFS + entry * TX_BUF_SIZE, frame)
        self.w(L.RTL8139_TSD0 + 4 * entry, 8 << 16 | (len(frame) if size is None else size))
        self.cur_tx += 1
        return entry

    def tsd(self, entry):
        return self.r(L.RTL8139_TSD0 + 4 * entry)

    # -- receive ---------------------------------------------------------------------------
    def buffer_empty(self):
        return self.r(L.RTL8139_CR, 1) & L.RTL8139_CR_BUFE

    def receive(self, timeout=2.0, check_crc=True):
        """One record, as rtl8139_rx() takes it: (status, frame without CRC)."""
        wait_until(lambda: not self.buffer_empty(), "a received frame", timeout)
        offset = self.cur_rx % self.ring
        status, size = struct.unpack("<HH", self.mem.read(RX_RING + offset, 4))
        data = self.mem.read(RX_RING + offset + 4, size)  # RxNoWrap: read straight on
        if not self.r(L.RTL8139_RCR) & L.RTL8139_RCR_WRAP or self.ring == 65536:
            first = min(size, self.ring - offset - 4)
            data = (self.mem.read(RX_RING + offset + 4, first)
                    + self.mem.read(RX_RING, size - first))
        assert status & L.RTL8139_RX_ROK, f"record status {status:#x}"
        assert not check_crc or data[-4:] == fcs(data[:-4]), "the CRC in the record is wrong"
        self.cur_rx = (self.cur_rx + size + 4 + 3) & ~3
        self.w(L.RTL8139_CAPR, (self.cur_rx - 16) & 0xFFFF, 2)
        self.last_status, self.last_offset = status, offset
        return data[:-4]


@pytest.fixture(params=["python", "c"])
def rig(request):
    """The device, its registers reached through Python or through the run loop's C path."""
    r = Rig(Rtl8139, path=request.param)
    yield r
    r.close()


@pytest.fixture
def drv(rig):
    d = Driver(rig)
    d.hw_start()
    return d


def frame_to(dst, seq=0, length=60, src=PEER, seed=0x8139):
    return testframe.build(dst, src, seq, seed, length)


def mar_bit(address):
    return ether_crc(bytes.fromhex(address.replace(":", ""))) >> 26


# -- identity and probe ---------------------------------------------------------------------

def test_pci_identity_and_bars(rig):
    cfg = rig.dev.read_config
    assert cfg(0, 4) == struct.pack("<HH", 0x10EC, 0x8139)
    revision_class = int.from_bytes(cfg(8, 4), "little")
    assert revision_class >> 8 == 0x020000 and revision_class & 0xFF < 0x20  # 8139too's
    assert cfg(0x3D, 1) == b"\x01"
    sizes = []
    for i in range(2):
        rig.dev.write_config(BAR0 + 4 * i, b"\xff" * 4)
        raw = int.from_bytes(cfg(BAR0 + 4 * i, 4), "little")
        sizes.append((~(raw & ~(3 if raw & 1 else 0xF)) + 1 & 0xFFFF_FFFF, raw & 1))
    assert sizes == [(0x100, 1), (0x100, 0)]


def test_tcr_identifies_an_rtl8139c_and_reset_clears_itself(drv):
    assert drv.r(L.RTL8139_TCR) & 0x7CC0_0000 == 0x7400_0000
    drv.w(L.RTL8139_TCR, 0)
    assert drv.r(L.RTL8139_TCR) & 0x7CC0_0000 == 0x7400_0000, "HWVERID is read-only"


def test_eeprom_gives_the_mac_as_8139too_reads_it(rig):
    drv = Driver(rig)
    drv.chip_reset()
    assert drv.read_eeprom(0, 6) == 0x8129
    assert drv.read_eeprom(0, 8) != 0x8129, "a 93C46 has six address bits"
    assert drv.eeprom_mac() == bytes.fromhex(MAC.replace(":", ""))


def test_idr_is_written_only_in_config_write_mode(drv):
    drv.w(L.RTL8139_IDR0, 0x44332211)
    assert drv.dev.read(L.RTL8139_IDR0, 6) == bytes.fromhex(MAC.replace(":", ""))
    drv.w(L.RTL8139_9346CR, CFG9346_UNLOCK, 1)
    drv.w(L.RTL8139_IDR0, 0x44332211)
    drv.w(L.RTL8139_9346CR, CFG9346_LOCK, 1)
    assert drv.dev.read(L.RTL8139_IDR0, 4) == bytes.fromhex("11223344")
    drv.w(L.RTL8139_9346CR, 0x40, 1)  # autoload: IDR from the EEPROM again
    assert drv.dev.read(L.RTL8139_IDR0, 6) == bytes.fromhex(MAC.replace(":", ""))
    assert drv.r(L.RTL8139_9346CR, 1) >> 6 == 0, "autoload ends by itself"


def test_a_system_reset_powers_the_chip_on_again(drv):
    drv.w(L.RTL8139_9346CR, CFG9346_UNLOCK, 1)
    drv.w(L.RTL8139_IDR0, 0x44332211)
    drv.w(L.RTL8139_9346CR, CFG9346_LOCK, 1)
    drv.w(L.RTL8139_MAR0, 0xFFFFFFFF)
    drv.w(L.RTL8139_RCR, RX_CONFIG | L.RTL8139_RCR_AAP)
    drv.dev.eeprom.words[7] ^= 0xFFFF  # whatever a driver wrote there
    drv.dev.system_reset()
    assert drv.dev.read(L.RTL8139_IDR0, 6) == bytes.fromhex(MAC.replace(":", ""))
    assert drv.eeprom_mac() == bytes.fromhex(MAC.replace(":", ""))
    assert drv.r(L.RTL8139_MAR0) == drv.r(L.RTL8139_RCR) == drv.r(L.RTL8139_RBSTART) == 0
    assert drv.r(L.RTL8139_CR, 1) & (L.RTL8139_CR_RE | L.RTL8139_CR_TE) == 0


def test_mii_registers_say_link_up(drv):
    assert drv.r(L.RTL8139_BMSR, 2) & 0x0004
    assert not drv.r(L.RTL8139_MSR, 1) & 0x04, "MSR.LINKB is set when the link is down"
    assert drv.r(L.RTL8139_ANLPAR, 2) & drv.r(L.RTL8139_ANAR, 2) & 0x0100  # 100 full duplex


def test_narrow_accesses_touch_only_their_bytes(drv):
    drv.w(L.RTL8139_TSAD0 + 1, 0xAB, 1)
    assert drv.r(L.RTL8139_TSAD0) == TX_BUFS & ~0xFF00 | 0xAB00
    assert drv.r(L.RTL8139_IMR + 1, 1) == INTR_MASK >> 8
    drv.dev.r.isr = 0x8004
    drv.w(L.RTL8139_ISR, 0x04, 1)  # clears TOK, and nothing in the other byte
    assert drv.r(L.RTL8139_ISR, 2) == 0x8000


# -- transmit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [42, 60, 1514])
def test_transmit_sends_the_frame_padded_to_60(drv, length):
    frame = frame_to(PEER, seq=length, length=length)
    entry = drv.transmit(frame)
    sent = drv.rig.recv()
    assert sent == frame.ljust(60, b"\0") and testframe.check(sent) is None
    tsd = drv.tsd(entry)
    assert tsd & L.RTL8139_TSD_OWN and tsd & L.RTL8139_TSD_TOK
    assert drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_TOK
    assert drv.r(L.RTL8139_TSAD, 2) & (1 << (12 + entry) | 1 << entry) == 1 << (12 + entry) | 1 << entry


def test_the_four_slots_go_round_in_order(drv):
    for seq in range(10):
        drv.transmit(frame_to(PEER, seq=seq))
        assert testframe.parse(drv.rig.recv())[0] == seq
    assert drv.dev.counters["tx_frames"] == 10


def test_transmit_waits_for_te(drv):
    drv.w(L.RTL8139_CR, L.RTL8139_CR_RE, 1)
    drv.transmit(frame_to(PEER, seq=1))
    assert drv.rig.nothing_sent() and not drv.tsd(0) & L.RTL8139_TSD_OWN
    drv.w(L.RTL8139_CR, L.RTL8139_CR_RE | L.RTL8139_CR_TE, 1)
    assert testframe.parse(drv.rig.recv())[0] == 1


def test_a_size_over_1792_aborts(drv):
    entry = drv.transmit(frame_to(PEER), size=1793)
    assert drv.tsd(entry) & L.RTL8139_TSD_TABT and drv.rig.nothing_sent()
    assert drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_TER
    assert drv.dev.counters["tx_errors"] == 1


# -- receive ----------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [60, 1514])
def test_receive_writes_a_record_with_length_and_crc(drv, length):
    frame = frame_to(MAC, seq=length, length=length)
    drv.rig.peer.send(frame)
    assert drv.receive() == frame
    assert drv.last_status & L.RTL8139_RX_PAM
    assert drv.r(L.RTL8139_CBR, 2) == (4 + length + 4 + 3) & ~3
    assert drv.buffer_empty(), "BUFE once CAPR caught up with CBR"
    assert drv.dev.counters["rx_frames"] == 1


def test_short_frames_arrive_padded_to_60(drv):
    frame = frame_to(MAC, length=42)
    drv.rig.peer.send(frame)
    assert drv.receive() == frame.ljust(60, b"\0")
    assert struct.unpack("<H", drv.mem.read(RX_RING + 2, 2))[0] == 64


@pytest.mark.parametrize("ring", [8192, 16384, 32768, 65536])
@pytest.mark.parametrize("wrap", [True, False])
def test_the_ring_wraps_at_its_size(rig, ring, wrap):
    drv = Driver(rig)
    drv.hw_start(rcr=RX_CONFIG if wrap else RX_CONFIG & ~L.RTL8139_RCR_WRAP, ring=ring)
    length = 1514
    count = ring // 1520 + 3  # past the end of the ring
    for seq in range(count):
        drv.rig.peer.send(frame_to(MAC, seq=seq, length=length))
        assert testframe.parse(drv.receive())[0] == seq
    assert drv.cur_rx > ring
    # the record that crossed the end: with WRAP its tail went past the ring, without it
    # went to RBSTART; either way the next record starts at the offset the driver expects
    assert drv.r(L.RTL8139_CBR, 2) == drv.cur_rx % ring


def test_with_wrap_a_record_whose_header_ends_the_ring_has_its_frame_past_the_end(rig):
    """RCR.WRAP (8139too's RxNoWrap): the chip writes a record straight on past the ring's
    end, into the slack, and Linux reads it so; a header in the ring's last four bytes is
    followed by its frame at the ring's size, not at RBSTART (a Linux guest lost one frame
    of 2,000 and read another as garbage when it went there)."""
    drv = Driver(rig)
    ring = 8192
    drv.hw_start(ring=ring)
    # 1388 + 100 x 68 = 8188: the next record's header is the ring's last four bytes
    lengths = [1380] + [60] * 100
    for seq, length in enumerate(lengths):
        drv.rig.peer.send(frame_to(MAC, seq=seq, length=length))
        assert testframe.parse(drv.receive())[0] == seq
    assert drv.cur_rx % ring == ring - 4
    frame = frame_to(MAC, seq=len(lengths), length=100)
    drv.rig.peer.send(frame)
    assert drv.receive() == frame, "the frame after a header at the ring's end is not past it"
    assert drv.r(L.RTL8139_CBR, 2) == drv.cur_rx % ring


def test_a_full_ring_holds_the_frame_until_capr_moves(rig):
    drv = Driver(rig)
    drv.hw_start(ring=8192)
    count = 8
    for seq in range(count):  # 8 x 1524 bytes do not fit in 8 KiB
        drv.rig.peer.send(frame_to(MAC, seq=seq, length=1514))
    wait_until(lambda: drv.dev.counters["rx_no_buffer"] == 1, "the ring to fill")
    assert drv.dev.counters["rx_frames"] == 5
    assert drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_RXOVW
    # Acknowledged while the frame still waits, RXOVW stays: frames that do not fit keep
    # arriving on a wire. (8139too reads its ring only while an RX bit is set; a Linux
    # guest stopped for good at a full ring when the ack cleared the last one.)
    drv.w(L.RTL8139_ISR, 0xFFFF, 2)
    assert drv.r(L.RTL8139_ISR, 2) == L.RTL8139_ISR_RXOVW
    seqs = [testframe.parse(drv.receive())[0] for _ in range(count)]
    assert seqs == list(range(count)), "frames lost or reordered across the full ring"
    assert drv.dev.counters["rx_dropped"] == 0
    drv.w(L.RTL8139_ISR, 0xFFFF, 2)
    assert drv.r(L.RTL8139_ISR, 2) == 0, "RXOVW kept after the waiting frame went in"


def test_rx_disabled_drops(drv):
    drv.w(L.RTL8139_CR, L.RTL8139_CR_TE, 1)
    drv.rig.peer.send(frame_to(MAC))
    wait_until(lambda: drv.dev.counters["rx_dropped"] == 1, "the frame to be dropped")


# -- filters ----------------------------------------------------------------------------------

def deliveries(drv, frames):
    """Which of frames reach the guest (see support.nic_rig.deliveries)."""
    return shared_deliveries(drv, frames, frame_to)


def test_unicast_to_another_mac_is_filtered_unless_aap(drv):
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=1)]) == []
    assert drv.dev.counters["rx_filtered"] == 1
    drv.rcr_set(L.RTL8139_RCR_AAP)
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=2)]) == [2]


def test_broadcast_needs_ab(drv):
    assert deliveries(drv, [frame_to("ff:ff:ff:ff:ff:ff", seq=1)]) == [1]
    drv.w(L.RTL8139_RCR, drv.r(L.RTL8139_RCR) & ~L.RTL8139_RCR_AB)
    assert deliveries(drv, [frame_to("ff:ff:ff:ff:ff:ff", seq=2)]) == []


def test_multicast_hash_is_the_crc_top_six_bits(drv):
    group, other = "01:00:5e:00:00:fb", "01:00:5e:00:00:01"
    assert mar_bit(group) != mar_bit(other)
    drv.rcr_set(L.RTL8139_RCR_AM)
    assert deliveries(drv, [frame_to(group, seq=1)]) == []
    bit = mar_bit(group)
    drv.w(L.RTL8139_MAR0 + bit // 8, 1 << bit % 8, 1)
    assert deliveries(drv, [frame_to(group, seq=2), frame_to(other, seq=3)]) == [2]
    drv.w(L.RTL8139_RCR, drv.r(L.RTL8139_RCR) & ~L.RTL8139_RCR_AM)
    assert deliveries(drv, [frame_to(group, seq=4)]) == [], "AM off: no multicast"


def test_allmulti_is_every_mar_bit(drv):
    drv.rcr_set(L.RTL8139_RCR_AM)
    drv.w(L.RTL8139_MAR0, 0xFFFF_FFFF)
    drv.w(L.RTL8139_MAR0 + 4, 0xFFFF_FFFF)
    assert deliveries(drv, [frame_to("01:00:5e:00:00:01", seq=1),
                            frame_to("33:33:00:00:00:01", seq=2)]) == [1, 2]


# -- interrupts --------------------------------------------------------------------------------

def test_interrupt_level_follows_isr_and_imr(drv):
    irq = drv.rig.irq
    drv.transmit(frame_to(PEER))
    drv.rig.recv()
    assert irq.level
    drv.w(L.RTL8139_IMR, 0, 2)
    assert not irq.level, "masked"
    drv.w(L.RTL8139_IMR, INTR_MASK, 2)
    assert irq.level
    drv.w(L.RTL8139_ISR, L.RTL8139_ISR_TOK, 2)  # write 1 to clear
    assert not irq.level and not drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_TOK
    drv.rig.peer.send(frame_to(MAC))
    wait_until(lambda: irq.level, "INTA after a receive")
    assert drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_ROK
    assert drv.dev.counters["irqs_raised"] == 3


# -- bad guest addresses -----------------------------------------------------------------------

def test_tx_buffer_outside_ram_aborts_the_slot(drv):
    drv.w(L.RTL8139_TSAD0, OUTSIDE)
    drv.transmit(frame_to(PEER))
    assert drv.tsd(0) & L.RTL8139_TSD_TABT and drv.rig.nothing_sent()
    assert drv.dev.counters["dma_errors"] == 1
    drv.transmit(frame_to(PEER, seq=1))
    assert testframe.parse(drv.rig.recv())[0] == 1


def test_rx_ring_outside_ram_sets_rer(drv):
    drv.w(L.RTL8139_RBSTART, RAM - 64)  # a 1514-byte record runs off the end
    drv.rig.peer.send(frame_to(MAC, length=1514))
    wait_until(lambda: drv.dev.counters["dma_errors"] == 1, "the DMA error")
    assert drv.r(L.RTL8139_ISR, 2) & L.RTL8139_ISR_RER
    assert drv.dev.counters["rx_dropped"] == 1 and drv.buffer_empty()


# -- fault switches ----------------------------------------------------------------------------

def test_filter_bug_lets_other_unicast_in(drv):
    drv.dev.faults.add("filter_bug")
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=1)]) == [1]


def test_lose_descriptor_completes_one_slot_in_100_unsent(drv):
    drv.dev.faults.add("lose_descriptor")
    for seq in range(100):
        entry = drv.transmit(frame_to(PEER, seq=seq))
        assert drv.tsd(entry) & L.RTL8139_TSD_TOK
    received = 0
    while not drv.rig.nothing_sent():
        received += 1
    assert received == 99 and drv.dev.counters["tx_lost"] == 1


def test_corrupt_rx_flips_a_payload_byte(drv):
    drv.dev.faults.add("corrupt_rx")
    frame = frame_to(MAC, length=200)
    drv.rig.peer.send(frame)
    received = drv.receive(check_crc=False)  # the CRC is the frame's before the flip
    assert received[:14] == frame[:14] and received != frame
    assert "payload differs" in testframe.check(received)
