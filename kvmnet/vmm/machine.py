"""A machine: one VM with RAM, in-kernel irqchip and PIT, COM1, the debug exit and PCI,
booted from a multiboot image and run on its own thread.

A Machine is a context manager: on every exit path its vCPU thread is stopped and every fd
and mapping is released. A guest that stops answering is stopped by `wait`'s deadline
(the watchdog), and what it printed is in `serial_log`.
"""

import threading
from contextlib import ExitStack

from kvmnet.syscall import check, ffi, ioctl, lib
from kvmnet.vmm import multiboot
from kvmnet.vmm.bus import Bus
from kvmnet.vmm.debug_exit import PORT as DEBUG_EXIT_PORT, DebugExit
from kvmnet.vmm.memory import GuestMemory
from kvmnet.vmm.pci import CONFIG_ADDRESS, PciBus
from kvmnet.vmm.serial import Uart16550
from kvmnet.vmm.vcpu import GuestCrashed, Vcpu

COM1 = 0x3F8
# x86 KVM needs three pages for the TSS and one for the identity map, out of RAM's way.
TSS_ADDRESS, IDENTITY_MAP_ADDRESS = 0xFFFB_D000, 0xFFFB_C000


class GuestHung(TimeoutError):
    """The guest did not finish in time; the message ends with its serial log."""


class Machine:
    def __init__(self, kvm, image, memory_size=64 << 20):
        self._stack = ExitStack()
        self.serial_log = bytearray()
        self._serial_listeners = []
        self._end_listeners = []
        self.exit_status = None
        self._error = None
        self._stop = False
        self._thread = None
        try:
            self._build(kvm, image, memory_size)
        except BaseException:
            self._stack.close()
            raise

    def _build(self, kvm, image, memory_size):
        self.vm = self._stack.enter_context(kvm.create_vm())
        ioctl(self.vm.fd, "KVM_SET_TSS_ADDR", TSS_ADDRESS)
        ioctl(self.vm.fd, "KVM_SET_IDENTITY_MAP_ADDR", ffi.new("uint64_t *", IDENTITY_MAP_ADDRESS))
        ioctl(self.vm.fd, "KVM_CREATE_IRQCHIP")
        ioctl(self.vm.fd, "KVM_CREATE_PIT2", ffi.new("struct kvm_pit_config *"))
        self.memory = GuestMemory(memory_size)
        self._stack.callback(self.memory.close)
        self.memory.register(self.vm.fd)
        entry, info = multiboot.load(image, self.memory)

        self.pio, self.mmio = Bus("port I/O"), Bus("MMIO")
        self.uart = Uart16550(self._serial_output)
        self.pio.insert(self.uart, COM1, 8)
        self.pio.insert(DebugExit(self._guest_exit), DEBUG_EXIT_PORT, 4)
        self.pci = PciBus(self.pio, self.mmio)
        self.pio.insert(self.pci, CONFIG_ADDRESS, 8)

        self.vcpu = Vcpu(kvm, self.vm, 0)
        self._stack.callback(self.vcpu.close)
        self.vcpu.enter_protected_mode(entry, multiboot.LOADER_MAGIC, info)
        self._kick_signal = check(lib.kvmnet_kick_signal(), "sigaction")

    def on_serial(self, listener, on_end=None):
        """listener(bytes) gets every byte the guest sends on COM1; on_end(reason) is called
        once when the vCPU stops, for whatever reason."""
        self._serial_listeners.append(listener)
        if on_end:
            self._end_listeners.append(on_end)

    def _serial_output(self, data):
        self.serial_log += data
        for listener in self._serial_listeners:
            listener(data)

    def _guest_exit(self, status):
        self.exit_status = status
        self._stop = True

    def start(self):
        self._thread = threading.Thread(target=self._run, name="kvmnet-vcpu0", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        try:
            self.vcpu.run_loop(self.pio, self.mmio, lambda: self._stop)
        except BaseException as e:  # re-raised by wait() in the caller's thread
            self._error = e
        reason = f"the guest stopped: {self._error or f'exit status {self.exit_status}'}"
        for on_end in self._end_listeners:
            on_end(reason)

    @property
    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout):
        """The guest's exit status. Raises GuestCrashed, or GuestHung after timeout seconds."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.stop()
            raise GuestHung(f"guest still running after {timeout} s; serial log:\n"
                            + self.serial_text())
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, GuestCrashed):
                raise GuestCrashed(f"{error}; serial log:\n{self.serial_text()}") from None
            raise error
        return self.exit_status

    def stop(self):
        """Stop the vCPU (from any thread) and wait for its thread to end."""
        self._stop = True
        while self._thread is not None and self._thread.is_alive():
            self.vcpu.kick(self._kick_signal)
            self._thread.join(0.05)

    def serial_text(self):
        return self.serial_log.decode("ascii", "replace")

    def close(self):
        self.stop()
        self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
