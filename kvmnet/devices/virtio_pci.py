"""The virtio PCI transport (virtio 1.2, 4.1): a virtio device seen as a PCI function.

Modern (1af4:1040+id): vendor capabilities point into BAR4 at the common configuration, the
notification area, the ISR status byte and the device configuration. Transitional
(1af4:1000+id-1) adds the legacy interface: the same device behind an I/O BAR0, with
page-frame queue addresses and guest-endian fields. MSI-X lives in BAR1 and INTx is the
fallback. The device behind it (`VirtioDevice` below) knows nothing of PCI.

Queue interrupts go through one eventfd per queue (kvmnet.devices.virtio_calls): an irqfd
on the queue's MSI-X vector while the guest has it unmasked, else a watcher thread that
delivers INTx or the pending bit; so whoever serves a queue (the C datapath, a vhost
backend) interrupts the guest by writing an eventfd.
"""

import struct
import threading

from kvmnet.devices.virtio_calls import QueueCalls
from kvmnet.vmm.msix import NO_VECTOR, Msix
from kvmnet.vmm.pci import Bar, PciDevice

VENDOR, SUBSYSTEM_VENDOR = 0x1AF4, 0x1AF4
CAP_VENDOR = 0x09
CAP_COMMON, CAP_NOTIFY, CAP_ISR, CAP_DEVICE, CAP_PCI_CFG = 1, 2, 3, 4, 5
STATUS_ACKNOWLEDGE, STATUS_DRIVER, STATUS_DRIVER_OK = 1, 2, 4
STATUS_FEATURES_OK, STATUS_NEEDS_RESET, STATUS_FAILED = 8, 64, 128
ISR_QUEUE, ISR_CONFIG = 1, 2
F_VERSION_1 = 1 << 32
QUEUE_MAX = 256
LEGACY_PAGE = 4096

# BAR4 (modern): one page per structure; queue i is notified at NOTIFY + i * NOTIFY_MULT.
COMMON, ISR, DEVICE_CFG, NOTIFY, NOTIFY_MULT, MODERN_BAR_SIZE = 0x0, 0x1000, 0x2000, 0x3000, 4, 0x4000
MSIX_BAR, MODERN_BAR = 1, 4


