"""kvmnet.devices.e1000: the 82540EM driven as Linux's e1000 drives it, with guest RAM and a
datagram backend, checking the bytes on both sides."""

import struct
import time

import pytest

from kvmnet import testframe
from kvmnet.devices.e1000 import E1000
from kvmnet.syscall import lib
from kvmnet.vmm.pci import BAR0
from support.e1000_driver import (RCTL_DEFAULT, TX_BUF_SIZE, TX_BUFS, TX_RING, Driver,
                                  frame_to, give_back, holding_a_batch, take_without_returning)
from support.nic_rig import (MAC, PEER, RAM, Rig, ones_complement_sum, wait_until,
                             deliveries as shared_deliveries)

L = lib
OUTSIDE = RAM + 0x1000  # a guest-physical address with no RAM behind it


@pytest.fixture(params=["python", "c"])
def rig(request):
    """The device, its registers reached through Python or through the run loop's C path."""
    r = Rig(E1000, path=request.param)
    yield r
    r.close()


@pytest.fixture
def drv(rig):
    d = Driver(rig)
    d.linux_up()
    return d


def mta_hash(address, mo=0):
    """SDM 13.4.x / e1000_hash_mc_addr: 12 bits of the address, by RCTL.MO."""
    a = bytes.fromhex(address.replace(":", ""))
    value = a[4] | a[5] << 8
    return (value >> (4 - mo) if mo < 3 else value) & 0xFFF


# -- identity and probe ---------------------------------------------------------------------

def test_pci_identity_and_bars(rig):
    cfg = rig.dev.read_config
    assert cfg(0, 4) == struct.pack("<HH", 0x8086, 0x100E)
    assert int.from_bytes(cfg(8, 4), "little") >> 8 == 0x020000
    assert cfg(0x3D, 1) == b"\x01"  # INTA#
    sizes = []
    for i in range(2):
        rig.dev.write_config(BAR0 + 4 * i, b"\xff" * 4)
        raw = int.from_bytes(cfg(BAR0 + 4 * i, 4), "little")
        sizes.append((~(raw & ~(3 if raw & 1 else 0xF)) + 1 & 0xFFFF_FFFF, raw & 1))
    assert sizes == [(0x20000, 0), (0x40, 1)]


def test_reset_leaves_link_up_full_duplex_1000_and_the_mac_in_ra0(drv):
    status = drv.r(L.E1000_STATUS)
    assert status & L.E1000_STATUS_LU and status & L.E1000_STATUS_FD
    assert status & L.E1000_STATUS_SPEED_1000
    ral, rah = drv.r(L.E1000_RA), drv.r(L.E1000_RA + 4)
    assert struct.pack("<IH", ral, rah & 0xFFFF) == bytes.fromhex(MAC.replace(":", ""))
    assert rah & L.E1000_RAH_AV


def test_eeprom_gives_the_mac_by_bit_bang_and_eerd_with_checksum_0xbaba(drv):
    words = [drv.eeprom_read_microwire(i) for i in range(3)]
    assert struct.pack("<3H", *words) == bytes.fromhex(MAC.replace(":", ""))
    assert [drv.eerd(i) for i in range(3)] == words
    assert sum(drv.eerd(i) for i in range(64)) & 0xFFFF == 0xBABA
    assert drv.eerd(0x0D) == 0x100E and drv.eerd(0x0E) == 0x8086


def test_a_system_reset_resets_the_device_and_loads_its_eeprom_again(drv):
    drv.w(L.E1000_RA, 0x00766B02)  # 02:6b:76:00:99:00, as a driver sets another MAC
    drv.w(L.E1000_RA + 4, 0x0099 | L.E1000_RAH_AV)
    drv.w(L.E1000_RCTL, drv.r(L.E1000_RCTL) | L.E1000_RCTL_UPE)
    drv.dev.eeprom.words[0] ^= 0xFFFF  # whatever a driver wrote there
    drv.dev.write_config(0x04, b"\x07\x00")  # COMMAND: I/O, memory, bus master
    drv.dev.system_reset()
    assert drv.dev.read_config(0x04, 2) == b"\x00\x00"
    assert drv.r(L.E1000_RCTL) == 0 and drv.r(L.E1000_RDH) == drv.r(L.E1000_TDH) == 0
    ral, rah = drv.r(L.E1000_RA), drv.r(L.E1000_RA + 4)
    assert struct.pack("<IH", ral, rah & 0xFFFF) == bytes.fromhex(MAC.replace(":", ""))
    assert struct.pack("<3H", *[drv.eerd(i) for i in range(3)]) == bytes.fromhex(
        MAC.replace(":", ""))


