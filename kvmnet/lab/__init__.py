"""The kernel lab: the suite run inside a candidate kernel before any host boots it.

A kernel (a Debian package, a .deb, a directory: kernel.py) is booted under QEMU's TCG
emulation with nested SVM (machine.py), from an initramfs of busybox-static and the
kernel's own modules in depmod's order (modules.py, initramfs.py, init.sh), with the host's
files shared read-only; pytest runs inside it (lab.py) and its results come back through
a writable share. Timing in the lab says nothing of a host: only functional checks count.
"""

from kvmnet.lab.errors import LabFailed, LabInputError
from kvmnet.lab.lab import EMULATION, Lab, facts_inside, inside, kernel_inside
from kvmnet.lab.machine import Job, LabRun, sweep

__all__ = ["EMULATION", "Job", "Lab", "LabFailed", "LabInputError", "LabRun", "facts_inside",
           "inside", "kernel_inside", "sweep"]
