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
    "sched.h",           # CLONE_NEWNET (cffi's generated source defines _GNU_SOURCE)
    "net/if.h",          # IFF_ALLMULTI
    "linux/if_ether.h",  # ETH_P_ALL
    "linux/sockios.h",   # SIOCADDMULTI, SIOCDELMULTI
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
    ("linux/kvm.h", r"KVM_INTERNAL_ERROR_\w+"),
    ("linux/if_tun.h", r"IFF_\w+"),
    ("linux/virtio_config.h", r"VIRTIO_F_\w+"),
    ("linux/virtio_net.h", r"VIRTIO_NET_F_\w+"),
    ("linux/virtio_ring.h", r"VIRTIO_RING_F_\w+"),
    ("linux/vhost_types.h", r"VHOST_(?:NET_)?F_\w+"),
]

IOCTLS = [
    "KVM_GET_API_VERSION",
    "KVM_SET_USER_MEMORY_REGION",
    "KVM_SET_TSS_ADDR",
    "KVM_SET_IDENTITY_MAP_ADDR",
    "KVM_CREATE_IRQCHIP",
    "KVM_CREATE_PIT2",
    "KVM_IRQ_LINE",
    "KVM_SIGNAL_MSI",
    "KVM_IRQFD",
    "KVM_IOEVENTFD",
    "KVM_REGISTER_COALESCED_MMIO",
    "KVM_UNREGISTER_COALESCED_MMIO",
    "KVM_GET_REGS",
    "KVM_SET_REGS",
    "KVM_GET_SREGS",
    "KVM_SET_SREGS",
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
    "VHOST_SET_FEATURES",
    "VHOST_SET_MEM_TABLE",
    "VHOST_SET_VRING_NUM",
    "VHOST_SET_VRING_ADDR",
    "VHOST_SET_VRING_BASE",
    "VHOST_GET_VRING_BASE",
    "VHOST_SET_VRING_KICK",
    "VHOST_SET_VRING_CALL",
    "VHOST_NET_SET_BACKEND",
    "KVM_SET_GSI_ROUTING",
]

# Constants whose definitions are expressions the header scan does not take, and those of
# kvmnet_native.h.
FLAGS = [
    "KVMNET_LOOP_EXIT",
    "KVMNET_LOOP_STOPPED",
    "KVMNET_LOOP_ABSORBED",
    "CLONE_NEWNET",
    "IFF_ALLMULTI",
    "ETH_P_ALL",
    "SIOCADDMULTI",
    "SIOCDELMULTI",
    "KVM_IRQFD_FLAG_DEASSIGN",
    "KVM_IOEVENTFD_FLAG_DATAMATCH",
    "KVM_IOEVENTFD_FLAG_PIO",
    "KVM_IOEVENTFD_FLAG_DEASSIGN",
]

# Kernel structs Python fills in: listed fields are checked against the headers by the
# compiler, `...` lets the real struct have more.
STRUCTS = """
struct kvm_userspace_memory_region {
    uint32_t slot; uint32_t flags; uint64_t guest_phys_addr; uint64_t memory_size;
    uint64_t userspace_addr;
};
struct kvm_regs {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
};
struct kvm_segment {
    uint64_t base; uint32_t limit; uint16_t selector; uint8_t type;
    uint8_t present, dpl, db, s, l, g, avl; uint8_t unusable; ...;
};
struct kvm_dtable { uint64_t base; uint16_t limit; ...; };
struct kvm_sregs {
    struct kvm_segment cs, ds, es, fs, gs, ss; struct kvm_segment tr, ldt;
    struct kvm_dtable gdt, idt;
    uint64_t cr0, cr2, cr3, cr4, cr8; uint64_t efer; uint64_t apic_base; ...;
};
struct kvm_pit_config { uint32_t flags; ...; };
struct kvm_irq_level { uint32_t irq; uint32_t level; };
struct kvm_msi { uint32_t address_lo; uint32_t address_hi; uint32_t data; uint32_t flags; ...; };
struct kvm_irqfd { uint32_t fd; uint32_t gsi; uint32_t flags; uint32_t resamplefd; ...; };
struct kvm_ioeventfd { uint64_t datamatch; uint64_t addr; uint32_t len; int32_t fd; uint32_t flags; ...; };
struct kvm_coalesced_mmio_zone { uint64_t addr; uint32_t size; uint32_t pio; ...; };
struct kvm_coalesced_mmio { uint64_t phys_addr; uint32_t len; uint32_t pio; uint8_t data[8]; ...; };
struct kvm_coalesced_mmio_ring { uint32_t first, last; struct kvm_coalesced_mmio coalesced_mmio[]; };
struct vhost_vring_state { unsigned int index; unsigned int num; };
struct vhost_vring_file { unsigned int index; int fd; };
struct vhost_vring_addr {
    unsigned int index; unsigned int flags; uint64_t desc_user_addr; uint64_t used_user_addr;
    uint64_t avail_user_addr; uint64_t log_guest_addr;
};
struct vhost_memory_region {
    uint64_t guest_phys_addr; uint64_t memory_size; uint64_t userspace_addr;
    uint64_t flags_padding;
};
struct vhost_memory { uint32_t nregions; uint32_t padding; struct vhost_memory_region regions[]; };
struct kvm_run { uint8_t request_interrupt_window; uint8_t immediate_exit; uint32_t exit_reason; ...; };
struct kvmnet_exit {
    unsigned int reason; unsigned int is_write; unsigned int size; unsigned int count;
    unsigned long long addr; unsigned char *data; unsigned long long detail[2];
    unsigned int served; unsigned int coalesced;
};
"""

