"""A candidate kernel for the lab: its bzImage, its build configuration and its modules.

`resolve(spec, cache)` takes what a user gives `--kvmnet-kernel`:
- a Debian package name (`linux-image-6.1.0-47-amd64-unsigned`), fetched once into cache;
- a `.deb` file of such a package;
- a directory holding a kernel: an unpacked package (boot/vmlinuz-<release>,
  lib/modules/<release>) or vmlinuz-<release> with lib/modules/<release> beside it.
Anything it cannot use is a LabInputError naming the file and what is wrong with it,
before anything boots.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kvmnet.lab import debian
from kvmnet.lab.errors import LabInputError

# The x86 boot protocol's setup header: "HdrS" at 0x202 marks a bzImage.
_HDRS_OFFSET, _HDRS = 0x202, b"HdrS"


@dataclass(frozen=True)
class LabKernel:
    """A kernel the lab can boot. origin says where it came from, for reports."""
    release: str
    vmlinuz: Path
    modules: Path  # lib/modules/<release>
    config: Path | None
    origin: str

    def option(self, name):
        """'y', 'm' or a value for a set CONFIG_ option, 'n' if unset, None without config."""
        if self.config is None:
            return None
        prefix = f"{name}="
        for line in self.config.read_text().splitlines():
            if line.startswith(prefix):
                return line[len(prefix):]
        return "n"


def resolve(spec, cache):
    """The LabKernel that spec (package name, .deb path or directory) names."""
    path = Path(spec)
    if path.is_dir():
        return from_tree(path, origin=str(path.resolve()))
    if path.suffix == ".deb" or path.exists():
        if not path.is_file():
            raise LabInputError(f"{spec}: no such file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        tree = debian.extract(path, Path(cache) / "trees" / f"deb-{digest}")
        return from_tree(tree, origin=f"{path.resolve()} (sha256 {digest})")
    if "/" in spec:
        raise LabInputError(f"{spec}: no such file or directory")
    tree, stem = debian.unpacked(spec, cache)
    name, _, version = stem.partition("_")
    return from_tree(tree, origin=f"Debian {name} {version.replace('%3a', ':')}")


def from_tree(root, origin):
    """The kernel in directory root; LabInputError if it holds none, or several."""
    root = Path(root)
    images = sorted(root.glob("boot/vmlinuz-*")) or sorted(root.glob("vmlinuz-*"))
    if not images:
        raise LabInputError(f"{root}: no kernel here (looked for boot/vmlinuz-* and vmlinuz-*)")
    if len(images) > 1:
        raise LabInputError(f"{root}: more than one kernel: {', '.join(p.name for p in images)}")
    vmlinuz = images[0]
    release = vmlinuz.name.removeprefix("vmlinuz-")
    _check_bzimage(vmlinuz)
    modules = next((d for d in (root / "lib/modules" / release, root / "usr/lib/modules" / release)
                    if d.is_dir()), None)
    if modules is None:
        raise LabInputError(f"{root}: {vmlinuz.name} has no modules (no lib/modules/{release})")
    config = next((c for c in (vmlinuz.parent / f"config-{release}", modules / "config")
                   if c.is_file()), None)
    return LabKernel(release, vmlinuz, modules, config, origin)


def tree_of(kernel):
    """The directory a LabKernel was found in (what from_tree was given)."""
    boot = kernel.vmlinuz.parent
    return boot.parent if boot.name == "boot" else boot


def _check_bzimage(path):
    try:
        with open(path, "rb") as f:
            f.seek(_HDRS_OFFSET)
            magic = f.read(4)
    except OSError as e:
        raise LabInputError(f"{path}: cannot read the kernel ({e.strerror})") from None
    if magic != _HDRS:
        raise LabInputError(f"{path}: not a bzImage (no 'HdrS' setup header at 0x202)")


def unpacked_release(release, cache):
    """The LabKernel of release among the packages unpacked in cache (inside the lab: the
    kernel it runs, whose package the host unpacked there); LabInputError if none is."""
    for vmlinuz in sorted((Path(cache) / "trees").glob(f"*/boot/vmlinuz-{release}")):
        return from_tree(vmlinuz.parent.parent, origin=f"{vmlinuz.parent.parent.name}")
    raise LabInputError(f"no unpacked kernel package in {cache}/trees holds vmlinuz-{release}")