def test_mdic_reads_the_phy_id_and_link_up(drv):
    assert drv.phy(2) & 0xFFFF == 0x0141 and drv.phy(3) & 0xFFFF == 0x0C20
    bmsr = drv.phy(1)
    assert bmsr & L.E1000_MDIC_READY and not bmsr & L.E1000_MDIC_ERROR
    assert bmsr & 0x0004 and bmsr & 0x0020, "BMSR: link up and autonegotiation complete"
    assert drv.phy(1, phy=2) & L.E1000_MDIC_ERROR, "only PHY address 1 answers"


def test_io_bar_reaches_the_registers_through_ioaddr_and_iodata(drv):
    io = drv.dev.io
    io.write(0, L.E1000_STATUS.to_bytes(4, "little"))
    assert int.from_bytes(io.read(4, 4), "little") == drv.r(L.E1000_STATUS)
    io.write(0, L.E1000_IMS.to_bytes(4, "little"))
    io.write(4, (0x80).to_bytes(4, "little"))
    assert drv.r(L.E1000_IMS) & 0x80


def test_a_narrow_write_to_icr_clears_only_its_bytes(drv):
    drv.w(L.E1000_ICS, L.E1000_ICR_TXDW | L.E1000_ICR_RXT0 | L.E1000_ICR_SRPD)
    drv.dev.write(L.E1000_ICR, b"\x01")  # TXDW
    assert drv.r(L.E1000_ICS) == L.E1000_ICR_RXT0 | L.E1000_ICR_SRPD
    drv.dev.write(L.E1000_TDT, b"\x00\x00")
    assert drv.r(L.E1000_TDT) == 0


def test_unknown_registers_read_zero_and_are_counted(drv):
    assert drv.r(0x0F000) == 0
    drv.w(0x0F000, 1)
    assert drv.dev.unknown_registers[0x0F000] == 2


def test_statistics_count_and_clear_on_read(drv):
    drv.transmit(frame_to(PEER, length=60))
    drv.rig.recv()
    assert drv.r(L.E1000_GPTC) == 1 and drv.r(L.E1000_GPTC) == 0
    assert drv.r(L.E1000_GOTCL) == 64  # with the FCS the wire carries


# -- transmit ---------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [42, 60, 1514])
def test_transmit_sends_the_frame_padded_to_60(drv, length):
    frame = frame_to(PEER, seq=length, length=length)
    last = drv.transmit(frame)
    sent = drv.rig.recv()
    assert sent == frame.ljust(60, b"\0")
    assert testframe.check(sent) is None
    assert drv.tx_done(last), "DD not written back on an RS descriptor"
    assert drv.r(L.E1000_TDH) == drv.tx_tail
    assert drv.dev.counters["tx_frames"] == 1


def test_transmit_without_psp_sends_short_frames_as_they_are(rig):
    drv = Driver(rig)
    drv.reset()
    drv.setup_tx(psp=False)
    drv.transmit(frame_to(PEER, length=42))
    assert len(rig.recv()) == 42


def test_a_9000_byte_frame_goes_out_from_several_descriptors(drv):
    frame = frame_to(PEER, length=9000)
    drv.transmit(frame, chunk=2048)  # five descriptors, EOP on the fifth
    assert drv.rig.recv() == frame
    assert drv.dev.counters["tx_frames"] == 1


