"""The Linux guest's boot image: the kernel, and an initramfs built for it."""

from pathlib import Path

from kvmnet.lab.cpio import Cpio
from kvmnet.lab.modules import load_order
from kvmnet.linux_guest.agent import AGENT_NAME
from kvmnet.runners.images import LinuxBoot

INIT = Path(__file__).with_name("init.sh")
# Linux's drivers for the models kvmnet has (virtio_net brings virtio_pci's transport).
# rtl8139 takes two: 8139too binds an RTL8139C (kvmnet's model), and leaves a revision
# 0x20 chip, an 8139C+ (QEMU's), to 8139cp.
LINUX_NIC_MODULES = ("8139too", "8139cp", "e1000", "virtio_pci", "virtio_net")
MODEL_DRIVERS = {"rtl8139": ("8139too", "8139cp"), "e1000": ("e1000",),
                 "virtio": ("virtio_pci", "virtio_net"),
                 "virtio-legacy": ("virtio_pci", "virtio_net")}
# nokaslr: the kernel where the loader put it; the console on COM1, polled, as the agent's
# line is. No acpi=off: the built-in VMM has no ACPI tables, so Linux finds no RSDP and
# reads the MP table (kvmnet.vmm.mptable); under QEMU, ACPI is how it routes PCI INTx
# (with acpi=off it took qboot's interrupt line, which PIIX does not route there).
CMDLINE = "console=ttyS0,115200 earlyprintk=serial,ttyS0,115200 nokaslr panic=-1"
READY = b"kvmnet-linux: ready"  # init.sh's line once the drivers are loaded


class LinuxGuestImage:
    """kernel: a kvmnet.lab.kernel.LabKernel; busybox: a static busybox binary's path;
    agent: kvmnet-agent's path (kvmnet.linux_guest.agent.build_agent), run by /init on
    COM1, or None for a guest that only boots. `missing` names the NIC drivers the kernel
    has neither built in nor as modules."""

    def __init__(self, kernel, busybox, agent=None, cmdline=CMDLINE):
        self.kernel, self.busybox, self.cmdline = kernel, Path(busybox), cmdline
        self.agent = Path(agent) if agent else None
        self.plan = load_order(kernel, LINUX_NIC_MODULES)
        self.missing = self.plan.missing

    def cannot_drive(self, model):
        """Why this guest cannot drive a NIC of model (its kernel lacks the driver), or None."""
        lacking = [module for module in MODEL_DRIVERS[model] if module in self.missing]
        if not lacking:
            return None
        return (f"kernel {self.kernel.release} has no {' or '.join(lacking)} (neither built in "
                f"nor a module): the Linux guest cannot drive a {model} NIC")

    def initramfs(self, out):
        """Write the initramfs (newc cpio) to out; returns out."""
        archive = Cpio()
        for directory in ("dev", "proc", "sys", "tmp"):
            archive.directory(directory)
        archive.copy("bin/busybox", self.busybox, mode=0o755)
        archive.copy("init", INIT, mode=0o755)
        if self.agent:
            archive.copy(f"bin/{AGENT_NAME}", self.agent, mode=0o755)
        names = []
        for index, relative in enumerate(self.plan.files):
            name = f"{index:03}-{Path(relative).name}"
            archive.copy(f"modules/{name}", self.kernel.modules / relative)
            names.append(name)
        archive.file("modules/order", "".join(f"{n}\n" for n in names).encode())
        archive.write(out)
        return Path(out)

    def boot(self, directory) -> LinuxBoot:
        """The kernel, this initramfs (written to directory) and the command line, as either
        runner boots them."""
        initrd = self.initramfs(Path(directory) / "linux-guest.cpio")
        lacking = tuple((model, why) for model in MODEL_DRIVERS
                        if (why := self.cannot_drive(model)))
        return LinuxBoot(self.kernel.vmlinuz, initrd, self.cmdline, lacking=lacking)
