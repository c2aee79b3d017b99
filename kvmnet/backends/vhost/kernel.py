"""Kernel vhost-net (/dev/vhost-net) as a vhost transport: one ioctl per request.

Ioctl numbers and the structs (vhost_vring_state, vhost_vring_addr, vhost_vring_file,
vhost_memory with its vhost_memory_region array) come from <linux/vhost.h> through cffi in
API mode: the compiler checks every field, nothing is typed in by hand. The device is
opened once per NIC; VHOST_NET_SET_BACKEND then gives each ring the tap fd, which the
kernel reads and writes from its own worker thread.

Opening an absent device raises kvmnet.host.vhost.VhostNetUnavailable naming
CONFIG_VHOST_NET, so callers skip with the kernel option as the reason.
"""

import os

from kvmnet.host.vhost import VHOST_NET_DEVICE, VhostNetUnavailable, absence_reason
from kvmnet.syscall import ffi, ioctl


def vring_state(index, num):
    return ffi.new("struct vhost_vring_state *", {"index": index, "num": num})


def vring_file(index, fd):
    return ffi.new("struct vhost_vring_file *", {"index": index, "fd": fd})


def vring_addr(index, desc, used, avail, log=0):
    return ffi.new("struct vhost_vring_addr *", {
        "index": index, "flags": 0, "desc_user_addr": desc, "used_user_addr": used,
        "avail_user_addr": avail, "log_guest_addr": log})


def memory_table(regions):
    """A struct vhost_memory for regions [(guest_phys_addr, size, userspace_addr, fd,
    fd_offset)] (the kernel maps this process's memory: fd and offset are not sent)."""
    return ffi.new("struct vhost_memory *", {
        "nregions": len(regions),
        "regions": [{"guest_phys_addr": gpa, "memory_size": size, "userspace_addr": uaddr,
                     "flags_padding": 0} for gpa, size, uaddr, _, _ in regions]})


class KernelVhostNet:
    """An open /dev/vhost-net (path may name another node, for tests)."""

    def __init__(self, path=VHOST_NET_DEVICE):
        self.name = f"vhost-net {path}"
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise VhostNetUnavailable(absence_reason(path)) from None
        except PermissionError:
            raise VhostNetUnavailable(f"{path}: no permission (run as root)") from None

    def set_owner(self):
        ioctl(self.fd, "VHOST_SET_OWNER")

    def get_features(self):
        out = ffi.new("uint64_t *")
        ioctl(self.fd, "VHOST_GET_FEATURES", out)
        return out[0]

    def set_features(self, features):
        ioctl(self.fd, "VHOST_SET_FEATURES", ffi.new("uint64_t *", features))

    def set_mem_table(self, regions):
        ioctl(self.fd, "VHOST_SET_MEM_TABLE", memory_table(regions))

    def set_vring_num(self, index, num):
        ioctl(self.fd, "VHOST_SET_VRING_NUM", vring_state(index, num))

    def set_vring_base(self, index, base):
        ioctl(self.fd, "VHOST_SET_VRING_BASE", vring_state(index, base))

    def set_vring_addr(self, index, desc, used, avail, log=0):
        ioctl(self.fd, "VHOST_SET_VRING_ADDR", vring_addr(index, desc, used, avail, log))

    def set_vring_kick(self, index, fd):
        ioctl(self.fd, "VHOST_SET_VRING_KICK", vring_file(index, fd))

    def set_vring_call(self, index, fd):
        ioctl(self.fd, "VHOST_SET_VRING_CALL", vring_file(index, fd))

    def set_vring_enable(self, index, enable):
        """vhost-net has no per-ring enable: a ring runs while it has a backend fd."""

    def get_vring_base(self, index):
        state = vring_state(index, 0)
        ioctl(self.fd, "VHOST_GET_VRING_BASE", state)
        return state.num

    def net_set_backend(self, index, fd):
        """The tap fd the ring moves frames on; -1 (VHOST_FILE_UNBIND) detaches it."""
        ioctl(self.fd, "VHOST_NET_SET_BACKEND", vring_file(index, fd))

    def death_fd(self):
        return None  # the kernel does not go away

    def close(self):
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
