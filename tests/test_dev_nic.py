"""kvmnet.devices.nic: the NIC base and its helpers (EEPROM, CRC, counters, faults, thread),
through the rig the model tests share (support.nic_rig): a real memfd guest RAM, a datagram
socketpair for the backend, and a recording interrupt line. No VM is needed: a test plays
the vCPU."""

import os
import socket
import time

import pytest

from kvmnet.devices.nic import COUNTERS, Eeprom93C46, parse_mac
from kvmnet.syscall import ffi, lib
from kvmnet.vmm.memory import GuestMemory
from support.nic_rig import MAC, RAM, Backend, Rig, device_threads, ether_crc, open_fds


# -- the 93C46 --------------------------------------------------------------------------

def shift(eeprom, bits, count):
    for i in reversed(range(count)):
        di = bits >> i & 1
        eeprom.pins(1, 0, di)
        eeprom.pins(1, 1, di)  # DI is taken on the rising edge
        eeprom.pins(1, 0, di)


def read_word(eeprom, address):
    eeprom.pins(0, 0, 0)
    eeprom.pins(1, 0, 0)
    shift(eeprom, 0b110 << 6 | address, 9)
    value = 0
    for _ in range(16):
        value = value << 1 | eeprom.pins(1, 1, 0)
        eeprom.pins(1, 0, 0)
    eeprom.pins(0, 0, 0)
    return value


def command(eeprom, bits, count):
    eeprom.pins(1, 0, 0)
    shift(eeprom, bits, count)
    eeprom.pins(0, 0, 0)


def test_eeprom_reads_each_word_msb_first_after_a_dummy_zero():
    eeprom = Eeprom93C46([0x8129, 0x10EC, 0xA5C3])
    assert [read_word(eeprom, a) for a in range(3)] == [0x8129, 0x10EC, 0xA5C3]
    assert read_word(eeprom, 63) == 0xFFFF  # unprogrammed


def test_eeprom_ignores_zeros_before_the_start_bit_and_reads_on():
    eeprom = Eeprom93C46([0x1234, 0x5678])
    eeprom.pins(1, 0, 0)
    shift(eeprom, 0b110 << 6, 13)  # 4 leading zeros, as 8139too with addr_len 6 sends 11
    words = []
    for _ in range(2):  # sequential read: word 0 then word 1
        value = 0
        for _ in range(16):
            value = value << 1 | eeprom.pins(1, 1, 0)
            eeprom.pins(1, 0, 0)
        words.append(value)
    assert words == [0x1234, 0x5678]


def test_eeprom_writes_only_when_enabled():
    eeprom = Eeprom93C46([0x1111])
    command(eeprom, 0b101 << 22 | 0 << 16 | 0x2222, 25)  # WRITE, not enabled
    assert read_word(eeprom, 0) == 0x1111
    command(eeprom, 0b100_110000, 9)  # EWEN
    command(eeprom, 0b101 << 22 | 0 << 16 | 0x2222, 25)
    assert read_word(eeprom, 0) == 0x2222
    command(eeprom, 0b111 << 6 | 0, 9)  # ERASE
    assert read_word(eeprom, 0) == 0xFFFF
    command(eeprom, 0b100_000000, 9)  # EWDS
    command(eeprom, 0b101 << 22 | 0 << 16 | 0x3333, 25)
    assert read_word(eeprom, 0) == 0xFFFF


# -- helpers shared with the C side -------------------------------------------------------

@pytest.mark.parametrize("address", ["01:00:5e:00:00:01", "33:33:00:00:00:01",
                                     "ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01"])
def test_ether_crc_matches_linux(address):
    raw = bytes.fromhex(address.replace(":", ""))
    assert lib.nic_ether_crc(raw, 6) == ether_crc(raw)


def test_multicast_and_malformed_macs_are_refused():
    assert parse_mac(MAC) == bytes.fromhex("020000000001")
    for bad in ("03:00:00:00:00:01", "02:00:00:00:01", b"\x02" * 5):
        with pytest.raises(ValueError):
            parse_mac(bad)


# -- the base, through a model --------------------------------------------------------------

@pytest.fixture
def rig():
    from kvmnet.devices.e1000 import E1000
    r = Rig(E1000)
    yield r
    r.close()


def test_counters_are_a_live_dict_of_every_core_counter(rig):
    counters = rig.dev.counters
    assert list(counters)[:len(COUNTERS)] == list(COUNTERS)
    assert dict(counters) == {name: 0 for name in counters}
    counters["rx_frames"] = 5
    counters["model_specific"] = 1
    assert rig.dev.core.counters.rx_frames == 5 and counters["model_specific"] == 1
    counters.reset()
    assert not any(counters.values())


