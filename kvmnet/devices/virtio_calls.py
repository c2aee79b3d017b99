"""Queue interrupts through eventfds ("call" fds, in vhost's words), one per virtqueue.

Whoever serves a queue signals its call fd: the VMM's C datapath threads, or a vhost
backend that was handed the queue. What a signal becomes depends on the guest's MSI-X:

- the queue's vector is enabled and unmasked: the fd is an irqfd on an MSI route to that
  vector (kvmnet.vmm.msi_routes), so KVM interrupts the guest and the VMM never runs;
- otherwise (MSI-X off, vector or function masked, no vector): a watcher thread, waiting
  in C on the unbound fds, delivers it the VMM's way: INTx and the ISR byte, or the
  vector's pending bit while it is masked.

`sync()` re-decides after any guest write that may change the answer (MSI-X table and
control, a queue's vector, the device status); the transport calls it.
"""

import os
import threading

from kvmnet.syscall import check, ffi, lib
from kvmnet.vmm.msi_routes import IrqfdBinding
from kvmnet.vmm.msix import NO_VECTOR

WAIT_MS = 200


class QueueCalls:
    def __init__(self, transport, queues):
        self.transport = transport
        self.fds = [os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK) for _ in range(queues)]
        self._wake = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._bindings = None  # IrqfdBinding per queue, once the device has a VM
        self._lock = threading.RLock()
        self._stop = ffi.new("int *")
        self._thread = None
        self.error = None
        self.delivered = [0] * queues  # signals the watcher turned into interrupts

    def bound(self, q):
        """Is queue q's call fd an irqfd right now?"""
        bindings = self._bindings
        return bool(bindings) and bindings[q].bound

    def signal(self, q):
        os.eventfd_write(self.fds[q], 1)

    def sync(self):
        """Bind each call fd to its queue's vector where MSI-X lets it, unbind the rest."""
        t = self.transport
        routes = t.msi_routes
        if t.vm is None or routes is None or self.fds is None:
            return
        with self._lock:
            if self._bindings is None:
                self._bindings = [IrqfdBinding(t.vm, fd) for fd in self.fds]
            used = set()
            for q, binding in enumerate(self._bindings):
                vector = t.queues[q].vector
                message = t.msix.message(vector) if vector != NO_VECTOR else None
                if message is None:
                    binding.unbind()
                    continue
                binding.bind(routes.set((id(t), vector), *message))
                used.add(vector)
            for vector in range(t.msix.vectors):
                if vector not in used:
                    routes.remove((id(t), vector))
        os.eventfd_write(self._wake, 1)  # the watcher re-reads which fds are its own

    def start(self):
        if self._thread is None:
            self._stop[0] = 0
            self._thread = threading.Thread(target=self._watch, daemon=True,
                                            name="kvmnet-virtio-calls")
            self._thread.start()

    def _watch(self):
        try:
            while not self._stop[0]:
                fds = [self._wake] + [-1 if self.bound(q) else fd for q, fd in enumerate(self.fds)]
                mask = check(lib.kvmnet_eventfds_wait(ffi.new("int[]", fds), len(fds), WAIT_MS,
                                                      self._stop), "call fds")
                for q in range(len(self.fds)):
                    if mask >> (q + 1) & 1:
                        self.delivered[q] += 1
                        self.transport.deliver(q)
        except BaseException as e:  # kept for the test or machine that asks
            self.error = e

    def close(self):
        self._stop[0] = 1
        if self._wake >= 0:
            os.eventfd_write(self._wake, 1)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            for binding in self._bindings or ():
                binding.unbind()
            routes = self.transport.msi_routes
            if routes is not None and self._bindings is not None:
                for vector in range(self.transport.msix.vectors):
                    routes.remove((id(self.transport), vector))
            self._bindings = None
        if self.fds is not None:
            for fd in self.fds + [self._wake]:
                os.close(fd)
            self.fds, self._wake = None, -1
