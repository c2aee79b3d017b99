"""vhost: a virtio-net datapath handed from the VMM to a backend outside it.

One frontend (`frontend.VhostFrontend`) holds everything the two transports share: feature
negotiation, the memory table from GuestMemory's memfd, and per vring its size, base,
ring addresses (in this process's address space, as both the kernel and the vhost-user
spec want them), kick and call eventfds; `start_vring` hands a ring over and `stop_vring`
takes it back, returning the index the backend would take next (GET_VRING_BASE).

Transports (the same methods, one per message or ioctl):

    kernel.KernelVhostNet   /dev/vhost-net ioctls (cffi, constants and structs from
                            <linux/vhost.h>); VHOST_NET_SET_BACKEND gives it the tap fd
    user.VhostUserClient    vhost-user messages over AF_UNIX, fds with SCM_RIGHTS

`testpmd.Testpmd` runs DPDK's dpdk-testpmd as a real vhost-user backend in a scratch
namespace. The device side is kvmnet.devices.virtio_net (VirtioNetPci.handoff/take_back)
and the NIC backends are kvmnet.backends.vhost.
"""

from kvmnet.vhost.frontend import BackendGone, VhostError, VhostFrontend, Vring

__all__ = ["BackendGone", "VhostError", "VhostFrontend", "Vring"]
