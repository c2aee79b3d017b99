"""Intel 82540EM (e1000): the register interface, as the 8254x Software Developer's Manual
(SDM) describes it and Linux's e1000 driver uses it. The per-frame work is native/e1000.c.

PCI 8086:100e, class 020000, subsystem 8086:001e. BAR0: the 128 KiB register space (MMIO);
BAR1: 64 bytes of I/O, IOADDR (0) and IODATA (4) reaching the same registers; INTA#,
level = (ICR & IMS) != 0.

    CTRL       RST resets the device (self-clearing); SLU 0->1 raises LSC
    STATUS     FD, LU, 1000 Mb/s: the link is always up
    EECD       the 93C46 bit-bang (SK, CS, DI, DO) with REQ/GNT, PRES; 64 words
    EERD       word reads: START -> DONE with the data
    EEPROM     words 0-2 the MAC, 0x0B-0x0E the PCI ids, 0x3F makes the sum 0xBABA
    MDIC       PHY at address 1 (an M88E1011: id 0141:0c20), link up, autonegotiation done
    ICR/ICS/IMS/IMC, RCTL, TCTL, RDBA/RDLEN/RDH/RDT, TDBA/TDLEN/TDH/TDT, RAL/RAH[16],
    MTA[128], VFTA[128], the statistics (cleared on read); other documented registers hold
    what is written; undocumented offsets read 0 (counted in `unknown_registers`).

Receive (C): exact filters (RAH.AV), UPE, MPE, BAM, MTA hash per RCTL.MO, VFTA with
RCTL.VFE; LPE (else frames over 1514 bytes, 1518 tagged, are dropped and counted in ROC);
buffers of BSIZE/BSEX, a frame spanning descriptors with EOP on its last; the FCS is in the
buffer unless SECRC; 802.1Q tags are stripped into `special` with CTRL.VME. With no free
descriptor the frame is held (ICR.RXO and RNBC once), not lost: it is delivered when the
guest moves RDT. Causes: RXT0 per frame, RXDMT0 below RCTL.RDMTS.

Transmit (C, on TDT writes): legacy descriptors (IC checksum insertion), extended context
and data descriptors (IXSM/TXSM checksum insertion, TSE TCP/UDP segmentation over IPv4 or
IPv6 as Linux's e1000_tso asks for it), VLE tag insertion with CTRL.VME, PSP padding to 60
bytes, DD written back when RS (or RPS) is set, TXDW and TXQE. A backend that is full holds
TX (TDH stays) until it has room again.

The registers a driver touches per frame or batch (32-bit STATUS, ICR, IMS, RDH/RDT,
TDH/TDT; through BAR0 or IODATA) are answered in the vCPU's run loop by native/e1000.c's
fast handler, with the effects described here, under the same lock; everything else comes
here (and an access to those that does come here goes through the same C,
e1000_hot_register). Where the VM has a coalesced ring (kvmnet.vmm.coalesced), RDT in BAR0 is a zone of it
(moved with the BAR): the driver's buffer returns do not exit, and the device thread, which
waits for them, drains the ring before it waits and every millisecond while it does.

Fault switches (device.faults, test only): filter_bug, lose_descriptor, corrupt_rx,
pad_garbage, no_pad, mta_bits and the offloads' bad_tx_csum, tso_over_mss, rx_csum_trusted,
as in kvmnet.devices.nic.

A system reset (the machine's warm reset) is CTRL.RST plus the power-on EEPROM load
(`power_on_reset`).

Not modelled: interrupt moderation (ITR, RDTR/RADV, TIDV/TADV are stored; interrupts are immediate), flow control,
wake-up, manageability, receive checksum offload (RX descriptors say IXSM: "not checked").
"""

import struct
from collections import Counter

from kvmnet.devices.nic import Eeprom93C46, Nic
from kvmnet.syscall import check, ffi, lib
from kvmnet.vmm.pci import Bar, SUBSYSTEM_VENDOR_ID

E1000_DEV_ID_82540EM = 0x100E
SUBSYSTEM_ID = 0x001E
EEPROM_CHECKSUM_REG, EEPROM_SUM = 0x3F, 0xBABA
PHY_ADDRESS = 1