def test_transmit_ring_wraps(drv):
    for seq in range(20):
        drv.transmit(frame_to(PEER, seq=seq))
        assert testframe.parse(drv.rig.recv())[0] == seq
    assert drv.r(L.E1000_TDH) == 20 % 8


def test_a_partly_queued_frame_waits_for_its_eop(drv):
    frame = frame_to(PEER, length=3000)
    drv.queue(frame, chunk=2048)
    drv.w(L.E1000_TDT, 1)  # only the first descriptor
    assert drv.rig.nothing_sent()
    drv.w(L.E1000_TDT, 2)
    assert drv.rig.recv() == frame


def test_transmit_waits_while_tctl_en_is_off(drv):
    drv.w(L.E1000_TCTL, 0)
    drv.transmit(frame_to(PEER))
    assert drv.rig.nothing_sent() and drv.r(L.E1000_TDH) == 0
    drv.w(L.E1000_TCTL, L.E1000_TCTL_EN | L.E1000_TCTL_PSP)
    assert testframe.check(drv.rig.recv()) is None


def test_context_descriptor_checksum_offload(drv):
    """Extended descriptors as e1000_tx_csum uses them: a context with the TCP offsets,
    then a data descriptor with POPTS.TXSM; the device fills in the checksum."""
    frame = bytearray(frame_to(PEER, length=100))
    start, at = 14, 16  # checksum the bytes after the header, into bytes 16-17
    frame[at:at + 2] = b"\0\0"
    drv.mem.write(TX_RING, struct.pack("<BBHBBHIBBH", 0, 0, 0, start, at, 0,
                                       L.E1000_TXD_CMD_DEXT << 24, 0, 0, 0))
    drv.mem.write(TX_BUFS, bytes(frame))
    cmd = L.E1000_TXD_CMD_DEXT | L.E1000_TXD_CMD_EOP | L.E1000_TXD_CMD_RS
    drv.mem.write(TX_RING + 16, struct.pack("<QIBBH", TX_BUFS, len(frame) | 1 << 20 | cmd << 24,
                                            0, L.E1000_TXD_POPTS_TXSM, 0))
    drv.w(L.E1000_TDT, 2)
    sent = drv.rig.recv()
    expected = ~ones_complement_sum(bytes(frame[start:])) & 0xFFFF
    assert struct.unpack_from(">H", sent, at)[0] == expected
    assert ones_complement_sum(sent[start:]) == 0xFFFF


def test_tcp_segmentation_as_e1000_tso_asks_for_it(drv):
    """A 3000-byte TCP payload with MSS 1000: three frames, each with its own IPv4 length,
    id and checksum, TCP sequence number and checksum; FIN and PSH only on the last."""
    src, dst = bytes([169, 254, 0, 1]), bytes([169, 254, 0, 2])
    payload = testframe.payload(7, 0, 3000)
    seed = ones_complement_sum(src + dst + b"\0\x06")  # pseudo-header without the length
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 0, 0x1234, 0x4000, 64, 6, 0, src, dst)
    tcp = struct.pack(">HHIIBBHHH", 40000, 5201, 1000, 0, 5 << 4, 0x19, 512, seed, 0)
    eth = bytes.fromhex(PEER.replace(":", "") + MAC.replace(":", "")) + b"\x08\x00"
    packet = eth + ip + tcp + payload
    tucmd = L.E1000_TXD_CMD_DEXT | L.E1000_TXD_CMD_TSE | L.E1000_TXD_TUCMD_IP | L.E1000_TXD_TUCMD_TCP
    drv.mem.write(TX_RING, struct.pack("<BBHBBHIBBH", 14, 24, 33, 34, 50, 0,
                                       len(payload) | tucmd << 24, 0, 54, 1000))
    drv.mem.write(TX_BUFS, packet)
    cmd = (L.E1000_TXD_CMD_DEXT | L.E1000_TXD_CMD_TSE | L.E1000_TXD_CMD_EOP
           | L.E1000_TXD_CMD_RS)
    popts = L.E1000_TXD_POPTS_IXSM | L.E1000_TXD_POPTS_TXSM
    drv.mem.write(TX_RING + 16, struct.pack("<QIBBH", TX_BUFS, len(packet) | 1 << 20 | cmd << 24,
                                            0, popts, 0))
    drv.w(L.E1000_TDT, 2)
    for k in range(3):
        seg = drv.rig.recv()
        assert len(seg) == 54 + 1000 and seg[:14] == eth
        total, ident = struct.unpack_from(">HH", seg, 16)
        assert (total, ident) == (1040, 0x1234 + k)
        assert ones_complement_sum(seg[14:34]) == 0xFFFF, "IPv4 header checksum"
        seq, flags = struct.unpack_from(">I", seg, 38)[0], seg[47]
        assert seq == 1000 + 1000 * k
        assert flags == (0x19 if k == 2 else 0x10)
        pseudo = src + dst + struct.pack(">HH", 6, 1020)
        assert ones_complement_sum(pseudo + seg[34:]) == 0xFFFF, "TCP checksum"
        assert seg[54:] == payload[1000 * k:1000 * (k + 1)]
    assert drv.rig.nothing_sent() and drv.tx_done(1)
    assert drv.dev.counters["tx_frames"] == 3 and drv.dev.counters["tx_errors"] == 0


