"""Runners: the built-in VMM and QEMU, behind one interface, booting the same guest: the
suite's image, or a Linux kernel with its initramfs (kvmnet.runners.images).

A runner's `start(image, nics)` returns a started Guest: kvmnet.runners.api says what
each provides (Runner, Guest).
"""

from kvmnet.runners.api import Guest, Runner
from kvmnet.runners.builtin import BuiltinRunner
from kvmnet.runners.qemu import QemuRunner, QemuUnavailable

RUNNERS = {"builtin": BuiltinRunner, "qemu": QemuRunner}

__all__ = ["RUNNERS", "BuiltinRunner", "Guest", "QemuRunner", "QemuUnavailable", "Runner"]
