"""Backends: where a NIC model's frames go. A device model takes one and never opens an fd.

Every backend has the same face:

    fd              one frame per read()/write(), non-blocking; the VMM polls it
    vnet_hdr_size   bytes of virtio-net header before each frame on fd (0: none)
    name            the host-side link it feeds (in its namespace)
    close()         and use as a context manager

tap.TapBackend is a tap queue; macvtap, vhost-net and vhost-user will sit beside it.
"""

from kvmnet.backends.tap import TapBackend

__all__ = ["TapBackend"]
