"""Backends: where a NIC model's frames go. A device model takes one and never opens an fd.

Every backend has the same face:

    fd              one frame per read()/write(), non-blocking; the VMM polls it
    vnet_hdr_size   bytes of virtio-net header before each frame on fd (0: none)
    name            the host-side link it feeds (in its namespace)
    close()         and use as a context manager

tap.TapBackend is a tap queue, macvtap.MacvtapBackend a macvtap's; vhost.VhostNetBackend and
vhost.VhostUserBackend hand a virtio-net device's rings to the kernel's vhost-net or to a
vhost-user backend (the vhost transports live in vhost/). Above them, kvmnet.topology builds
the layouts that hand these out; below them, kvmnet.host has the primitives.
"""

from kvmnet.backends.tap import TapBackend

__all__ = ["TapBackend"]