class Queue:
    """A virtqueue's configuration as the driver wrote it."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.size, self.enabled, self.vector = QUEUE_MAX, False, NO_VECTOR
        self.desc = self.driver = self.device = 0
        self.last_avail = 0  # for queues the VMM walks in Python (control)


class VirtioDevice:
    """What a device type provides to the transport."""

    DEVICE_ID = 0
    QUEUES = 0

    def features(self):
        """Every feature bit the device offers (an int, bits 0..63)."""
        raise NotImplementedError

    def config(self):
        """The device configuration space, bytes."""
        raise NotImplementedError

    def write_config(self, offset, data):
        """A driver write to the device configuration (most devices ignore it)."""

    def activate(self, features, queues):
        """DRIVER_OK: the driver accepted `features` and set `queues` up."""

    def notify(self, index):
        """The driver kicked queue `index`."""

    def notify_fd(self, index):
        """An eventfd that KVM may signal for kicks of queue `index` instead of exiting to
        the VMM (an ioeventfd), or None to take them as exits through notify()."""
        return None

    def reset(self):
        """The driver wrote 0 to the status: back to the state after power-on."""


class VirtioPci(PciDevice):
    """A VirtioDevice on PCI, modern-only or transitional."""

    def __init__(self, device, transitional=False, class_code=0x020000):
        self.virtio, self.transitional = device, transitional
        self.queues = [Queue() for _ in range(device.QUEUES)]
        modern_bar = Bar(MODERN_BAR_SIZE, device=_Region(self._modern_read, self._modern_write))
        legacy_bar = Bar(64, io=True, device=_Region(self._legacy_read, self._legacy_write))
        bars = [legacy_bar if transitional else None, None, None, None, modern_bar]
        device_id = 0x1000 + device.DEVICE_ID - 1 if transitional else 0x1040 + device.DEVICE_ID
        super().__init__(VENDOR, device_id, class_code, revision=0 if transitional else 1,
                         bars=bars, interrupt_pin=1)
        struct.pack_into("<HH", self.config, 0x2C, SUBSYSTEM_VENDOR,
                         device.DEVICE_ID if transitional else 0x40 + device.DEVICE_ID)
        self.msix = Msix(self, device.QUEUES + 1, MSIX_BAR)
        self.bars[MSIX_BAR] = self.msix.bar
        self._store_bar(MSIX_BAR, 0)
        for cfg_type, offset, length in ((CAP_COMMON, COMMON, 0x38), (CAP_ISR, ISR, 1),
                                         (CAP_DEVICE, DEVICE_CFG, 0x100)):
            self.add_capability(CAP_VENDOR, _cap(cfg_type, offset, length))
        self.add_capability(CAP_VENDOR, _cap(CAP_NOTIFY, NOTIFY, NOTIFY_MULT * device.QUEUES)
                            + struct.pack("<I", NOTIFY_MULT))
        self._lock = threading.RLock()
        self.calls = QueueCalls(self, device.QUEUES)
        self.msix.on_change.append(self.calls.sync)
        self._reset_state()

    def _reset_state(self):
        self.status = 0
        self.isr = 0
        self.config_vector = NO_VECTOR
        self.device_feature_select = self.driver_feature_select = 0
        self.driver_features = 0
        self.queue_select = 0
        self.legacy = False  # the driver uses the legacy interface
        for q in self.queues:
            q.reset()

    def power_on_reset(self):
        """A system reset (PciDevice.system_reset): the device reset a driver makes by
        writing 0 to the status (VirtioDevice.reset, the transport's registers and queues)."""
        self._write_status(0)

    # Kicks caught by KVM: an ioeventfd per queue on its notify address, moved with the BAR.
    def bar_moved(self, index, old, new):
        if self.vm is None or index not in (MODERN_BAR, 0):
            return
        for q in range(len(self.queues)):
            fd = self.virtio.notify_fd(q)
            if fd is None:
                continue
            for base, assign in ((old, False), (new, True)):
                if base:
                    self._ioeventfd(index, base, q, fd, deassign=not assign)

    def _ioeventfd(self, bar, base, queue, fd, deassign=False):
        if bar == MODERN_BAR:
            self.vm.ioeventfd(fd, base + NOTIFY + NOTIFY_MULT * queue, 2, deassign=deassign)
        else:  # the legacy notify register: one port for every queue, told apart by value
            self.vm.ioeventfd(fd, base + 0x10, 2, pio=True, datamatch=queue, deassign=deassign)

    def notify_addresses(self):
        """{('MMIO' or 'IO', address)} where the driver kicks a queue (as exits are keyed)."""
        found = set()
        modern, legacy = self.bars[MODERN_BAR], self.bars[0]
        if modern is not None and modern.address:
            found |= {("MMIO", modern.address + NOTIFY + NOTIFY_MULT * q)
                      for q in range(len(self.queues))}
        if legacy is not None and legacy.address:
            found.add(("IO", legacy.address + 0x10))
        return found

    def release_ioeventfds(self):
        """Unregister every ioeventfd (before the device closes its eventfds)."""
        for index in (MODERN_BAR, 0):
            bar = self.bars[index]
            if bar is not None and bar.address:
                self.bar_moved(index, bar.address, 0)

    # Interrupts: MSI-X when the driver enabled it, else INTx with the ISR byte.
    def interrupt(self, queue_index=None):
        """Interrupt for a queue (None: a configuration change): through the queue's
        irqfd when it is one, else delivered here."""
        if queue_index is not None and self.calls.bound(queue_index):
            self.calls.signal(queue_index)
            return
        self.deliver(queue_index)

    def deliver(self, queue_index=None):
        """The VMM's own delivery: the MSI-X message (or pending bit), else INTx + ISR."""
        vector = self.config_vector if queue_index is None else self.queues[queue_index].vector
        if self.msix.notify(vector):
            return
        with self._lock:
            self.isr |= ISR_CONFIG if queue_index is None else ISR_QUEUE
            if self.irq is not None:
                self.irq.set(True)

    def activated(self):
        """The device took DRIVER_OK (VirtioDevice.activate): a hook for what a transport
        adds to it (the vhost handoff, kvmnet.devices.virtio_vhost)."""

    def needs_reset(self):
        """The device cannot go on until the driver resets it."""
        self.status |= STATUS_NEEDS_RESET
        if self.status & STATUS_DRIVER_OK:
            self.interrupt(None)

    def _read_isr(self):
        with self._lock:
            value, self.isr = self.isr, 0
            if self.irq is not None:
                self.irq.set(False)
        return value

    # Status and feature negotiation, shared by both interfaces.
    def _write_status(self, value):
        if value == 0:
            self.virtio.reset()
            with self._lock:
                self._reset_state()
                if self.irq is not None:
                    self.irq.set(False)
            self.calls.sync()
            return
        if value & STATUS_FEATURES_OK and not self.status & STATUS_FEATURES_OK:
            offered = self.virtio.features() | (0 if self.legacy else F_VERSION_1)
            if self.driver_features & ~offered or not self.driver_features & F_VERSION_1:
                value &= ~STATUS_FEATURES_OK  # the driver re-reads and sees it refused
        if value & STATUS_DRIVER_OK and not self.status & STATUS_DRIVER_OK:
            self.status = value
            self.calls.sync()
            self.virtio.activate(self.driver_features, self.queues)
        self.status = value

    # The modern interface: BAR4.
    def _modern_read(self, offset, size):
        if COMMON <= offset < ISR:
            return _field_read(self._common(), offset - COMMON, size)
        if offset == ISR:
            return bytes([self._read_isr()]) + bytes(size - 1)
        if DEVICE_CFG <= offset < NOTIFY:
            return _field_read(self.virtio.config(), offset - DEVICE_CFG, size)
        return bytes(size)

    def _modern_write(self, offset, data):
        value = int.from_bytes(data, "little")
        if NOTIFY <= offset < MODERN_BAR_SIZE:
            index = (offset - NOTIFY) // NOTIFY_MULT
            if index < len(self.queues):
                self.virtio.notify(index)
        elif DEVICE_CFG <= offset < NOTIFY:
            self.virtio.write_config(offset - DEVICE_CFG, data)
        elif COMMON <= offset < ISR:
            self._common_write(offset - COMMON, len(data), value)

    def _common(self):
        q = self.queues[self.queue_select] if self.queue_select < len(self.queues) else None
        features = self.virtio.features() | F_VERSION_1
        select = self.device_feature_select
        return struct.pack(
            "<IIIIHHBBHHHHHQQQ", select, features >> 32 * select & 0xFFFF_FFFF if select < 2 else 0,
            self.driver_feature_select,
            self.driver_features >> 32 * self.driver_feature_select & 0xFFFF_FFFF
            if self.driver_feature_select < 2 else 0,
            self.config_vector, len(self.queues), self.status, 0,
            self.queue_select, q.size if q else 0, q.vector if q else NO_VECTOR,
            int(q.enabled) if q else 0, self.queue_select if q else 0,
            q.desc if q else 0, q.driver if q else 0, q.device if q else 0)

    def _common_write(self, offset, size, value):
        q = self.queues[self.queue_select] if self.queue_select < len(self.queues) else None
        if offset == 0x00:
            self.device_feature_select = value
        elif offset == 0x08:
            self.driver_feature_select = value
        elif offset == 0x0C and self.driver_feature_select < 2:
            shift = 32 * self.driver_feature_select
            self.driver_features = self.driver_features & ~(0xFFFF_FFFF << shift) | value << shift
        elif offset == 0x10:
            self.config_vector = value
        elif offset == 0x14:
            self._write_status(value & 0xFF)
        elif offset == 0x16:
            self.queue_select = value
        elif q is None:
            return
        elif offset == 0x18 and value and not value & (value - 1) and value <= QUEUE_MAX:
            q.size = value
        elif offset == 0x1A:
            q.vector = value
            self.calls.sync()
        elif offset == 0x1C:
            q.enabled = bool(value & 1)
        elif 0x20 <= offset < 0x38:
            name = ("desc", "driver", "device")[(offset - 0x20) // 8]
            old = getattr(q, name)
            shift = 8 * ((offset - 0x20) % 8)
            mask = ((1 << 8 * size) - 1) << shift
            setattr(q, name, old & ~mask | value << shift)

    # The legacy interface (transitional only): I/O BAR0.
    def _legacy_header(self):
        q = self.queues[self.queue_select] if self.queue_select < len(self.queues) else None
        pfn = q.desc // LEGACY_PAGE if q and q.enabled else 0
        header = struct.pack("<IIIHHHBB", self.virtio.features() & 0xFFFF_FFFF,
                             self.driver_features & 0xFFFF_FFFF, pfn, q.size if q else 0,
                             self.queue_select, 0, self.status, 0)
        if self.msix.enabled:
            header += struct.pack("<HH", self.config_vector, q.vector if q else NO_VECTOR)
        return header

    def _legacy_read(self, offset, size):
        header = self._legacy_header()
        if offset == 0x13:
            return bytes([self._read_isr()]) + bytes(size - 1)
        if offset < len(header):
            return _field_read(header, offset, size)
        return _field_read(self.virtio.config(), offset - len(header), size)

    def _legacy_write(self, offset, data):
        value = int.from_bytes(data, "little")
        header = len(self._legacy_header())
        q = self.queues[self.queue_select] if self.queue_select < len(self.queues) else None
        self.legacy = True
        if offset == 0x04:
            self.driver_features = value
        elif offset == 0x08 and q is not None:
            self._legacy_queue_address(q, value)
        elif offset == 0x0E:
            self.queue_select = value
        elif offset == 0x10:
            if value < len(self.queues):
                self.virtio.notify(value)
        elif offset == 0x12:
            self._write_status(value & 0xFF)
        elif offset == 0x14 and header > 0x14:
            self.config_vector = value
        elif offset == 0x16 and header > 0x14 and q is not None:
            q.vector = value
            self.calls.sync()
        elif offset >= header:
            self.virtio.write_config(offset - header, data)

    @staticmethod
    def _legacy_queue_address(q, pfn):
        """Legacy rings are one block: descriptors, then the available ring, then (page
        aligned) the used ring."""
        q.enabled = bool(pfn)
        q.desc = pfn * LEGACY_PAGE
        q.driver = q.desc + 16 * q.size
        used = q.driver + 6 + 2 * q.size
        q.device = (used + LEGACY_PAGE - 1) & ~(LEGACY_PAGE - 1)


class _Region:
    """A BAR's device: reads and writes go to two functions."""

    def __init__(self, read, write):
        self.read, self.write = read, write


def _cap(cfg_type, offset, length):
    """The body of a virtio_pci_cap after cap_vndr and cap_next."""
    has_multiplier = cfg_type == CAP_NOTIFY
    return struct.pack("<BBBBHII", 16 + 4 * has_multiplier, cfg_type, MODERN_BAR, 0, 0,
                       offset, length)


def _field_read(block, offset, size):
    return bytes(block[offset:offset + size]).ljust(size, b"\0")
