"""Fault injection on a link for the project's tests: drop or corrupt frames with tc.

    with tc.drop(ns, "tap0", "ingress", fraction=0.5):   # half the frames the guest sends
        ...
    with tc.corrupt(ns, "vbr0", "egress", offset=40):    # byte 40 of each frame, flipped
        ...

The usual tools (u32 match-all with act_gact drop / act_pedit) are not in every kernel: this
host's has cls_u32, cls_bpf and act_mirred but no act_gact, act_pedit, act_csum, act_sample,
sch_netem, and no modules at all (`kernel_support()` says what the running kernel has). So
a fault is a cls_bpf filter in direct-action mode on the link's clsact qdisc: a few BPF
instructions, assembled here, that return TC_ACT_SHOT (drop) or flip a byte with
bpf_skb_store_bytes (no checksum to fix: test frames have none). The program is loaded with
bpf(2) through ctypes and attached with pyroute2.
"""

import ctypes
import itertools
import os
import struct

from kvmnet import kconfig

# Kernel names, from <linux/bpf.h>, <linux/pkt_cls.h>.
BPF_PROG_LOAD, BPF_PROG_TYPE_SCHED_CLS = 5, 3
SYS_BPF = 321  # x86_64
TC_ACT_OK, TC_ACT_SHOT = 0, 2
BPF_FUNC_GET_PRANDOM_U32, BPF_FUNC_SKB_STORE_BYTES, BPF_FUNC_SKB_LOAD_BYTES = 7, 9, 26
SK_BUFF_PROTOCOL = 16  # offsetof(struct __sk_buff, protocol): the EtherType, network order
CLSACT_PARENT = {"ingress": "ffff:fff2", "egress": "ffff:fff3"}

KERNEL_OPTIONS = ("CONFIG_NET_CLS_U32", "CONFIG_NET_CLS_BPF", "CONFIG_NET_CLS_MATCHALL",
                  "CONFIG_NET_ACT_GACT", "CONFIG_NET_ACT_PEDIT", "CONFIG_NET_ACT_CSUM",
                  "CONFIG_NET_ACT_SAMPLE", "CONFIG_NET_ACT_BPF", "CONFIG_NET_ACT_MIRRED",
                  "CONFIG_NET_SCH_INGRESS", "CONFIG_NET_SCH_NETEM", "CONFIG_BPF_SYSCALL")

_prios = itertools.count(1)


def kernel_support():
    """{option: 'y'/'m'/'n'} for the tc pieces a fault could use (None: config unreadable)."""
    return {name: kconfig.option(name) for name in KERNEL_OPTIONS}


# --- a tiny BPF assembler: (opcode, dst, src, off, imm); jumps name a label instead of off.

def _insn(code, dst=0, src=0, off=0, imm=0):
    return (code, dst, src, off, imm)


def mov_imm(dst, imm): return _insn(0xB7, dst, imm=imm)        # BPF_ALU64|BPF_MOV|BPF_K
def mov_reg(dst, src): return _insn(0xBF, dst, src)             # BPF_ALU64|BPF_MOV|BPF_X
def add_imm(dst, imm): return _insn(0x07, dst, imm=imm)         # BPF_ALU64|BPF_ADD|BPF_K
def xor_imm(dst, imm): return _insn(0xA7, dst, imm=imm)         # BPF_ALU64|BPF_XOR|BPF_K
def load_u8(dst, src, off): return _insn(0x71, dst, src, off)   # BPF_LDX|BPF_MEM|BPF_B
def load_u32(dst, src, off): return _insn(0x61, dst, src, off)  # BPF_LDX|BPF_MEM|BPF_W
def store_u8(dst, src, off): return _insn(0x73, dst, src, off)  # BPF_STX|BPF_MEM|BPF_B
def call(helper): return _insn(0x85, imm=helper)                # BPF_JMP|BPF_CALL
def exit_(): return _insn(0x95)                                 # BPF_JMP|BPF_EXIT
def jne_imm(dst, imm, label): return _insn(0x55, dst, 0, label, imm)  # BPF_JMP|BPF_JNE|BPF_K
def jge_reg(dst, src, label): return _insn(0x3D, dst, src, label)     # BPF_JMP|BPF_JGE|BPF_X


def ld_imm64(dst, value):
    """BPF_LD|BPF_DW|BPF_IMM: two instruction slots."""
    return [_insn(0x18, dst, imm=value & 0xFFFFFFFF), _insn(0, imm=value >> 32)]


def assemble(program):
    """Bytes of program: a list of instructions and label names (str); a jump's off may be
    a label, resolved relative to the next instruction."""
    labels, insns = {}, []
    for item in program:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = b""
    for at, (code, dst, src, off, imm) in enumerate(insns):
        if isinstance(off, str):
            off = labels[off] - at - 1
        imm = imm - (1 << 32) if imm >= 1 << 31 else imm
        out += struct.pack("<BBhi", code, dst | src << 4, off, imm)
    return out