# PHY registers (IEEE 802.3 clause 22 and the M88E1011's own), at reset and link up.
MII_BMCR, MII_BMSR, MII_PHYSID1, MII_PHYSID2 = 0, 1, 2, 3
MII_ADVERTISE, MII_LPA, MII_EXPANSION, MII_CTRL1000, MII_STAT1000, MII_ESTATUS = 4, 5, 6, 9, 10, 15
M88_PHY_SPEC_CTRL, M88_PHY_SPEC_STATUS, M88_EXT_PHY_SPEC_CTRL = 0x10, 0x11, 0x14
BMCR_RESET, BMCR_ANRESTART = 0x8000, 0x0200
PHY_RESET_VALUES = {
    MII_BMCR: 0x1140,        # autonegotiation on, full duplex, 1000 Mb/s
    MII_BMSR: 0x796D,        # 10/100 capable, extended status, AN complete, link up
    MII_PHYSID1: 0x0141,     # M88E1011_I_PHY_ID 0x01410C20
    MII_PHYSID2: 0x0C20,
    MII_ADVERTISE: 0x01E1,
    MII_LPA: 0x41E1,         # the partner: 10/100 half and full, acknowledged
    MII_EXPANSION: 0x0001,
    MII_CTRL1000: 0x0300,
    MII_STAT1000: 0x3C00,    # partner 1000 half and full, local and remote receiver OK
    MII_ESTATUS: 0x3000,
    M88_PHY_SPEC_CTRL: 0x0068,
    M88_PHY_SPEC_STATUS: 0xAC00,  # 1000 Mb/s, full duplex, resolved, link up
    M88_EXT_PHY_SPEC_CTRL: 0x0D60,
}
PHY_READ_ONLY = {MII_BMSR, MII_PHYSID1, MII_PHYSID2, MII_LPA, MII_EXPANSION, MII_STAT1000,
                 MII_ESTATUS, M88_PHY_SPEC_STATUS}

EECD_WRITABLE = (lib.E1000_EECD_SK | lib.E1000_EECD_CS | lib.E1000_EECD_DI
                 | lib.E1000_EECD_FWE_MASK | lib.E1000_EECD_REQ)

# Registers kept in the C state, by offset: (field, writable bits).
DATAPATH = {
    lib.E1000_VET: ("vet", 0xFFFF),
    lib.E1000_RDBAL: ("rdbal", 0xFFFF_FFF0),
    lib.E1000_RDBAH: ("rdbah", 0xFFFF_FFFF),
    lib.E1000_RDLEN: ("rdlen", 0x000F_FF80),
    lib.E1000_RDH: ("rdh", 0xFFFF),
    lib.E1000_TDBAL: ("tdbal", 0xFFFF_FFF0),
    lib.E1000_TDBAH: ("tdbah", 0xFFFF_FFFF),
    lib.E1000_TDLEN: ("tdlen", 0x000F_FF80),
    lib.E1000_TDH: ("tdh", 0xFFFF),
}
# Registers that only hold what the driver writes: offset -> (reset value, writable bits).
PLAIN = {
    lib.E1000_CTRL_EXT: (0, 0xFFFF_FFFF),
    lib.E1000_FLA: (0, 0xFFFF_FFFF),
    lib.E1000_FCAL: (0, 0xFFFF_FFFF),
    lib.E1000_FCAH: (0, 0xFFFF),
    lib.E1000_FCT: (0, 0xFFFF),
    lib.E1000_ITR: (0, 0xFFFF),
    lib.E1000_FCTTV: (0, 0xFFFF),
    lib.E1000_TXCW: (0, 0xFFFF_FFFF),
    lib.E1000_RXCW: (0, 0),
    lib.E1000_TIPG: (0, 0x3FFF_FFFF),
    lib.E1000_LEDCTL: (0x0706_8302, 0xFFFF_FFFF),
    lib.E1000_PBA: (0x0030, 0xFFFF),
    lib.E1000_FCRTL: (0, 0x8000_FFF8),
    lib.E1000_FCRTH: (0, 0xFFF8),
    lib.E1000_RDTR: (0, 0x8000_FFFF),
    lib.E1000_RXDCTL: (0, 0xFFFF_FFFF),
    lib.E1000_RADV: (0, 0xFFFF),
    lib.E1000_RSRPD: (0, 0xFFF),
    lib.E1000_TXDMAC: (0, 1),
    lib.E1000_TIDV: (0, 0xFFFF),
    lib.E1000_TXDCTL: (0, 0xFFFF_FFFF),
    lib.E1000_TADV: (0, 0xFFFF),
    lib.E1000_TSPMT: (0, 0xFFFF_FFFF),
    lib.E1000_RXCSUM: (0, 0x7FF),
    lib.E1000_WUC: (0, 0xF),
    lib.E1000_WUFC: (0, 0xFFFF_FFFF),
    lib.E1000_WUS: (0, 0),
    lib.E1000_MANC: (0, 0xFFFF_FFFF),
}
# Registers whose written ones act (clear, set, mask): a narrower write acts on its bytes.
BITWISE = {lib.E1000_ICR, lib.E1000_ICS, lib.E1000_IMS, lib.E1000_IMC}
RA_END, MTA_END, VFTA_END = lib.E1000_RA + 128, lib.E1000_MTA + 512, lib.E1000_VFTA + 512
STATS_END = lib.E1000_STATS + 256


