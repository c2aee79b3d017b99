"""/dev/vhost-net: the in-kernel virtio-net backend, and why it is missing where it is."""

import os

from kvmnet import kconfig
from kvmnet.host.flags import bit_names
from kvmnet.syscall import ffi, ioctl

VHOST_NET_DEVICE = "/dev/vhost-net"
FEATURE_PREFIXES = ("VIRTIO_F_", "VIRTIO_RING_F_", "VIRTIO_NET_F_", "VHOST_F_", "VHOST_NET_F_")


class VhostNetUnavailable(RuntimeError):
    """No usable vhost-net here; the message names the missing kernel feature."""


def absence_reason(path=VHOST_NET_DEVICE):
    """Why `path` is absent, in terms of the kernel option that provides it."""
    setting = kconfig.option("CONFIG_VHOST_NET")
    if setting == "n":
        why = "the kernel is built without CONFIG_VHOST_NET"
    elif setting == "m":
        why = "CONFIG_VHOST_NET=m but the vhost_net module is not loaded (modprobe vhost_net)"
    elif setting == "y":
        why = "CONFIG_VHOST_NET=y yet the device node is missing (is devtmpfs mounted?)"
    else:
        why = "CONFIG_VHOST_NET: the kernel config is not readable to tell whether it is built"
    return f"{path} absent: {why}"


def get_features(path=VHOST_NET_DEVICE):
    """VHOST_SET_OWNER then VHOST_GET_FEATURES: the feature bits the backend offers."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise VhostNetUnavailable(absence_reason(path)) from None
    try:
        ioctl(fd, "VHOST_SET_OWNER")
        out = ffi.new("uint64_t *")
        ioctl(fd, "VHOST_GET_FEATURES", out)
        return out[0]
    finally:
        os.close(fd)


def feature_names(features):
    return bit_names(features, FEATURE_PREFIXES)
