"""Realtek RTL8139C: the register interface, as the RTL8139C(L)+ datasheet describes it and
Linux's 8139too driver uses it. The per-frame work is native/rtl8139.c.

PCI 10ec:8139 revision 0x10 (below 0x20, so Linux binds 8139too rather than 8139cp), class
020000. BAR0: the 256 registers in I/O space; BAR1: the same registers in memory space;
INTA#, level = (ISR & IMR) != 0. Registers take byte, word and dword accesses at any
offset; an access covering part of a register changes only those bytes.

    IDR0-5     the MAC; written only while 9346CR is in config-write mode (EEM = 11)
    MAR0-7     the multicast hash: bit (CRC-32 of the address) >> 26
    CR         RST (soft reset, self-clearing: keeps IDR, MAR, RCR, TCR), RE, TE, BUFE
    RBSTART, CAPR, CBR, RCR
               the receive ring: 8/16/32/64 KiB (RCR.RBLEN); records [status, length
               with CRC][frame][CRC], 4-byte aligned; WRAP = 1 writes a record's tail past
               the ring's end (not with 64 KiB), WRAP = 0 wraps it to RBSTART; filters AAP,
               APM, AM, AB
    TSD0-3, TSAD0-3, TSAD
               four transmit slots, sent in the order the driver hands them over (clearing
               OWN); OWN and TOK on completion; frames under 60 bytes are padded
    IMR, ISR   ISR is write-1-to-clear: ROK, TOK, RER (bad RX DMA), TER (bad TX slot),
               RXOVW (ring full: the frame waits for CAPR, it is not lost)
    9346CR     EEM: 00 normal, 01 autoload (IDR from the EEPROM), 10 the 93C46 pins
               (EECS, EESK, EEDI, EEDO), 11 config-write enable
    EEPROM     0x8129, ids, the MAC at words 7-9 (read by 8139too's bit-bang)
    TCR        HWVERID says RTL8139C (8139too's chip table); RCR, MPC, TCTR (33 MHz),
               CONFIG0/1/3/4/5, MSR and BMSR (link up, 100 Mb/s full duplex), BMCR, ANAR,
               ANLPAR, ANER (8139too's MII view)

The registers a driver touches per frame or batch (TSD0-3, CAPR, CBR, TSAD, ISR, IMR, CR
reads) are answered in the vCPU's run loop by native/rtl8139.c's fast handler, with the
effects described here, under the same lock; everything else comes here.

Fault switches (device.faults, test only): filter_bug, lose_descriptor (one transmit slot in
100 completes with TOK unsent), corrupt_rx, as in kvmnet.devices.nic.

Not modelled: C+ mode (8139cp's descriptor rings), loopback (TCR.LBK), early receive and
transmit thresholds, the timer interrupt (TimerInt), wake-up and power management.
"""

import struct
import time
from collections import Counter

from kvmnet.devices.nic import Eeprom93C46, Nic
from kvmnet.syscall import check, ffi, lib
from kvmnet.vmm.pci import Bar, SUBSYSTEM_VENDOR_ID

RTL8139_VENDOR, RTL8139_DEVICE, RTL8139_REVISION = 0x10EC, 0x8139, 0x10
HWVERID_RTL8139C = 0x7400_0000  # TCR bits 30:26, 23:22 (8139too: HW_REVID(1,1,1,0,1,0,0))
TCR_WRITABLE = 0x0307_07F1
RCR_WRITABLE = 0x0F03_FFBF   # bit 6 (9356SEL) reads 0: a 93C46
TSD_WRITABLE = lib.RTL8139_TSD_WRITABLE  # ERTXTH, OWN, SIZE; writing clears the status bits
EEM_NORMAL, EEM_AUTOLOAD, EEM_PROGRAM, EEM_CONFIG_WRITE = 0, 1, 2, 3
EE_CS, EE_SK, EE_DI, EE_DO = 0x08, 0x04, 0x02, 0x01
CONFIG1_IOMAP, CONFIG1_MEMMAP = 0x04, 0x08
PCI_CLOCK_HZ = 33_000_000

# MII registers as the chip maps them (8139too's mii_2_8139_map): link up, autonegotiated
# 100 Mb/s full duplex with a partner that advertises 10/100.
BMCR_RESET_VALUE, BMSR_VALUE = 0x3100, 0x782D
ANAR_RESET_VALUE, ANLPAR_VALUE, ANER_VALUE = 0x01E1, 0x45E1, 0x0001
BMCR_RESET, BMCR_ANRESTART = 0x8000, 0x0200

