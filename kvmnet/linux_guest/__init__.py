"""A Linux guest: a Debian kernel package's bzImage with an initramfs of busybox-static,
the kernel's own NIC drivers (8139too, e1000, virtio_net), /init (init.sh) and kvmnet-agent
(agent.py: the guest image's control protocol, served through Linux's drivers), booted by
the built-in VMM (kvmnet.vmm.linux_boot) or QEMU. Its ring-0 code is only fast enough to
boot inside the kernel lab (kvmnet.lab): on hosts whose guest ring 0 is emulated, a boot
would take an hour.
"""

from kvmnet.linux_guest.image import (CMDLINE, LINUX_NIC_MODULES, MODEL_DRIVERS,
                                      LinuxGuestImage, READY)
from kvmnet.linux_guest.lab_guest import kernel_guest, lab_guest

__all__ = ["CMDLINE", "LINUX_NIC_MODULES", "MODEL_DRIVERS", "LinuxGuestImage", "READY",
           "kernel_guest", "lab_guest"]
