"""PCI capability lists, MSI-X, INTx lines, more than one vCPU, and the C loop's fast ports."""

import pytest

from kvmnet.guest import GuestChannel
from kvmnet.guest_image import build
from kvmnet.kvm import Kvm
from kvmnet.vmm.irq import IrqLine, pci_gsi
from kvmnet.vmm.machine import POST_PORT, Machine
from kvmnet.vmm.msix import Msix
from kvmnet.vmm.pci import PciDevice

CAP_POINTER, STATUS_CAP_LIST = 0x34, 0x10


def card(vectors=2):
    device = PciDevice(0x1AF4, 0x1041, class_code=0x020000, bars=[None, None])
    msix = Msix(device, vectors, bar_index=1)
    device.bars[1] = msix.bar
    sent = []
    msix.signal = lambda address, data: sent.append((address, data))
    return device, msix, sent


def control(device, value):
    device.write_config(device.config[CAP_POINTER] + 2, value.to_bytes(2, "little"))


def program(msix, vector, address, data, masked):
    msix.bar.device.write(16 * vector, address.to_bytes(8, "little") + data.to_bytes(4, "little")
                          + int(masked).to_bytes(4, "little"))


def test_capabilities_form_a_list_with_only_their_writable_bits_writable():
    device = PciDevice(1, 2, class_code=0)
    first = device.add_capability(0x09, b"\x10\x01\x02\x03", writable=b"\x00\xff")
    second = device.add_capability(0x05, b"\xaa\xbb")
    assert device.config[CAP_POINTER] == first == 0x40
    assert device.config[6] & STATUS_CAP_LIST
    assert device.config[first + 1] == second and device.config[second + 1] == 0
    device.write_config(first + 2, b"\x55\x66\x77")
    assert device.config[first + 2:first + 5] == b"\x10\x66\x02"
    device.write_config(second, b"\x00\x00")  # ID and next pointer are read-only
    assert device.config[second] == 0x05


def test_msix_is_off_until_enabled_so_the_device_falls_back_to_intx():
    device, msix, sent = card()
    assert msix.notify(0) is False and sent == []


def test_msix_masked_vector_is_held_pending_and_sent_on_unmask():
    device, msix, sent = card()
    control(device, 0x8000)
    program(msix, 1, 0xFEE00000, 0x31, masked=True)
    assert msix.notify(1) is True and sent == []
    assert msix.bar.device.read(0x800, 8) == (2).to_bytes(8, "little")  # pending bit 1
    program(msix, 1, 0xFEE00000, 0x31, masked=False)
    assert sent == [(0xFEE00000, 0x31)]
    assert msix.bar.device.read(0x800, 8) == bytes(8)


def test_msix_function_mask_holds_every_vector():
    device, msix, sent = card()
    control(device, 0xC000)
    program(msix, 0, 0xFEE00000, 0x40, masked=False)
    msix.notify(0)
    assert sent == []
    control(device, 0x8000)
    assert sent == [(0xFEE00000, 0x40)]


@pytest.mark.needs_kvm
def test_intx_line_reaches_kvm_only_on_level_changes():
    with Kvm() as kvm, kvm.create_vm() as vm:
        from kvmnet.syscall import ioctl
        ioctl(vm.fd, "KVM_CREATE_IRQCHIP")
        line = IrqLine(vm, pci_gsi(3))
        for level in (1, 1, 0, 0, 1):
            line.set(level)
        assert (line.gsi, line.raised, line.level) == (19, 2, True)


@pytest.mark.needs_kvm
def test_a_machine_with_four_vcpus_boots_and_stops_them_all():
    with Kvm() as kvm, Machine(kvm, build().read_bytes(), vcpus=4) as machine:
        channel = GuestChannel(machine.uart.feed)
        machine.on_serial(channel.receive, channel.end)
        machine.start()
        channel.wait_hello(30)
        channel.command("exit 0")
        assert machine.wait(30) == 0
        assert not any(t.is_alive() for t in machine._threads)


@pytest.mark.needs_kvm
def test_vcpu_count_beyond_the_host_limit_is_refused():
    with Kvm() as kvm, pytest.raises(ValueError, match="vCPUs"):
        Machine(kvm, build().read_bytes(), vcpus=100_000)


@pytest.mark.needs_kvm
def test_exits_answered_in_c_are_counted_like_the_others():
    with Kvm() as kvm, Machine(kvm, build().read_bytes()) as machine:
        channel = GuestChannel(machine.uart.feed)
        machine.on_serial(channel.receive, channel.end)
        machine.start()
        channel.wait_hello(30)
        channel.command(f"exits 1000 {POST_PORT}")
        assert machine.vcpu.exits["IO", POST_PORT] == 1000
        assert machine.vcpu.exits["IO", 0x3FD] > 0  # LSR polls, mostly in C
