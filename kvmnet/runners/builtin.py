"""The built-in VMM (kvmnet.vmm) as a runner."""

import threading
from pathlib import Path

from kvmnet.devices.virtio_vhost import VhostHandoff
from kvmnet.guest import GuestChannel
from kvmnet.kvm import Kvm
from kvmnet.runners.images import LinuxBoot, memory_mib
from kvmnet.runners.nics import builtin_device
from kvmnet.vmm.linux_boot import LinuxImage
from kvmnet.vmm.machine import Machine


class BuiltinGuest:
    def __init__(self, kvm_device, image, memory_size, nics=()):
        self._kvm = Kvm(kvm_device)
        try:
            self.machine = Machine(self._kvm, boot_image(image),
                                   memory_mib(image, memory_size >> 20) << 20)
        except BaseException:
            self._kvm.close()
            raise
        try:
            for nic in nics:
                self._plug(builtin_device(nic))
        except BaseException:
            self.close()  # closes what was plugged
            raise
        self.channel = GuestChannel(self.machine.uart.feed)
        self.machine.on_serial(self.channel.receive, self.channel.end)
        self.vhost_error = None
        for device in self.machine.devices:
            if isinstance(device, VhostHandoff):
                device.on_vhost_error.append(self._vhost_gone)
        self.machine.start()

    def _vhost_gone(self, reason):
        """A NIC's vhost backend went away: the guest is stopped, and a command waiting for
        its reply raises GuestGone naming the backend instead of timing out."""
        self.vhost_error = reason
        self.channel.end(f"the NIC's vhost backend is gone ({reason}); the guest was stopped")
        # Not on this thread: it may be a vCPU's (a handoff that found the backend gone).
        threading.Thread(target=self.machine.stop, name="kvmnet-vhost-gone", daemon=True).start()

    def _plug(self, device):
        try:
            self.machine.plug(device)
        except BaseException:
            device.close()
            raise

    @property
    def nics(self):
        """The device models, in PCI order (the guest's NIC order)."""
        return self.machine.devices

    @property
    def exits(self):
        return self.machine.vcpu.exits

    def reboot(self, timeout):
        """Machine.reset (a warm reset through the VMM: kvmnet.vmm.machine says what it
        resets and what it leaves), then the guest's new HELLO."""
        self.machine.reset()
        return self.channel.wait_hello(timeout)

    def wait(self, timeout):
        return self.machine.wait(timeout)

    def serial_text(self):
        return self.machine.serial_text()

    def close(self):
        self.machine.close()
        self._kvm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def boot_image(image):
    """What Machine boots for a kvmnet.runners.images.GuestImage."""
    if isinstance(image, LinuxBoot):
        return LinuxImage(image.kernel.read_bytes(), image.initrd.read_bytes(), image.cmdline)
    return Path(image).read_bytes()


class BuiltinRunner:
    name = "builtin"

    def __init__(self, kvm_device="/dev/kvm", memory_size=64 << 20):
        self.kvm_device, self.memory_size = kvm_device, memory_size

    def start(self, image, nics=(), rebootable=False):
        """The built-in VMM booting image (kvmnet.runners.images.GuestImage) with nics
        (kvmnet.runners.nics.Nic), started. Its guests can always be rebooted (rebootable
        changes nothing)."""
        return BuiltinGuest(self.kvm_device, image, self.memory_size, nics)
