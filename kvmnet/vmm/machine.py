"""A machine: one VM with RAM, in-kernel irqchip and PIT, COM1, the CMOS clock, the debug
exit and PCI,
booted from a multiboot image or a Linux kernel (kvmnet.vmm.boot), each vCPU run on its
own thread.

The boot vCPU enters the image; the others wait in the kernel for the INIT/SIPI a guest
would send them. PCI devices are plugged before `start`: each gets the guest's memory, its
own INTx line (a GSI, written to Interrupt Line) and, when it has MSI-X, a way to signal.

A Machine is a context manager: on every exit path its vCPU threads and devices are stopped
and every fd and mapping is released. A guest that stops answering is stopped by `wait`'s
deadline (the watchdog), and what it printed is in `serial_log`, complete to the last byte
the guest wrote whenever it is read.

`reset` is a warm reset through the VMM, as a system reset (RST#) does it: the vCPU stops
(its end is not an end of the guest: whoever listens on COM1 goes on listening), every PCI
function goes back to its power-on state (kvmnet.vmm.pci: configuration space, then the
model's own power-on reset; their device threads go on), the UART and the clock's status
registers too, the boot image is
loaded again, and the boot vCPU enters it as at boot (kvmnet.vmm.vcpu). RAM is not cleared, as on a PC. One vCPU only: a machine with more
refuses (the others would have to go back to waiting for INIT/SIPI).

Left as they were, for want of the ioctls to set them (the guest programs what it uses):
the in-kernel LAPIC (its SVR, TPR, timer and any vector in IRR/ISR), IOAPIC redirection
entries, the PIC and the PIT; the vCPU's FPU/SSE state, XCR0, debug registers, MSRs other
than EFER (FS/GS bases, the TSC, which keeps counting) and pending events; the exit and
device counters, and the serial log (the new boot's lines follow the old's).
"""

import threading
from contextlib import ExitStack

from kvmnet.kvm import Cap
from kvmnet.syscall import check, ffi, lib
from kvmnet.vmm.boot import BootImage
from kvmnet.vmm.bus import Bus
from kvmnet.vmm.coalesced import CoalescedRing
from kvmnet.vmm.debug_exit import PORT as DEBUG_EXIT_PORT, DebugExit
from kvmnet.vmm.irq import IrqLine, pci_gsi
from kvmnet.vmm.memory import GuestMemory
from kvmnet.vmm.msi_routes import MsiRoutes
from kvmnet.vmm.multiboot import MultibootImage
from kvmnet.vmm.pci import CONFIG_ADDRESS, INTERRUPT_PIN, PciBus, Wiring
from kvmnet.vmm.rtc import PORT as RTC_PORT, CmosRtc
from kvmnet.vmm.serial import RBR_THR, Uart16550
from kvmnet.vmm.vcpu import GuestCrashed, Vcpu

COM1 = 0x3F8
POST_PORT = 0x80  # POST codes: written by firmware and by the exit benchmark, ignored
# x86 KVM needs three pages for the TSS and one for the identity map, out of RAM's way.
TSS_ADDRESS, IDENTITY_MAP_ADDRESS = 0xFFFB_D000, 0xFFFB_C000


class GuestHung(TimeoutError):
    """The guest did not finish in time; the message ends with its serial log."""