def test_vlan_tag_inserted_with_vle_and_stripped_on_receive(rig):
    drv = Driver(rig)
    drv.linux_up()
    drv.w(L.E1000_CTRL, drv.r(L.E1000_CTRL) | L.E1000_CTRL_VME)
    frame = frame_to(PEER)
    drv.queue(frame, cmd=L.E1000_TXD_CMD_VLE)
    drv.mem.write(TX_RING + 14, struct.pack("<H", 0x2005))  # special: the TCI
    drv.w(L.E1000_TDT, drv.tx_tail)
    sent = rig.recv()
    assert sent[12:16] == bytes.fromhex("81002005") and sent[:12] + sent[16:] == frame
    rig.peer.send(frame_to(MAC)[:12] + bytes.fromhex("81002005") + frame_to(MAC)[12:])
    wait_until(lambda: drv.rx_status(0)[1] & L.E1000_RXD_STAT_DD, "the tagged frame")
    _, status, _, special = drv.rx_status(0)
    assert status & L.E1000_RXD_STAT_VP and special == 0x2005
    assert drv.receive(fcs_len=0)[:-4] == frame_to(MAC)  # the FCS is the tagged frame's


# -- receive ----------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [60, 1514])
def test_receive_delivers_the_frame_with_its_fcs(drv, length):
    frame = frame_to(MAC, seq=length, length=length)
    drv.rig.peer.send(frame)
    assert drv.receive() == frame
    [(length_with_fcs, status, _, _)] = drv.written_back
    assert length_with_fcs == length + 4 and status & L.E1000_RXD_STAT_EOP
    assert drv.r(L.E1000_RDH) == 1
    assert drv.dev.counters["rx_frames"] == 1


def test_short_frames_arrive_padded_to_60(drv):
    frame = frame_to(MAC, length=42)
    drv.rig.peer.send(frame)
    received = drv.receive()
    assert received == frame.ljust(60, b"\0") and testframe.check(received) is None


def test_secrc_strips_the_fcs(rig):
    drv = Driver(rig)
    drv.linux_up(rctl=RCTL_DEFAULT | L.E1000_RCTL_SECRC)
    frame = frame_to(MAC, length=1514)
    rig.peer.send(frame)
    assert drv.receive(fcs_len=0) == frame


def test_long_frame_spans_descriptors_with_lpe(rig):
    drv = Driver(rig)
    drv.linux_up(rctl=RCTL_DEFAULT | L.E1000_RCTL_LPE)
    frame = frame_to(MAC, length=9000)
    rig.peer.send(frame)
    assert drv.receive() == frame
    eops = [status & L.E1000_RXD_STAT_EOP for _, status, _, _ in drv.written_back]
    assert eops == [0] * 4 + [L.E1000_RXD_STAT_EOP]
    assert [length for length, _, _, _ in drv.written_back] == [2048] * 4 + [9004 - 4 * 2048]


