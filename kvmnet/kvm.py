"""/dev/kvm: the system, VM and vCPU file descriptors and their ioctls.

One class per kind of fd (as in rust-vmm's kvm-ioctls), one method per ioctl named after the
kernel's ioctl in snake_case. Capabilities are the `Cap` enum, whose members are the
kernel's KVM_CAP_* names without the prefix, with the values of <linux/kvm.h>.
"""

import enum
import os

from kvmnet import kconfig
from kvmnet.syscall import SyscallError, constants, ffi, ioctl, lib

DEFAULT_DEVICE = "/dev/kvm"

Cap = enum.IntEnum("Cap", {n.removeprefix("KVM_CAP_"): v for n, v in constants("KVM_CAP_").items()})
Cap.__doc__ = "KVM capabilities (KVM_CAP_*), as <linux/kvm.h> numbers them."


class KvmUnavailable(RuntimeError):
    """KVM cannot be used here at all: no device, no permission, or not a KVM device."""


def absence_reason():
    """Why the running kernel has no KVM device, in terms of the options that provide it."""
    vendor = _vendor_option()
    for option in ("CONFIG_KVM", vendor):
        setting = kconfig.option(option) if option else None
        if setting == "n":
            return f"the kernel is built without {option}"
        if setting == "m" and option == vendor:
            module = option.removeprefix("CONFIG_").lower()
            return f"{option}=m but the {module} module is not loaded (modprobe {module})"
    return "the kvm module is not loaded, or this machine offers no hardware virtualization"


def _vendor_option():
    """CONFIG_KVM_AMD or CONFIG_KVM_INTEL, by the CPU's vendor; None for another vendor."""
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read(4096)
    except OSError:
        return None
    for vendor, option in (("AuthenticAMD", "CONFIG_KVM_AMD"), ("GenuineIntel", "CONFIG_KVM_INTEL")):
        if vendor in info:
            return option
    return None


class _Fd:
    """An owned file descriptor, closed exactly once."""

    fd = -1

    def __init__(self, fd):
        self.fd = fd

    def close(self):
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Kvm(_Fd):
    """The system fd: /dev/kvm, or another path to a KVM device."""

    def __init__(self, path=DEFAULT_DEVICE):
        self.path = path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            why = absence_reason() if path == DEFAULT_DEVICE else "no such file"
            raise KvmUnavailable(f"no KVM device at {path}: {why}") from None
        except PermissionError:
            raise KvmUnavailable(f"no permission to open {path}: run as root "
                                 "(or as a member of its group)") from None
        except OSError as e:
            raise KvmUnavailable(f"cannot open {path}: {e.strerror}") from None
        super().__init__(fd)
        try:
            self.api_version = self.get_api_version()
        except SyscallError as e:
            self.close()
            raise KvmUnavailable(f"{path} is not a KVM device ({e})") from None

    def get_api_version(self):
        """KVM_GET_API_VERSION: 12 on every kernel since 2.6.22."""
        return ioctl(self.fd, "KVM_GET_API_VERSION")

    def check_extension(self, cap):
        """KVM_CHECK_EXTENSION: 0 where absent, else 1 or a capability-specific number."""
        return ioctl(self.fd, "KVM_CHECK_EXTENSION", int(cap))

    def get_vcpu_mmap_size(self):
        """KVM_GET_VCPU_MMAP_SIZE: the size of each vCPU's shared kvm_run area."""
        return ioctl(self.fd, "KVM_GET_VCPU_MMAP_SIZE")

    def create_vm(self, machine_type=0):
        """KVM_CREATE_VM: a new VM with no memory and no vCPUs."""
        return Vm(ioctl(self.fd, "KVM_CREATE_VM", machine_type))