class Machine:
    def __init__(self, kvm, image: bytes | BootImage, memory_size=64 << 20, vcpus=1):
        """image: a multiboot image's bytes, or a BootImage (kvmnet.vmm.linux_boot's
        LinuxImage); it is loaded when the machine starts."""
        self._stack = ExitStack()
        self.devices = []
        self._threads = []
        self._serial_log = bytearray()
        self._serial_listeners = []
        self._end_listeners = []
        self.exit_status = None
        self._error = None
        self._resetting = False
        self.resets = 0  # warm resets so far
        try:
            self._build(kvm, image, memory_size, vcpus)
        except BaseException:
            self._stack.close()
            raise

    def _build(self, kvm, image, memory_size, vcpus):
        self.vm = self._stack.enter_context(kvm.create_vm())
        self.vm.set_tss_addr(TSS_ADDRESS)
        self.vm.set_identity_map_addr(IDENTITY_MAP_ADDRESS)
        self.vm.create_irqchip()
        self.vm.create_pit2()
        self.memory = GuestMemory(memory_size)
        self._stack.callback(self.memory.close)
        self.memory.register(self.vm)
        self.msi_routes = MsiRoutes(self.vm)  # sent to KVM only once a device routes an MSI
        self._boot = (MultibootImage(image) if isinstance(image, (bytes, bytearray))
                      else image)  # loaded at start and by each reset

        self.pio, self.mmio = Bus("port I/O"), Bus("MMIO")
        # POST-code writes are swallowed in the C run loop (COM1's data path is too: the
        # UART's own fast range).
        self._fast = ffi.new("struct kvmnet_fast_port[]", [
            {"port": POST_PORT, "direction": lib.KVMNET_FAST_WRITE, "enabled": 1}])
        self.uart = Uart16550(self._serial_output)
        self.pio.insert(self.uart, COM1, 8)
        self.pio.insert(DebugExit(self._guest_exit), DEBUG_EXIT_PORT, 4)
        self.rtc = CmosRtc()
        self.pio.insert(self.rtc, RTC_PORT, 2)
        self.pci = PciBus(self.pio, self.mmio)
        self.pio.insert(self.pci, CONFIG_ADDRESS, 8)

        most = kvm.check_extension(Cap.MAX_VCPUS) or kvm.check_extension(Cap.NR_VCPUS)
        if not 1 <= vcpus <= most:
            raise ValueError(f"{vcpus} vCPUs: this host allows 1..{most}")
        self.vcpus = []
        for index in range(vcpus):
            self.vcpus.append(Vcpu(kvm, self.vm, index))
            self.vcpus[-1].set_fast_ranges(self.pio.fast, self.mmio.fast)
            self._stack.callback(self.vcpus[-1].close)
        self.vcpu = self.vcpus[0]
        self.vcpu.set_fast_ports(self._fast)
        self.coalesced = None  # the VM's coalesced ring, where KVM has one
        if page := kvm.check_extension(Cap.COALESCED_MMIO):
            # Writes to a coalesced zone need no exit: KVM appends them to a ring that each
            # vCPU's loop applies before its next exit (and devices that could tell sooner).
            self.coalesced = CoalescedRing(self.vcpu.coalesced_ring(page), self.pio, self.mmio)
            self._stack.callback(self._leave_ring)  # before the mapping goes
            for vcpu in self.vcpus:
                vcpu.set_coalesced(self.coalesced)
        if self.coalesced is not None and kvm.check_extension(Cap.COALESCED_PIO):
            # THR writes: applied at the latest when the guest next polls LSR, or the log is
            # read.
            self.vm.register_coalesced_mmio(COM1 + RBR_THR, 1, pio=True)
            self.uart.coalesce(self.coalesced)
        self._kick_signal = check(lib.kvmnet_kick_signal(), "sigaction")

    def plug(self, device, slot=None):
        """Put a PCI device on bus 0 (the first free slot unless given), before start()."""
        if self._threads:
            raise RuntimeError("PCI devices are plugged before the machine starts")
        if slot is None:
            slot = next(s for s in range(1, 32) if s not in self.pci.devices)
        device.attach(Wiring(self.vm, self.memory, IrqLine(self.vm, pci_gsi(slot)),
                             coalesced=self.coalesced, signal_msi=self.vm.signal_msi,
                             msi_routes=self.msi_routes))
        self.pci.add(slot, device)
        self.devices.append(device)
        return slot

    def _leave_ring(self):
        """Apply the coalesced ring's last writes and stop reading it; then the log is whole."""
        self.coalesced.close()
        self.uart.coalesce(None)
        self.uart.flush()

    def on_serial(self, listener, on_end=None):
        """listener(bytes) gets every byte the guest sends on COM1; on_end(reason) is called
        once when the vCPU stops, for whatever reason."""
        self._serial_listeners.append(listener)
        if on_end:
            self._end_listeners.append(on_end)

    @property
    def serial_log(self):
        """Every byte the guest wrote to COM1 so far (bytearray)."""
        self.uart.flush()  # the line the guest has not ended yet, too
        return self._serial_log

    def _serial_output(self, data):
        self._serial_log += data
        for listener in self._serial_listeners:
            listener(data)

    def _guest_exit(self, status):
        self.exit_status = status
        self._request_stop()

    def _request_stop(self):
        for vcpu in self.vcpus:
            vcpu.request_stop()

    def start(self):
        self._enter()
        for device in self.devices:
            device.start()
        self._start_vcpus()
        return self

    def _enter(self):
        """Load the boot image and put the boot vCPU at its entry."""
        pci_intx = [(slot, device.config[INTERRUPT_PIN], pci_gsi(slot))
                    for slot, device in sorted(self.pci.devices.items())
                    if device.config[INTERRUPT_PIN]]
        entry = self._boot.load(self.memory, len(self.vcpus), pci_intx)
        if entry.long_mode:
            self.vcpu.enter_long_mode(entry.eip, *entry.long_mode, **entry.regs)
        else:
            self.vcpu.enter_protected_mode(entry.eip, **entry.regs)

    def _start_vcpus(self):
        self._threads = [threading.Thread(target=self._run, args=(vcpu,), daemon=True,
                                          name=f"kvmnet-vcpu{vcpu.index}")
                         for vcpu in self.vcpus]
        for thread in self._threads:
            thread.start()

    def reset(self):
        """A warm reset of the running machine (see the module's docstring); the guest boots
        again from its boot image. RuntimeError for a machine with more than one vCPU,
        or whose guest has ended (before or while it was being reset)."""
        if len(self.vcpus) > 1:
            raise RuntimeError(f"a machine with {len(self.vcpus)} vCPUs cannot be reset: only "
                               "the boot vCPU is put back in its entry state")
        if not self.running:
            raise RuntimeError("the guest has ended: there is nothing to reset")
        self._resetting = True
        try:
            self.stop()
        finally:
            self._resetting = False
        if self._error is not None or self.exit_status is not None:
            raise RuntimeError("the guest ended while it was being reset: "
                               f"{self._error or f'exit status {self.exit_status}'}")
        if self.coalesced is not None:
            self.coalesced.drain()  # writes the guest made before the reset reach the devices
        self.pci.system_reset()
        self.uart.reset()
        self.rtc.reset()
        for vcpu in self.vcpus:
            vcpu.resume()
        self._enter()
        self.resets += 1
        self._start_vcpus()

    def _run(self, vcpu):
        try:
            vcpu.run_loop(self.pio, self.mmio)
        except BaseException as e:  # re-raised by wait() in the caller's thread
            self._error = self._error or e
            self._request_stop()
        if vcpu is not self.vcpu:
            return
        self.uart.flush()  # listeners see the guest's last words before its end
        if self._resetting and self._error is None and self.exit_status is None:
            return  # stopped by reset(): the guest goes on, and so does its channel
        reason = f"the guest stopped: {self._error or f'exit status {self.exit_status}'}"
        for on_end in self._end_listeners:
            on_end(reason)

    @property
    def running(self):
        return bool(self._threads) and self._threads[0].is_alive()

    def wait(self, timeout):
        """The guest's exit status. Raises GuestCrashed, or GuestHung after timeout seconds."""
        self._threads[0].join(timeout)
        if self._threads[0].is_alive():
            self.stop()
            raise GuestHung(f"guest still running after {timeout} s; serial log:\n"
                            + self.serial_text())
        self.stop()  # the other vCPUs, when the boot vCPU is done
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, GuestCrashed):
                raise GuestCrashed(f"{error}; serial log:\n{self.serial_text()}") from None
            raise error
        return self.exit_status

    def stop(self):
        """Stop every vCPU (from any thread) and wait for their threads to end."""
        self._request_stop()
        for vcpu, thread in zip(self.vcpus, self._threads):
            while thread.is_alive():
                vcpu.kick(self._kick_signal)
                thread.join(0.05)
        self.uart.flush()

    def serial_text(self):
        return self.serial_log.decode("ascii", "replace")

    def close(self):
        self.stop()
        try:
            for device in self.devices:
                device.close()
        finally:
            self._stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
