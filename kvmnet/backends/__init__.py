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

from typing import Optional, Protocol

from kvmnet.backends.tap import TapBackend


class Backend(Protocol):
    """Where a NIC's frames go (the face above); vhost and socket_path say who else may
    serve a virtio NIC's rings (None for a plain tap or macvtap)."""

    fd: int
    vnet_hdr_size: int
    name: str
    vhost: Optional[object]        # the VhostFrontend the built-in VMM hands its rings to
    socket_path: Optional[str]     # a vhost-user server QEMU connects to instead of fd

    def inheritable_fd(self) -> int:
        """fd, made inheritable, for a VMM process (QEMU) to take."""

    def close(self) -> None: ...


__all__ = ["Backend", "TapBackend"]
