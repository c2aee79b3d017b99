"""Runners: the built-in VMM and QEMU, behind one interface, booting the same guest image.

A runner's `start(image_path)` returns a started Guest. A Guest has `channel` (a
kvmnet.guest.GuestChannel), `wait(timeout)` for the exit status, `serial_text()` and
`close()`, and is a context manager.
"""

from kvmnet.runners.builtin import BuiltinRunner
from kvmnet.runners.qemu import QemuRunner, QemuUnavailable

RUNNERS = {"builtin": BuiltinRunner, "qemu": QemuRunner}

__all__ = ["RUNNERS", "BuiltinRunner", "QemuRunner", "QemuUnavailable"]
