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
#include "coalesced.h"

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

/* The exit kvm_run holds, into exit. */
static void kvmnet_vcpu_decode(struct kvm_run *run, struct kvmnet_exit *exit)
{
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
}

long kvmnet_vcpu_run(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit)
{
	if (ioctl(vcpu_fd, KVM_RUN, 0) < 0)
		return -errno;
	kvmnet_vcpu_decode(run, exit);
	return 0;
}

static int kvmnet_fast_port_io(struct kvm_run *run, struct kvmnet_fast_port *fast, int nfast)
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

/* The enabled range holding [addr, addr + size) and addr's offset in it, or NULL. */
static struct kvmnet_fast_range *kvmnet_fast_find(struct kvmnet_fast_range *ranges, int nranges,
						  unsigned long long addr, unsigned int size,
						  unsigned long long *offset)
{
	for (int i = 0; i < nranges; i++) {
		struct kvmnet_fast_range *r = &ranges[i];
		unsigned long long base, length;

		if (!r->enabled)
			continue;
		base = r->base;
		length = r->length;
		if (addr >= base && addr - base < length && size <= length - (addr - base)) {
			*offset = addr - base; /* base read once: it may move (see the header) */
			return r;
		}
	}
	return NULL;
}

int kvmnet_fast_access(struct kvmnet_fast_range *ranges, int nranges, unsigned long long addr,
		       unsigned char *data, unsigned int size, int is_write)
{
	unsigned long long offset;
	struct kvmnet_fast_range *r = kvmnet_fast_find(ranges, nranges, addr, size, &offset);

	if (!r)
		return KVMNET_FAST_PYTHON;
	return r->handler(r->opaque, offset, data, size, is_write);
}

/* The hit counter of key, claimed if new; NULL when the table is full. */
static unsigned long long *kvmnet_hit_slot(struct kvmnet_fast *fast, unsigned long long key)
{
	unsigned mask = fast->nhits - 1, i = (unsigned)(key ^ key >> 12) & mask;

	for (int n = 0; n < fast->nhits; n++, i = (i + 1) & mask) {
		struct kvmnet_fast_hit *h = &fast->hits[i];

		if (h->key == key)
			return &h->hits;
		if (!h->key) {
			h->key = key;
			return &h->hits;
		}
	}
	return NULL;
}

/*
 * An I/O or MMIO exit through the fast ranges: KVMNET_FAST_* as the handler said. The hit
 * slot is found first, so that an access C answers is always counted.
 */
static int kvmnet_fast_range_exit(struct kvm_run *run, struct kvmnet_fast *fast,
				  struct kvmnet_exit *exit)
{
	struct kvmnet_fast_range *ranges = fast->mmio, *range;
	int nranges = fast->nmmio, ret;
	unsigned long long key = KVMNET_HIT_MMIO | run->mmio.phys_addr, offset, *hits;
	unsigned char *data = run->mmio.data;
	unsigned int size = run->mmio.len, is_write = run->mmio.is_write;

	if (run->exit_reason == KVM_EXIT_IO) {
		if (run->io.count != 1)
			return KVMNET_FAST_PYTHON; /* rep ins/outs: Python splits them */
		ranges = fast->pio;
		nranges = fast->npio;
		key = run->io.port;
		data = (unsigned char *)run + run->io.data_offset;
		size = run->io.size;
		is_write = run->io.direction == KVM_EXIT_IO_OUT;
	}
	range = kvmnet_fast_find(ranges, nranges, key & ~KVMNET_HIT_MMIO, size, &offset);
	if (!range || !(hits = kvmnet_hit_slot(fast, key | KVMNET_HIT_USED)))
		return KVMNET_FAST_PYTHON;
	ret = range->handler(range->opaque, offset, data, size, is_write);
	if (ret != KVMNET_FAST_PYTHON)
		__atomic_add_fetch(hits, 1, __ATOMIC_RELAXED); /* Python reads it from its thread */
	if (ret == KVMNET_FAST_ATTEND)
		exit->served = 1;
	return ret;
}

long kvmnet_vcpu_loop(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit,
		      struct kvmnet_fast *fast, volatile int *stop)
{
	int resume = fast->resume;

	fast->resume = 0;
	for (;;) {
		int coalesced = 0;

		if (resume) {
			kvmnet_vcpu_decode(run, exit); /* the exit Python left for after the ring */
			resume = 0;
		} else {
			long ret = kvmnet_vcpu_run(vcpu_fd, run, exit);

			if (ret < 0)
				return ret;
			/* Coalesced writes happened before this exit: apply them first. */
			if (fast->coalesced)
				coalesced = exit->coalesced = kvmnet_coalesced_drain(fast->coalesced);
			if (coalesced & KVMNET_COALESCED_DECLINED)
				return 0; /* Python applies them, then resumes this exit */
		}
		if (run->exit_reason != KVM_EXIT_IO && run->exit_reason != KVM_EXIT_MMIO)
			return 0;
		if (!(run->exit_reason == KVM_EXIT_IO &&
		      kvmnet_fast_port_io(run, fast->ports, fast->nports)) &&
		    kvmnet_fast_range_exit(run, fast, exit) != KVMNET_FAST_DONE)
			return KVMNET_LOOP_EXIT; /* Python's to dispatch, or to attend */
		if (coalesced)
			return KVMNET_LOOP_ABSORBED; /* a handler the ring reached wants Python */
		if (*stop)
			return KVMNET_LOOP_STOPPED;
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
