"""The vhost frontend: what kernel vhost-net and vhost-user share, over a transport.

    frontend = VhostFrontend(transport)      # SET_OWNER, GET_FEATURES (and, for
                                             # vhost-user, the protocol features)
    frontend.features                        # what the backend offers
    frontend.offer(ours)                     # ours, less what the backend cannot do
    frontend.set_memory(memory)              # SET_MEM_TABLE: the guest's memfd, once
    frontend.set_features(driver_features)   # SET_FEATURES (what the driver accepted)
    frontend.start_vring(Vring(...))         # NUM, BASE, ADDR, KICK, CALL (+ ENABLE)
    base = frontend.stop_vring(index)        # (ENABLE 0 +) GET_VRING_BASE
    frontend.on_death(callback)              # callback(reason) once, if the backend goes
    frontend.close()

Ring addresses are given as guest-physical (Vring.desc/avail/used) and sent as addresses
in this process, through the memory table's mapping: vhost-net wants user addresses
(`desc_user_addr`), and so does vhost-user ("addresses in the front-end's address space",
docs/interop/vhost-user.rst), which DPDK translates through the table's userspace_addr.

A transport has one method per request, named after it in snake_case (get_features,
set_owner, set_mem_table, set_vring_num, set_vring_base, set_vring_addr, set_vring_kick,
set_vring_call, set_vring_enable, get_vring_base, net_set_backend), a `name`, a
`death_fd()` (an fd that polls HUP when the backend goes, or None) and `close()`.
"""

import os
import select
import threading
from dataclasses import dataclass

from kvmnet.syscall import lib

# Features only the backend can provide: the guest is offered them only if it does (as
# QEMU's vhost feature_bits). The rest (MAC, STATUS, control queue, MTU) the VMM provides.
BACKEND_FEATURE_NAMES = (
    "VIRTIO_F_NOTIFY_ON_EMPTY", "VIRTIO_F_ANY_LAYOUT", "VIRTIO_RING_F_INDIRECT_DESC",
    "VIRTIO_RING_F_EVENT_IDX", "VIRTIO_F_VERSION_1", "VIRTIO_F_RING_PACKED",
    "VIRTIO_F_ACCESS_PLATFORM", "VIRTIO_NET_F_MRG_RXBUF", "VIRTIO_NET_F_CSUM",
    "VIRTIO_NET_F_GUEST_CSUM", "VIRTIO_NET_F_GSO", "VIRTIO_NET_F_GUEST_TSO4",
    "VIRTIO_NET_F_GUEST_TSO6", "VIRTIO_NET_F_GUEST_ECN", "VIRTIO_NET_F_GUEST_UFO",
    "VIRTIO_NET_F_HOST_TSO4", "VIRTIO_NET_F_HOST_TSO6", "VIRTIO_NET_F_HOST_ECN",
    "VIRTIO_NET_F_HOST_UFO")
BACKEND_FEATURES = sum(1 << getattr(lib, n) for n in BACKEND_FEATURE_NAMES if hasattr(lib, n))


def backend_feature_names(bits: int) -> list[str]:
    """The names of the backend-provided features among bits (others as 'bit N')."""
    named = {getattr(lib, n): n for n in BACKEND_FEATURE_NAMES if hasattr(lib, n)}
    return [named.get(bit, f"bit {bit}") for bit in range(64) if bits >> bit & 1]


class VhostError(RuntimeError):
    """A vhost request failed or was refused; the message names the request."""


class BackendGone(VhostError):
    """The backend went away (socket closed, process killed)."""


@dataclass
class Vring:
    """One virtqueue as the backend gets it: guest-physical ring addresses, the index it
    starts from, and the eventfds it is kicked on (the queue's ioeventfd) and calls on (an
    irqfd, or the VMM's call watcher)."""

    index: int
    size: int
    desc: int
    avail: int
    used: int
    base: int
    kick_fd: int
    call_fd: int


