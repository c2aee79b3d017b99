"""Who measured a run's figures: what a baseline must share with a run to stand for it
(the CPU model and its cores), and what the report names (kernel, versions)."""

import importlib.metadata
import os
import platform
import shutil
import subprocess

from kvmnet import kvm


def host_identity(kvm_device=kvm.DEFAULT_DEVICE):
    return {"host": platform.node(), "kernel": os.uname().release, "cpu_model": _cpu_model(),
            "cores": os.cpu_count(), "kvm": _kvm(kvm_device),
            "qemu": _first_line(["qemu-system-x86_64", "--version"]),
            "dpdk": _first_line(["dpkg-query", "-W", "-f=${Version}", "dpdk"]),
            "kvmnet": _version()}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _kvm(device):
    try:
        with kvm.Kvm(device) as k:
            caps = (kvm.Cap.MAX_VCPUS, kvm.Cap.IRQFD, kvm.Cap.IOEVENTFD, kvm.Cap.IOMMU)
            return {"api_version": k.api_version,
                    **{cap.name: k.check_extension(cap) for cap in caps}}
    except (kvm.KvmUnavailable, OSError) as e:
        return {"unavailable": str(e)}


def _first_line(argv):
    if shutil.which(argv[0]) is None:
        return "absent"
    done = subprocess.run(argv, capture_output=True, text=True)
    return (done.stdout.splitlines() or ["unknown"])[0].strip() if done.returncode == 0 else "absent"


def _version():
    try:
        return importlib.metadata.version("kvmnet")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
