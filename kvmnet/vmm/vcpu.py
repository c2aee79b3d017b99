"""A vCPU: its kvm_run mapping, its CPUID, the 32- and 64-bit entry states, its exit loop.

The entry states are built on the special registers KVM gave the vCPU when it was
made (its power-on state), not on whatever they hold now: entering it again after the
guest ran (a warm reset, Machine.reset) puts back CR2, CR3, CR4 and EFER (0: long mode was
entered), the descriptor tables, TR and LDT as well as the segments and CR0 it sets.

The loop runs in C (native kvmnet_vcpu_loop) and comes back to Python only for exits that
need a device model in Python; the fast ports and the buses' fast ranges (device registers
whose C handlers answer in the loop) it answers itself are counted all the same. At every
KVM_RUN return it first applies the VM's coalesced writes (kvmnet.vmm.coalesced), which are
not exits and are not counted here.
"""

import errno
import mmap
import signal
import threading
from collections import Counter

from kvmnet.syscall import check, constants, ffi, lib

EXIT_NAMES = {v: n for n, v in constants("KVM_EXIT_").items() if not n.startswith("KVM_EXIT_IO_")}
CR0_PE, CR0_ET, CR0_PG = 0x1, 0x10, 0x8000_0000
CR4_PAE = 0x20
EFER_LME, EFER_LMA = 0x100, 0x400
HIT_SLOTS = 256  # addresses answered in C that one vCPU counts (more go through Python)


class GuestCrashed(RuntimeError):
    """The guest stopped in a way no guest should: the message names the exit and RIP."""


