"""PCI on bus 0: configuration mechanism #1 (0xCF8/0xCFC) and type-0 configuration spaces.

BARs follow the spec's sizing protocol: writing all-ones reads back the size mask. When the
guest moves a BAR, or turns decoding on or off in COMMAND, the device's region is moved on
the I/O or MMIO bus by the `remap` callback the host bridge was given. Capabilities form the
usual linked list from CAPABILITIES_POINTER, from 0x40 up; each says which of its bits the
guest may write.

A system reset (PciBus.system_reset, for the machine's warm reset) puts every function in
its power-on state: PciDevice.system_reset does what PCI's RST# does to the configuration
space (COMMAND cleared, so no BAR decodes and each leaves its bus; BAR addresses 0; MSI-X off
and its table as at power-on; INTx low), and the function's own `power_on_reset` the rest.
"""

import struct
from dataclasses import dataclass
from typing import Callable, Optional

CONFIG_ADDRESS, CONFIG_DATA = 0xCF8, 0xCFC
ENABLE = 0x8000_0000

VENDOR_ID, DEVICE_ID, COMMAND, STATUS = 0x00, 0x02, 0x04, 0x06
REVISION_ID, CLASS_PROG = 0x08, 0x09
HEADER_TYPE, BAR0, SUBSYSTEM_VENDOR_ID = 0x0E, 0x10, 0x2C
CAPABILITIES_POINTER, INTERRUPT_LINE, INTERRUPT_PIN = 0x34, 0x3C, 0x3D
COMMAND_IO, COMMAND_MEMORY, COMMAND_MASTER = 0x1, 0x2, 0x4
STATUS_CAP_LIST = 0x10
BAR_IO = 0x1


class Bar:
    def __init__(self, size, io=False, device=None):
        if size & (size - 1) or size < (4 if io else 16):
            raise ValueError(f"BAR size {size:#x} is not a power of two of at least 4/16")
        self.size, self.io, self.device = size, io, device
        self.address = 0


@dataclass(frozen=True)
class Wiring:
    """What a machine hands a PCI function it plugs in (PciDevice.attach): its VM (for
    ioeventfds and coalesced zones), the guest's memory, its INTx line, the VM's coalesced
    ring (or None), and for MSI-X a way to send a message and the VM's MSI route table."""
    vm: object
    memory: object
    irq: object
    coalesced: object = None
    signal_msi: Optional[Callable] = None
    msi_routes: object = None


class PciDevice:
    """A type-0 function. Subclasses give ids, class and BARs, and handle BAR accesses."""

    # Set by attach(), when a machine plugs the function in; None before.
    irq = None          # its INTx line (kvmnet.vmm.irq.IrqLine)
    coalesced = None    # the VM's coalesced ring, for zones of its own
    msi_routes = None   # the VM's MSI routes (kvmnet.vmm.msi_routes.MsiRoutes)
    msix = None         # its MSI-X capability (kvmnet.vmm.msix.Msix), if it has one

    def __init__(self, vendor, device, class_code, revision=0, bars=(), interrupt_pin=0):
        self.config = bytearray(256)
        struct.pack_into("<HH", self.config, VENDOR_ID, vendor, device)
        struct.pack_into("<I", self.config, REVISION_ID, class_code << 8 | revision)
        self.config[INTERRUPT_PIN] = interrupt_pin
        self.bars = list(bars)  # BAR i; None where BAR i is not implemented
        for i, bar in enumerate(self.bars):
            self._store_bar(i, 0)
        self._caps = []  # (offset, writable mask over the whole capability, on_write)
        self.on_remap = None  # set by the host bridge: on_remap(device, bar_index, old, new)
        self.vm = None  # the kvmnet.kvm.Vm, set when plugged into a machine

    def attach(self, wiring: Wiring) -> None:
        """Take what the machine plugging this function in gives it; INTERRUPT_LINE names
        its GSI. A device that needs more overrides this and calls it."""
        self.vm, self.coalesced, self.msi_routes = wiring.vm, wiring.coalesced, wiring.msi_routes
        self.memory = wiring.memory
        self.irq = wiring.irq
        self.config[INTERRUPT_LINE] = wiring.irq.gsi
        if self.msix is not None:
            self.msix.signal = wiring.signal_msi

    def add_capability(self, cap_id, body, writable=b"", on_write=None):
        """Append capability cap_id whose bytes after the ID and next pointer are body.
        writable masks the bits of body the guest may change; on_write(offset into the
        capability) runs after a guest write touched it. Returns the capability's offset."""
        offset = self._caps[-1][0] + len(self._caps[-1][1]) if self._caps else 0x40
        offset = (offset + 3) & ~3
        if offset + 2 + len(body) > len(self.config):
            raise ValueError("PCI capabilities do not fit in 256 bytes of configuration space")
        self.config[offset:offset + 2 + len(body)] = bytes([cap_id, 0]) + bytes(body)
        if self._caps:
            self.config[self._caps[-1][0] + 1] = offset
        else:
            self.config[CAPABILITIES_POINTER] = offset
            self.config[STATUS] |= STATUS_CAP_LIST
        mask = b"\0\0" + bytes(writable).ljust(len(body), b"\0")
        self._caps.append((offset, mask, on_write))
        return offset

    def read_config(self, offset, size):
        return bytes(self.config[offset:offset + size])

    def write_config(self, offset, data):
        for i, byte in enumerate(data):
            self._write_config_byte(offset + i, byte)
        if offset < BAR0 + 4 * len(self.bars) and offset + len(data) > COMMAND:
            self._sync_bars()
        for cap, mask, on_write in self._caps:
            if on_write and offset < cap + len(mask) and cap < offset + len(data):
                on_write(max(offset - cap, 0))

    def _write_config_byte(self, offset, byte):
        if offset in (COMMAND, COMMAND + 1):
            self.config[offset] = byte & (0x07 if offset == COMMAND else 0x04)
        elif offset in (STATUS, STATUS + 1):
            # Only the error bits (8, 11-15) are write-one-to-clear; the rest are read-only.
            clearable = byte & (0x00 if offset == STATUS else 0xF9)
            self.config[offset] &= ~clearable & 0xFF
        elif BAR0 <= offset < BAR0 + 4 * len(self.bars):
            self.config[offset] = byte  # masked to the size in _sync_bars
        elif offset == INTERRUPT_LINE:
            self.config[offset] = byte
        else:
            for cap, mask, _ in self._caps:
                if cap <= offset < cap + len(mask):
                    m = mask[offset - cap]
                    self.config[offset] = self.config[offset] & ~m | byte & m

    def _sync_bars(self):
        for i, bar in enumerate(self.bars):
            raw = struct.unpack_from("<I", self.config, BAR0 + 4 * i)[0]
            self._store_bar(i, raw & ~(bar.size - 1) if bar else 0)
        command = self.config[COMMAND]
        for i, bar in enumerate(self.bars):
            if bar is None:
                continue
            decoding = command & (COMMAND_IO if bar.io else COMMAND_MEMORY)
            new = self._bar_base(i) if decoding else 0
            if new != bar.address:
                old, bar.address = bar.address, new
                if self.on_remap:
                    self.on_remap(self, i, old, new)
                self.bar_moved(i, old, new)

    def system_reset(self):
        """The function as a system reset leaves it (PCI RST#), with the vCPUs stopped:
        COMMAND cleared (no BAR decodes: each leaves its bus, bar_moved(i, old, 0)), BAR
        addresses 0, the error bits of STATUS clear, MSI-X as at power-on (off, every
        vector masked, nothing pending), then power_on_reset(), and INTx low. What the VMM
        wired (Interrupt Line) stays."""
        self.config[COMMAND] = self.config[COMMAND + 1] = 0
        self.config[STATUS + 1] &= ~0xF9 & 0xFF
        for i, bar in enumerate(self.bars):
            if bar is not None:
                self._store_bar(i, 0)
        self._sync_bars()
        if self.msix is not None:
            self.msix.reset()
        self.power_on_reset()
        if self.irq is not None:
            self.irq.set(False)

    def power_on_reset(self):
        """The function's own state as at power-on (its registers, EEPROM-loaded values,
        rings): what system_reset adds to the configuration space's reset. Models override
        it, reusing their own reset code; it runs with the function's BARs unmapped."""

    def bar_moved(self, index, old, new):
        """BAR index moved from old to new (0: not decoded); for devices that register
        addresses elsewhere (ioeventfds)."""

    def _store_bar(self, i, base):
        bar = self.bars[i]
        flags = BAR_IO if bar and bar.io else 0
        struct.pack_into("<I", self.config, BAR0 + 4 * i, (base & 0xFFFF_FFFF) | flags)

    def _bar_base(self, i):
        flag_bits = 0x3 if self.bars[i].io else 0xF  # I/O addresses start at bit 2
        return struct.unpack_from("<I", self.config, BAR0 + 4 * i)[0] & ~flag_bits & 0xFFFF_FFFF