def test_faults_switch_bits_the_datapath_sees(rig):
    faults = rig.dev.faults
    faults.add("corrupt_rx")
    assert "corrupt_rx" in faults and rig.dev.core.faults == lib.NIC_FAULT_CORRUPT_RX
    faults.discard("corrupt_rx")
    assert not faults and rig.dev.core.faults == 0
    with pytest.raises(ValueError, match="unknown fault"):
        faults.add("no_such_fault")


def test_faults_given_to_the_constructor_are_on():
    from kvmnet.devices.e1000 import E1000
    r = Rig(E1000, faults=("filter_bug", "lose_descriptor"))
    try:
        assert set(r.dev.faults) == {"filter_bug", "lose_descriptor"}
    finally:
        r.close()


def test_the_device_thread_is_not_batch_scheduled():
    """Woken onto the core of a vCPU busy-polling its ring, a SCHED_BATCH device thread waits
    for the tick: rtl8139 round trips took 4 ms in some boots (NicDevice._run)."""
    from kvmnet.devices.e1000 import E1000
    from kvmnet.devices.rtl8139 import Rtl8139
    for model in (E1000, Rtl8139):
        r = Rig(model)
        try:
            assert os.sched_getscheduler(r.dev._thread.native_id) == os.SCHED_OTHER
        finally:
            r.close()


def test_close_ends_the_thread_and_releases_every_fd():
    from kvmnet.devices.e1000 import E1000
    from kvmnet.devices.rtl8139 import Rtl8139
    before_threads, before_fds = len(device_threads()), open_fds()
    for model in (E1000, Rtl8139):
        r = Rig(model)
        assert len(device_threads()) == before_threads + 1
        r.close()
        r.dev.close()  # twice is harmless
        assert r.dev.closed and r.dev.thread_error is None
    assert len(device_threads()) == before_threads
    assert open_fds() == before_fds


def test_a_closed_device_ignores_register_accesses(rig):
    rig.dev.close()
    assert rig.dev.read(0, 4) == b"\xff" * 4
    rig.dev.write(0, b"\0" * 4)


def cpu_seconds_while(seconds):
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(seconds)  # the device thread must sleep too, not spin
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_SEQPACKET],
                         ids=["dgram", "seqpacket"])
def test_a_peer_that_hangs_up_neither_spins_nor_stops_close(kind):
    from kvmnet.devices.e1000 import E1000
    near, far = socket.socketpair(socket.AF_UNIX, kind)
    dev = E1000(MAC, Backend(near.fileno()))
    try:
        dev.start()
        far.close()
        dev.kick()
        assert cpu_seconds_while(0.3) < 0.15, "the device thread spins on a dead backend"
    finally:
        dev.close()
        near.close()
    assert dev.thread_error is None


def test_the_core_struct_is_shared_by_layout(rig):
    assert ffi.typeof(rig.dev.core) is ffi.typeof("struct nic_core *")


def test_a_backend_that_is_no_socket_works_both_ways():
    """A pipe stands for a tap: one fd (the pipe reopened read-write), read only when poll
    says so. Frames written in packet mode (O_DIRECT) arrive one per read; the guest's
    frame to itself goes out into the pipe and comes back in."""
    from kvmnet.devices.e1000 import E1000
    from support.e1000_driver import Driver, frame_to

    read_end, write_end = os.pipe2(os.O_DIRECT | os.O_CLOEXEC)
    fd = os.open(f"/proc/self/fd/{read_end}", os.O_RDWR | os.O_CLOEXEC)
    memory = GuestMemory(RAM)
    dev = E1000(MAC, Backend(fd))
    try:
        dev.memory = memory
        dev.start()
        drv = Driver(type("Rig", (), {"dev": dev, "regs": dev, "memory": memory})())
        drv.linux_up()
        inbound = [frame_to(MAC, seq=seq, length=1000) for seq in range(3)]
        for frame in inbound:
            os.write(write_end, frame)
        assert [drv.receive() for _ in inbound] == inbound
        frame = frame_to(MAC, seq=9, length=1514)
        drv.transmit(frame)
        assert drv.receive() == frame
        assert dev.counters["tx_frames"] == 1 and dev.counters["rx_frames"] == 4
    finally:
        dev.close()
        memory.close()
        for f in (fd, read_end, write_end):
            os.close(f)
