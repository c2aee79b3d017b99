"""A doorbell: one eventfd that is a port's ioeventfd and, optionally, an irqfd routed to an
MSI vector. The guest's write to the port then signals the eventfd inside KVM, and the irqfd
injects the interrupt, with no exit to userspace: KVM's two in-kernel signalling paths, on
their own, closed into a loop (the guest's `doorbell` command times it)."""

import os

MSI_ADDRESS = 0xFEE0_0000  # an MSI to the local APIC of vCPU 0, fixed delivery
ROUTE_KEY = "doorbell"


class Doorbell:
    def __init__(self, machine, port, vector=None):
        """Wire port of machine's VM to a new eventfd (1-byte writes, any value); with
        vector, bind the same eventfd as an irqfd raising an MSI at vector on vCPU 0."""
        self.machine, self.port, self.vector = machine, port, vector
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self.gsi, self._ioeventfd = None, False
        try:
            machine.vm.ioeventfd(self.fd, port, 1, pio=True)
            self._ioeventfd = True
            if vector is not None:
                self.gsi = machine.msi_routes.set(ROUTE_KEY, MSI_ADDRESS, vector)
                machine.vm.irqfd(self.fd, self.gsi)
        except BaseException:
            self.close()
            raise

    def signals(self):
        """Writes the eventfd counted and nobody consumed (the irqfd consumes them)."""
        try:
            return os.eventfd_read(self.fd)
        except BlockingIOError:
            return 0

    def close(self):
        if self.fd is None:
            return
        if self.gsi is not None:
            self.machine.vm.irqfd(self.fd, self.gsi, deassign=True)
            self.machine.msi_routes.remove(ROUTE_KEY)
        if self._ioeventfd:
            self.machine.vm.ioeventfd(self.fd, self.port, 1, pio=True, deassign=True)
        os.close(self.fd)
        self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
