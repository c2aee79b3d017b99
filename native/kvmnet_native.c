/* See kvmnet_native.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>

#include "kvmnet_native.h"

long kvmnet_ioctl(int fd, unsigned long request, unsigned long arg)
{
	long ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

long kvmnet_ioctl_ptr(int fd, unsigned long request, void *arg)
{
	long ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

int kvmnet_setns(int fd, int nstype)
{
	return setns(fd, nstype) < 0 ? -errno : 0;
}

long kvmnet_tun_set_iff(int fd, const char *name, int flags, char *name_out)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	return 0;
}

long kvmnet_vcpu_run(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit)
{
	if (ioctl(vcpu_fd, KVM_RUN, 0) < 0)
		return -errno;
	memset(exit, 0, sizeof(*exit));
	exit->reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->size = run->io.size;
		exit->count = run->io.count;
		exit->addr = run->io.port;
		exit->data = (unsigned char *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		exit->is_write = run->mmio.is_write;
		exit->size = run->mmio.len;
		exit->count = 1;
		exit->addr = run->mmio.phys_addr;
		exit->data = run->mmio.data;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		exit->detail[0] = run->fail_entry.hardware_entry_failure_reason;
		exit->detail[1] = run->fail_entry.cpu;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		exit->detail[0] = run->internal.suberror;
		exit->detail[1] = run->internal.ndata;
		break;
	}
	return 0;
}

static int kvmnet_fast_io(struct kvm_run *run, struct kvmnet_fast_port *fast, int nfast)
{
	int out = run->io.direction == KVM_EXIT_IO_OUT;
	unsigned char *data = (unsigned char *)run + run->io.data_offset;

	for (int i = 0; i < nfast; i++) {
		struct kvmnet_fast_port *f = &fast[i];

		if (f->port != run->io.port || !f->enabled)
			continue;
		if (out && f->direction == KVMNET_FAST_WRITE) {
			f->hits += run->io.count;
			return 1;
		}
		if (!out && f->direction == KVMNET_FAST_READ && run->io.size == 1 &&
		    run->io.count == 1) {
			*data = f->value;
			f->hits++;
			return 1;
		}
	}
	return 0;
}

long kvmnet_vcpu_loop(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit,
		      struct kvmnet_fast_port *fast, int nfast, volatile int *stop)
{
	for (;;) {
		long ret = kvmnet_vcpu_run(vcpu_fd, run, exit);

		if (ret < 0 || run->exit_reason != KVM_EXIT_IO || !kvmnet_fast_io(run, fast, nfast))
			return ret;
		if (*stop)
			return 1;
	}
}

#define KVMNET_CPUID_ENTRIES 256

long kvmnet_set_supported_cpuid(int kvm_fd, int vcpu_fd)
{
	struct kvm_cpuid2 *cpuid;
	long ret = 0;

	cpuid = calloc(1, sizeof(*cpuid) + KVMNET_CPUID_ENTRIES * sizeof(cpuid->entries[0]));
	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = KVMNET_CPUID_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ||
	    ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = -errno;
	free(cpuid);
	return ret;
}

static void kvmnet_kicked(int signo)
{
	(void)signo;
}

int kvmnet_kick_signal(void)
{
	static int installed;
	struct sigaction sa;

	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kvmnet_kicked;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGRTMIN + 7, &sa, NULL) < 0)
			return -errno;
		installed = 1;
	}
	return SIGRTMIN + 7;
}
