"""What every NIC model shares: its MAC, backend, counters, fault switches, lock and the
device thread that waits on the backend (NicCore), and for a model that is a PCI function
of its own, its interrupt line (Nic: e1000, rtl8139). virtio-net
(kvmnet.devices.virtio_net) is a NicCore too, a virtio device on a transport.

A model's per-frame work is C (native/nic_io.h and the model's own file): its C state
embeds a `struct nic_core`, set up by the model's C init with the backend fd and the
model's nic_ops, and its device thread runs the core's nic_run. Python keeps register
semantics, per exit, under `self.lock` (the core's mutex, also held by the device thread
while it delivers frames). The base classes give:

    mac            the permanent address, 6 bytes (`mac_text` as '02:...')
    backend        .fd (tap or any datagram fd: one frame per read/write), .vnet_hdr_size
    memory         GuestMemory; set by the machine (DMA outside it is counted, never done)
    irq            .set(level): the INTx line; set by the machine
    counters       live view of struct nic_counters (below), plus any key a model adds
    faults         live set of test-only fault switches, from FAULTS
    start/close    the device thread; close() joins it and releases the eventfd; after
                   close() `closed` is true and register accesses must do nothing
    stop()         join the device thread; start() starts it again; `threads` while running
    kick()         wake the device thread: the guest returned buffers
    rx_defer_ms    how long RX defers to a busy driver (nic_ops.rx_driver_busy); 0: never
    attend()       the device thread's answer when nic_run asks Python to act
  Nic adds:
    update_irq()   put the level the model's C code wants on the line (call under the lock
                   as update_irq_locked() after a register access that may change it)
    fast_handler   (C handler, state) for the registers the vCPU's run loop answers itself
                   (models set it; kvmnet/vmm/bus.py), and fast_attend() when one of those
                   changed the interrupt level

Eeprom93C46 is the serial EEPROM both e1000 (EECD) and rtl8139 (9346CR) bit-bang.

Counters (native/nic_io.h, struct nic_counters):

    tx_frames, tx_bytes   frames handed to the backend, and their bytes
    tx_errors             frames the guest queued that were not sent (bad DMA, bad size,
                          offloads asked wrongly, backend write errors)
    tx_lost               frames the lose_descriptor fault completed unsent
    tx_blocked            times the backend was full and TX waited for room (nothing lost)
    rx_frames, rx_bytes   frames delivered to the guest, and their bytes (without FCS)
    rx_filtered           frames the address filter rejected
    rx_no_buffer          frames that found no room in the guest's ring: each is held and
                          delivered once the guest returns buffers (nothing lost)
    rx_dropped            frames dropped for another reason: RX off, too long, bad DMA
    rx_corrupted          frames the corrupt_rx fault altered
    dma_errors            guest addresses (rings, buffers) outside guest RAM
    backend_errors        backend read/write failures other than "try again"
    irqs_raised           interrupts signalled: INTx rising edges
    rx_deferred           times RX left the backend alone for a driver busy enough to give
                          buffers back first (e1000, virtio-net)
    ring_errors           malformed descriptor rings, each of which stopped its queue
                          (virtio-net, which then asks the driver to reset)

Fault switches (test only; each makes a conformance check fail if that check works):

    filter_bug       the unicast filter accepts any destination MAC
    lose_descriptor  one transmitted frame in 100 is completed to the guest as sent (its
                     descriptors or slot say so) but never reaches the backend
    corrupt_rx       one payload byte (the frame's last) of every received frame is flipped
                     after its FCS was computed
    pad_garbage      a short frame is padded to 60 bytes with what its buffer held, not zeros
    no_pad           e1000 sends short frames short though TCTL.PSP asks for padding
    mta_bits         e1000 indexes its multicast table with the bits of the next RCTL.MO
    bad_tx_csum      the TCP/UDP checksum the guest left to the device is wrong on the wire
                     (e1000 inserts it off by one; virtio-net: kvmnet.devices.virtio_net)
    tso_over_mss     e1000's TCP segmentation cuts one byte more than the MSS per segment
    rx_csum_trusted  e1000 marks every received frame TCPCS (checksum verified) unchecked
"""

