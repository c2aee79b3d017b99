"""The lab's initramfs: busybox-static, /init (init.sh), the candidate kernel's modules in
load order and its build configuration, as a newc cpio."""

from pathlib import Path

from kvmnet.lab.cpio import Cpio
from kvmnet.lab.modules import Plan

INIT = Path(__file__).with_name("init.sh")


def build(kernel, plan: Plan, busybox, out):
    """Write the initramfs for kernel to out: busybox (a static binary's path), plan's
    modules (listed in /modules/order for init.sh) and the kernel's config."""
    archive = Cpio()
    for directory in ("dev", "proc", "sys", "tmp"):
        archive.directory(directory)
    archive.copy("bin/busybox", busybox, mode=0o755)
    archive.copy("init", INIT, mode=0o755)
    for index, relative in enumerate(plan.files):
        archive.copy(f"modules/{index:03}-{Path(relative).name}", kernel.modules / relative)
    names = "".join(f"{index:03}-{Path(relative).name}\n"
                    for index, relative in enumerate(plan.files))
    archive.file("modules/order", names.encode())
    if kernel.config is not None:
        archive.copy("config", kernel.config)
    archive.write(out)
    return out
