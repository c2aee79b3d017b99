"""The one place a native call's -errno becomes an exception.

Every native function returns its result or -errno (native/kvmnet_native.h). `check` turns a
negative result into an OSError whose message names the call, so a failure reads
"KVM_CREATE_VCPU(1024): EINVAL (Invalid argument)" rather than a bare errno.
"""

import errno
import os

from kvmnet._native import ffi, lib


class SyscallError(OSError):
    """A system call failed; `call` names it as the kernel does (e.g. KVM_CREATE_VM)."""

    def __init__(self, err, call):
        name = errno.errorcode.get(err, str(err))
        super().__init__(err, f"{call}: {name} ({os.strerror(err)})")
        self.call = call

    def __str__(self):
        return self.strerror


def check(ret, call):
    """Return `ret`, or raise SyscallError naming `call` if it is a negative errno."""
    if ret < 0:
        raise SyscallError(-ret, call)
    return ret


def ioctl(fd, name, arg=None):
    """ioctl(fd, <the constant called name>, arg): arg is None, an int or a cffi pointer."""
    request = getattr(lib, name)
    if arg is None:
        return check(lib.kvmnet_ioctl(fd, request, 0), name)
    if isinstance(arg, int):
        return check(lib.kvmnet_ioctl(fd, request, arg), f"{name}({arg})")
    return check(lib.kvmnet_ioctl_ptr(fd, request, arg), name)


def constants(prefix):
    """{name: value} of every constant the native module took from the headers with prefix."""
    return {name: getattr(lib, name) for name in dir(lib) if name.startswith(prefix)}


__all__ = ["SyscallError", "check", "constants", "ffi", "ioctl", "lib"]
