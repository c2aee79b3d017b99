"""The VM's coalesced MMIO ring and its one consumer (native/coalesced.h).

Writes to a coalesced zone (Vm.register_coalesced_mmio) do not exit: KVM appends them to a
ring every vCPU maps, and `CoalescedRing` applies them, oldest first, through the buses' fast
ranges as if each had exited when written -- at every vCPU exit before the exit itself (the
run loop, in C), and wherever a device could otherwise see state they change (the UART's
data path and hand-overs, a NIC's device thread waiting for buffers back). An entry C
declines is applied here, through the bus, by the vCPU that found it, before its own exit.

Coalesced writes are not exits: Vcpu.exits does not count them; `applied` does.
"""

import threading

from kvmnet.syscall import check, ffi, lib

_MMIO = lib.KVMNET_HIT_MMIO


class CoalescedRing:
    def __init__(self, ring, pio, mmio):
        """ring: the ring's page as a vCPU maps it (Vcpu.coalesced_ring); pio, mmio: the
        kvmnet.vmm.bus.Bus whose fast tables and devices the entries reach."""
        c = ffi.new("struct kvmnet_coalesced *")
        check(lib.kvmnet_coalesced_init(c), "kvmnet_coalesced_init")
        self.c = ffi.gc(c, lib.kvmnet_coalesced_destroy)
        self._pio, self._mmio = pio, mmio
        c.pio, c.npio = pio.fast, len(pio.fast)
        c.mmio, c.nmmio = mmio.fast, len(mmio.fast)
        self._keys = ffi.new("unsigned long long[]", lib.KVMNET_COALESCED_ATTENDS)
        self._entry = ffi.new("struct kvm_coalesced_mmio *")
        self._lock = threading.Lock()  # one vCPU applies declined entries at a time
        lib.kvmnet_coalesced_set_ring(self.c, ring)

    @property
    def applied(self):
        """Coalesced writes applied so far (none of them an exit)."""
        return self.c.applied

    def drain(self):
        """Apply what the ring holds (any thread); then what C declined (a vCPU's thread)."""
        if lib.kvmnet_coalesced_drain(self.c):
            self.attend()

    def attend(self):
        """After a drain found something for Python (exit.coalesced): the devices whose
        handlers asked for it attend, and entries C declined are applied through the bus."""
        n = lib.kvmnet_coalesced_take_attends(self.c, self._keys, len(self._keys))
        for key in self._keys[0:n]:
            bus = self._mmio if key & _MMIO else self._pio
            bus.attend(key & ~_MMIO)
        with self._lock:
            entry = self._entry
            while lib.kvmnet_coalesced_pop_declined(self.c, entry):
                bus = self._pio if entry.pio else self._mmio
                bus.write(entry.phys_addr, bytes(entry.data[0:min(entry.len, 8)]))

    def close(self):
        """Apply what the ring holds and stop reading it (before its mapping goes)."""
        self.attend()
        lib.kvmnet_coalesced_set_ring(self.c, ffi.NULL)