class Vcpu:
    def __init__(self, kvm, vm, index):
        self.index = index
        self._fd = vm.create_vcpu(index)
        self.fd = self._fd.fd
        check(lib.kvmnet_set_supported_cpuid(kvm.fd, self.fd), "KVM_SET_CPUID2")
        self._run_map = mmap.mmap(self.fd, kvm.get_vcpu_mmap_size())
        self._run_view = ffi.from_buffer(self._run_map)
        self.run = ffi.cast("struct kvm_run *", self._run_view)
        self._exit = ffi.new("struct kvmnet_exit *")
        self._exits = Counter()  # (exit name, port or address) -> count
        self._ports = ffi.new("struct kvmnet_fast_port[]", 0)
        self._hits = ffi.new("struct kvmnet_fast_hit[]", HIT_SLOTS)
        self._fast = ffi.new("struct kvmnet_fast *", {"ports": self._ports,
                                                       "hits": self._hits, "nhits": HIT_SLOTS})
        self._fast_keep = []  # the arrays _fast points to, kept alive
        self._coalesced = None
        self._stop = ffi.new("int *")
        self.thread_id = None
        self._power_on_sregs = self._fd.get_sregs()  # what enter_protected_mode builds on

    def set_fast_ports(self, fast):
        """The kvmnet_fast_port table (a cffi array the caller keeps) this vCPU's loop uses."""
        self._ports = fast
        self._fast.ports, self._fast.nports = fast, len(fast)

    def set_fast_ranges(self, pio, mmio):
        """The buses' kvmnet_fast_range tables (kvmnet.vmm.bus.Bus.fast) the loop answers."""
        self._fast_keep = [pio, mmio]
        self._fast.pio, self._fast.npio = pio, len(pio)
        self._fast.mmio, self._fast.nmmio = mmio, len(mmio)

    def set_coalesced(self, ring):
        """The VM's CoalescedRing, drained at every KVM_RUN return before the exit."""
        self._coalesced = ring
        self._fast.coalesced = ring.c if ring is not None else ffi.NULL

    @property
    def exits(self):
        """(exit name, port or address) -> count, those answered in C included. Writes KVM
        coalesced (kvmnet.vmm.coalesced) are not exits: the guest never left, and they are
        not counted here."""
        exits = Counter(self._exits)
        for f in self._ports:
            if f.hits:
                exits["IO", f.port] += f.hits
        for h in self._hits:
            if h.hits:
                addr = h.key & ~(lib.KVMNET_HIT_USED | lib.KVMNET_HIT_MMIO)
                exits["MMIO" if h.key & lib.KVMNET_HIT_MMIO else "IO", addr] += h.hits
        return exits

    @property
    def exits_in_c(self):
        """(exit name, port or address) -> count of the exits the fast ranges answered."""
        return Counter({("MMIO" if h.key & lib.KVMNET_HIT_MMIO else "IO",
                         h.key & ~(lib.KVMNET_HIT_USED | lib.KVMNET_HIT_MMIO)): h.hits
                        for h in self._hits if h.hits})

    def coalesced_ring(self, page):
        """The VM's coalesced MMIO ring as this vCPU's mapping shows it, at the page that
        KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO) names; valid until close()."""
        return ffi.cast("struct kvm_coalesced_mmio_ring *", self._run_view + page * mmap.PAGESIZE)

    def request_stop(self):
        """The loop ends at its next exit (kick() to make that exit happen now)."""
        self._stop[0] = 1

    def resume(self):
        """After the loop was stopped (request_stop, kick): it may run again."""
        self._stop[0] = 0
        self.run.immediate_exit = 0
        self.thread_id = None

    def enter_protected_mode(self, entry, **regs):
        """The 32-bit entry state of multiboot and of Linux's 32-bit boot protocol: flat
        segments (CS 0x10, data 0x18: Linux's __BOOT_CS and __BOOT_DS), paging off,
        interrupts off, EIP = entry, the general registers named in regs (rax=..., rsi=...)
        and every other general and special register as at power-on (see the module's
        docstring)."""
        sregs = ffi.new("struct kvm_sregs *", self._power_on_sregs[0])
        code = {"base": 0, "limit": 0xFFFF_FFFF, "selector": 0x10, "type": 0xB, "present": 1,
                "dpl": 0, "db": 1, "s": 1, "l": 0, "g": 1}
        data = dict(code, selector=0x18, type=0x3)
        sregs.cs = code
        for name in ("ds", "es", "fs", "gs", "ss"):
            setattr(sregs, name, data)
        sregs.cr0 = (sregs.cr0 | CR0_PE | CR0_ET) & ~CR0_PG
        self._fd.set_sregs(sregs)
        self._fd.set_regs(ffi.new("struct kvm_regs *", dict(regs, rip=entry, rflags=2)))

    def enter_long_mode(self, entry, cr3, gdt_base, gdt_limit, **regs):
        """The 64-bit entry state of Linux's 64-bit boot protocol: paging on with the page
        tables at cr3 (they must map the kernel, the zero page and the command line 1:1),
        the GDT at gdt_base (its 0x10 a 64-bit code segment, its 0x18 a flat data one),
        interrupts off, RIP = entry and the general registers in regs; the rest as at
        power-on."""
        sregs = ffi.new("struct kvm_sregs *", self._power_on_sregs[0])
        code = {"base": 0, "limit": 0xFFFF_FFFF, "selector": 0x10, "type": 0xB, "present": 1,
                "dpl": 0, "db": 0, "s": 1, "l": 1, "g": 1}
        data = dict(code, selector=0x18, type=0x3, db=1, l=0)
        sregs.cs = code
        for name in ("ds", "es", "fs", "gs", "ss"):
            setattr(sregs, name, data)
        sregs.gdt.base, sregs.gdt.limit = gdt_base, gdt_limit
        sregs.cr3 = cr3
        sregs.cr4 |= CR4_PAE
        sregs.efer |= EFER_LME | EFER_LMA
        sregs.cr0 |= CR0_PE | CR0_ET | CR0_PG
        self._fd.set_sregs(sregs)
        self._fd.set_regs(ffi.new("struct kvm_regs *", dict(regs, rip=entry, rflags=2)))

    def rip(self):
        return self._fd.get_regs().rip

    def run_loop(self, pio, mmio):
        """KVM_RUN until request_stop(); dispatch I/O and MMIO exits to the buses."""
        self.thread_id = threading.get_ident()
        exit, fast, stop = self._exit, self._fast, self._stop
        while not stop[0]:
            ret = lib.kvmnet_vcpu_loop(self.fd, self.run, exit, fast, stop)
            if ret == -errno.EINTR:
                self.run.immediate_exit = 0
                continue
            if check(ret, "KVM_RUN") == lib.KVMNET_LOOP_STOPPED:
                continue  # stopped after exits answered in C
            if exit.coalesced:  # the ring's drain before this exit wants Python
                self._coalesced.attend()
                if exit.coalesced & lib.KVMNET_COALESCED_DECLINED:
                    fast.resume = 1  # now the exit itself, still unhandled
                    continue
            if ret == lib.KVMNET_LOOP_ABSORBED:
                continue  # the exit was absorbed in C
            reason = exit.reason
            if exit.served:  # answered in C (and counted there); the device wants Python
                (pio if reason == lib.KVM_EXIT_IO else mmio).attend(exit.addr)
            elif reason == lib.KVM_EXIT_IO:
                self._exits["IO", exit.addr] += 1
                self._io(pio, exit)
            elif reason == lib.KVM_EXIT_MMIO:
                self._exits["MMIO", exit.addr] += 1
                self._mmio(mmio, exit)
            else:
                self._exits[EXIT_NAMES.get(reason, str(reason)), None] += 1
                raise GuestCrashed(self._describe(exit))

    @staticmethod
    def _io(bus, exit):
        size, data = exit.size, ffi.buffer(exit.data, exit.size * exit.count)
        for i in range(exit.count):
            chunk = slice(i * size, (i + 1) * size)
            if exit.is_write:
                bus.write(exit.addr, data[chunk])
            else:
                data[chunk] = bus.read(exit.addr, size)

    @staticmethod
    def _mmio(bus, exit):
        data = ffi.buffer(exit.data, exit.size)
        if exit.is_write:
            bus.write(exit.addr, data[:])
        else:
            data[:] = bus.read(exit.addr, exit.size)

    def _describe(self, exit):
        name = EXIT_NAMES.get(exit.reason, f"exit reason {exit.reason}")
        what = {
            lib.KVM_EXIT_SHUTDOWN: "the guest triple-faulted",
            lib.KVM_EXIT_HLT: "the guest halted",
            lib.KVM_EXIT_FAIL_ENTRY: f"VM entry failed, hardware reason {exit.detail[0]:#x}",
            lib.KVM_EXIT_INTERNAL_ERROR: f"KVM internal error, suberror {exit.detail[0]}",
        }.get(exit.reason, "an exit this VMM does not handle")
        return f"{name}: {what} at guest RIP {self.rip():#x}"

    def kick(self, signo):
        """Make KVM_RUN return in the vCPU thread (from any thread)."""
        self._stop[0] = 1
        self.run.immediate_exit = 1
        if self.thread_id is not None:
            try:
                signal.pthread_kill(self.thread_id, signo)
            except ProcessLookupError:
                pass  # the thread already ended

    def close(self):
        if self._run_map is not None:
            del self.run, self._run_view
            self._run_map.close()
            self._run_map = None
            self._fd.close()