L = lib
REGISTERS = (  # (offset, bytes, name)
    [(L.RTL8139_IDR0 + i, 1, f"idr{i}") for i in range(6)]
    + [(L.RTL8139_MAR0 + i, 1, f"mar{i}") for i in range(8)]
    + [(L.RTL8139_TSD0 + 4 * i, 4, f"tsd{i}") for i in range(4)]
    + [(L.RTL8139_TSAD0 + 4 * i, 4, f"tsad{i}") for i in range(4)]
    + [(L.RTL8139_RBSTART, 4, "rbstart"), (L.RTL8139_ERBCR, 2, "erbcr"),
       (L.RTL8139_ERSR, 1, "ersr"), (L.RTL8139_CR, 1, "cr"), (L.RTL8139_CAPR, 2, "capr"),
       (L.RTL8139_CBR, 2, "cbr"), (L.RTL8139_IMR, 2, "imr"), (L.RTL8139_ISR, 2, "isr"),
       (L.RTL8139_TCR, 4, "tcr"), (L.RTL8139_RCR, 4, "rcr"), (L.RTL8139_TCTR, 4, "tctr"),
       (L.RTL8139_MPC, 4, "mpc"), (L.RTL8139_9346CR, 1, "cr9346"),
       (L.RTL8139_CONFIG0, 1, "config0"), (L.RTL8139_CONFIG1, 1, "config1"),
       (L.RTL8139_TIMERINT, 4, "timerint"), (L.RTL8139_MSR, 1, "msr"),
       (L.RTL8139_CONFIG3, 1, "config3"), (L.RTL8139_CONFIG4, 1, "config4"),
       (L.RTL8139_HLTCLK, 1, "hltclk"), (L.RTL8139_MULINT, 2, "mulint"),
       (L.RTL8139_RERID, 1, "rerid"), (L.RTL8139_TSAD, 2, "tsad"),
       (L.RTL8139_BMCR, 2, "bmcr"), (L.RTL8139_BMSR, 2, "bmsr"), (L.RTL8139_ANAR, 2, "anar"),
       (L.RTL8139_ANLPAR, 2, "anlpar"), (L.RTL8139_ANER, 2, "aner"),
       (L.RTL8139_DIS, 2, "dis"), (L.RTL8139_FCSC, 2, "fcsc"),
       (L.RTL8139_NWAYTR, 2, "nwaytr"), (L.RTL8139_REC, 2, "rec"),
       (L.RTL8139_CSCR, 2, "cscr"), (L.RTL8139_PHY1_PARM, 4, "phy1_parm"),
       (L.RTL8139_TW_PARM, 4, "tw_parm"), (L.RTL8139_PHY2_PARM, 1, "phy2_parm"),
       (L.RTL8139_CONFIG5, 1, "config5")])
BYTE_MAP = {}  # register byte offset -> (first offset, bytes, name)
for _reg in REGISTERS:
    for _i in range(_reg[1]):
        BYTE_MAP[_reg[0] + _i] = _reg
# Registers that only hold what is written: name -> (reset value, writable bits).
PLAIN = {"erbcr": (0, 0xFFFF), "timerint": (0, 0xFFFF_FFFF), "mulint": (0, 0x0FFF),
         "nwaytr": (0, 0xFFFF), "cscr": (0, 0xFFFF), "phy1_parm": (0, 0xFFFF_FFFF),
         "tw_parm": (0, 0xFFFF_FFFF), "phy2_parm": (0, 0xFF), "hltclk": (0, 0)}
# Written only in config-write mode: name -> (reset value, writable bits).
CONFIGS = {"config1": (CONFIG1_IOMAP | CONFIG1_MEMMAP, 0xF3), "config3": (0, 0xFF),
           "config4": (0, 0xFF), "config5": (0, 0xFF), "bmcr": (BMCR_RESET_VALUE, 0xFFFF)}
CONSTANT = {"ersr": 0, "config0": 0, "msr": 0, "rerid": RTL8139_REVISION, "bmsr": BMSR_VALUE,
            "anlpar": ANLPAR_VALUE, "aner": ANER_VALUE, "dis": 0, "fcsc": 0, "rec": 0}


