"""The built-in VMM and both runners on bad input: each a clear error, nothing left behind."""

import os
import threading

import pytest

from kvmnet.guest import GuestChannel, GuestError, GuestGone, ProtocolError, frame
from kvmnet.guest_image import build
from kvmnet.runners import BuiltinRunner, QemuRunner
from kvmnet.vmm.machine import GuestHung, Machine
from kvmnet.vmm.multiboot import ImageError
from kvmnet.vmm.vcpu import GuestCrashed

pytestmark = pytest.mark.needs_kvm


@pytest.fixture
def nothing_leaks():
    """Fails the test if it leaves an fd or a thread behind."""
    fds, threads = set(os.listdir("/proc/self/fd")), threading.active_count()
    yield
    assert set(os.listdir("/proc/self/fd")) == fds
    assert threading.active_count() == threads


@pytest.fixture
def image():
    return build()


def runners():
    found = [BuiltinRunner()]
    if QemuRunner.missing() is None:
        found.append(QemuRunner())
    return found


@pytest.mark.parametrize("content, message", [
    (b"", "too short"),
    (os.urandom(64 << 10).replace(b"\x02\xb0\xad\x1b", b"xxxx"), "no multiboot header"),
], ids=["empty", "random"])
def test_images_that_are_not_multiboot_are_refused(kvm, nothing_leaks, content, message):
    with pytest.raises(ImageError, match=message):
        Machine(kvm, content)


def test_truncated_image_is_refused(kvm, image, nothing_leaks):
    with pytest.raises(ImageError, match="truncated"):
        Machine(kvm, image.read_bytes()[:4096])


@pytest.mark.parametrize("runner", runners(), ids=lambda r: r.name)
def test_guest_that_stops_answering_is_stopped_with_its_log(runner, image, nothing_leaks):
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        guest.channel._send(frame("1 hang"))
        with pytest.raises((GuestHung, TimeoutError), match=r"(?s)after 1 s.*HELLO"):
            guest.wait(timeout=1)


@pytest.mark.parametrize("runner", runners(), ids=lambda r: r.name)
def test_triple_fault_is_reported(runner, image, nothing_leaks):
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        guest.channel._send(frame("1 triplefault"))
        with pytest.raises(GuestCrashed) as crash:
            guest.wait(timeout=30)
    if runner.name == "builtin":
        assert "KVM_EXIT_SHUTDOWN: the guest triple-faulted at guest RIP 0x" in str(crash.value)


@pytest.mark.parametrize("runner", runners(), ids=lambda r: r.name)
def test_guest_exception_is_reported_by_the_channel(runner, image, nothing_leaks):
    with runner.start(image) as guest:
        guest.channel.wait_hello(30)
        with pytest.raises(GuestError, match="guest CPU exception: vec=6"):
            guest.channel.command("fault")
        assert guest.wait(timeout=30) == 0x7F


def test_garbled_command_is_refused_not_misread(image, nothing_leaks):
    with BuiltinRunner().start(image) as guest:
        guest.channel.wait_hello(30)
        guest.machine.uart.feed(b"1 exit 5*00000000\n")
        with pytest.raises(ProtocolError, match="could not read 'echo x': badframe"):
            guest.channel.command("echo x")
        assert guest.channel.command("echo still here").text == "still here"


def test_garbled_line_from_the_guest_is_detected():
    channel = GuestChannel(lambda data: None)
    channel.receive(b"console text\n!0 HELLO kvmnet-guest 1 ring=3*00000000\n")
    with pytest.raises(ProtocolError, match="corrupted line"):
        channel.wait_hello(1)


def test_waiting_on_a_guest_that_ended_fails_at_once():
    channel = GuestChannel(lambda data: None)
    channel.end("QEMU exited (status 1)")
    with pytest.raises(GuestGone, match="status 1"):
        channel.wait_hello(60)


def test_exits_are_counted_by_port(image):
    with BuiltinRunner().start(image) as guest:
        guest.channel.wait_hello(30)
        guest.channel.command("exits 100 0x80")
        assert guest.exits["IO", 0x80] == 100


@pytest.mark.parametrize("runner", runners(), ids=lambda r: r.name)
def test_a_rebootable_guest_reboots_warm_and_answers_again(runner, image, nothing_leaks):
    with runner.start(image, rebootable=True) as guest:
        guest.channel.wait_hello(30)
        guest.channel.command("echo before")
        for _ in range(2):
            assert guest.reboot(30)["ring"] == "3"
            assert guest.channel.command("echo after").text == "after"
        guest.channel.command("exit 3")
        assert guest.wait(timeout=30) == 3


def test_a_qemu_guest_started_with_no_reboot_refuses_to_reboot(image):
    if QemuRunner.missing():
        pytest.skip(QemuRunner.missing())
    with QemuRunner().start(image) as guest:
        guest.channel.wait_hello(30)
        with pytest.raises(RuntimeError, match="not started rebootable"):
            guest.reboot(30)


def test_a_reset_puts_the_boot_vcpu_back_in_its_entry_state(kvm, image):
    with Machine(kvm, image.read_bytes()) as fresh:  # the entry state of a vCPU never run
        fresh.vcpu.enter_protected_mode(0x100000, rax=0x2BADB002, rbx=0x9000)
        entry = fresh.vcpu._fd.get_sregs()
    with Machine(kvm, image.read_bytes()) as machine:
        channel = GuestChannel(machine.uart.feed)
        machine.on_serial(channel.receive, channel.end)
        machine.start()
        channel.wait_hello(30)
        long_mode = machine.vcpu._fd.get_sregs()
        assert long_mode.efer and long_mode.cr3 and long_mode.cr4
        machine.reset()
        channel.wait_hello(30)  # the guest's channel went on: no end was announced
        machine.stop()
        vcpu = machine.vcpu
        vcpu.enter_protected_mode(0x100000, rax=0x2BADB002, rbx=0x9000)  # what reset() does
        again = vcpu._fd.get_sregs()
        for name in ("cr0", "cr2", "cr3", "cr4", "efer", "apic_base"):
            assert getattr(again, name) == getattr(entry, name), name
        for name in ("gdt", "idt"):
            assert (getattr(again, name).base, getattr(again, name).limit) == (
                getattr(entry, name).base, getattr(entry, name).limit), name
        assert again.tr.selector == entry.tr.selector and again.tr.base == entry.tr.base


def test_a_machine_with_more_vcpus_refuses_a_reset(kvm, image):
    with Machine(kvm, image.read_bytes(), vcpus=2) as machine:
        machine.start()
        with pytest.raises(RuntimeError, match="2 vCPUs cannot be reset"):
            machine.reset()


def test_a_guest_that_ended_cannot_be_reset(image):
    with BuiltinRunner().start(image) as guest:
        guest.channel.wait_hello(30)
        guest.channel.command("exit 0")
        guest.wait(timeout=30)
        with pytest.raises(RuntimeError, match="the guest has ended"):
            guest.reboot(30)