class Vm(_Fd):
    """A VM fd. Closing it frees the VM once its vCPUs are closed too."""

    def check_extension(self, cap):
        """KVM_CHECK_EXTENSION on the VM: some capabilities differ per VM."""
        return ioctl(self.fd, "KVM_CHECK_EXTENSION", int(cap))

    def create_vcpu(self, vcpu_id):
        """KVM_CREATE_VCPU: a vCPU with the given APIC id."""
        return Vcpu(ioctl(self.fd, "KVM_CREATE_VCPU", vcpu_id), vcpu_id)

    def set_tss_addr(self, address):
        """KVM_SET_TSS_ADDR: three pages of guest-physical space x86 KVM keeps for itself."""
        ioctl(self.fd, "KVM_SET_TSS_ADDR", address)

    def set_identity_map_addr(self, address):
        """KVM_SET_IDENTITY_MAP_ADDR: one more page KVM keeps (the EPT identity map)."""
        ioctl(self.fd, "KVM_SET_IDENTITY_MAP_ADDR", ffi.new("uint64_t *", address))

    def create_irqchip(self):
        """KVM_CREATE_IRQCHIP: the in-kernel PICs, IOAPIC and a LAPIC per vCPU."""
        ioctl(self.fd, "KVM_CREATE_IRQCHIP")

    def create_pit2(self):
        """KVM_CREATE_PIT2: the in-kernel i8254 timer."""
        ioctl(self.fd, "KVM_CREATE_PIT2", ffi.new("struct kvm_pit_config *"))

    def set_user_memory_region(self, slot, guest_phys_addr, size, userspace_addr):
        """KVM_SET_USER_MEMORY_REGION: this process's memory at userspace_addr is the guest's
        at guest_phys_addr (slot: the region's number)."""
        ioctl(self.fd, "KVM_SET_USER_MEMORY_REGION", ffi.new(
            "struct kvm_userspace_memory_region *", {
                "slot": slot, "guest_phys_addr": guest_phys_addr, "memory_size": size,
                "userspace_addr": userspace_addr}))

    def irq_line(self, gsi, level):
        """KVM_IRQ_LINE: drive an in-kernel irqchip input (a GSI) high or low."""
        ioctl(self.fd, "KVM_IRQ_LINE", ffi.new("struct kvm_irq_level *", {"irq": gsi,
                                                                          "level": level}))

    def signal_msi(self, address, data):
        """KVM_SIGNAL_MSI: deliver one message-signalled interrupt. Returns 0 when the
        guest had it blocked (the kernel's answer), above 0 when delivered."""
        msi = ffi.new("struct kvm_msi *", {"address_lo": address & 0xFFFF_FFFF,
                                           "address_hi": address >> 32, "data": data})
        return ioctl(self.fd, "KVM_SIGNAL_MSI", msi)

    def irqfd(self, fd, gsi, deassign=False):
        """KVM_IRQFD: a write to eventfd fd raises GSI gsi, with no exit to userspace."""
        flags = lib.KVM_IRQFD_FLAG_DEASSIGN if deassign else 0
        ioctl(self.fd, "KVM_IRQFD", ffi.new("struct kvm_irqfd *", {"fd": fd, "gsi": gsi,
                                                                   "flags": flags}))

    def ioeventfd(self, fd, addr, length, pio=False, datamatch=None, deassign=False):
        """KVM_IOEVENTFD: a guest write to addr signals eventfd fd instead of exiting."""
        flags = ((lib.KVM_IOEVENTFD_FLAG_PIO if pio else 0)
                 | (lib.KVM_IOEVENTFD_FLAG_DATAMATCH if datamatch is not None else 0)
                 | (lib.KVM_IOEVENTFD_FLAG_DEASSIGN if deassign else 0))
        ioctl(self.fd, "KVM_IOEVENTFD", ffi.new("struct kvm_ioeventfd *", {
            "datamatch": datamatch or 0, "addr": addr, "len": length, "fd": fd,
            "flags": flags}))

    def register_coalesced_mmio(self, addr, size, pio=False):
        """KVM_REGISTER_COALESCED_MMIO: guest writes to [addr, addr + size) (ports with pio)
        are appended to the coalesced ring (each vCPU's mapping, at the page
        KVM_CAP_COALESCED_MMIO names) instead of exiting; reads still exit."""
        ioctl(self.fd, "KVM_REGISTER_COALESCED_MMIO", ffi.new(
            "struct kvm_coalesced_mmio_zone *", {"addr": addr, "size": size, "pio": int(pio)}))

    def unregister_coalesced_mmio(self, addr, size, pio=False):
        """KVM_UNREGISTER_COALESCED_MMIO: the zones inside [addr, addr + size) go; writes
        there exit again."""
        ioctl(self.fd, "KVM_UNREGISTER_COALESCED_MMIO", ffi.new(
            "struct kvm_coalesced_mmio_zone *", {"addr": addr, "size": size, "pio": int(pio)}))


class Vcpu(_Fd):
    """A vCPU fd."""

    def __init__(self, fd, vcpu_id):
        super().__init__(fd)
        self.id = vcpu_id

    def get_regs(self):
        """KVM_GET_REGS: the general registers (a struct kvm_regs)."""
        regs = ffi.new("struct kvm_regs *")
        ioctl(self.fd, "KVM_GET_REGS", regs)
        return regs

    def set_regs(self, regs):
        """KVM_SET_REGS."""
        ioctl(self.fd, "KVM_SET_REGS", regs)

    def get_sregs(self):
        """KVM_GET_SREGS: segments, control registers, EFER (a struct kvm_sregs)."""
        sregs = ffi.new("struct kvm_sregs *")
        ioctl(self.fd, "KVM_GET_SREGS", sregs)
        return sregs

    def set_sregs(self, sregs):
        """KVM_SET_SREGS."""
        ioctl(self.fd, "KVM_SET_SREGS", sregs)
