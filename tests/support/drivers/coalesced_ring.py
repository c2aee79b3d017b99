"""KVM's side of a coalesced MMIO ring, for tests: a page laid out as a vCPU maps it, with
writes appended as KVM appends them (kvm_coalesced_mmio_ring in <linux/kvm.h>)."""

import mmap

from kvmnet.syscall import ffi


class KvmRing:
    def __init__(self):
        self.page = ffi.new("char[]", mmap.PAGESIZE)
        self.ring = ffi.cast("struct kvm_coalesced_mmio_ring *", self.page)
        self.max = ((mmap.PAGESIZE - ffi.sizeof("struct kvm_coalesced_mmio_ring"))
                    // ffi.sizeof("struct kvm_coalesced_mmio"))

    def write(self, addr, data, pio=False):
        """One guest write of data (1 to 8 bytes) at addr, a port with pio."""
        last = self.ring.last
        assert (last + 1) % self.max != self.ring.first, "the ring is full"
        entry = self.ring.coalesced_mmio[last]
        entry.phys_addr, entry.len, entry.pio = addr, len(data), int(pio)
        entry.data[0:len(data)] = data
        self.ring.last = (last + 1) % self.max

    @property
    def held(self):
        """Entries written and not yet taken."""
        return (self.ring.last - self.ring.first) % self.max