# The functions of kvmnet_native.c; every other native/*.h declares its own for cffi between
# "cffi: begin" and "cffi: end" comment lines, so a new C file needs no edit here.
FUNCTIONS = """
long kvmnet_ioctl(int fd, unsigned long request, unsigned long arg);
long kvmnet_ioctl_ptr(int fd, unsigned long request, void *arg);
long kvmnet_tun_set_iff(int fd, const char *name, int flags, char *name_out);
int kvmnet_setns(int fd, int nstype);
long kvmnet_vcpu_run(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit);
struct kvmnet_fast_port {
    unsigned short port; unsigned char direction; unsigned char value; unsigned char enabled;
    unsigned long long hits;
};
#define KVMNET_FAST_READ ...
#define KVMNET_FAST_WRITE ...
#define KVMNET_FAST_PYTHON ...
#define KVMNET_FAST_DONE ...
#define KVMNET_FAST_ATTEND ...
typedef int kvmnet_fast_handler(void *opaque, unsigned long long offset, unsigned char *data,
                                unsigned int size, int is_write);
struct kvmnet_fast_range {
    unsigned long long base; unsigned long long length; kvmnet_fast_handler *handler;
    void *opaque; unsigned char enabled;
};
#define KVMNET_HIT_USED ...
#define KVMNET_HIT_MMIO ...
struct kvmnet_fast_hit { unsigned long long key; unsigned long long hits; };
struct kvmnet_fast {
    struct kvmnet_fast_port *ports; int nports; struct kvmnet_fast_range *pio; int npio;
    struct kvmnet_fast_range *mmio; int nmmio; struct kvmnet_fast_hit *hits; int nhits;
    struct kvmnet_coalesced *coalesced; int resume;
};
long kvmnet_vcpu_loop(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit,
                      struct kvmnet_fast *fast, int *stop);
int kvmnet_fast_access(struct kvmnet_fast_range *ranges, int nranges, unsigned long long addr,
                       unsigned char *data, unsigned int size, int is_write);
long kvmnet_set_supported_cpuid(int kvm_fd, int vcpu_fd);
int kvmnet_kick_signal(void);
"""

# A define whose value is a plain number or another name: an integer constant cffi can take.
_INT_DEFINE = r"^#define\s+({})\s+(?:\(?-?(?:0x[0-9a-fA-F]+|\d+)[uUlL]*\)?|[A-Z_][A-Z0-9_]*)\s*(?:/[*/].*)?$"


def scan(header, pattern):
    text = (INCLUDE / header).read_text()
    return sorted(set(re.findall(_INT_DEFINE.format(pattern), text, flags=re.MULTILINE)))


def constant_names():
    names = IOCTLS + FLAGS
    for header, pattern in FAMILIES:
        names += scan(header, pattern)
    return list(dict.fromkeys(names))


_CDEF_BLOCK = re.compile(r"^/\* cffi: begin \*/\n(.*?)^/\* cffi: end \*/$", re.MULTILINE | re.DOTALL)


def module_headers():
    """The other native headers, kvmnet_native.h first."""
    return sorted(p.name for p in HERE.glob("*.h") if p.name != "kvmnet_native.h")


def module_cdefs():
    return "".join(block for name in module_headers()
                   for block in _CDEF_BLOCK.findall((HERE / name).read_text()))


ffibuilder = cffi.FFI()
ffibuilder.cdef(STRUCTS + FUNCTIONS + module_cdefs()
                + "".join(f"#define {name} ...\n" for name in constant_names()))
ffibuilder.set_source(
    "kvmnet._native",
    "".join(f"#include <{h}>\n" for h in HEADERS)
    + "".join(f'#include "{h}"\n' for h in ["kvmnet_native.h"] + module_headers()),
    # setuptools wants paths relative to the project root, where setup.py runs.
    sources=sorted(f"native/{p.name}" for p in HERE.glob("*.c")),
    include_dirs=["native", "guestimg"],  # guestimg/testframe_layout.h: both C sides
    extra_compile_args=["-O2", "-Wall", "-Werror"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(HERE.parent), verbose=True)