import os
import threading
from collections.abc import MutableMapping, MutableSet

from kvmnet.syscall import check, ffi, lib
from kvmnet.testframe import mac_bytes
from kvmnet.vmm.pci import PciDevice

FAULTS = {
    "filter_bug": lib.NIC_FAULT_FILTER_BUG,
    "lose_descriptor": lib.NIC_FAULT_LOSE_DESCRIPTOR,
    "corrupt_rx": lib.NIC_FAULT_CORRUPT_RX,
    "pad_garbage": lib.NIC_FAULT_PAD_GARBAGE,
    "no_pad": lib.NIC_FAULT_NO_PAD,
    "mta_bits": lib.NIC_FAULT_MTA_BITS,
    "bad_tx_csum": lib.NIC_FAULT_BAD_TX_CSUM,
    "tso_over_mss": lib.NIC_FAULT_TSO_OVER_MSS,
    "rx_csum_trusted": lib.NIC_FAULT_RX_CSUM_TRUSTED,
}
COUNTERS = tuple(name for name, _ in ffi.typeof("struct nic_counters").fields)


def batch_scheduled():
    """Put the calling device thread under SCHED_BATCH, its own policy (no privilege).

    A device thread woken for each frame that reaches its backend otherwise preempts the
    thread sending them, on a host with few cores, and moves a few frames per wake: here
    a virtio-net RX thread woke 7,800 times for 40,000 frames and its sender was preempted
    7,600 times, where QEMU's I/O thread woke 450 times. Batch threads do not preempt on
    wakeup, so they take what arrived meanwhile in one go; a wake onto an idle core (a
    lone frame: a round trip) costs no more."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:  # a sandbox that forbids it: the device works, unbatched
        pass


def mac_text(mac):
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(mac):
    """'02:00:00:00:00:01' or 6 bytes -> 6 bytes; a multicast address is refused."""
    raw = mac_bytes(mac)
    if len(raw) != 6 or raw[0] & 1:
        raise ValueError(f"{mac!r} is not a unicast MAC address")
    return raw


class Counters(MutableMapping):
    """The core's counters as a dict; keys a model adds live beside them in Python."""

    def __init__(self, core):
        self._c = core.counters
        self._extra = {}

    def __getitem__(self, key):
        if key in COUNTERS:
            return getattr(self._c, key)
        return self._extra[key]

    def __setitem__(self, key, value):
        if key in COUNTERS:
            setattr(self._c, key, value)
        else:
            self._extra[key] = value

    def __delitem__(self, key):
        raise TypeError("counters cannot be removed")

    def __iter__(self):
        yield from COUNTERS
        yield from self._extra

    def __len__(self):
        return len(COUNTERS) + len(self._extra)

    def __repr__(self):
        return repr(dict(self))

    def reset(self):
        for key in self:
            self[key] = 0


class Faults(MutableSet):
    """The fault switches that are on, as a set of names; the C datapath sees changes at
    once."""

    def __init__(self, core, known):
        self._core, self._known = core, known

    def _bit(self, name):
        try:
            return self._known[name]
        except KeyError:
            raise ValueError(f"unknown fault {name!r}; known: {sorted(self._known)}") from None

    def __contains__(self, name):
        return name in self._known and bool(self._core.faults & self._known[name])

    def __iter__(self):
        return iter([name for name in self._known if name in self])

    def __len__(self):
        return sum(1 for _ in self)

    def add(self, name):
        self._core.faults |= self._bit(name)

    def discard(self, name):
        self._core.faults &= ~self._bit(name)

    def __repr__(self):
        return f"Faults({sorted(self)})"


class CoreLock:
    """The core's pthread mutex as a context manager (cffi drops the GIL while it waits)."""

    def __init__(self, core):
        self._core = core

    def __enter__(self):
        lib.nic_lock(self._core)
        return self

    def __exit__(self, *exc):
        lib.nic_unlock(self._core)


