"""A guest's e1000 driver in Python, register by register as Linux's e1000 drives the
82540EM, for the model tests: `Driver` over a support.nic_rig.Rig, the test frames it sends
and takes (`frame_to`), and a driver that batches its RX buffers back (`holding_a_batch`,
`take_without_returning`, `give_back`)."""

import struct

from kvmnet import testframe
from kvmnet.syscall import lib
from support.nic_rig import MAC, PEER, fcs, wait_until

L = lib
TX_RING, RX_RING = 0x10000, 0x20000
TX_BUFS, RX_BUFS = 0x100000, 0x200000
TX_BUF_SIZE = 0x4000
RCTL_DEFAULT = L.E1000_RCTL_EN | L.E1000_RCTL_BAM  # Linux: + RDMTS 1/2, MO 0, BSIZE 2048


class Driver:
    """The guest's side, register by register as Linux's e1000 does it."""

    def __init__(self, rig):
        self.rig, self.dev, self.mem = rig, rig.dev, rig.memory
        self.regs = rig.regs  # BAR0 as the driver reaches it (support.nic_rig.Rig)
        self.tx_n = self.rx_n = 0

    def r(self, reg):
        return int.from_bytes(self.regs.read(reg, 4), "little")

    def w(self, reg, value):
        self.regs.write(reg, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    # -- probe -----------------------------------------------------------------------
    def reset(self):
        self.w(L.E1000_IMC, 0xFFFF_FFFF)
        self.w(L.E1000_CTRL, self.r(L.E1000_CTRL) | L.E1000_CTRL_RST)
        assert not self.r(L.E1000_CTRL) & L.E1000_CTRL_RST, "CTRL.RST did not clear itself"
        self.w(L.E1000_IMC, 0xFFFF_FFFF)
        self.r(L.E1000_ICR)

    def eecd(self, value):
        self.w(L.E1000_EECD, value)
        return self.r(L.E1000_EECD)

    def eeprom_read_microwire(self, word):
        """e1000_read_eeprom for an 82540: REQ/GNT, opcode 110, 6 address bits, 16 in."""
        eecd = self.eecd(L.E1000_EECD_REQ)
        assert eecd & L.E1000_EECD_GNT and eecd & L.E1000_EECD_PRES
        base = L.E1000_EECD_REQ | L.E1000_EECD_CS
        self.eecd(base)
        for bits, count in ((0b110, 3), (word, 6)):
            for i in reversed(range(count)):
                di = L.E1000_EECD_DI if bits >> i & 1 else 0
                self.eecd(base | di)
                self.eecd(base | di | L.E1000_EECD_SK)
                self.eecd(base | di)
        value = 0
        for _ in range(16):
            eecd = self.eecd(base | L.E1000_EECD_SK)
            value = value << 1 | bool(eecd & L.E1000_EECD_DO)
            self.eecd(base)
        self.eecd(L.E1000_EECD_REQ)  # standby: CS low
        self.eecd(0)  # release
        return value

    def eerd(self, word):
        self.w(L.E1000_EERD, word << L.E1000_EERD_ADDR_SHIFT | L.E1000_EERD_START)
        value = self.r(L.E1000_EERD)
        assert value & L.E1000_EERD_DONE
        return value >> L.E1000_EERD_DATA_SHIFT

    def phy(self, reg, phy=1):
        self.w(L.E1000_MDIC, reg << L.E1000_MDIC_REG_SHIFT | phy << L.E1000_MDIC_PHY_SHIFT
               | L.E1000_MDIC_OP_READ)
        return self.r(L.E1000_MDIC)

    # -- rings -------------------------------------------------------------------------
    def setup_tx(self, n=8, psp=True):
        self.tx_n, self.tx_tail = n, 0
        self.w(L.E1000_TDBAL, TX_RING)
        self.w(L.E1000_TDBAH, 0)
        self.w(L.E1000_TDLEN, n * 16)
        self.w(L.E1000_TDH, 0)
        self.w(L.E1000_TDT, 0)
        self.w(L.E1000_TIPG, 0x0060_200A)
        self.w(L.E1000_TCTL, L.E1000_TCTL_EN | (L.E1000_TCTL_PSP if psp else 0)
               | 0x0F << 4 | 0x40 << 12)

    def tx_desc(self, i, address, length, cmd, cso=0, css=0, special=0):
        self.mem.write(TX_RING + 16 * i, struct.pack("<QHBBBBH", address, length, cso, cmd,
                                                     0, css, special))

    def queue(self, frame, chunk=TX_BUF_SIZE, cmd=0):
        """Put a frame on the TX ring, in buffers of at most chunk bytes; returns the index
        of its last descriptor."""
        pieces = [frame[i:i + chunk] for i in range(0, len(frame), chunk)]
        for k, piece in enumerate(pieces):
            i = self.tx_tail
            address = TX_BUFS + i * TX_BUF_SIZE
            self.mem.write(address, piece)
            eop = L.E1000_TXD_CMD_EOP | L.E1000_TXD_CMD_RS if k == len(pieces) - 1 else 0
            self.tx_desc(i, address, len(piece), L.E1000_TXD_CMD_IFCS | eop | cmd)
            self.tx_tail = (i + 1) % self.tx_n
        return (self.tx_tail - 1) % self.tx_n

    def transmit(self, frame, **kw):
        last = self.queue(frame, **kw)
        self.w(L.E1000_TDT, self.tx_tail)
        return last

    def tx_done(self, i):
        return self.mem.read(TX_RING + 16 * i + 12, 1)[0] & L.E1000_TXD_STAT_DD

    def setup_rx(self, n=8, rctl=RCTL_DEFAULT, bsize=2048, give=None):
        self.rx_n, self.rx_next, self.bsize = n, 0, bsize
        for i in range(n):
            self.rx_desc(i, RX_BUFS + i * 16384)
        self.w(L.E1000_RDBAL, RX_RING)
        self.w(L.E1000_RDBAH, 0)
        self.w(L.E1000_RDLEN, n * 16)
        self.w(L.E1000_RDH, 0)
        self.w(L.E1000_RDT, n - 1 if give is None else give)
        encoding = {2048: 0, 1024: 1, 512: 2, 256: 3, 16384: 1 | 0x100, 8192: 2 | 0x100,
                    4096: 3 | 0x100}[bsize]
        self.w(L.E1000_RCTL, rctl | (encoding & 3) << L.E1000_RCTL_BSIZE_SHIFT
               | (L.E1000_RCTL_BSEX if encoding & 0x100 else 0))

    def rx_desc(self, i, address):
        self.mem.write(RX_RING + 16 * i, struct.pack("<QHHBBH", address, 0, 0, 0, 0, 0))

    def rx_status(self, i):
        _, length, _, status, errors, special = struct.unpack(
            "<QHHBBH", self.mem.read(RX_RING + 16 * i, 16))
        return length, status, errors, special

    def receive(self, timeout=2.0, fcs_len=4):
        """One frame, as e1000_clean_rx_irq takes it: descriptors to EOP, FCS checked and
        removed; each descriptor goes back to the device (RDT)."""
        data = b""
        self.written_back = []  # (length, status, errors, special) of each descriptor used
        while True:
            i = self.rx_next
            wait_until(lambda: self.rx_status(i)[1] & L.E1000_RXD_STAT_DD,
                       f"RX descriptor {i} to be done", timeout)
            self.written_back.append(self.rx_status(i))
            length, status, errors, _ = self.rx_status(i)
            assert not errors, f"RX descriptor {i} errors {errors:#x}"
            address = struct.unpack("<Q", self.mem.read(RX_RING + 16 * i, 8))[0]
            data += self.mem.read(address, length)
            self.rx_desc(i, address)
            self.w(L.E1000_RDT, i)
            self.rx_next = (i + 1) % self.rx_n
            if status & L.E1000_RXD_STAT_EOP:
                break
        if fcs_len:
            assert data[-4:] == fcs(data[:-4]), "the FCS in the buffer is wrong"
            data = data[:-4]
        return data

    def linux_up(self, **rx):
        self.reset()
        self.setup_tx()
        self.setup_rx(**rx)
        self.w(L.E1000_IMS, L.E1000_ICR_RXT0 | L.E1000_ICR_TXDW | L.E1000_ICR_RXDMT0
               | L.E1000_ICR_RXSEQ | L.E1000_ICR_LSC)


def frame_to(dst, seq=0, length=60, src=PEER, seed=0xE1000):
    return testframe.build(dst, src, seq, seed, length)


def take_without_returning(drv, count):
    """count frames as a batching driver takes them: descriptors read, RDT not moved."""
    frames = []
    for _ in range(count):
        i = drv.rx_next
        wait_until(lambda: drv.rx_status(i)[1] & L.E1000_RXD_STAT_DD, f"RX descriptor {i}")
        address = struct.unpack("<Q", drv.mem.read(RX_RING + 16 * i, 8))[0]
        frames.append(drv.mem.read(address, drv.rx_status(i)[0] - 4))
        drv.rx_desc(i, address)
        drv.rx_next = (i + 1) % drv.rx_n
    return frames


def give_back(drv):
    """Return every descriptor taken so far in one RDT write, as e1000 drivers batch it."""
    drv.w(L.E1000_RDT, (drv.rx_next - 1) % drv.rx_n)


def holding_a_batch(rig, defer_ms=None, settle=lambda drv: None):
    """A driver that gave its first 16 frames back in one RDT write (its batch: 16) and
    now holds the next 16, filled: where the device defers to it. defer_ms replaces the
    device's deferral timeout; settle(drv) runs after the give-back."""
    drv = Driver(rig)
    drv.linux_up(n=64)
    if defer_ms is not None:
        drv.dev.core.defer_ms = defer_ms
    for seq in range(16):
        rig.peer.send(frame_to(MAC, seq=seq))
    take_without_returning(drv, 16)
    give_back(drv)
    settle(drv)
    for seq in range(16, 32):
        rig.peer.send(frame_to(MAC, seq=seq))
    wait_until(lambda: drv.dev.counters["rx_frames"] == 32, "the second batch to arrive")
    return drv
