"""A 16550A UART: the guest's console and its control channel to the host.

Transmit and receive are immediate (no baud-rate timing): THR writes go straight to
`output`, and bytes fed with `feed` wait in the receive FIFO. No interrupt line is wired:
the guest polls LSR, which is the suite's datapath design (interrupts are checked apart).
"""

import threading
from collections import deque

# Register offsets (DLAB=0 unless noted) and bits, as in the 16550A datasheet.
RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)
LCR_DLAB = 0x80
LSR_DR, LSR_THRE, LSR_TEMT = 0x01, 0x20, 0x40
IIR_NO_INTERRUPT, IIR_FIFO_ENABLED = 0x01, 0xC0
FCR_ENABLE, FCR_CLEAR_RX = 0x01, 0x02
MSR_CTS_DSR_DCD = 0xB0
MCR_LOOP = 0x10


class Uart16550:
    def __init__(self, output, on_rx_state=None):
        """output(bytes) is called with every byte the guest transmits; on_rx_state(bool),
        when given, whenever the receive FIFO turns non-empty or empty (under the lock)."""
        self._output = output
        self._on_rx_state = on_rx_state or (lambda has_data: None)
        self._rx = deque()
        self._lock = threading.Lock()
        self.ier = self.lcr = self.mcr = self.scr = self.fcr = 0
        self.divisor = 12  # 9600 baud, the reset value firmware leaves

    def feed(self, data):
        """Bytes arriving on the line, for the guest to read (any thread)."""
        with self._lock:
            self._rx.extend(data)
            if self._rx:
                self._on_rx_state(True)

    def read(self, offset, size):
        return bytes([self._read_register(offset)]) + b"\0" * (size - 1)

    def write(self, offset, data):
        self._write_register(offset, data[0])

    def _read_register(self, offset):
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                return self.divisor & 0xFF
            with self._lock:
                byte = self._rx.popleft() if self._rx else 0
                if not self._rx:
                    self._on_rx_state(False)
                return byte
        if offset == IER:
            return self.divisor >> 8 if dlab else self.ier
        if offset == IIR_FCR:
            return IIR_NO_INTERRUPT | (IIR_FIFO_ENABLED if self.fcr & FCR_ENABLE else 0)
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            with self._lock:
                return LSR_THRE | LSR_TEMT | (LSR_DR if self._rx else 0)
        if offset == MSR:
            return MSR_CTS_DSR_DCD
        return self.scr

    def _write_register(self, offset, value):
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            if dlab:
                self.divisor = self.divisor & 0xFF00 | value
            elif self.mcr & MCR_LOOP:
                self.feed(bytes([value]))
            else:
                self._output(bytes([value]))
        elif offset == IER:
            if dlab:
                self.divisor = self.divisor & 0xFF | value << 8
            else:
                self.ier = value & 0x0F
        elif offset == IIR_FCR:
            self.fcr = value
            if value & FCR_CLEAR_RX:
                with self._lock:
                    self._rx.clear()
                    self._on_rx_state(False)
        elif offset == LCR:
            self.lcr = value
        elif offset == MCR:
            self.mcr = value & 0x1F
            with self._lock:  # loopback changes what LSR means: let the slow path see it
                self._on_rx_state(bool(self._rx) or bool(self.mcr & MCR_LOOP))
        elif offset == SCR:
            self.scr = value
