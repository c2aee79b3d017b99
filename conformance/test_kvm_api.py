"""KVM API conformance: what the host's KVM must report, and do, for kvmnet's guests.

The first three are the probes of the article the suite grew from (KVM_GET_API_VERSION,
KVM_CAP_MAX_VCPUS, KVM_CAP_IOMMU); the rest are what the network paths build on.
"""

import pytest

from kvmnet.kvm import Cap
from kvmnet.kvm_limits import VcpuLimits, create_vcpus

pytestmark = pytest.mark.needs_kvm

# Capabilities the VMM and the network paths rely on, with what each is for.
REQUIRED_CAPS = {
    Cap.USER_MEMORY: "guest RAM from a memfd (KVM_SET_USER_MEMORY_REGION)",
    Cap.SET_TSS_ADDR: "x86 VMs need a TSS area before the first KVM_RUN",
    Cap.SET_IDENTITY_MAP_ADDR: "identity-map page placed away from guest RAM",
    Cap.EXT_CPUID: "KVM_GET_SUPPORTED_CPUID for the guest's CPUID",
    Cap.IRQCHIP: "in-kernel PIC and IOAPIC: INTx without a VMM exit",
    Cap.PIT2: "in-kernel PIT",
    Cap.IRQ_ROUTING: "GSI routing for MSI-X vectors",
    Cap.SIGNAL_MSI: "MSI injection from the VMM",
    Cap.IRQFD: "interrupts injected by an eventfd (vhost, native backends)",
    Cap.IOEVENTFD: "virtqueue kicks caught in the kernel, no exit",
    Cap.IOEVENTFD_ANY_LENGTH: "virtio-pci notify writes of any width",
    Cap.IMMEDIATE_EXIT: "stopping a vCPU without a signal race",
    Cap.MP_STATE: "vCPU run state for boot and stop",
}


def test_api_version_is_12(kvm, evidence):
    """KVM_GET_API_VERSION returns 12, the only stable KVM API."""
    version = kvm.get_api_version()
    evidence.value("KVM_GET_API_VERSION", version)
    assert version == 12, f"KVM_GET_API_VERSION returned {version}; a stable KVM answers 12"


def test_vcpu_limits_are_consistent(kvm, evidence):
    """KVM_CAP_MAX_VCPUS >= KVM_CAP_NR_VCPUS >= 1, and vCPU ids reach at least MAX_VCPUS."""
    limits = VcpuLimits.read(kvm)
    evidence.table("vCPU limits", [
        ("KVM_CAP_NR_VCPUS", limits.nr_vcpus),
        ("KVM_CAP_MAX_VCPUS", limits.said("max_vcpus")),
        ("KVM_CAP_MAX_VCPU_ID", limits.said("max_vcpu_id")),
    ], header=("capability", "value"))
    assert limits.nr_vcpus >= 1, f"KVM_CAP_NR_VCPUS is {limits.nr_vcpus}: no vCPU recommended"
    assert limits.max_vcpus >= limits.nr_vcpus, (
        f"KVM_CAP_MAX_VCPUS ({limits.said('max_vcpus')}) is below KVM_CAP_NR_VCPUS "
        f"({limits.nr_vcpus})")
    assert limits.max_vcpu_id >= limits.max_vcpus, (
        f"KVM_CAP_MAX_VCPU_ID ({limits.said('max_vcpu_id')}) leaves no room for "
        f"KVM_CAP_MAX_VCPUS ({limits.said('max_vcpus')}) vCPUs")


def test_vm_takes_max_vcpus_and_refuses_one_more(kvm, evidence):
    """One VM accepts KVM_CAP_MAX_VCPUS vCPUs and refuses the next."""
    limits = VcpuLimits.read(kvm)
    attempts = create_vcpus(kvm, list(range(limits.max_vcpus + 1)))
    *within, beyond = attempts
    refused = [a for a in within if not a.accepted]
    evidence.table("vCPU creation", [
        ("claimed KVM_CAP_MAX_VCPUS", limits.said("max_vcpus")),
        ("accepted", sum(a.accepted for a in within)),
        ("first refusal", refused[0].error if refused else "-"),
        (f"vCPU {beyond.vcpu_id} (one more)", beyond.error or "accepted"),
    ])
    assert not refused, (
        f"KVM_CAP_MAX_VCPUS claims {limits.said('max_vcpus')} vCPUs but the VM refused vCPU "
        f"{refused[0].vcpu_id}: {refused[0].error}")
    assert not beyond.accepted, (
        f"the VM accepted vCPU number {limits.max_vcpus + 1}, beyond KVM_CAP_MAX_VCPUS "
        f"({limits.max_vcpus})")


def test_vm_takes_ids_below_max_vcpu_id_and_refuses_it(kvm, evidence):
    """vCPU ids up to KVM_CAP_MAX_VCPU_ID - 1 are accepted; the id MAX_VCPU_ID is refused."""
    limits = VcpuLimits.read(kvm)
    top = limits.max_vcpu_id
    # The highest MAX_VCPUS - 1 ids (as the kernel's selftest does), then the limit itself
    # while there is still room for one more vCPU, then one more below the limit.
    ids = list(range(top - limits.max_vcpus + 1, top)) + [top, top - limits.max_vcpus]
    attempts = create_vcpus(kvm, ids)
    *highest, at_limit, last = attempts
    refused = [a for a in highest + [last] if not a.accepted]
    evidence.table("vCPU ids", [
        ("claimed KVM_CAP_MAX_VCPU_ID", top),
        (f"ids {ids[0]}..{top - 1}", "refused: " + str(refused[0].error) if refused else "accepted"),
        (f"id {top}", at_limit.error or "accepted"),
    ])
    # First: an accepted id at the limit also uses up the room the last id needed.
    assert not at_limit.accepted, f"the VM accepted vCPU id {top}, which KVM_CAP_MAX_VCPU_ID excludes"
    assert not refused, (
        f"id {refused[0].vcpu_id} is below KVM_CAP_MAX_VCPU_ID ({top}) but was refused: "
        f"{refused[0].error}")


def test_iommu_capability_is_reported(kvm, evidence):
    """KVM_CAP_IOMMU answers 0 or 1: information only, legacy assignment left Linux in 4.12."""
    value = kvm.check_extension(Cap.IOMMU)
    evidence.value("KVM_CAP_IOMMU", value)
    assert value in (0, 1), f"KVM_CAP_IOMMU is a yes/no capability but answered {value}"


def test_capabilities_the_network_paths_need(kvm, evidence):
    """Every capability in REQUIRED_CAPS is present."""
    values = {cap: kvm.check_extension(cap) for cap in REQUIRED_CAPS}
    evidence.table("KVM capabilities", [
        (f"KVM_CAP_{cap.name}", value, "ok" if value else "MISSING", REQUIRED_CAPS[cap])
        for cap, value in values.items()
    ], header=("capability", "value", "", "needed for"))
    missing = [f"KVM_CAP_{cap.name} ({REQUIRED_CAPS[cap]})" for cap, v in values.items() if not v]
    assert not missing, "missing KVM capabilities: " + "; ".join(missing)