def fault_program(action, fraction=1.0, ethertype=None, offset=0):
    """The BPF program: action 'drop' or 'corrupt' (flip byte `offset` of the frame), for
    frames of ethertype (all if None), each with probability `fraction`."""
    prog = [mov_reg(6, 1)]  # r6 = skb: kept across helper calls
    if ethertype is not None:
        prog += [load_u32(2, 6, SK_BUFF_PROTOCOL),
                 jne_imm(2, int.from_bytes(ethertype.to_bytes(2, "big"), "little"), "pass")]
    if fraction < 1.0:
        threshold = int(fraction * (1 << 32))
        prog += [call(BPF_FUNC_GET_PRANDOM_U32), *ld_imm64(1, threshold), jge_reg(0, 1, "pass")]
    if action == "drop":
        prog += [mov_imm(0, TC_ACT_SHOT), exit_()]
    elif action == "corrupt":
        # The byte at `offset` (from the Ethernet header, both directions) into the stack,
        # flipped, and back; a shorter frame passes untouched.
        args = [mov_reg(1, 6), mov_imm(2, offset), mov_reg(3, 10), add_imm(3, -8), mov_imm(4, 1)]
        prog += [*args, call(BPF_FUNC_SKB_LOAD_BYTES), jne_imm(0, 0, "pass"),
                 load_u8(1, 10, -8), xor_imm(1, 0xFF), store_u8(10, 1, -8),
                 *args, mov_imm(5, 0), call(BPF_FUNC_SKB_STORE_BYTES)]
    else:
        raise ValueError(f"fault action {action!r}: 'drop' or 'corrupt'")
    if any(isinstance(insn, tuple) and insn[3] == "pass" for insn in prog) or action != "drop":
        prog += ["pass", mov_imm(0, TC_ACT_OK), exit_()]  # the verifier refuses dead code
    return assemble(prog)


def load(program, name="kvmnet_fault"):
    """bpf(BPF_PROG_LOAD) of a SCHED_CLS program; returns its fd. On refusal the OSError
    carries the verifier's log."""
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(program, len(program))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    for log_level in (0, 1):
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("<IIQQIIQII16s", attr, 0, BPF_PROG_TYPE_SCHED_CLS, len(program) // 8,
                         ctypes.addressof(insns), ctypes.addressof(license), log_level,
                         len(log) if log_level else 0, ctypes.addressof(log) if log_level else 0,
                         0, 0, name.encode()[:15])
        fd = libc.syscall(SYS_BPF, BPF_PROG_LOAD, attr, len(attr))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
    raise OSError(err, f"BPF_PROG_LOAD: {os.strerror(err)}\n{log.value.decode(errors='replace')}")


class Fault:
    """A cls_bpf filter on one direction of a link; remove() (or `with`) takes it away."""

    def __init__(self, netns, ifname, direction, program):
        if direction not in CLSACT_PARENT:
            raise ValueError(f"direction {direction!r}: 'ingress' or 'egress'")
        self.netns, self.ifname, self.direction = netns, ifname, direction
        self.prio = next(_prios)
        fd = load(program)
        try:
            with netns.ipr() as ipr:
                index = ipr.link_lookup(ifname=ifname)[0]
                if not any(q.get("TCA_KIND") == "clsact" for q in ipr.get_qdiscs(index=index)):
                    ipr.tc("add", "clsact", index)
                ipr.tc("add-filter", "bpf", index, fd=fd, name="kvmnet_fault",
                       parent=CLSACT_PARENT[direction], prio=self.prio, classid=1,
                       direct_action=True)
        finally:
            os.close(fd)  # the filter holds the program now
        self.active = True

    def remove(self):
        """Take the filter off; a link (or namespace) already gone is fine."""
        if not self.active:
            return
        self.active = False
        if not self.netns.exists():
            return
        with self.netns.ipr() as ipr:
            found = ipr.link_lookup(ifname=self.ifname)
            if found:
                ipr.tc("del-filter", "bpf", found[0], parent=CLSACT_PARENT[self.direction],
                       prio=self.prio)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def __repr__(self):
        return f"Fault({self.ifname} {self.direction} in {self.netns.name}, prio {self.prio})"


def drop(netns, ifname, direction="ingress", fraction=1.0, ethertype=None):
    """Drop frames crossing ifname in `direction` (each with probability fraction)."""
    return Fault(netns, ifname, direction, fault_program("drop", fraction, ethertype))


def corrupt(netns, ifname, direction="ingress", offset=40, fraction=1.0, ethertype=None):
    """Flip every bit of byte `offset` (counted from the Ethernet header) of frames crossing
    ifname in `direction` (each with probability fraction)."""
    return Fault(netns, ifname, direction, fault_program("corrupt", fraction, ethertype, offset))
