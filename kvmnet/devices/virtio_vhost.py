"""The vhost handoff of virtio-net's datapath: VirtioNetPci's RX and TX rings given to a
vhost backend (kvmnet.backends.vhost.frontend.VhostFrontend), and taken back, mid-stream.

    device = VirtioNetPci(mac, backend, vhost=frontend)   # auto_handoff=True by default
    ...                                  # guest sets DRIVER_OK: the rings go to the backend
    bases = device.take_back()           # {RX: n, TX: m}: GET_VRING_BASE; the C datapath
                                         # resumes at exactly those indexes
    device.handoff()                     # and back again, from where the VMM left them

What is handed over, per ring: its size and guest-physical desc/avail/used addresses (sent
as addresses in this process), the next available index (the C datapath's last_avail, or
what GET_VRING_BASE returned), the queue's ioeventfd as kick fd (KVM signals it on the
guest's notify write, so a kick never exits to the VMM) and the queue's call eventfd as
call fd (an irqfd on the queue's MSI-X vector while the guest has it unmasked, so the
backend interrupts the guest without the VMM; else the VMM's call watcher delivers INTx).
The control queue stays with the VMM, as with QEMU's vhost.

Features offered to the guest are the device's, less those only a backend can provide that
this backend lacks (VhostFrontend.offer); SET_FEATURES sends what the driver accepted.

A frame the C datapath had read from its backend but could not yet deliver (no RX buffer)
goes into buffers the driver added since, on the RX thread's last pass before it stops;
with none, it is dropped when the rings leave and counted (`handoff_dropped`): the kernel
vhost-net shares that backend, and would otherwise see the stream reordered.

When the backend goes away (vhost-user socket closed: testpmd killed) the device records
why in `vhost_error`, sets DEVICE_NEEDS_RESET (with a configuration interrupt) and leaves
the rings where they are: the guest sees no progress, the VMM does not hang, and whoever
runs the guest reads `vhost_error` or listens with `on_vhost_error` (the builtin runner's
Guest does: it stops the guest and ends its channel with the reason).
"""

import os

from kvmnet.backends.vhost.frontend import Vring

RX, TX = 0, 1
PAGE = 4096


class VhostHandoff:
    """Mixed into VirtioNetPci: self.net is the VirtioNet, self.calls its QueueCalls."""

    auto_handoff = True
    vhost_error = None
    handoff_dropped = 0
    handoffs = 0

    def _init_vhost(self, frontend, auto_handoff):
        self.auto_handoff = auto_handoff
        self._memory_sent = False
        self._rings = {}  # index -> (size, desc, avail, used) while handed off
        self.on_vhost_error = []  # listeners(reason), called once the backend is gone
        if frontend is not None:
            frontend.on_death(self._backend_died)

    @property
    def frontend(self):
        return self.net.vhost

    @property
    def handed_off(self):
        return self.net.handed_off

    def activated(self):
        """DRIVER_OK was set: hand the rings over when asked to."""
        if self.frontend is not None and self.auto_handoff and self.vhost_error is None:
            self.handoff()

    def handoff(self, frontend=None):
        """Give the RX and TX rings to the vhost backend (frontend, or the one the device
        was made with). The C datapath's threads stop first; the rings start at its
        indexes. Returns {ring index: base}."""
        net = self.net
        if frontend is not None:
            if net.vhost is not frontend:
                frontend.on_death(self._backend_died)
                self._memory_sent = False
            net.vhost = frontend
        frontend = net.vhost
        if frontend is None or net.handed_off:
            raise RuntimeError("no vhost frontend to hand off to" if frontend is None
                               else "the rings are already handed off")
        self._rings, bases, dropped = net.release_rings()
        self.handoff_dropped += dropped
        try:
            if not self._memory_sent:
                frontend.set_memory(self.memory)
                self._memory_sent = True
            frontend.set_features(self.driver_features)
            bad = PAGE if "bad_vring_addr" in net.faults else 0
            for index, base in bases.items():
                size, desc, avail, used = self._rings[index]
                frontend.start_vring(Vring(index, size, desc + bad, avail, used, base,
                                           kick_fd=net.kick_fd(index),
                                           call_fd=self.calls.fds[index]))
                frontend.attach_backend(index, net.backend.fd)
        except BaseException:
            self._resume(bases)
            raise
        for index in bases:  # buffers made available before the handoff: look at them
            os.eventfd_write(net.kick_fd(index), 1)
        self.handoffs += 1
        return bases

    def take_back(self):
        """Stop the backend's rings (GET_VRING_BASE) and resume the C datapath at the
        indexes it returned. Returns {ring index: base}."""
        if not self.net.handed_off:
            raise RuntimeError("the rings are not handed off")
        bases = {index: self.frontend.stop_vring(index) for index in list(self._rings)}
        self._resume(bases)
        return bases

    def _resume(self, bases):
        rings, self._rings = self._rings, {}
        self.net.resume_rings(rings, bases)

    def _drop_rings(self):
        """Device reset while handed off: stop the backend's rings, keep nothing."""
        if self.net.handed_off:
            try:
                for index in list(self._rings):
                    self.frontend.stop_vring(index)
            except Exception:  # a dead backend: nothing to stop
                pass
            self._rings.clear()
            self.net.resume_rings({}, {})

    def _backend_died(self, reason):
        if self.vhost_error is not None:
            return
        self.vhost_error = reason
        self.needs_reset()
        for listener in self.on_vhost_error:
            listener(reason)