def eeprom_image(mac):
    """The 64 EEPROM words: MAC, ids, and the checksum word making the sum 0xBABA."""
    words = [0] * 64
    words[0:3] = struct.unpack("<3H", mac)
    words[0x0A] = 0x4003  # ICW1: signature 01b, load the PCI (subsystem) ids
    words[0x0B], words[0x0C] = SUBSYSTEM_ID, 0x8086
    words[0x0D], words[0x0E] = E1000_DEV_ID_82540EM, 0x8086
    words[EEPROM_CHECKSUM_REG] = (EEPROM_SUM - sum(words)) & 0xFFFF
    return words


class IoWindow:
    """BAR1: IOADDR (offset 0) selects a register, IODATA (offset 4) reads or writes it.
    IOADDR lives in the C state, where the fast path (native/e1000.h) reads it too."""

    def __init__(self, nic, state):
        self._nic, self._e = nic, state
        self.fast_handler = (ffi.cast("kvmnet_fast_handler *", ffi.addressof(lib, "e1000_fast_io")),
                             ffi.cast("void *", state))

    @property
    def ioaddr(self):
        return self._e.ioaddr

    @ioaddr.setter
    def ioaddr(self, value):
        self._e.ioaddr = value

    def fast_attend(self):
        self._nic.fast_attend()

    def read(self, offset, size):
        if offset < 4:
            value = self.ioaddr
        elif offset < 8:
            return self._nic.read(self.ioaddr & 0x1FFFC, size)
        else:
            value = 0  # reserved
        return (value >> 8 * (offset & 3) & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def write(self, offset, data):
        if offset == 0 and len(data) == 4:
            self.ioaddr = int.from_bytes(data, "little") & 0x1FFFF
        elif offset == 4:
            self._nic.write(self.ioaddr & 0x1FFFC, data)


class E1000(Nic):
    NAME = "e1000"
    COALESCE_RDT = True  # RDT writes through the VM's coalesced ring, where it has one

    def __init__(self, mac, backend, faults=()):
        state = ffi.new("struct e1000 *")
        check(lib.e1000_init(state, backend.fd, backend.vnet_hdr_size), "e1000_init")
        self.io = IoWindow(self, state)
        # The per-frame registers are answered in the vCPU's run loop (native/e1000.h).
        self.fast_handler = (
            ffi.cast("kvmnet_fast_handler *", ffi.addressof(lib, "e1000_fast_mmio")),
            ffi.cast("void *", state))
        super().__init__(mac, backend, faults, state=state, core=ffi.addressof(state, "core"),
                         vendor=0x8086, device=E1000_DEV_ID_82540EM, class_code=0x020000,
                         revision=0x03, interrupt_pin=1,
                         bars=[Bar(0x20000, device=self), Bar(0x40, io=True, device=self.io)])
        struct.pack_into("<HH", self.config, SUBSYSTEM_VENDOR_ID, 0x8086, SUBSYSTEM_ID)
        self.e = state
        self.eeprom = Eeprom93C46(eeprom_image(self.mac))
        self.unknown_registers = Counter()  # offset -> accesses to undocumented registers
        with self.lock:
            self._reset()

    def bar_moved(self, index, old, new):
        """BAR0 moved: so does RDT's coalesced zone."""
        if index != 0 or not self.COALESCE_RDT or self.coalesced is None or self.vm is None:
            return
        if old:
            self.vm.unregister_coalesced_mmio(old + lib.E1000_RDT, 4)
        if new:
            with self.lock:
                self.core.coalesced = self.coalesced.c  # nic_run watches the ring
            self.vm.register_coalesced_mmio(new + lib.E1000_RDT, 4)

    # -- BAR0 -------------------------------------------------------------------------

    def read(self, offset, size):
        if self.closed:
            return b"\xff" * size
        if size == 8:  # a 64-bit access is two registers
            return self.read(offset, 4) + self.read(offset + 4, 4)
        with self.lock:
            value = self._read(offset & ~3)
            self.update_irq_locked()
        return (value >> 8 * (offset & 3) & ((1 << 8 * size) - 1)).to_bytes(size, "little")

    def write(self, offset, data):
        if self.closed:
            return
        if len(data) == 8:
            self.write(offset, data[:4])
            self.write(offset + 4, data[4:])
            return
        reg, shift = offset & ~3, 8 * (offset & 3)
        with self.lock:
            value = int.from_bytes(data, "little") << shift
            if len(data) < 4 and reg not in BITWISE:  # the SDM wants 32-bit accesses
                mask = ((1 << 8 * len(data)) - 1) << shift
                value = (self._peek(reg) & ~mask | value) & 0xFFFF_FFFF
            self._write(reg, value)
            lib.e1000_update_irq(self.e)
            self.update_irq_locked()

    # -- register semantics (under the lock) ------------------------------------------------

    def _peek(self, reg):
        """A register's value without read side effects."""
        e = self.e
        if lib.E1000_STATS <= reg < STATS_END:
            return e.stats[(reg - lib.E1000_STATS) // 4]
        return self._read(reg)

    def _hot(self, reg, value, is_write):
        """The access through the C's own register code (e1000_hot_register), for the
        registers the run loop serves there; None for the others."""
        box = ffi.new("uint32_t *", value)
        return box[0] if lib.e1000_hot_register(self.e, reg, box, is_write) else None

    def _read(self, reg):
        e = self.e
        hot = self._hot(reg, 0, False)
        if hot is not None:
            return hot
        if reg in DATAPATH:
            return getattr(e, DATAPATH[reg][0])
        if reg in PLAIN:
            return self._plain[reg]
        if reg == lib.E1000_CTRL:
            return e.ctrl
        if reg == lib.E1000_EECD:
            return self._eecd
        if reg == lib.E1000_EERD:
            return self._eerd
        if reg == lib.E1000_MDIC:
            return self._mdic
        if reg == lib.E1000_ICS:
            return e.icr  # write-only in the SDM; real parts read ICR here, without clearing
        if reg == lib.E1000_IMC:
            return 0
        if reg == lib.E1000_RCTL:
            return e.rctl
        if reg == lib.E1000_TCTL:
            return e.tctl
        if lib.E1000_RA <= reg < RA_END:
            return e.ra[(reg - lib.E1000_RA) // 4]
        if lib.E1000_MTA <= reg < MTA_END:
            return e.mta[(reg - lib.E1000_MTA) // 4]
        if lib.E1000_VFTA <= reg < VFTA_END:
            return e.vfta[(reg - lib.E1000_VFTA) // 4]
        if lib.E1000_STATS <= reg < STATS_END:
            i = (reg - lib.E1000_STATS) // 4
            value, e.stats[i] = e.stats[i], 0  # statistics are cleared on read
            return value
        self.unknown_registers[reg] += 1
        return 0

    def _write(self, reg, value):
        e = self.e
        if self._hot(reg, value, True) is not None:
            return
        if reg in DATAPATH:
            field, mask = DATAPATH[reg]
            setattr(e, field, value & mask)
        elif reg in PLAIN:
            self._plain[reg] = value & PLAIN[reg][1]
        elif reg == lib.E1000_CTRL:
            self._write_ctrl(value)
        elif reg == lib.E1000_EECD:
            self._write_eecd(value)
        elif reg == lib.E1000_EERD:
            if value & lib.E1000_EERD_START:
                address = value >> lib.E1000_EERD_ADDR_SHIFT & 0xFF
                word = self.eeprom.words[address] if address < len(self.eeprom.words) else 0
                self._eerd = (word << lib.E1000_EERD_DATA_SHIFT | address << lib.E1000_EERD_ADDR_SHIFT
                              | lib.E1000_EERD_DONE)
        elif reg == lib.E1000_MDIC:
            self._write_mdic(value)
        elif reg == lib.E1000_ICR:
            e.icr &= ~value  # write 1 to clear
        elif reg == lib.E1000_ICS:
            e.icr |= value & lib.E1000_ICR_ALL
        elif reg == lib.E1000_IMS:
            e.ims |= value & lib.E1000_ICR_ALL
        elif reg == lib.E1000_IMC:
            e.ims &= ~value
        elif reg == lib.E1000_RCTL:
            e.rctl = value & 0x07FF_FFFE
            self.kick()  # a held frame may now be taken, or dropped
        elif reg == lib.E1000_TCTL:
            e.tctl = value & 0x03FF_FFFA
            lib.e1000_tx(e)
        elif lib.E1000_RA <= reg < RA_END:
            i = (reg - lib.E1000_RA) // 4
            e.ra[i] = value & (0x8003_FFFF if i & 1 else 0xFFFF_FFFF)
        elif lib.E1000_MTA <= reg < MTA_END:
            e.mta[(reg - lib.E1000_MTA) // 4] = value
        elif lib.E1000_VFTA <= reg < VFTA_END:
            e.vfta[(reg - lib.E1000_VFTA) // 4] = value
        elif reg == lib.E1000_STATUS or lib.E1000_STATS <= reg < STATS_END:
            pass  # read-only
        else:
            self.unknown_registers[reg] += 1

    def _write_ctrl(self, value):
        if value & lib.E1000_CTRL_RST:
            self._reset()
            return
        link_up = value & ~self.e.ctrl & lib.E1000_CTRL_SLU
        self.e.ctrl = value & ~(lib.E1000_CTRL_RST | lib.E1000_CTRL_PHY_RST)
        if value & lib.E1000_CTRL_PHY_RST:
            self._phy = dict(PHY_RESET_VALUES)
        if link_up:
            self.e.icr |= lib.E1000_ICR_LSC

    def _write_eecd(self, value):
        value &= EECD_WRITABLE
        do = self.eeprom.pins(value & lib.E1000_EECD_CS, value & lib.E1000_EECD_SK,
                              value & lib.E1000_EECD_DI)
        grant = lib.E1000_EECD_GNT if value & lib.E1000_EECD_REQ else 0
        self._eecd = (value | grant | lib.E1000_EECD_PRES
                      | (lib.E1000_EECD_DO if do else 0))

    def _write_mdic(self, value):
        data = value & lib.E1000_MDIC_DATA_MASK
        reg = value >> lib.E1000_MDIC_REG_SHIFT & 0x1F
        phy = value >> lib.E1000_MDIC_PHY_SHIFT & 0x1F
        result = value & ~(lib.E1000_MDIC_READY | lib.E1000_MDIC_ERROR)
        if phy != PHY_ADDRESS:
            result |= lib.E1000_MDIC_ERROR  # no PHY answers there
        elif value & lib.E1000_MDIC_OP_READ:
            result = result & ~lib.E1000_MDIC_DATA_MASK | self._phy.get(reg, 0)
        elif value & lib.E1000_MDIC_OP_WRITE and reg not in PHY_READ_ONLY:
            if reg == MII_BMCR:
                if data & BMCR_RESET:
                    self._phy = dict(PHY_RESET_VALUES)
                data &= ~(BMCR_RESET | BMCR_ANRESTART)  # self-clearing; AN completes at once
            self._phy[reg] = data
        self._mdic = result | lib.E1000_MDIC_READY
        if value & lib.E1000_MDIC_INT_EN:
            self.e.icr |= lib.E1000_ICR_MDAC

    def power_on_reset(self):
        """A system reset (PciDevice.system_reset): CTRL.RST, and what power-on adds to it:
        the EEPROM loaded with the configured address again (the image the VMM made of
        its configuration, as at start), IOADDR 0."""
        if self.closed:
            return
        with self.lock:
            self.core.mac = list(self.mac)
            self.eeprom = Eeprom93C46(eeprom_image(self.mac))
            self.e.ioaddr = 0
            self._reset()

    def _reset(self):
        lib.e1000_reset(self.e)
        self._plain = {reg: reset for reg, (reset, _) in PLAIN.items()}
        self._phy = dict(PHY_RESET_VALUES)
        self._eecd = lib.E1000_EECD_PRES | lib.E1000_EECD_DO
        self._eerd = self._mdic = 0
        self.eeprom.pins(0, 0, 0)
        self.update_irq_locked()
