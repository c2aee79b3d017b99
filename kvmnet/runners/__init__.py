"""Runners: the built-in VMM and QEMU, behind one interface, booting the same guest image.

A runner's `start(image_path, nics)` returns a started Guest: kvmnet.runners.api says what
each provides (Runner, Guest).
"""

from kvmnet.runners.api import Guest, Runner
from kvmnet.runners.builtin import BuiltinRunner
from kvmnet.runners.qemu import QemuRunner, QemuUnavailable

RUNNERS = {"builtin": BuiltinRunner, "qemu": QemuRunner}

__all__ = ["RUNNERS", "BuiltinRunner", "Guest", "QemuRunner", "QemuUnavailable", "Runner"]
