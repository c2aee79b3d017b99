"""A candidate kernel made ready to boot in the lab, and pytest run inside it."""

import contextlib
import fcntl
import os
import sys
from pathlib import Path

from kvmnet.lab import debian, initramfs, machine, modules
from kvmnet.lab.errors import LabInputError
from kvmnet.lab.kernel import from_tree, resolve, tree_of

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path(os.environ.get("KVMNET_CACHE", ROOT / "build")) / "lab"
BUSYBOX_PACKAGE = "busybox-static"
EMULATION = "QEMU TCG (-cpu max: nested SVM), not this machine's kernel"
# Without these the lab cannot see the host's files at all.
LAB_OPTIONS = {"virtio_pci": "CONFIG_VIRTIO_PCI", "9pnet_virtio": "CONFIG_NET_9P_VIRTIO",
               "9p": "CONFIG_9P_FS", "overlay": "CONFIG_OVERLAY_FS"}
# Inside the lab: the kernel under test, for the plugin's header, labels and skips.
LAB_ENV = "KVMNET_LAB_KERNEL"
LAB_ORIGIN_ENV = "KVMNET_LAB_ORIGIN"
LAB_MISSING_ENV = "KVMNET_LAB_MODULES_MISSING"
LAB_TREE_ENV = "KVMNET_LAB_KERNEL_TREE"  # the kernel's directory: the host's / is the lab's
# Of the caller's environment, what is the caller's pytest's own and not the lab's.
_NOT_FORWARDED = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST")


class Lab:
    """spec (a Debian package name, a .deb or a directory, see kvmnet.lab.kernel) resolved,
    its modules planned and busybox fetched: LabInputError here, before anything boots."""

    def __init__(self, spec, cache=DEFAULT_CACHE):
        self.cache = Path(cache)
        with _locked(self.cache):  # parallel runs fetch, unpack and depmod one at a time
            self.kernel = resolve(spec, self.cache)
            self.plan = modules.load_order(self.kernel)
            lacking = [LAB_OPTIONS[m] for m in self.plan.missing if m in LAB_OPTIONS]
            if lacking:
                raise LabInputError(f"{self.kernel.origin}: the lab needs {', '.join(lacking)} "
                                    f"to share the host's files with kernel "
                                    f"{self.kernel.release}")
            tree, _ = debian.unpacked(BUSYBOX_PACKAGE, self.cache)
        self.busybox = tree / "bin/busybox"

    def run(self, job, directory, **boot_options):
        """Boot the kernel and run job (a machine.Job); a machine.LabRun."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        initrd = initramfs.build(self.kernel, self.plan, self.busybox, directory / "initrd")
        try:
            return machine.boot(self.kernel, initrd, job, directory, **boot_options)
        finally:
            initrd.unlink(missing_ok=True)

    def pytest(self, args, directory, cwd=None, env=None, **boot_options):
        """`python -m pytest args` inside the lab (as `command` runs it); the run's Allure
        results land in directory/allure and its JUnit XML in directory/junit.xml."""
        share = machine.SHARE
        argv = (sys.executable, "-m", "pytest", *args, f"--alluredir={share}/allure",
                f"--junitxml={share}/junit.xml")
        return self.command(argv, directory, cwd, env, **boot_options)

    def command(self, argv, directory, cwd=None, env=None, **boot_options):
        """argv inside the lab, from cwd, with this process's environment (and env)
        forwarded and the lab's kernel named in it (inside(), kernel_inside()); its output
        in directory/output. A machine.LabRun."""
        forwarded = {k: v for k, v in os.environ.items() if k not in _NOT_FORWARDED}
        forwarded |= {LAB_ENV: self.kernel.release, LAB_ORIGIN_ENV: self.kernel.origin,
                      LAB_MISSING_ENV: " ".join(self.plan.missing),
                      LAB_TREE_ENV: str(tree_of(self.kernel)),
                      "PYTHONUNBUFFERED": "1", "HOME": "/root"} | (env or {})
        job = machine.Job(tuple(argv), str(cwd or os.getcwd()), forwarded)
        return self.run(job, directory, **boot_options)


@contextlib.contextmanager
def _locked(cache):
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def inside():
    """The lab kernel's release when this process runs inside the lab, else None."""
    return os.environ.get(LAB_ENV) or None


def kernel_inside():
    """Inside the lab, the LabKernel it runs (its package's tree, as the host unpacked it);
    elsewhere None."""
    tree = os.environ.get(LAB_TREE_ENV)
    if not inside() or not tree:
        return None
    return from_tree(tree, origin=os.environ.get(LAB_ORIGIN_ENV, tree))


def facts_inside():
    """Inside the lab, what names its kernel (for report headers and Allure's environment);
    elsewhere {}."""
    release = inside()
    if release is None:
        return {}
    facts = {"lab.kernel": release, "lab.origin": os.environ.get(LAB_ORIGIN_ENV, ""),
             "lab.emulation": EMULATION}
    if os.environ.get(LAB_MISSING_ENV):
        facts["lab.modules_missing"] = os.environ[LAB_MISSING_ENV]
    return facts
