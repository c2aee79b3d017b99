"""Guest RAM: one memfd, mapped here and registered with KVM at guest-physical 0.

A memfd (rather than anonymous memory) so that a vhost backend can map the same pages.
"""

import mmap
import os

from kvmnet.syscall import ffi

# Guest RAM must stay below the 32-bit PCI MMIO window the guest image uses (0xC0000000+).
MAX_SIZE = 0xC000_0000


class GuestMemory:
    def __init__(self, size):
        if not 1 << 20 < size <= MAX_SIZE or size % 4096:
            raise ValueError(f"guest RAM of {size:#x} bytes: need whole pages, 1 MiB..3 GiB")
        self.size = size
        self.fd = os.memfd_create("kvmnet-guest-ram", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, size)
            self._map = mmap.mmap(self.fd, size, mmap.MAP_SHARED)
        except BaseException:
            os.close(self.fd)
            raise
        self._view = ffi.from_buffer(self._map)

    @property
    def host_address(self):
        return int(ffi.cast("uintptr_t", self._view))

    def register(self, vm, slot=0):
        """This RAM as vm's (a kvmnet.kvm.Vm) from guest-physical 0."""
        vm.set_user_memory_region(slot, 0, self.size, self.host_address)

    def write(self, gpa, data):
        self._check(gpa, len(data))
        self._map[gpa:gpa + len(data)] = data

    def read(self, gpa, length):
        self._check(gpa, length)
        return bytes(self._map[gpa:gpa + length])

    def _check(self, gpa, length):
        if gpa < 0 or gpa + length > self.size:
            raise ValueError(f"guest-physical {gpa:#x}+{length:#x} is outside RAM ({self.size:#x})")

    def close(self):
        if self.fd >= 0:
            del self._view
            self._map.close()
            os.close(self.fd)
            self.fd = -1
