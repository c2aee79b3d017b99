"""COM1's data path in the run loop (native/uart.h): received bytes fed from any thread reach
the guest whole and in order, transmitted bytes reach the host a line at a time but always
complete and in order -- those KVM coalesced too, with the meaning they were written with --
and what C does not answer goes to Python. (That each register behaves as the datasheet
says either way is tests/test_vmm_serial.py.)"""

import random
import threading
import time

import pytest

from kvmnet.guest_image import build
from kvmnet.kvm import Cap
from kvmnet.runners import BuiltinRunner
from kvmnet.syscall import lib
from kvmnet.vmm.bus import Bus
from kvmnet.vmm.coalesced import CoalescedRing
from kvmnet.vmm.machine import COM1, GuestHung, Machine
from kvmnet.vmm.serial import IER, IIR_FCR, LCR, LSR, MCR, MSR, RBR_THR, SCR, Uart16550
from kvmnet.vmm.vcpu import GuestCrashed
from support.drivers.coalesced_ring import KvmRing
from support.images import image

DONE, PYTHON, ATTEND = lib.KVMNET_FAST_DONE, lib.KVMNET_FAST_PYTHON, lib.KVMNET_FAST_ATTEND
LSR_DR = lib.UART_LSR_DR


class Port:
    """COM1 on a bus as the run loop sees it: each access through the C table only."""

    def __init__(self):
        self.output = []
        self.uart = Uart16550(self.output.append)
        self.bus = Bus("test I/O")
        self.bus.insert(self.uart, COM1, 8)

    def coalesce(self, ring):
        """THR a zone of ring (a Ring, or None to leave it), as the machine sets it up."""
        if ring is None:
            self.coalesced.close()
            self.uart.coalesce(None)
            return
        self.coalesced = CoalescedRing(ring.ring, self.bus, Bus("test MMIO"))
        self.uart.coalesce(self.coalesced)

    def inb(self, offset):
        data = bytearray(1)
        return self.bus.fast_access(COM1 + offset, data, False), data[0]

    def outb(self, offset, value):
        return self.bus.fast_access(COM1 + offset, bytearray([value]), True)


@pytest.fixture
def port():
    return Port()


def test_bytes_fed_from_another_thread_arrive_whole_and_in_order(port):
    sent = bytes(random.Random(7).randrange(256) for _ in range(50_000))

    def feed():
        rng, i = random.Random(8), 0
        while i < len(sent):
            n = rng.randrange(1, 300)
            port.uart.feed(sent[i:i + n])
            i += n

    feeder = threading.Thread(target=feed)
    feeder.start()
    got = bytearray()
    while len(got) < len(sent):
        ret, lsr = port.inb(LSR)
        assert ret == DONE, "an LSR read went to Python"
        if lsr & LSR_DR:
            ret, byte = port.inb(RBR_THR)
            assert ret == DONE, "an RBR read went to Python"
            got.append(byte)
    feeder.join()
    assert got == sent
    assert port.inb(LSR) == (DONE, lib.UART_LSR_THRE | lib.UART_LSR_TEMT)


def test_a_line_is_handed_over_once_when_it_ends(port):
    assert [port.outb(RBR_THR, c) for c in b"ok"] == [DONE, DONE]
    assert port.output == [], "bytes went to Python one by one"
    assert port.outb(RBR_THR, ord("\n")) == ATTEND
    port.bus.attend(COM1)
    assert port.output == [b"ok\n"]


def test_a_line_longer_than_the_buffer_is_handed_over_in_order(port):
    line = bytes(65 + i % 26 for i in range(2 * lib.UART_TX_SIZE + 10)) + b"\n"
    attends = 0
    for c in line:
        ret = port.outb(RBR_THR, c)
        assert ret in (DONE, ATTEND)
        if ret == ATTEND:
            attends += 1
            port.bus.attend(COM1)
    assert attends == 3, "one hand-over per full buffer and one at the line's end"
    assert [len(chunk) for chunk in port.output] == [lib.UART_TX_SIZE, lib.UART_TX_SIZE, 11]
    assert b"".join(port.output) == line


def test_a_write_that_finds_the_buffer_full_goes_to_python_after_it(port):
    """Another vCPU filled the buffer and Python has not taken it yet."""
    for i in range(lib.UART_TX_SIZE):
        port.outb(RBR_THR, ord("a"))
    assert port.outb(RBR_THR, ord("b")) == PYTHON
    port.uart.write(RBR_THR, b"b")
    assert port.output == [b"a" * lib.UART_TX_SIZE + b"b"]