class NicCore:
    """Base of every NIC model. `state` is the model's C state (kept alive here), `core` a
    pointer to the struct nic_core in it, already set up by the model's C init; what the
    constructor does not take is passed on to the next base (a PciDevice's arguments)."""

    FAULTS = FAULTS
    NAME = "nic"
    BATCH = False  # the device thread under SCHED_BATCH (batch_scheduled)

    def __init__(self, mac, backend, faults=(), *, state, core, **rest):
        self._state, self.core = state, core
        try:
            super().__init__(**rest)
            self.mac = parse_mac(mac)
            self.backend = backend
            self.core.mac = list(self.mac)
            self.lock = CoreLock(core)
            self.counters = Counters(core)
            self.faults = Faults(core, self.FAULTS)
            for name in faults:
                self.faults.add(name)
        except BaseException:
            lib.nic_core_destroy(core)
            raise
        self._memory = None
        self._thread = None
        self.thread_error = None  # what ended the device thread, if not close()

    @property
    def mac_text(self):
        return mac_text(self.mac)

    @property
    def closed(self):
        """After close(): register accesses must do nothing (the core is gone)."""
        return self.core.priv == ffi.NULL

    @property
    def memory(self):
        return self._memory

    @memory.setter
    def memory(self, memory):
        with self.lock:
            self._memory = memory
            self.core.ram = ffi.cast("uint8_t *", memory.host_address) if memory else ffi.NULL
            self.core.ram_size = memory.size if memory else 0

    @property
    def rx_defer_ms(self):
        """How long RX defers to a busy driver before it reads the backend again; 0 turns
        deferral off."""
        return self.core.defer_ms

    @rx_defer_ms.setter
    def rx_defer_ms(self, ms):
        self.core.defer_ms = ms

    def start(self):
        if self._thread is not None:
            return
        if self.closed:
            raise RuntimeError(f"{self.NAME} is closed")
        self.core.stopping = 0
        self._thread = threading.Thread(target=self._run, name=f"kvmnet-{self.NAME}",
                                        daemon=True)
        self._thread.start()

    @property
    def threads(self):
        """The device's running threads (named kvmnet-<NAME>...)."""
        return [self._thread] if self._thread is not None else []

    def _run(self):
        try:
            if self.BATCH:
                batch_scheduled()
            while check(lib.nic_run(self.core), "nic_run") != lib.NIC_RUN_STOP:
                self.attend()
        except BaseException as e:  # kept for the test or machine that asks
            self.thread_error = e

    def attend(self):
        """The device thread's answer to NIC_RUN_ATTENTION (core.attention or the INTx
        level changed); a model clears what it acted on."""
        raise NotImplementedError

    def kick(self):
        """Wake the device thread: the guest made room, or TX may go on."""
        check(lib.nic_kick(self.core), "eventfd write")

    def stop(self):
        """Stop the device thread and wait for it; start() starts it again."""
        if self._thread is None:
            return
        with self.lock:
            self.core.stopping = 1
        self.kick()
        self._thread.join()
        self._thread = None

    def close(self):
        if self.closed:
            return
        self.stop()
        lib.nic_core_destroy(self.core)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.mac_text}>"


class Nic(NicCore, PciDevice):
    """A NIC model that is a PCI function with an INTx line (e1000, rtl8139).

    Its device thread is not SCHED_BATCH (virtio-net's RX thread is): a batch thread woken
    onto the core of a vCPU that busy-polls its ring does not preempt it and waits for the
    tick, so in some boots every rtl8139 round trip took 4 ms (HZ=250) and its streams
    swung 3x."""

    def attend(self):
        """Models with more than INTx (MSI-X) override it and clear core.attention."""
        with self.lock:
            self.core.attention = 0
            self.update_irq_locked()

    def update_irq(self):
        with self.lock:
            self.update_irq_locked()

    def fast_attend(self):
        """The vCPU's run loop answered a register access in the model's C handler, which
        changed the interrupt level (kvmnet/vmm/bus.py): put it on the line."""
        if not self.closed:
            self.update_irq()

    def update_irq_locked(self):
        level = self.core.irq_level
        if level == self.core.irq_line:
            return
        self.core.irq_line = level
        if level:
            self.core.counters.irqs_raised += 1
        if self.irq is not None:
            self.irq.set(bool(level))