def test_long_frame_without_lpe_is_dropped_and_counted(drv):
    drv.rig.peer.send(frame_to(MAC, length=1515))
    drv.rig.peer.send(frame_to(MAC, seq=1))
    assert testframe.parse(drv.receive())[0] == 1
    assert drv.dev.counters["rx_dropped"] == 1 and drv.r(L.E1000_ROC) == 1


def test_small_buffers_take_a_1514_byte_frame_in_six(rig):
    drv = Driver(rig)
    drv.linux_up(bsize=256)
    frame = frame_to(MAC, length=1514)
    rig.peer.send(frame)
    assert drv.receive() == frame
    assert drv.r(L.E1000_RDH) == 6


def test_receive_ring_wraps(drv):
    for seq in range(20):
        drv.rig.peer.send(frame_to(MAC, seq=seq))
        assert testframe.parse(drv.receive())[0] == seq


def test_a_full_ring_holds_the_frame_until_the_guest_returns_buffers(rig):
    drv = Driver(rig)
    drv.linux_up(n=8, give=3)  # three free descriptors
    for seq in range(5):
        rig.peer.send(frame_to(MAC, seq=seq))
    wait_until(lambda: drv.dev.counters["rx_no_buffer"] == 1, "the ring to run out")
    assert drv.r(L.E1000_RDH) == 3 and drv.dev.counters["rx_frames"] == 3
    assert drv.r(L.E1000_ICR) & L.E1000_ICR_RXO
    assert drv.r(L.E1000_RNBC) == 1
    # the driver returns buffers as e1000_alloc_rx_buffers does: RDT moves on
    seqs = []
    for _ in range(5):
        seqs.append(testframe.parse(drv.receive())[0])
    assert seqs == list(range(5)), "frames lost or reordered across the full ring"
    assert drv.dev.counters["rx_dropped"] == 0


def test_a_driver_holding_a_batch_is_left_to_return_it_before_rx_reads_on(rig):
    """A driver that gives buffers back 16 at a time and holds 16 filled ones will write
    RDT again before it runs dry: RX leaves the backend alone until it does, then moves
    what queued meanwhile."""
    drv = holding_a_batch(rig, defer_ms=10_000)  # no falling back to the backend
    wait_until(lambda: drv.dev.counters["rx_deferred"], "RX to defer to the driver")
    late = [frame_to(MAC, seq=seq) for seq in range(32, 35)]
    for frame in late:
        rig.peer.send(frame)
    time.sleep(0.1)
    assert drv.dev.counters["rx_frames"] == 32, "RX read the backend while deferring"
    assert [testframe.parse(f)[0] for f in take_without_returning(drv, 16)] == list(
        range(16, 32))
    give_back(drv)
    assert take_without_returning(drv, 3) == late


def test_a_driver_that_stops_returning_still_gets_its_frames(rig):
    """A driver holding its batch that never writes RDT (it stopped receiving): RX reads
    the backend again once the deferral times out."""
    drv = holding_a_batch(rig)
    late = [frame_to(MAC, seq=seq) for seq in range(32, 35)]
    for frame in late:
        rig.peer.send(frame)
    take_without_returning(drv, 16)
    assert take_without_returning(drv, 3) == late


def test_rx_disabled_drops(drv):
    drv.w(L.E1000_RCTL, 0)
    drv.rig.peer.send(frame_to(MAC))
    wait_until(lambda: drv.dev.counters["rx_dropped"] == 1, "the frame to be dropped")


# -- filters ----------------------------------------------------------------------------------

def deliveries(drv, frames):
    """Which of frames reach the guest (see support.nic_rig.deliveries)."""
    return shared_deliveries(drv, frames, frame_to)


def test_unicast_to_another_mac_is_filtered_unless_upe(drv):
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=1)]) == []
    assert drv.dev.counters["rx_filtered"] == 1
    drv.w(L.E1000_RCTL, drv.r(L.E1000_RCTL) | L.E1000_RCTL_UPE)
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=2)]) == [2]