class VhostFrontend:
    def __init__(self, transport):
        self.transport = transport
        self.memory = None
        self.running = {}  # vring index -> Vring handed to the backend
        self.dead = None   # why the backend is gone, once it is
        self._death_callbacks = []
        self._watch_stop = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._watcher = None
        self._lock = threading.Lock()
        try:
            transport.set_owner()
            self.features = transport.get_features()
        except BaseException:
            self.close()
            raise

    @property
    def name(self):
        return self.transport.name

    def offer(self, ours):
        """ours (device feature bits) less the backend-dependent bits the backend lacks."""
        return ours & ~(BACKEND_FEATURES & ~self.features)

    def set_memory(self, memory):
        """SET_MEM_TABLE: all of guest RAM (one memfd region at guest-physical 0)."""
        self.memory = memory
        self._call("SET_MEM_TABLE", self.transport.set_mem_table,
                   [(0, memory.size, memory.host_address, memory.fd, 0)])

    def set_features(self, driver_features):
        """SET_FEATURES: the backend-dependent part of what the driver accepted. Raises
        VhostError if the driver accepted a backend feature the backend does not have."""
        wanted = driver_features & BACKEND_FEATURES
        missing = wanted & ~self.features
        if missing:
            raise VhostError(f"{self.name}: the driver accepted features {missing:#x} that "
                             "the backend does not offer")
        self._call("SET_FEATURES", self.transport.set_features, wanted)
        self.negotiated = wanted

    def start_vring(self, vring):
        """Hand one ring to the backend, starting at vring.base."""
        if self.memory is None:
            raise VhostError(f"{self.name}: no memory table set before starting vring "
                             f"{vring.index}")
        host = self.memory.host_address
        t = self.transport
        self._call("SET_VRING_NUM", t.set_vring_num, vring.index, vring.size)
        self._call("SET_VRING_BASE", t.set_vring_base, vring.index, vring.base)
        self._call("SET_VRING_ADDR", t.set_vring_addr, vring.index, host + vring.desc,
                   host + vring.used, host + vring.avail)
        self._call("SET_VRING_KICK", t.set_vring_kick, vring.index, vring.kick_fd)
        self._call("SET_VRING_CALL", t.set_vring_call, vring.index, vring.call_fd)
        self._call("SET_VRING_ENABLE", t.set_vring_enable, vring.index, True)
        self.running[vring.index] = vring
        self._watch()

    def attach_backend(self, index, fd):
        """VHOST_NET_SET_BACKEND (kernel only; vhost-user backends have their own ports)."""
        self._call("NET_SET_BACKEND", self.transport.net_set_backend, index, fd)

    def stop_vring(self, index):
        """Take a ring back: the index the backend would take next (GET_VRING_BASE)."""
        self.running.pop(index, None)
        self._call("SET_VRING_ENABLE", self.transport.set_vring_enable, index, False)
        self._call("NET_SET_BACKEND", self.transport.net_set_backend, index, -1)
        return self._call("GET_VRING_BASE", self.transport.get_vring_base, index)

    def _call(self, request, fn, *args):
        if self.dead:
            raise BackendGone(f"{self.name}: {request}: {self.dead}")
        try:
            return fn(*args)
        except BackendGone as e:
            self._died(str(e))
            raise
        except OSError as e:
            raise VhostError(f"{self.name}: {request}: {e}") from None

    # Death: the transport's fd polls HUP; callbacks run once, on the watcher thread.
    def on_death(self, callback):
        """callback(reason) once when the backend goes (right away if it already has)."""
        self._death_callbacks.append(callback)
        if self.dead:
            callback(self.dead)

    def _watch(self):
        fd = self.transport.death_fd()
        if fd is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch_loop, args=(fd,), daemon=True,
                                         name=f"vhost-watch:{self.name}")
        self._watcher.start()

    def _watch_loop(self, fd):
        poller = select.poll()
        poller.register(fd, select.POLLRDHUP)
        poller.register(self._watch_stop, select.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._watch_stop in events:
                return
            if events.get(fd, 0) & (select.POLLHUP | select.POLLRDHUP | select.POLLERR):
                self._died("the backend closed the connection")
                return

    def _died(self, reason):
        with self._lock:
            if self.dead:
                return
            self.dead = reason
        for callback in self._death_callbacks:
            callback(f"{self.name}: {reason}")

    def close(self):
        """Stop watching and close the transport (the backend sees the frontend go)."""
        if self._watch_stop >= 0:
            os.eventfd_write(self._watch_stop, 1)
            if self._watcher is not None and self._watcher is not threading.current_thread():
                self._watcher.join()
            os.close(self._watch_stop)
            self._watch_stop = -1
        self.transport.close()
