"""MSI routes and irqfds: an eventfd write that raises an MSI with no exit to the VMM.

KVM_IRQFD binds an eventfd to a GSI; for the write to become an MSI, the GSI needs an MSI
route (KVM_SET_GSI_ROUTING). `MsiRoutes` is the VM's table: the routes KVM_CREATE_IRQCHIP
made (kept: the call replaces the whole table) plus one MSI route per key, at GSIs from
FIRST_GSI up, re-sent when a route is added, changed or removed.

`IrqfdBinding` is one eventfd's binding to an MSI-X vector: `bind(gsi)` routes it there,
`unbind()` leaves the eventfd to the VMM's userspace (which then sets the vector's pending
bit, as a masked vector requires). The MSI-X table (kvmnet.vmm.msix) says when a vector's
route changes; the device decides which eventfd follows which vector.
"""

import threading

from kvmnet.syscall import check, ffi, lib

FIRST_GSI = 24  # above the IOAPIC's 24 pins


class MsiRoutes:
    def __init__(self, vm):
        self.vm = vm
        self._routes = {}  # key -> (gsi, address, data)
        self._free = []
        self._next = FIRST_GSI
        self._lock = threading.Lock()
        self.commits = 0  # KVM_SET_GSI_ROUTING calls, for tests

    def set(self, key, address, data):
        """The GSI routed to MSI (address, data) for key, routing it if needed."""
        with self._lock:
            old = self._routes.get(key)
            if old and old[1:] == (address, data):
                return old[0]
            gsi = old[0] if old else (self._free.pop() if self._free else self._take())
            self._routes[key] = (gsi, address, data)
            self._commit()
            return gsi

    def _take(self):
        gsi, self._next = self._next, self._next + 1
        return gsi

    def remove(self, key):
        with self._lock:
            old = self._routes.pop(key, None)
            if old:
                self._free.append(old[0])
                self._commit()

    def _commit(self):
        routes = ffi.new("struct kvmnet_msi_route[]", [
            {"gsi": gsi, "address_lo": address & 0xFFFF_FFFF, "address_hi": address >> 32,
             "data": data} for gsi, address, data in self._routes.values()])
        check(lib.kvmnet_set_msi_routes(self.vm.fd, routes, len(self._routes)),
              "KVM_SET_GSI_ROUTING")
        self.commits += 1

    def __len__(self):
        return len(self._routes)


class IrqfdBinding:
    """Eventfd fd bound (KVM_IRQFD) to at most one GSI at a time."""

    def __init__(self, vm, fd):
        self.vm, self.fd = vm, fd
        self.gsi = None

    def bind(self, gsi):
        if gsi == self.gsi:
            return
        self.unbind()
        self.vm.irqfd(self.fd, gsi)
        self.gsi = gsi

    def unbind(self):
        if self.gsi is not None:
            self.vm.irqfd(self.fd, self.gsi, deassign=True)
            self.gsi = None

    @property
    def bound(self):
        return self.gsi is not None
