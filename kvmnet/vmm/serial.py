"""A 16550A UART: the guest's console and its control channel to the host.

Transmit and receive are immediate (no baud-rate timing): bytes fed with `feed` wait in the
receive FIFO, and THR writes go to `output`. No interrupt line is wired: the guest polls
LSR, which is the suite's datapath design (interrupts are checked apart).

The data path is C (native/uart.h): the receive FIFO and a transmit buffer live there, and
the vCPU's run loop answers LSR reads, RBR reads and THR writes itself (`fast_handler`),
handing what the guest wrote to `output` a line at a time (`fast_attend`). Python keeps the
other registers, and offset 0 while DLAB or loopback gives it another meaning. Bytes the
guest wrote may wait in C until their line ends: `flush()` hands them over now.
"""

import threading

from kvmnet.syscall import check, ffi, lib

# Register offsets (DLAB=0 unless noted) and bits, as in the 16550A datasheet.
RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)
LCR_DLAB, MCR_LOOP = lib.UART_LCR_DLAB, lib.UART_MCR_LOOP
IIR_NO_INTERRUPT, IIR_FIFO_ENABLED = 0x01, 0xC0
FCR_ENABLE, FCR_CLEAR_RX = 0x01, 0x02
MSR_CTS_DSR_DCD = 0xB0


class Uart16550:
    def __init__(self, output):
        """output(bytes) is called with the bytes the guest transmits, in order, from the
        thread that hands them over (a vCPU's, or flush()'s caller)."""
        self._output = output
        state = ffi.new("struct uart *")
        check(lib.uart_init(state), "uart_init")
        self._state = ffi.gc(state, lib.uart_destroy)
        self._taken = ffi.new("uint8_t[]", lib.UART_TX_SIZE)
        self._output_lock = threading.Lock()  # one hand-over at a time keeps bytes in order
        self.fast_handler = (
            ffi.cast("kvmnet_fast_handler *", ffi.addressof(lib, "uart_fast_access")),
            ffi.cast("void *", state))
        self.ier = self.scr = self.fcr = 0
        self.divisor = 12  # 9600 baud, the reset value firmware leaves

    # LCR and MCR live in C, where the run loop's handler reads DLAB and LOOP.
    lcr = property(lambda self: self._state.lcr)
    mcr = property(lambda self: self._state.mcr)

    def feed(self, data):
        """Bytes arriving on the line, for the guest to read (any thread)."""
        check(lib.uart_feed(self._state, ffi.from_buffer(data), len(data)), "uart_feed")

    def flush(self):
        """Hand what the guest transmitted and C still holds to `output` (any thread)."""
        self._transmit(b"")

    def fast_attend(self):
        """The run loop's handler took a line's end, or filled the transmit buffer."""
        self.flush()

    def read(self, offset, size):
        return bytes([self._read_register(offset)]) + b"\0" * (size - 1)

    def write(self, offset, data):
        self._write_register(offset, data[0])

    def _transmit(self, data):
        """What C holds, then data, to output."""
        with self._output_lock:
            n = lib.uart_tx_take(self._state, self._taken, lib.UART_TX_SIZE)
            data = ffi.buffer(self._taken, n)[:] + data
            if data:
                self._output(data)

    def _read_register(self, offset):
        dlab = self.lcr & LCR_DLAB
        if offset == RBR_THR:
            return self.divisor & 0xFF if dlab else lib.uart_rx_pop(self._state)
        if offset == IER:
            return self.divisor >> 8 if dlab else self.ier
        if offset == IIR_FCR:
            return IIR_NO_INTERRUPT | (IIR_FIFO_ENABLED if self.fcr & FCR_ENABLE else 0)
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == LSR:
            return lib.uart_lsr(self._state)
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
                self._transmit(bytes([value]))
        elif offset == IER:
            if dlab:
                self.divisor = self.divisor & 0xFF | value << 8
            else:
                self.ier = value & 0x0F
        elif offset == IIR_FCR:
            self.fcr = value
            if value & FCR_CLEAR_RX:
                lib.uart_rx_clear(self._state)
        elif offset == LCR:
            self._state.lcr = value
        elif offset == MCR:
            self._state.mcr = value & 0x1F
        elif offset == SCR:
            self.scr = value