def test_extra_exact_filters_need_av(drv):
    other = "02:00:00:00:00:77"
    ral, rah = struct.unpack("<IH", bytes.fromhex(other.replace(":", "")))
    drv.w(L.E1000_RA + 8, ral)
    drv.w(L.E1000_RA + 12, rah)
    assert deliveries(drv, [frame_to(other, seq=1)]) == []
    drv.w(L.E1000_RA + 12, rah | L.E1000_RAH_AV)
    assert deliveries(drv, [frame_to(other, seq=2)]) == [2]


def test_broadcast_needs_bam(drv):
    assert deliveries(drv, [frame_to("ff:ff:ff:ff:ff:ff", seq=1)]) == [1]
    drv.w(L.E1000_RCTL, drv.r(L.E1000_RCTL) & ~L.E1000_RCTL_BAM)
    assert deliveries(drv, [frame_to("ff:ff:ff:ff:ff:ff", seq=2)]) == []


@pytest.mark.parametrize("mo", [0, 1, 2, 3])
def test_multicast_hash_selects_bits_by_rctl_mo(drv, mo):
    group, other = "01:00:5e:12:34:56", "01:00:5e:65:43:21"
    drv.w(L.E1000_RCTL, drv.r(L.E1000_RCTL) | mo << L.E1000_RCTL_MO_SHIFT)
    assert deliveries(drv, [frame_to(group, seq=1)]) == []
    h = mta_hash(group, mo)
    assert h != mta_hash(other, mo)
    drv.w(L.E1000_MTA + 4 * (h >> 5), 1 << (h & 31))
    assert deliveries(drv, [frame_to(group, seq=2), frame_to(other, seq=3)]) == [2]


def test_mpe_accepts_all_multicast(drv):
    drv.w(L.E1000_RCTL, drv.r(L.E1000_RCTL) | L.E1000_RCTL_MPE)
    assert deliveries(drv, [frame_to("01:00:5e:00:00:01", seq=1),
                            frame_to("33:33:00:00:00:01", seq=2),
                            frame_to("02:00:00:00:00:99", seq=3)]) == [1, 2]


# -- interrupts --------------------------------------------------------------------------------

def test_interrupt_level_follows_icr_and_ims(drv):
    irq = drv.rig.irq
    drv.transmit(frame_to(PEER))
    drv.rig.recv()
    assert irq.level, "TXDW with IMS.TXDW should raise INTA"
    assert drv.r(L.E1000_ICR) & L.E1000_ICR_TXDW
    assert not irq.level, "reading ICR clears it and must lower INTA"
    drv.w(L.E1000_ICS, L.E1000_ICR_LSC)
    assert irq.level
    drv.w(L.E1000_IMC, L.E1000_ICR_LSC)
    assert not irq.level, "IMC masks the cause"
    assert drv.r(L.E1000_ICS) & L.E1000_ICR_LSC, "the cause stays in ICR while masked"
    drv.w(L.E1000_ICR, L.E1000_ICR_LSC)  # write 1 to clear
    drv.w(L.E1000_IMS, L.E1000_ICR_LSC)
    assert not irq.level
    assert drv.dev.counters["irqs_raised"] == 2


def test_receive_raises_rxt0_from_the_device_thread(drv):
    drv.r(L.E1000_ICR)
    drv.rig.peer.send(frame_to(MAC))
    wait_until(lambda: drv.rig.irq.level, "INTA after a receive")
    assert drv.r(L.E1000_ICR) & L.E1000_ICR_RXT0


def test_rxdmt0_when_free_descriptors_fall_to_the_threshold(drv):
    drv.r(L.E1000_ICR)
    for seq in range(3):  # 7 free -> 4 free; RDMTS 1/2 of 8 is 4
        drv.rig.peer.send(frame_to(MAC, seq=seq))
    wait_until(lambda: drv.dev.counters["rx_frames"] == 3, "three frames")
    assert drv.r(L.E1000_ICR) & L.E1000_ICR_RXDMT0


# -- bad guest addresses -----------------------------------------------------------------------

