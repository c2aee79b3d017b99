"""MSI-X (PCI 3.0, 6.8.2): a capability, a vector table and a pending-bit array in a BAR.

A device calls `notify(vector)`. The message is sent with KVM_SIGNAL_MSI when MSI-X is
enabled and neither the function nor the vector is masked; otherwise the vector's pending
bit is set and the message goes out when the guest unmasks it, as the spec requires.

For irqfds (kvmnet.vmm.msi_routes), `message(vector)` is the (address, data) a vector
delivers now, or None while it cannot (MSI-X off, function or vector masked), and each
listener in `on_change` is called after any guest write that may change that answer.
"""

import struct
import threading

from kvmnet.vmm.pci import Bar

CAP_ID = 0x11
CONTROL_ENABLE, CONTROL_FUNCTION_MASK = 0x8000, 0x4000
ENTRY_SIZE, VECTOR_MASKED = 16, 0x1
TABLE_OFFSET, PBA_OFFSET, BAR_SIZE = 0x0, 0x800, 0x1000
NO_VECTOR = 0xFFFF  # virtio's "no vector" value; notify() ignores it


class Msix:
    """MSI-X for one function: `vectors` entries, table and PBA in BAR `bar_index`."""

    def __init__(self, device, vectors, bar_index):
        if not 1 <= vectors <= 128:
            raise ValueError(f"{vectors} MSI-X vectors: this table holds 1..128")
        self.vectors = vectors
        self.signal = None  # signal(address, data): set when the device is plugged
        self.sent = 0
        self._table = bytearray(ENTRY_SIZE * vectors)
        self._pending = [False] * vectors
        self._power_on_table()
        self.on_change = []  # listeners(): a vector's message or mask may have changed
        self._lock = threading.Lock()
        self.bar = Bar(BAR_SIZE, device=self)
        body = struct.pack("<HII", vectors - 1, TABLE_OFFSET | bar_index, PBA_OFFSET | bar_index)
        self._device = device
        self._cap = device.add_capability(CAP_ID, body, writable=b"\x00\xc0",
                                          on_write=lambda _: self._changed())

    def _power_on_table(self):
        self._table[:] = bytes(len(self._table))
        for v in range(self.vectors):  # every vector starts masked
            self._table[v * ENTRY_SIZE + 12] = VECTOR_MASKED
        self._pending[:] = [False] * self.vectors

    def reset(self):
        """As at power-on (a system reset): MSI-X disabled, the function not masked, every
        vector masked with a zero message, nothing pending; then the listeners, so that
        what was bound to a vector (irqfds) lets go."""
        struct.pack_into("<H", self._device.config, self._cap + 2, self.vectors - 1)
        with self._lock:
            self._power_on_table()
        self._changed()

    @property
    def control(self):
        return struct.unpack_from("<H", self._device.config, self._cap + 2)[0]

    @property
    def enabled(self):
        return bool(self.control & CONTROL_ENABLE)

    def message(self, vector):
        """(address, data) that vector delivers now, or None while it cannot."""
        if not self.enabled or self.control & CONTROL_FUNCTION_MASK or vector >= self.vectors:
            return None
        with self._lock:
            address, data, control = struct.unpack_from("<QII", self._table, vector * ENTRY_SIZE)
        return None if control & VECTOR_MASKED else (address, data)

    def _changed(self):
        self._deliver_pending()
        for listener in self.on_change:
            listener()

    def notify(self, vector):
        """Signal vector; False when MSI-X is off (the device then uses INTx)."""
        if not self.enabled:
            return False
        if vector == NO_VECTOR or vector >= self.vectors:
            return True
        with self._lock:
            self._pending[vector] = True
        self._deliver_pending()
        return True

    def _deliver_pending(self):
        if not self.enabled or self.control & CONTROL_FUNCTION_MASK:
            return
        with self._lock:
            due = []
            for v, pending in enumerate(self._pending):
                address, data, control = struct.unpack_from("<QII", self._table, v * ENTRY_SIZE)
                if pending and not control & VECTOR_MASKED:
                    self._pending[v] = False
                    due.append((address, data))
        for address, data in due:
            self.sent += 1
            self.signal(address, data)

    # The BAR: the table at TABLE_OFFSET, the pending bits at PBA_OFFSET.
    def read(self, offset, size):
        if offset < len(self._table):
            return bytes(self._table[offset:offset + size]).ljust(size, b"\0")
        if PBA_OFFSET <= offset < PBA_OFFSET + 16:
            with self._lock:
                bits = sum(1 << v for v, p in enumerate(self._pending) if p)
            return bits.to_bytes(16, "little")[offset - PBA_OFFSET:][:size].ljust(size, b"\0")
        return bytes(size)

    def write(self, offset, data):
        if offset + len(data) <= len(self._table):
            with self._lock:
                self._table[offset:offset + len(data)] = data
            self._changed()  # the write may have unmasked a pending vector