def test_the_divisor_latch_is_served_in_c_and_leaves_received_bytes_waiting(port):
    port.uart.feed(b"q")
    assert port.outb(LCR, lib.UART_LCR_DLAB) == PYTHON
    port.uart.write(LCR, bytes([lib.UART_LCR_DLAB]))
    assert (port.outb(RBR_THR, 0x01), port.outb(lib.UART_DLM, 0x02)) == (DONE, DONE)
    assert (port.inb(RBR_THR), port.inb(lib.UART_DLM)) == ((DONE, 0x01), (DONE, 0x02))
    assert port.inb(LSR) == (DONE, lib.UART_LSR_THRE | lib.UART_LSR_TEMT | LSR_DR)
    port.uart.write(LCR, b"\x03")
    assert port.inb(RBR_THR) == (DONE, ord("q"))
    assert port.inb(lib.UART_DLM)[0] == PYTHON, "IER read as the divisor latch"
    assert port.output == [], "a divisor write was transmitted"


def test_loopback_is_served_in_c_and_keeps_bytes_off_the_line(port):
    port.uart.write(MCR, bytes([lib.UART_MCR_LOOP]))
    assert port.outb(RBR_THR, 0x5A) == DONE
    assert port.inb(LSR)[1] & LSR_DR
    assert port.inb(RBR_THR) == (DONE, 0x5A)
    port.uart.write(MCR, b"\x00")
    assert port.outb(RBR_THR, ord("\n")) == ATTEND
    port.bus.attend(COM1)
    assert port.output == [b"\n"], "a looped-back byte reached the line"


@pytest.mark.parametrize("offset, size, is_write", [
    (IER, 1, False), (IER, 1, True), (IIR_FCR, 1, False), (IIR_FCR, 1, True),
    (LCR, 1, False), (LCR, 1, True), (MCR, 1, True), (LSR, 1, True), (MSR, 1, False),
    (SCR, 1, True), (RBR_THR, 2, False), (LSR, 2, False)])
def test_other_registers_and_widths_go_to_python_untouched(port, offset, size, is_write):
    port.uart.feed(b"k")
    data = bytearray(b"\xee" * size)
    assert port.bus.fast_access(COM1 + offset, data, is_write) == PYTHON
    assert data == b"\xee" * size, "a declined access changed the data"
    assert port.inb(RBR_THR) == (DONE, ord("k")), "a declined access took a received byte"


# -- THR writes KVM coalesced ------------------------------------------------------------------

class ThrRing(KvmRing):
    """The ring with the guest's THR writes in it, a byte each."""

    def transmit(self, data):
        for byte in data:
            self.write(COM1, bytes([byte]), pio=True)


@pytest.fixture
def ring(port):
    r = ThrRing()
    port.coalesce(r)
    yield r
    port.coalesce(None)


def test_coalesced_writes_come_out_at_the_next_lsr_read_in_order_with_exits(port, ring):
    ring.transmit(b"ab")
    assert port.outb(RBR_THR, ord("c")) == DONE  # the ring was full: this one exited
    ring.transmit(b"d\n")
    assert port.output == [] and ring.held == 2
    assert port.inb(LSR) == (ATTEND, lib.UART_LSR_THRE | lib.UART_LSR_TEMT)
    assert ring.held == 0
    port.bus.attend(COM1)
    assert port.output == [b"abcd\n"]


def test_coalesced_writes_keep_the_meaning_they_had_when_written(port, ring):
    port.uart.write(LCR, bytes([lib.UART_LCR_DLAB]))
    ring.transmit(b"\x07")  # DLL
    port.uart.write(LCR, b"\x03")
    ring.transmit(b"x")  # THR
    port.uart.write(MCR, bytes([lib.UART_MCR_LOOP]))
    ring.transmit(b"y")  # into the receiver
    port.uart.write(IIR_FCR, b"\x03")  # RX clear: y goes
    ring.transmit(b"z")
    port.uart.write(MCR, b"\x00")
    assert port.inb(RBR_THR) == (DONE, ord("z"))
    port.uart.flush()
    assert port.output == [b"x"]
    port.uart.write(LCR, bytes([lib.UART_LCR_DLAB]))
    assert port.inb(RBR_THR) == (DONE, 0x07), "the DLL write was not one"


def test_the_ring_is_read_across_its_wrap(port, ring):
    text = bytes(97 + i % 26 for i in range(3 * ring.max))
    for i in range(0, len(text), 50):
        ring.transmit(text[i:i + 50])
        port.inb(LSR)
    port.uart.flush()
    assert b"".join(port.output) == text


