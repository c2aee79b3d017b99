"""One look at the host, for the head of a report: never raises, says what it could not read."""

import os

from kvmnet import kvm
from kvmnet.host import tun, vhost
from kvmnet.kvm_limits import VcpuLimits


def host_summary(kvm_device=kvm.DEFAULT_DEVICE, tun_device=tun.TUN_DEVICE,
                 vhost_net_device=vhost.VHOST_NET_DEVICE):
    """{key: value} in report order; keys are dotted, as Allure's environment.properties likes."""
    facts = {"kernel": f"{os.uname().release} ({os.uname().machine})"}
    facts.update(_kvm_facts(kvm_device))
    facts["tun.features"] = _attempt(lambda: " ".join(tun.feature_names(tun.get_features(tun_device))))
    facts["vhost_net"] = _attempt(
        lambda: "features " + " ".join(vhost.feature_names(vhost.get_features(vhost_net_device))))
    return facts


def _kvm_facts(device):
    try:
        with kvm.Kvm(device) as k:
            limits = VcpuLimits.read(k)
            return {
                "kvm.device": device,
                "kvm.api_version": str(k.api_version),
                "kvm.vcpus": f"nr={limits.nr_vcpus} max={limits.max_vcpus} "
                             f"max_id={limits.max_vcpu_id}",
                "kvm.iommu": str(k.check_extension(kvm.Cap.IOMMU)),
            }
    except (kvm.KvmUnavailable, OSError) as e:
        return {"kvm.device": device, "kvm": f"unavailable: {e}"}


def _attempt(read):
    try:
        return read()
    except (vhost.VhostNetUnavailable, OSError) as e:
        return f"unavailable: {e}"
