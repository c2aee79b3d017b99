"""How many vCPUs, and which vCPU ids, one VM really accepts.

KVM reports its limits through capabilities; these functions check them by creating vCPUs
the way the kernel's own selftest (kvm_create_max_vcpus) does, and report what happened to
each request so a caller can say exactly where the kernel and its report disagree.
"""

import resource
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from kvmnet.kvm import Cap
from kvmnet.syscall import SyscallError


@dataclass(frozen=True)
class VcpuLimits:
    nr_vcpus: int      # KVM_CAP_NR_VCPUS: recommended maximum
    max_vcpus: int     # KVM_CAP_MAX_VCPUS: hard maximum per VM
    max_vcpu_id: int   # KVM_CAP_MAX_VCPU_ID: ids must be below this
    # What the kernel answered, 0 where it does not report the capability; the values above
    # then follow api.rst: MAX_VCPUS as NR_VCPUS, MAX_VCPU_ID as MAX_VCPUS.
    answered_max_vcpus: int = 0
    answered_max_vcpu_id: int = 0

    @classmethod
    def read(cls, kvm):
        nr = kvm.check_extension(Cap.NR_VCPUS)
        answered_max = kvm.check_extension(Cap.MAX_VCPUS)
        answered_id = kvm.check_extension(Cap.MAX_VCPU_ID)
        max_vcpus = answered_max or nr
        return cls(nr, max_vcpus, answered_id or max_vcpus, answered_max, answered_id)

    def said(self, name):
        """A limit's value as a report shows it: what the kernel answered, or what stood
        in for an answer of 0 (api.rst's rule), saying so."""
        value, answered, instead = {
            "max_vcpus": (self.max_vcpus, self.answered_max_vcpus, "KVM_CAP_NR_VCPUS"),
            "max_vcpu_id": (self.max_vcpu_id, self.answered_max_vcpu_id,
                            "KVM_CAP_MAX_VCPUS")}[name]
        return str(value) if answered else f"{value} (answered 0: {instead} used, as api.rst says)"


@dataclass(frozen=True)
class Attempt:
    vcpu_id: int
    error: SyscallError | None  # None: accepted

    @property
    def accepted(self):
        return self.error is None


def create_vcpus(kvm, ids):
    """In one new VM, KVM_CREATE_VCPU each id in order; return an Attempt per id.

    All vCPUs and the VM are closed before returning.
    """
    attempts = []
    with _nofile_at_least(len(ids) + 64), ExitStack() as owned:
        vm = owned.enter_context(kvm.create_vm())
        for vcpu_id in ids:
            try:
                owned.enter_context(vm.create_vcpu(vcpu_id))
                attempts.append(Attempt(vcpu_id, None))
            except SyscallError as e:
                attempts.append(Attempt(vcpu_id, e))
    return attempts


@contextmanager
def _nofile_at_least(n):
    """Raise the soft fd limit for the duration: one fd per vCPU adds up to over 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
