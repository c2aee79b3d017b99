"""Which of a kernel's modules the lab loads, and in which order: from the kernel's own
modules.dep (made by depmod where a package ships none), never from a hand-kept list.

`load_order(kernel, names)` returns the module files to insmod, each after the modules it
depends on, and the names the kernel has neither built in nor as a module (their checks
skip in the lab, naming the kernel option, as they would on a host).
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kvmnet.lab.errors import LabInputError

# What the lab itself needs to mount the host's files: virtio-pci, 9p over virtio, overlayfs.
LAB_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
# What the suite needs of a candidate kernel: its KVM (AMD's: TCG emulates SVM, not VMX),
# tun/tap, vhost-net, the link kinds, and tc for the fault tests.
SUITE_MODULES = ("kvm_amd", "tun", "tap", "vhost_net", "bridge", "veth", "macvlan", "macvtap", "sch_ingress", "cls_bpf", "cls_u32", "act_mirred")
_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


@dataclass(frozen=True)
class Plan:
    """files: paths relative to the modules directory, in load order; missing: names the
    kernel has neither built in nor as a module."""
    files: tuple
    missing: tuple


def module_name(path):
    name = Path(path).name
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return name.replace("-", "_")


def dependencies(modules_dir):
    """{module file: [files it depends on]} from modules.dep, running depmod if needed."""
    modules_dir = Path(modules_dir)
    dep = modules_dir / "modules.dep"
    if not dep.exists():
        _depmod(modules_dir)
    table = {}
    for line in dep.read_text().splitlines():
        target, _, needs = line.partition(":")
        table[target.strip()] = needs.split()
    return table


def _depmod(modules_dir):
    depmod = shutil.which("depmod") or "/usr/sbin/depmod"
    release, base = modules_dir.name, modules_dir.parents[2]  # base/lib/modules/<release>
    if base.name == "usr":  # base/usr/lib/modules/<release>
        base = base.parent
    if modules_dir.parent.name != "modules" or not Path(depmod).exists():
        raise LabInputError(f"{modules_dir}: no modules.dep, and depmod (Debian's kmod) "
                            "cannot make one here")
    done = subprocess.run([depmod, "-b", str(base), release], capture_output=True, text=True)
    if done.returncode or not (modules_dir / "modules.dep").exists():
        raise LabInputError(f"depmod -b {base} {release} failed: {done.stderr.strip()}")


def builtin(modules_dir):
    path = Path(modules_dir) / "modules.builtin"
    if not path.exists():
        return set()
    return {module_name(line) for line in path.read_text().split()}


def load_order(kernel, names=LAB_MODULES + SUITE_MODULES):
    """The Plan for loading names (and what they depend on) into kernel."""
    table = dependencies(kernel.modules)
    by_name = {module_name(f): f for f in table}
    inside = builtin(kernel.modules)
    order, seen = [], set()

    def visit(path):
        if path in seen:
            return
        seen.add(path)
        for need in table.get(path, ()):
            visit(need)
        order.append(path)

    missing = []
    for name in names:
        if name in by_name:
            visit(by_name[name])
        elif name not in inside:
            missing.append(name)
    return Plan(tuple(order), tuple(missing))