def eeprom_image(mac):
    """The 93C46 words per the datasheet: ID 0x8129, PCI ids, the MAC at words 7-9."""
    words = [0x8129, RTL8139_VENDOR, RTL8139_DEVICE, RTL8139_VENDOR, RTL8139_DEVICE,
             0x4020, 0x0000]  # MIN_GNT 0x20, MAX_LAT 0x40
    return words + list(struct.unpack("<3H", mac))


class Rtl8139(Nic):
    NAME = "rtl8139"

    def __init__(self, mac, backend, faults=()):
        state = ffi.new("struct rtl8139 *")
        check(lib.rtl8139_init(state, backend.fd, backend.vnet_hdr_size), "rtl8139_init")
        super().__init__(mac, backend, faults, state=state, core=ffi.addressof(state, "core"),
                         vendor=RTL8139_VENDOR, device=RTL8139_DEVICE, class_code=0x020000,
                         revision=RTL8139_REVISION, interrupt_pin=1,
                         bars=[Bar(0x100, io=True, device=self), Bar(0x100, device=self)])
        struct.pack_into("<HH", self.config, SUBSYSTEM_VENDOR_ID, RTL8139_VENDOR, RTL8139_DEVICE)
        self.config[0x3E], self.config[0x3F] = 0x20, 0x40  # MIN_GNT, MAX_LAT
        self.r = state
        # The per-frame registers are answered in the vCPU's run loop (native/rtl8139.h).
        self.fast_handler = (
            ffi.cast("kvmnet_fast_handler *", ffi.addressof(lib, "rtl8139_fast_access")),
            ffi.cast("void *", state))
        self.eeprom = Eeprom93C46(eeprom_image(self.mac))
        self.unknown_registers = Counter()  # offset -> accesses to bytes that are no register
        with self.lock:
            self._power_on()

    # -- the register space (both BARs) ---------------------------------------------------

    def read(self, offset, size):
        if self.closed:
            return b"\xff" * size
        out = bytearray(size)
        with self.lock:
            for start, length, name, first, count in self._split(offset, size):
                value = self._get(name).to_bytes(length, "little")
                out[start:start + count] = value[first:first + count]
        return bytes(out)

    def write(self, offset, data):
        if self.closed:
            return
        with self.lock:
            for start, length, name, first, count in self._split(offset, len(data)):
                current = 0 if name == "isr" else self._get(name)  # ISR: ones clear bits
                value = bytearray(current.to_bytes(length, "little"))
                value[first:first + count] = data[start:start + count]
                self._set(name, int.from_bytes(value, "little"))
            lib.rtl8139_update_irq(self.r)
            self.update_irq_locked()

    def _split(self, offset, size):
        """(start in the access, register bytes, name, first byte in it, bytes) per register
        the access covers."""
        i = 0
        while i < size:
            reg = BYTE_MAP.get((offset + i) & 0xFF)
            if reg is None:
                self.unknown_registers[(offset + i) & 0xFF] += 1
                i += 1
                continue
            first = ((offset + i) & 0xFF) - reg[0]
            count = min(reg[1] - first, size - i)
            yield i, reg[1], reg[2], first, count
            i += count

    # -- register semantics (under the lock) ------------------------------------------------

    def _get(self, name):
        r = self.r
        if name.startswith(("idr", "mar", "tsd", "tsad")) and name[-1].isdigit():
            return getattr(r, name[:-1])[int(name[-1])]
        if name in PLAIN or name in CONFIGS:
            return self._regs[name]
        if name in CONSTANT:
            return CONSTANT[name]
        if name == "cr":
            return r.cr | (lib.RTL8139_CR_BUFE if lib.rtl8139_buffer_empty(r) else 0)
        if name in ("rbstart", "capr", "cbr", "imr", "isr", "rcr"):
            return getattr(r, name)
        if name == "tcr":
            return r.tcr | HWVERID_RTL8139C
        if name == "tctr":
            return (time.monotonic_ns() - self._tctr_base) * PCI_CLOCK_HZ // 10**9 & 0xFFFF_FFFF
        if name == "mpc":
            return 0  # a frame that finds no room waits; none is missed
        if name == "cr9346":
            do = self.eeprom.do if self._eem == EEM_PROGRAM else 0
            return self._eem << 6 | self._ee_pins | (EE_DO if do else 0)
        if name == "tsad":
            return lib.rtl8139_tx_summary(r)
        if name == "anar":
            return self._regs["anar"]
        raise LookupError(f"rtl8139 register {name!r} has no reader")  # a table out of step

    def _set(self, name, value):
        r = self.r
        kind, index = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")):]
        if kind == "idr":
            if self._eem == EEM_CONFIG_WRITE:
                r.idr[int(index)] = value
        elif kind == "mar":
            r.mar[int(index)] = value
        elif kind == "tsd":
            r.tsd[int(index)] = value & TSD_WRITABLE
            lib.rtl8139_tsd_written(r, int(index))
        elif kind == "tsad":
            r.tsad[int(index)] = value
        elif name in PLAIN:
            self._regs[name] = value & PLAIN[name][1]
        elif name in CONFIGS:
            if self._eem == EEM_CONFIG_WRITE:
                if name == "bmcr":
                    value &= ~(BMCR_RESET | BMCR_ANRESTART)  # self-clearing; AN is done at once
                self._regs[name] = (self._regs[name] & ~CONFIGS[name][1]
                                    | value & CONFIGS[name][1])
        elif name == "cr":
            self._write_cr(value)
        elif name == "rbstart":
            r.rbstart = value
        elif name == "capr":
            r.capr = value
            check(lib.nic_rx_room(self.core), "eventfd write")  # the driver made room
        elif name == "imr":
            r.imr = value & lib.RTL8139_ISR_ALL
        elif name == "isr":
            lib.rtl8139_isr_write(r, value)  # write 1 to clear; RXOVW stays while full
        elif name == "tcr":
            r.tcr = value & TCR_WRITABLE
        elif name == "rcr":
            r.rcr = value & RCR_WRITABLE
            self.kick()
        elif name == "tctr":
            self._tctr_base = time.monotonic_ns()  # any write restarts the count
        elif name == "cr9346":
            self._write_9346cr(value)
        elif name == "anar":
            self._regs["anar"] = value
        # mpc: writing clears it, and it is always 0; the rest are read-only

    def _write_cr(self, value):
        r = self.r
        if value & lib.RTL8139_CR_RST:
            self._soft_reset()
            return
        enabling = value & ~r.cr
        r.cr = value & (lib.RTL8139_CR_TE | lib.RTL8139_CR_RE)
        if enabling & lib.RTL8139_CR_TE:
            lib.rtl8139_tx(r)
        if enabling & lib.RTL8139_CR_RE:
            self.kick()

    def _write_9346cr(self, value):
        self._eem = value >> 6 & 3
        self._ee_pins = value & (EE_CS | EE_SK | EE_DI)
        if self._eem == EEM_PROGRAM:
            self.eeprom.pins(value & EE_CS, value & EE_SK, value & EE_DI)
        else:
            self.eeprom.pins(0, 0, 0)
        if self._eem == EEM_AUTOLOAD:
            self._autoload()
            self._eem = EEM_NORMAL  # the load is done at once

    def _autoload(self):
        """What the chip loads from the EEPROM: the MAC into IDR0-5."""
        mac = struct.pack("<3H", *self.eeprom.words[7:10])
        self.r.idr = list(mac)

    def _soft_reset(self):
        """CR.RST: transmitter and receiver off, pointers and interrupts back to their
        initial values; IDR, MAR, RCR, TCR, RBSTART and TSAD stay."""
        r = self.r
        r.cr = r.isr = r.imr = r.cbr = r.rx_full = 0
        r.capr = 0xFFF0  # the read pointer, less 16: the ring is empty
        for i in range(4):
            r.tsd[i] = lib.RTL8139_TSD_OWN
        r.tx_queued = 0
        lib.rtl8139_update_irq(r)
        self.update_irq_locked()

    def power_on_reset(self):
        """A system reset (PciDevice.system_reset): the EEPROM holds the configured address
        again (the image the VMM made of its configuration, as at start) and the chip does
        what it does at power-on (_power_on: IDR loaded from the EEPROM, MAR, RCR, TCR,
        RBSTART cleared, then a soft reset)."""
        if self.closed:
            return
        with self.lock:
            self.core.mac = list(self.mac)
            self.eeprom = Eeprom93C46(eeprom_image(self.mac))
            self._power_on()

    def _power_on(self):
        r = self.r
        r.rcr = r.tcr = r.rbstart = 0
        r.mar = [0] * 8
        r.tsad = [0] * 4
        self._regs = {name: reset for name, (reset, _) in {**PLAIN, **CONFIGS}.items()}
        self._regs["anar"] = ANAR_RESET_VALUE
        self._eem, self._ee_pins = EEM_NORMAL, 0
        self._tctr_base = time.monotonic_ns()
        self._autoload()
        self._soft_reset()
