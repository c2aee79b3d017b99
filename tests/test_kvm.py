"""kvmnet.kvm and kvmnet.kvm_limits against the host's real /dev/kvm."""

import errno
import os
import resource

import pytest

from kvmnet.kvm import Cap, Kvm, KvmUnavailable
from kvmnet.kvm_limits import VcpuLimits, create_vcpus
from kvmnet.syscall import SyscallError


def open_fds():
    return set(os.listdir("/proc/self/fd"))


def test_capabilities_carry_the_kernel_names_and_numbers():
    # Fixed by the KVM ABI: <linux/kvm.h> has numbered these the same since they appeared.
    assert (Cap.IRQCHIP, Cap.IOMMU, Cap.MAX_VCPUS, Cap.MAX_VCPU_ID) == (0, 18, 66, 128)
    assert Cap["IOEVENTFD"] == 36


def test_missing_device_is_a_clear_error_and_leaks_nothing():
    before = open_fds()
    with pytest.raises(KvmUnavailable, match="no KVM device at /nonexistent/kvm"):
        Kvm("/nonexistent/kvm")
    assert open_fds() == before


def test_a_device_that_is_not_kvm_is_refused_and_closed():
    before = open_fds()
    with pytest.raises(KvmUnavailable, match=r"/dev/null is not a KVM device.*ENOTTY"):
        Kvm("/dev/null")
    assert open_fds() == before


@pytest.mark.needs_kvm
def test_api_version_and_a_capability(kvm):
    assert kvm.get_api_version() == kvm.api_version == 12
    assert kvm.check_extension(Cap.USER_MEMORY) == 1
    assert kvm.get_vcpu_mmap_size() >= 4096


@pytest.mark.needs_kvm
def test_errors_name_the_ioctl_its_argument_and_errno(kvm):
    with kvm.create_vm() as vm, pytest.raises(SyscallError) as caught:
        vm.create_vcpu(1 << 20)
    assert caught.value.errno == errno.EINVAL
    assert str(caught.value) == "KVM_CREATE_VCPU(1048576): EINVAL (Invalid argument)"
    assert caught.value.call == "KVM_CREATE_VCPU(1048576)"


@pytest.mark.needs_kvm
def test_vm_and_vcpu_fds_are_closed_by_their_context(kvm):
    before = open_fds()
    with kvm.create_vm() as vm, vm.create_vcpu(0) as vcpu:
        assert vcpu.id == 0
        assert len(open_fds() - before) == 2
    assert open_fds() == before


@pytest.mark.needs_kvm
def test_create_vcpus_reports_each_attempt_and_releases_everything(kvm):
    limits = VcpuLimits.read(kvm)
    before, rlimit = open_fds(), resource.getrlimit(resource.RLIMIT_NOFILE)
    attempts = create_vcpus(kvm, [0, 1, 1, limits.max_vcpu_id])
    assert [a.accepted for a in attempts] == [True, True, False, False]
    assert attempts[2].error.errno == errno.EEXIST
    assert attempts[3].error.errno == errno.EINVAL
    assert open_fds() == before
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == rlimit


@pytest.mark.needs_kvm
def test_limits_fall_back_as_the_api_documents(kvm, monkeypatch):
    reported = {Cap.NR_VCPUS: 4, Cap.MAX_VCPUS: 0, Cap.MAX_VCPU_ID: 0}
    monkeypatch.setattr(kvm, "check_extension", lambda cap: reported[cap])
    assert VcpuLimits.read(kvm) == VcpuLimits(4, 4, 4)
