"""The Linux guest of a kernel lab: the candidate kernel the lab runs is also the guest's, so
one run checks the host side (the lab kernel's KVM, tun, bridge, vhost-net) and the guest
side (its 8139too, e1000 and virtio_net) of the same kernel."""

from pathlib import Path

from kvmnet import lab
from kvmnet.lab import debian, kernel
from kvmnet.lab.errors import LabInputError
from kvmnet.lab.lab import BUSYBOX_PACKAGE, DEFAULT_CACHE
from kvmnet.linux_guest.agent import build_agent
from kvmnet.linux_guest.image import LinuxGuestImage


def lab_guest(directory, cache=DEFAULT_CACHE) -> LinuxGuestImage:
    """The running lab kernel's Linux guest, its agent built in directory; LabInputError
    outside a lab (the guest's kernel is the candidate's: there is none to take)."""
    release = lab.inside()
    if not release:
        raise LabInputError("the Linux guest boots the kernel lab's candidate kernel: run "
                            "with --kvmnet-kernel")
    return kernel_guest(lab.kernel_inside() or kernel.unpacked_release(release, cache),
                       directory, cache)


def kernel_guest(found, directory, cache=DEFAULT_CACHE) -> LinuxGuestImage:
    """The Linux guest of found (a kvmnet.lab.kernel.LabKernel): busybox-static from cache,
    its agent built in directory."""
    tree, _ = debian.unpacked(BUSYBOX_PACKAGE, cache)
    return LinuxGuestImage(found, tree / "bin/busybox", build_agent(Path(directory)))
