"""cffi builder (API mode) for kvmnet._native.

Constants are declared as `#define NAME ...` so the C compiler, not this file, supplies their
values from the kernel's uapi headers: a number typed in by hand here could drift from the
kernel's. Families of constants (capabilities, feature bits) are listed by scanning the same
headers, so a capability the headers know is reachable by its kernel name.
"""

import re
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
INCLUDE = Path("/usr/include")

HEADERS = [
    "linux/kvm.h",
    "linux/if_tun.h",
    "linux/vhost.h",
    "linux/virtio_config.h",
    "linux/virtio_net.h",
    "linux/virtio_ring.h",
]

# (header, name pattern): every integer #define in that header matching the pattern.
FAMILIES = [
    ("linux/kvm.h", r"KVM_CAP_\w+"),
    ("linux/kvm.h", r"KVM_EXIT_\w+"),
    ("linux/if_tun.h", r"IFF_\w+"),
    ("linux/virtio_config.h", r"VIRTIO_F_\w+"),
    ("linux/virtio_net.h", r"VIRTIO_NET_F_\w+"),
    ("linux/virtio_ring.h", r"VIRTIO_RING_F_\w+"),
    ("linux/vhost_types.h", r"VHOST_(?:NET_)?F_\w+"),
]

IOCTLS = [
    "KVM_GET_API_VERSION",
    "KVM_CREATE_VM",
    "KVM_CHECK_EXTENSION",
    "KVM_GET_VCPU_MMAP_SIZE",
    "KVM_CREATE_VCPU",
    "TUNGETFEATURES",
    "TUNGETIFF",
    "TUNSETVNETHDRSZ",
    "TUNGETVNETHDRSZ",
    "VHOST_SET_OWNER",
    "VHOST_GET_FEATURES",
]

FUNCTIONS = """
long kvmnet_ioctl(int fd, unsigned long request, unsigned long arg);
long kvmnet_ioctl_ptr(int fd, unsigned long request, void *arg);
long kvmnet_tun_set_iff(int fd, const char *name, int flags, char *name_out);
int kvmnet_setns(int fd, int nstype);
"""

# A define whose value is a plain number or another name: an integer constant cffi can take.
_INT_DEFINE = r"^#define\s+({})\s+(?:\(?-?(?:0x[0-9a-fA-F]+|\d+)[uUlL]*\)?|[A-Z_][A-Z0-9_]*)\s*(?:/[*/].*)?$"


def scan(header, pattern):
    text = (INCLUDE / header).read_text()
    return sorted(set(re.findall(_INT_DEFINE.format(pattern), text, flags=re.MULTILINE)))


def constant_names():
    names = list(IOCTLS)
    for header, pattern in FAMILIES:
        names += scan(header, pattern)
    return list(dict.fromkeys(names))


ffibuilder = cffi.FFI()
ffibuilder.cdef(FUNCTIONS + "".join(f"#define {name} ...\n" for name in constant_names()))
ffibuilder.set_source(
    "kvmnet._native",
    "".join(f"#include <{h}>\n" for h in HEADERS) + '#include "kvmnet_native.h"\n',
    # setuptools wants paths relative to the project root, where setup.py runs.
    sources=["native/kvmnet_native.c"],
    include_dirs=["native"],
    extra_compile_args=["-O2", "-Wall", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
