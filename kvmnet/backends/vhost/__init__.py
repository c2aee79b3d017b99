"""vhost backends: a virtio NIC whose datapath a vhost backend serves.

    VhostUserBackend(socket_path, fallback=None)   a vhost-user server (dpdk-testpmd)
    VhostNetBackend(tap, device="/dev/vhost-net")  the kernel's vhost-net on a tap

Both have the usual backend face (fd, vnet_hdr_size, name, close()) for the VMM's own C
datapath, which serves the rings until the handoff and again after take_back(): the
fallback's (a TapBackend) or the tap's fd. A VhostUserBackend without a fallback gives the
C datapath a dead end (a socketpair nobody reads: frames it sends are counted as backend
errors, nothing arrives). `vhost` is the kvmnet.backends.vhost.frontend.VhostFrontend the built-in VMM's
virtio-net hands its rings to; it is connected (vhost-user) or opened (vhost-net) when the
backend is made, so a missing backend fails here, before a guest boots.

QEMU takes a VhostUserBackend as `-chardev socket,path=... -netdev vhost-user` (a vhost-user
socket serves one frontend at a time: one backend per guest, and the built-in VMM's frontend
is only connected on `connect()`), and a VhostNetBackend as its tap with vhost=on.

One frontend (`frontend.VhostFrontend`) holds what the two transports share: feature
negotiation, the memory table from GuestMemory's memfd, and per vring its size, base, ring
addresses, kick and call eventfds; `start_vring` hands a ring over and `stop_vring` takes it
back, returning the index the backend would take next (GET_VRING_BASE). The transports, one
method per message or ioctl: `kernel.KernelVhostNet` (/dev/vhost-net, constants and structs
from <linux/vhost.h>) and `user.VhostUserClient` (vhost-user over AF_UNIX, fds with
SCM_RIGHTS). `testpmd.Testpmd` runs DPDK's dpdk-testpmd as a real vhost-user backend in a
scratch namespace; `flip.flipping` hands the rings back and forth while frames flow. The
device side is kvmnet.devices.virtio_vhost; the vhost-net probe is kvmnet.host.vhost.
"""

import os
import socket

from kvmnet.backends.vhost.frontend import VhostFrontend
from kvmnet.backends.vhost.kernel import KernelVhostNet
from kvmnet.backends.vhost.user import VhostUserClient


class VhostUserBackend:
    def __init__(self, socket_path, fallback=None):
        self.socket_path = str(socket_path)
        self.fallback = fallback
        self.name = f"vhost-user:{self.socket_path}"
        self.vnet_hdr_size = fallback.vnet_hdr_size if fallback else 0
        self._dead_end = None
        if fallback is not None:
            self.fd = fallback.fd
        else:
            self._dead_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            for end in self._dead_end:
                end.setblocking(False)
            self.fd = self._dead_end[0].fileno()
        self._vhost = None

    @property
    def vhost(self):
        """The frontend, connected to the socket on first use."""
        if self._vhost is None:
            self._vhost = VhostFrontend(VhostUserClient(self.socket_path))
        return self._vhost

    def connect(self):
        return self.vhost

    def inheritable_fd(self):
        raise TypeError("a vhost-user NIC is given to QEMU by its socket, not by an fd")

    def close(self):
        if self._vhost is not None:
            self._vhost.close()
            self._vhost = None
        if self._dead_end is not None:
            for end in self._dead_end:
                end.close()
            self._dead_end = None
        self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"VhostUserBackend({self.socket_path!r}, fallback={self.fallback!r})"


class VhostNetBackend:
    """A tap (kvmnet.backends.TapBackend, with a vnet header) served by /dev/vhost-net.
    Raises kvmnet.host.vhost.VhostNetUnavailable (naming CONFIG_VHOST_NET) where the
    device is absent."""

    socket_path = None  # QEMU takes the tap, with vhost=on

    def __init__(self, tap, device="/dev/vhost-net"):
        self.tap, self.device = tap, device
        self.name = tap.name
        self.fd, self.vnet_hdr_size = tap.fd, tap.vnet_hdr_size
        self.vhost = VhostFrontend(KernelVhostNet(device))

    def connect(self):
        return self.vhost

    def inheritable_fd(self):
        return self.tap.inheritable_fd()

    def close(self):
        """Closes the vhost-net fd; the tap is the topology's."""
        if self.vhost is not None:
            self.vhost.close()
            self.vhost = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def vhost_net_present(device="/dev/vhost-net"):
    return os.path.exists(device)