def test_a_full_transmit_buffer_leaves_the_rest_in_the_ring_until_taken(port, ring):
    for _ in range(lib.UART_TX_SIZE - 4):
        port.outb(RBR_THR, ord("a"))
    ring.transmit(b"bbbbcccccc")
    assert port.inb(LSR)[0] == ATTEND
    assert ring.held == 6, "the ring was emptied past a full buffer"
    port.bus.attend(COM1)
    assert port.output == [b"a" * (lib.UART_TX_SIZE - 4) + b"bbbbcccccc"]


def test_leaving_the_ring_hands_over_what_it_holds(port):
    ring = ThrRing()
    port.coalesce(ring)
    ring.transmit(b"last words")
    port.coalesce(None)
    assert port.output == [b"last words"]
    ring.transmit(b"!")
    port.uart.flush()
    assert port.output == [b"last words"], "the ring was read after it was left"


# -- in a running guest ------------------------------------------------------------------------

@pytest.mark.needs_kvm
def test_a_command_fed_a_byte_at_a_time_from_another_thread_is_read_in_c():
    args = " ".join(f"w{i:03d}" for i in range(30))  # 149 characters: near the line limit
    feeders = []

    def trickle(line):
        feed = guest.machine.uart.feed
        feeders.append(threading.Thread(target=lambda: [feed(line[i:i + 1])
                                                        for i in range(len(line))]))
        feeders[-1].start()

    with BuiltinRunner().start(build()) as guest:
        guest.channel.wait_hello(30)
        guest.channel._send = trickle
        assert guest.channel.command(f"echo {args}").text == args
        guest.channel.command("exit 0")
        assert guest.wait(30) == 0  # the counts stand still
        for feeder in feeders:
            feeder.join()
        exits, in_c = guest.machine.vcpu.exits, guest.machine.vcpu.exits_in_c
        rbr_thr, lsr = ("IO", COM1 + RBR_THR), ("IO", COM1 + LSR)
        in_python = {rbr_thr: exits[rbr_thr] - in_c[rbr_thr], lsr: exits[lsr] - in_c[lsr]}
        assert in_python == {rbr_thr: 0, lsr: 0} and in_c[rbr_thr] > len(args), \
            f"COM1's data path went through Python: {exits} vs {in_c}"


@pytest.mark.needs_kvm
def test_the_guest_writes_without_exits_where_kvm_coalesces_them(kvm):
    if not kvm.check_extension(Cap.COALESCED_PIO):
        pytest.skip("no KVM_CAP_COALESCED_PIO: each THR write exits (to C)")
    fed = []
    with BuiltinRunner().start(build()) as guest:
        send = guest.channel._send
        guest.channel._send = lambda line: (fed.append(len(line)), send(line))
        guest.channel.wait_hello(30)
        assert guest.channel.command("echo " + "x" * 100).text == "x" * 100
        guest.channel.command("exit 0")
        assert guest.wait(30) == 0
        exits = guest.exits["IO", COM1 + RBR_THR]
    assert exits == sum(fed), \
        f"{exits} exits at RBR/THR where the guest read {sum(fed)} bytes: its writes exited"


def say(text):
    """32-bit code that writes text to COM1 (mov dx, COM1; then mov al, c; out dx, al)."""
    return b"\x66\xba" + COM1.to_bytes(2, "little") + b"".join(b"\xb0" + bytes([c]) + b"\xee"
                                                             for c in text)


def log_reaches(machine, text, timeout=5):
    deadline = time.monotonic() + timeout
    while machine.serial_log != text and time.monotonic() < deadline:
        time.sleep(0.01)
    return machine.serial_log == text


@pytest.mark.needs_kvm
def test_a_guest_hung_mid_line_shows_that_line_in_its_log_running_and_stopped(kvm):
    with Machine(kvm, image(code=say(b"done\nhalf a li") + b"\xeb\xfe")) as machine:  # jmp $
        machine.start()
        assert log_reaches(machine, b"done\nhalf a li"), bytes(machine.serial_log)
        assert machine.running
        with pytest.raises(GuestHung, match=r"serial log:\ndone\nhalf a li$"):
            machine.wait(0.1)
    assert machine.serial_log == b"done\nhalf a li"  # closed: the ring unmapped, not read


@pytest.mark.needs_kvm
def test_a_guest_crashed_mid_line_leaves_that_line_in_its_log_and_its_listeners(kvm):
    heard = []
    with Machine(kvm, image(code=say(b"dying wo") + b"\xcc")) as machine:  # int3: no IDT
        machine.on_serial(heard.append, heard.append)
        machine.start()
        with pytest.raises(GuestCrashed, match=r"serial log:\ndying wo$"):
            machine.wait(30)
    assert heard[-1:] and isinstance(heard[-1], str), \
        f"the listeners heard the end before the guest's last bytes: {heard}"
    assert b"".join(heard[:-1]) == b"dying wo"