def test_tx_buffer_outside_ram_is_counted_and_completed(drv):
    drv.tx_desc(0, OUTSIDE, 60, L.E1000_TXD_CMD_EOP | L.E1000_TXD_CMD_RS)
    drv.w(L.E1000_TDT, 1)
    assert drv.tx_done(0) and drv.rig.nothing_sent()
    assert drv.dev.counters["dma_errors"] == 1 and drv.dev.counters["tx_errors"] == 1
    drv.tx_tail = 1
    drv.transmit(frame_to(PEER))
    assert testframe.check(drv.rig.recv()) is None


def test_tx_ring_outside_ram_stops_tx_without_harm(drv):
    drv.w(L.E1000_TDBAL, 0xFFFF_F000)
    drv.w(L.E1000_TDBAH, 0x7)
    drv.w(L.E1000_TDT, 3)
    assert drv.dev.counters["dma_errors"] == 1 and drv.r(L.E1000_TDH) == 0


def test_rx_buffer_outside_ram_reports_rxe(drv):
    drv.rx_desc(0, RAM - 30)  # the 64 bytes would straddle the end of RAM
    drv.rig.peer.send(frame_to(MAC, seq=1))
    drv.rig.peer.send(frame_to(MAC, seq=2))
    wait_until(lambda: drv.rx_status(1)[1] & L.E1000_RXD_STAT_DD, "the second frame")
    assert drv.rx_status(0)[2] == L.E1000_RXD_ERR_RXE
    assert drv.dev.counters["dma_errors"] == 1 and drv.dev.counters["rx_dropped"] == 1
    assert drv.dev.counters["rx_frames"] == 1


def test_rx_ring_outside_ram_drops_without_harm(drv):
    drv.w(L.E1000_RDBAL, RAM - 16)  # descriptor 0 fits, 1 does not
    drv.w(L.E1000_RDH, 1)
    drv.w(L.E1000_RDT, 0)
    drv.rig.peer.send(frame_to(MAC))
    wait_until(lambda: drv.dev.counters["dma_errors"] == 1, "the DMA error")
    assert drv.dev.counters["rx_dropped"] == 1 and drv.dev.thread_error is None


# -- fault switches ----------------------------------------------------------------------------

def test_filter_bug_lets_other_unicast_in(drv):
    drv.dev.faults.add("filter_bug")
    assert deliveries(drv, [frame_to("02:00:00:00:00:99", seq=1)]) == [1]


def test_lose_descriptor_completes_one_frame_in_100_unsent(drv):
    drv.dev.faults.add("lose_descriptor")
    for seq in range(100):
        last = drv.transmit(frame_to(PEER, seq=seq))
        assert drv.tx_done(last)
    received = 0
    while not drv.rig.nothing_sent():
        received += 1
    assert received == 99
    assert drv.dev.counters["tx_lost"] == 1 and drv.dev.counters["tx_frames"] == 99


def test_corrupt_rx_flips_a_payload_byte(drv):
    drv.dev.faults.add("corrupt_rx")
    frame = frame_to(MAC, length=200)
    drv.rig.peer.send(frame)
    received = drv.receive(fcs_len=0)[:-4]
    assert received[:14] == frame[:14] and received != frame
    assert "payload differs" in testframe.check(received)


# -- the backend ------------------------------------------------------------------------------

def test_a_full_backend_holds_tx_until_it_drains(rig):
    drv = Driver(rig)
    drv.linux_up()
    drv.setup_tx(n=256)
    sent = 120
    for seq in range(sent):
        drv.transmit(frame_to(PEER, seq=seq, length=9000), chunk=TX_BUF_SIZE)
        if drv.dev.counters["tx_blocked"]:
            break
    assert drv.dev.counters["tx_blocked"], "the socket never filled up"
    queued = seq + 1
    seqs = [testframe.parse(rig.recv())[0] for _ in range(queued)]
    assert seqs == list(range(queued))
    wait_until(lambda: drv.r(L.E1000_TDH) == drv.tx_tail, "TX to finish")
    assert drv.dev.counters["tx_errors"] == 0