class HostBridge(PciDevice):
    """Device 0: the host bridge itself, as an i440FX-like 8086:1237."""

    def __init__(self):
        super().__init__(0x8086, 0x1237, class_code=0x060000)


class PciBus:
    """Bus 0 behind CONFIG_ADDRESS/CONFIG_DATA; maps BARs onto the I/O and MMIO buses."""

    def __init__(self, pio_bus, mmio_bus):
        self._pio, self._mmio = pio_bus, mmio_bus
        self.devices = {}  # slot -> PciDevice
        self.address = 0
        self.conflicts = []  # BAR placements refused because they overlapped something
        self.add(0, HostBridge())

    def add(self, slot, device):
        if slot in self.devices or not 0 <= slot < 32:
            raise ValueError(f"PCI slot {slot} is taken or out of range")
        device.on_remap = self._remap
        self.devices[slot] = device

    def system_reset(self):
        """Every function back to its power-on state (PciDevice.system_reset), and
        CONFIG_ADDRESS cleared."""
        self.address = 0
        for device in self.devices.values():
            device.system_reset()

    def _remap(self, device, index, old, new):
        bar = device.bars[index]
        bus = self._pio if bar.io else self._mmio
        if old:
            bus.remove(bar.device, old)
        if new:
            try:
                bus.insert(bar.device, new, bar.size)
            except ValueError as e:
                # Overlapping BARs give "undefined results" (PCI 3.0, 6.2.5.1): here the
                # moved BAR decodes nothing until the guest moves it somewhere free.
                self.conflicts.append(str(e))

    # The two registers of configuration mechanism #1, as a device on the port bus.
    def read(self, offset, size):
        if offset < 4:
            data = self.address.to_bytes(4, "little")[offset:offset + size]
        else:
            device, reg = self._selected()
            data = b"" if device is None else device.read_config(reg + offset - 4, size)
        return (data + b"\xff" * size)[:size]  # what runs off a register reads as all-ones

    def write(self, offset, data):
        if offset < 4:
            if offset == 0 and len(data) == 4:
                self.address = int.from_bytes(data, "little")
            return
        device, reg = self._selected()
        if device is not None:
            device.write_config(reg + offset - 4, data)

    def _selected(self):
        if not self.address & ENABLE:
            return None, None
        bus, slot = self.address >> 16 & 0xFF, self.address >> 11 & 0x1F
        function, reg = self.address >> 8 & 0x7, self.address & 0xFC
        if bus or function:
            return None, None
        return self.devices.get(slot), reg