class Eeprom93C46:
    """A 93C46 serial EEPROM: 64 words of 16 bits on the three-wire (Microwire) bus.

    While CS is high, each rising SK edge shifts DI in: a start bit (1), two opcode bits and
    six address bits, most significant first. READ (10) then drives a dummy 0 on DO and the
    word, most significant bit first, one bit per rising edge, going on with the next words
    for as long as CS stays high. EWEN/EWDS (00 11xxxx / 00 00xxxx), WRITE (01 + 16 data
    bits), ERASE (11), ERAL (00 10xxxx) and WRAL (00 01xxxx + 16 data bits) act at once;
    DO then reads 1 (ready). Dropping CS ends any command.
    """

    READ, WRITE, ERASE = 0b10, 0b01, 0b11
    WORDS, ADDRESS_BITS = 64, 6

    def __init__(self, words):
        if len(words) > self.WORDS:
            raise ValueError(f"a 93C46 holds {self.WORDS} words, not {len(words)}")
        self.words = [w & 0xFFFF for w in words] + [0xFFFF] * (self.WORDS - len(words))
        self.write_enabled = False
        self.do = 1
        self._cs = self._sk = 0
        self._command_start()

    def _command_start(self):
        self._started = False
        self._value = self._bits = 0
        self._reading = None  # the address being shifted out
        self._out_bit = 0
        self._done = False

    def pins(self, cs, sk, di):
        """Drive CS, SK and DI (truthy or not); returns DO (0 or 1)."""
        cs, sk, di = bool(cs), bool(sk), int(bool(di))
        if not cs:
            self._command_start()
            self.do = 1
        elif not self._cs:
            self._command_start()
        elif sk and not self._sk:
            self._clock(di)
        self._cs, self._sk = cs, sk
        return self.do

    def _clock(self, di):
        if self._reading is not None:
            self.do = self.words[self._reading] >> (15 - self._out_bit) & 1
            self._out_bit += 1
            if self._out_bit == 16:
                self._out_bit = 0
                self._reading = (self._reading + 1) % self.WORDS
            return
        if self._done:
            return
        if not self._started:
            self._started = bool(di)  # zeros before the start bit are ignored
            return
        self._value = self._value << 1 | di
        self._bits += 1
        head = 2 + self.ADDRESS_BITS
        if self._bits == head:
            self._command(self._value >> self.ADDRESS_BITS, self._value & (self.WORDS - 1))
        elif self._bits == head + 16:
            self._write_data(self._value >> 16 & 0xFF, self._value & 0xFFFF)

    def _command(self, opcode, address):
        special = address >> (self.ADDRESS_BITS - 2)  # opcode 00: the top address bits
        if opcode == self.READ:
            self._reading, self.do = address, 0
            return
        if opcode == self.WRITE or (opcode == 0 and special == 0b01):
            return  # 16 data bits follow
        if opcode == self.ERASE:
            self._store(range(address, address + 1), 0xFFFF)
        elif special == 0b11:
            self.write_enabled = True
        elif special == 0b00:
            self.write_enabled = False
        elif special == 0b10:
            self._store(range(self.WORDS), 0xFFFF)
        self._done = True

    def _write_data(self, head, data):
        opcode, address = head >> self.ADDRESS_BITS, head & (self.WORDS - 1)
        self._store(range(address, address + 1) if opcode == self.WRITE else range(self.WORDS),
                    data)
        self._done = True

    def _store(self, addresses, value):
        if self.write_enabled:
            for a in addresses:
                self.words[a] = value
        self.do = 1
