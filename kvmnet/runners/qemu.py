"""QEMU (Debian's qemu-system-x86) as a runner: the peer that keeps our VMM and drivers honest.

`-M pc` with qboot reaches the guest in ~0.1 s where SeaBIOS takes seconds. COM1 is QEMU's
stdio; the debug-exit device turns the guest's status v into QEMU's exit status (v<<1)|1.

A guest started `rebootable` runs without -no-reboot (`-action reboot=reset`: a reset
request resets the machine instead of ending QEMU) and with a QMP monitor on a socketpair
(kvmnet.runners.qmp); `reboot` asks it for system_reset. QEMU then resets every device and
the CPUs (the in-kernel LAPIC and IOAPIC included) and runs qboot again, which loads the
multiboot image anew; RAM is not cleared.

Every guest QEMU carries `-name kvmnet-guest-<pid>` (the pid of the process that started
it) and dies with that process (kvmnet.process.start); `sweep` kills any whose starter is
gone all the same.
"""

import os
import re
import shutil
import subprocess
import threading

from kvmnet import process
from kvmnet.guest import GuestChannel, GuestGone
from kvmnet.runners.images import LinuxBoot, memory_mib
from kvmnet.runners.nics import qemu_arguments
from kvmnet.runners.qmp import Qmp, QmpError
from kvmnet.vmm.vcpu import GuestCrashed

QEMU = "qemu-system-x86_64"
QBOOT = "/usr/share/qemu/qboot.rom"
MARK = "kvmnet-guest-"
_MARK_ARG = re.compile(rf"^{MARK}(\d+)$")


class QemuUnavailable(RuntimeError):
    """QEMU is not installed; the message says which package provides it."""


class QemuGuest:
    nics = ()  # QEMU's device models are its own: nothing of ours to look into

    def __init__(self, command, pass_fds=(), qmp=None):
        """qmp: a kvmnet.runners.qmp.Qmp whose other end QEMU inherits (a rebootable guest)."""
        self.command = command
        self._log = bytearray()
        self.channel = None
        self._qmp = qmp
        try:
            self._proc = process.start(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       pass_fds=pass_fds)
        except BaseException:
            if qmp is not None:
                qmp.close()
            raise
        finally:
            for fd in pass_fds:  # QEMU has its copies now
                os.close(fd)
        self.channel = GuestChannel(self._send)
        self._reader = threading.Thread(target=self._read, name="qemu-serial", daemon=True)
        self._reader.start()

    def _send(self, data):
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def _read(self):
        for chunk in iter(lambda: os.read(self._proc.stdout.fileno(), 4096), b""):
            self._log += chunk
            self.channel.receive(chunk)
        self.channel.end(f"QEMU exited (status {self._proc.wait()}); it printed:\n"
                         + self.serial_text())

    def reboot(self, timeout):
        """QMP system_reset (QEMU resets the machine and boots the image again), then the
        guest's new HELLO."""
        if self._qmp is None:
            raise RuntimeError("this QEMU guest was not started rebootable: with -no-reboot "
                               "a reset would end it")
        try:
            self._qmp.execute("system_reset")
        except QmpError as e:
            raise GuestGone(f"QEMU did not reset the guest: {e}; it printed:\n"
                            + self.serial_text()) from None
        return self.channel.wait_hello(timeout)

    def wait(self, timeout):
        try:
            status = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise TimeoutError(f"QEMU guest still running after {timeout} s; serial log:\n"
                               + self.serial_text()) from None
        self._reader.join(5)
        if not status & 1:
            raise GuestCrashed(f"QEMU ended with status {status}, not through the debug-exit "
                               f"port (a reset with -no-reboot?); serial log:\n{self.serial_text()}")
        return status >> 1

    def serial_text(self):
        return self._log.decode("ascii", "replace")

    def close(self):
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._reader.join(5)
        self._proc.stdin.close()
        self._proc.stdout.close()
        if self._qmp is not None:
            self._qmp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class QemuRunner:
    name = "qemu"

    def __init__(self, memory_mib=64, binary=QEMU):
        self.memory_mib, self.binary = memory_mib, binary

    @staticmethod
    def missing():
        """Why QEMU cannot run here, or None."""
        if shutil.which(QEMU) is None:
            return f"{QEMU} not found: install Debian's qemu-system-x86"
        if not os.path.exists(QBOOT):
            return f"{QBOOT} not found: install Debian's qemu-system-x86 (it ships qboot)"
        return None

    def start(self, image, nics=(), rebootable=False):
        """QEMU booting image (kvmnet.runners.images.GuestImage) with nics
        (kvmnet.runners.nics.Nic), started; with -no-reboot (a reset ends it) unless
        rebootable (see the module's docstring)."""
        reason = self.missing()
        if reason:
            raise QemuUnavailable(reason)
        memory = memory_mib(image, self.memory_mib)
        nic_args, fds = qemu_arguments(nics, memory)
        qmp, reboot_args = None, ["-no-reboot"]
        if rebootable:
            qmp, qmp_fd = Qmp.pair()
            fds.append(qmp_fd)
            reboot_args = ["-action", "reboot=reset", *Qmp.arguments(qmp_fd)]
        return QemuGuest([
            self.binary, "-name", f"{MARK}{os.getpid()}", "-accel", "kvm", "-M", "pc",
            "-m", str(memory), "-nodefaults", "-nographic", *reboot_args,
            "-bios", QBOOT, *boot_arguments(image), "-serial", "stdio", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4", *nic_args], pass_fds=fds, qmp=qmp)


def boot_arguments(image):
    """QEMU's arguments for a kvmnet.runners.images.GuestImage: qboot loads either."""
    if isinstance(image, LinuxBoot):
        return ["-kernel", str(image.kernel), "-initrd", str(image.initrd),
                "-append", image.cmdline]
    return ["-kernel", str(image)]


def _starter(argv):
    """The starter's pid that a guest QEMU's `-name kvmnet-guest-<pid>` names, or None."""
    for flag, value in zip(argv, argv[1:]):
        marked = flag == "-name" and _MARK_ARG.match(value)
        if marked:
            return int(marked.group(1))
    return None


def running() -> dict:
    """{QEMU pid: starter pid} of every guest QEMU on this host (any run's)."""
    return process.running(_starter)


def sweep() -> list:
    """Kill the guest QEMUs whose starter is gone (a killed run's); return their pids."""
    return process.kill_orphans(_starter)
