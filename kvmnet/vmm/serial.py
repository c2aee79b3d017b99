"""A 16550A UART: the guest's console and its control channel to the host.

Transmit and receive are immediate (no baud-rate timing): bytes fed with `feed` wait in the
receive FIFO, and THR writes go to `output`. No interrupt line is wired: the guest polls
LSR, which is the suite's datapath design (interrupts are checked apart).

The data path is C (native/uart.h): the receive FIFO, a transmit buffer and the divisor
latch live there, and the vCPU's run loop answers LSR reads, offset 0 and (with DLAB) DLM
itself (`fast_handler`), handing what the guest wrote to `output` a line at a time
(`fast_attend`); `coalesce` lets THR writes skip the exit too. Python keeps the other
registers, and its own accesses go through the same C. Bytes the guest wrote may wait in C
until their line ends or the guest next reads LSR: `flush()` hands them over now.
"""

import threading

from kvmnet.syscall import check, ffi, lib

# Register offsets (DLAB=0) and bits, as in the 16550A datasheet.
RBR_THR, IER, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)
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
        self._opaque = ffi.cast("void *", state)
        self._taken = ffi.new("uint8_t[]", lib.UART_TX_SIZE)
        self._output_lock = threading.Lock()  # one hand-over at a time keeps bytes in order
        self.fast_handler = (
            ffi.cast("kvmnet_fast_handler *", ffi.addressof(lib, "uart_fast_access")),
            self._opaque)
        self.ier = self.scr = self.fcr = 0
        self._ring = None

    # In C, where the data path reads DLAB and LOOP from them.
    lcr = property(lambda self: self._state.lcr)
    mcr = property(lambda self: self._state.mcr)

    def feed(self, data):
        """Bytes arriving on the line, for the guest to read (any thread)."""
        check(lib.uart_feed(self._state, ffi.from_buffer(data), len(data)), "uart_feed")

    def coalesce(self, ring):
        """THR is a zone of ring, the VM's kvmnet.vmm.coalesced.CoalescedRing, which hands its
        entries to the data path: drain it before anything that could tell; with None, stop
        (after the ring was left)."""
        self._ring = ring  # keeps the C struct alive while C points to it
        lib.uart_coalesce(self._state, ffi.NULL if ring is None else ring.c)
        self.flush()

    def flush(self):
        """Hand what the guest transmitted and C still holds to `output` (any thread)."""
        self._transmit(b"")

    def reset(self):
        """The registers as at power-on (a system reset): what the guest transmitted is
        handed over first; what the host sent that the guest has not read is dropped; LCR,
        MCR, IER, FCR and SCR are 0. The divisor latch keeps its value (the guest programs
        it before use; nothing here times bytes by it)."""
        self.flush()
        lib.uart_rx_clear(self._state)
        lib.uart_set_control(self._state, 0, 0)
        self.ier = self.scr = self.fcr = 0

    def fast_attend(self):
        """The run loop's handler saw a line end, or the transmit buffer fill."""
        self.flush()

    def read(self, offset, size):
        data = bytearray(1)
        if not self._data_path(offset, data, False):
            data[0] = self._read_register(offset)
        return bytes(data) + b"\0" * (size - 1)

    def write(self, offset, data):
        if not self._data_path(offset, bytearray(data[:1]), True):
            self._write_register(offset, data[0])

    def _data_path(self, offset, data, is_write):
        """A byte access through the C handler, as the run loop makes it: False if declined."""
        ret = lib.uart_fast_access(self._opaque, offset, ffi.from_buffer(data), 1, is_write)
        if ret == lib.KVMNET_FAST_ATTEND:
            self.flush()
        return ret != lib.KVMNET_FAST_PYTHON

    def _transmit(self, data):
        """What C holds, then data, to output."""
        with self._output_lock:
            taken = []
            while n := lib.uart_tx_take(self._state, self._taken, lib.UART_TX_SIZE):
                taken.append(ffi.buffer(self._taken, n)[:])
            data = b"".join(taken) + data
            if data:
                self._output(data)

    def _read_register(self, offset):
        """Registers C declines to read: all but offset 0, LSR and (with DLAB) DLM."""
        if offset == IER:
            return self.ier
        if offset == IIR_FCR:
            return IIR_NO_INTERRUPT | (IIR_FIFO_ENABLED if self.fcr & FCR_ENABLE else 0)
        if offset == LCR:
            return self.lcr
        if offset == MCR:
            return self.mcr
        if offset == MSR:
            return MSR_CTS_DSR_DCD
        return self.scr

    def _write_register(self, offset, value):
        """Registers C declines to write: all but offset 0 and (with DLAB) DLM, and a THR
        write that found the transmit buffer full."""
        if offset == RBR_THR:
            self._transmit(bytes([value]))
        elif offset == IER:
            self.ier = value & 0x0F
        elif offset == IIR_FCR:
            self.fcr = value
            if value & FCR_CLEAR_RX:
                lib.uart_rx_clear(self._state)
        elif offset == LCR:
            lib.uart_set_control(self._state, value, self.mcr)
        elif offset == MCR:
            lib.uart_set_control(self._state, self.lcr, value & 0x1F)
        elif offset == SCR:
            self.scr = value
