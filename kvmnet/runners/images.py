"""What a runner boots: the suite's own guest image (one multiboot file, which the built-in
VMM and QEMU's multiboot loader both load) or a Linux kernel with its initramfs and command
line (kvmnet.linux_guest builds one), which the built-in VMM boots by the Linux boot
protocol (kvmnet.vmm.linux_boot) and QEMU by its own -kernel/-initrd/-append.

Runner.start takes either; `memory_mib` and `hello_timeout` say what the guest needs."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

# The suite's image says HELLO in milliseconds; allow for a loaded CI machine.
IMAGE_HELLO_TIMEOUT = 30
# Frames a stream (the peer's, or a paced one from another guest: kvmnet.peer.streams) keeps
# unacknowledged in flight to a guest.
# Linux's NAPI polls at most 64 frames a round, and its 8139too reads the ring only while
# ROK is newly set: a burst of more than 64 that lands at once, as it does from a model
# that receives faster than the driver polls (ours and QEMU's), leaves its tail unread
# until another frame comes. Under 64 in flight, one round takes them all.
IMAGE_STREAM_WINDOW, LINUX_STREAM_WINDOW = 128, 48


@dataclass(frozen=True)
class LinuxBoot:
    """kernel: a bzImage; initrd: a newc cpio; cmdline: the kernel's command line, the same
    under both runners. memory_mib: the RAM the guest gets at the least. hello_timeout:
    seconds from start to the agent's HELLO (a nested guest in the kernel lab is slow).
    lacking: (NIC model, why the guest cannot drive it) for each model whose driver the
    kernel lacks."""
    kernel: Path
    initrd: Path
    cmdline: str
    memory_mib: int = 256
    hello_timeout: float = 300
    lacking: tuple = ()


GuestImage = Union[str, "os.PathLike[str]", LinuxBoot]


def hello_timeout(image: GuestImage) -> float:
    """Seconds a guest booting image may take to say HELLO."""
    return image.hello_timeout if isinstance(image, LinuxBoot) else IMAGE_HELLO_TIMEOUT


def stream_window(image: GuestImage) -> int:
    """Frames a peer may keep in flight to a NIC of a guest booting image."""
    return LINUX_STREAM_WINDOW if isinstance(image, LinuxBoot) else IMAGE_STREAM_WINDOW


def memory_mib(image: GuestImage, configured: int) -> int:
    """The RAM a guest booting image gets, in MiB: configured, or what the image needs."""
    return max(configured, image.memory_mib) if isinstance(image, LinuxBoot) else configured


def cannot_drive(image: GuestImage, model: str) -> str | None:
    """Why a guest booting image cannot drive a NIC of model, or None (it can)."""
    if isinstance(image, LinuxBoot):
        return dict(image.lacking).get(model)
    return None
