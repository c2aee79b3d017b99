"""Every conformance check fails when what it checks is wrong.

Faults are injected at the system-call boundary (tests/faults/inject.c): the conformance
files and the kvmnet library run unchanged against a kernel that answers wrongly.
"""

import pytest

from kvmnet.guest_image import build
from kvmnet.host.tun import lib as tun_lib
from kvmnet.kvm import Cap
from support.suite_runner import expect

KVM_API = "conformance/test_kvm_api.py"
HOST = "conformance/test_host_caps.py"
BOOT = "conformance/test_boot.py"
DELIVERY = "conformance/test_delivery.py"

CASES = [
    # (check, faults, what its failure must say); checks are in KVM_API unless they say HOST
    ("test_api_version_is_12", ["api_version=11"], "returned 11"),
    ("test_vcpu_limits_are_consistent", [f"cap.{Cap.NR_VCPUS}=0"], "no vCPU recommended"),
    ("test_vcpu_limits_are_consistent", [f"cap.{Cap.NR_VCPUS}=2048"], "is below KVM_CAP_NR_VCPUS"),
    ("test_vcpu_limits_are_consistent", [f"cap.{Cap.MAX_VCPU_ID}=16"], "leaves no room"),
    # The kernel accepts more vCPUs than it claims ...
    ("test_vm_takes_max_vcpus_and_refuses_one_more", [f"cap.{Cap.MAX_VCPUS}=512"],
     "accepted vCPU number 513"),
    # ... or fewer.
    ("test_vm_takes_max_vcpus_and_refuses_one_more", [f"cap.{Cap.MAX_VCPUS}=2048"],
     "the VM refused vCPU"),
    ("test_vm_takes_ids_below_max_vcpu_id_and_refuses_it", [f"cap.{Cap.MAX_VCPU_ID}=2048"],
     "accepted vCPU id 2048"),
    ("test_vm_takes_ids_below_max_vcpu_id_and_refuses_it", [f"cap.{Cap.MAX_VCPU_ID}=8192"],
     "but was refused"),
    ("test_iommu_capability_is_reported", [f"cap.{Cap.IOMMU}=7"], "answered 7"),
    ("test_capabilities_the_network_paths_need", [f"cap.{Cap.IRQFD}=0", f"cap.{Cap.IOEVENTFD}=0"],
     "KVM_CAP_IRQFD (interrupts injected by an eventfd"),
    (f"{HOST}::test_tun_offers_what_a_vmm_needs", [f"tun_clear={tun_lib.IFF_VNET_HDR}"], "IFF_VNET_HDR"),
    (f"{HOST}::test_tun_offers_what_a_vmm_needs", [f"tun_clear={tun_lib.IFF_MULTI_QUEUE}"],
     "IFF_MULTI_QUEUE"),
    (f"{HOST}::test_multiqueue_tap_with_vnet_header_in_a_namespace", ["vnet_hdr_ignored=1"],
     "TUNSETVNETHDRSZ 12 read back as 10"),
    # The tap keeps its default 10-byte vnet header: every frame of a virtio-net device with
    # a 12-byte one is misframed, and the failure says why rather than only "300 lost".
    (f"{DELIVERY}::test_guest_to_peer_every_frame_intact_and_in_order[builtin-virtio-1514]",
     ["vnet_hdr_ignored=1"], "vnet header is 10 bytes (TUNGETVNETHDRSZ) but its virtio-net "
                             "device uses 12"),
] + [
    (f"{HOST}::test_link_kind_is_created_and_removed[{kind}]", [f"newlink_kind={kind}"],
     f"the kernel refused a {kind} link")
    for kind in ("bridge", "veth", "macvlan", "macvtap")
]


def _nodeid(check):
    return check if "::" in check else f"{KVM_API}::{check}"


@pytest.mark.needs_kvm
@pytest.mark.needs_root
@pytest.mark.parametrize("check, faults, message", CASES, ids=[f"{c.split('::')[-1]}-{'+'.join(f)}" for c, f, _ in CASES])
def test_check_fails_under_fault(suite, no_netns_left, check, faults, message):
    target = suite.path(_nodeid(check))
    clean = suite.run(target, "--kvmnet-frames=300")
    broken = suite.run(target, "--kvmnet-frames=300", faults=faults)
    expect(clean, passed=1)
    expect(broken, failed=1)
    assert message in broken.stdout.str(), broken.stdout.str()


@pytest.mark.needs_root
def test_vhost_net_check_fails_on_a_device_that_is_not_vhost(suite, no_netns_left):
    """The present-device path runs here against /dev/null: it must fail, naming the ioctl."""
    result = suite.run(suite.path(f"{HOST}::test_vhost_net_offers_virtio_net_features"),
                       "--kvmnet-vhost-net-device=/dev/null")
    expect(result, failed=1)
    assert "VHOST_SET_OWNER: ENOTTY" in result.stdout.str()


def test_vhost_net_check_skips_naming_the_kernel_option_when_absent(suite):
    result = suite.run(suite.path(f"{HOST}::test_vhost_net_offers_virtio_net_features"),
                       "--kvmnet-vhost-net-device=/nonexistent/vhost-net")
    expect(result, skipped=1)
    assert "CONFIG_VHOST_NET" in result.stdout.str()


@pytest.mark.needs_kvm
def test_boot_checks_fail_on_a_corrupted_image(suite, tmp_path, no_netns_left):
    image = build().read_bytes()
    corrupted = tmp_path / "truncated.bin"
    corrupted.write_bytes(image[:len(image) // 2])
    result = suite.run(suite.path(BOOT), f"--kvmnet-guest-image={corrupted}")
    ran = [v for v in result.verdicts.values() if v != "skipped"]
    assert ran and all(v in ("failure", "error") for v in ran), result.stdout.str()
    assert "image is truncated" in result.stdout.str()
