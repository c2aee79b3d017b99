/* See irq_routing.h. The default table mirrors the kernel's kvm_setup_default_irq_routing. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "irq_routing.h"

#define IOAPIC_PINS 24
#define PIC_IRQS 16

int kvmnet_default_route_count(void)
{
	return IOAPIC_PINS + PIC_IRQS;
}

long kvmnet_set_msi_routes(int vm_fd, const struct kvmnet_msi_route *routes, int n)
{
	int total = kvmnet_default_route_count() + n;
	struct kvm_irq_routing *table;
	struct kvm_irq_routing_entry *e;
	long ret;

	if (n < 0 || n > 4096)
		return -EINVAL;
	table = calloc(1, sizeof(*table) + total * sizeof(*e));
	if (!table)
		return -ENOMEM;
	e = table->entries;
	for (int gsi = 0; gsi < IOAPIC_PINS; gsi++, e++) {
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = gsi;
	}
	for (int gsi = 0; gsi < PIC_IRQS; gsi++, e++) {
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		e->u.irqchip.pin = gsi % 8;
	}
	for (int i = 0; i < n; i++, e++) {
		if (routes[i].gsi < IOAPIC_PINS) {
			free(table);
			return -EINVAL;
		}
		e->gsi = routes[i].gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = routes[i].address_lo;
		e->u.msi.address_hi = routes[i].address_hi;
		e->u.msi.data = routes[i].data;
	}
	table->nr = total;
	ret = ioctl(vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
	free(table);
	return ret;
}

long kvmnet_eventfds_wait(const int *fds, int n, int timeout_ms, int *stop)
{
	struct pollfd p[32];
	uint64_t counter;
	long mask = 0;

	if (n < 0 || n > 32)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	if (__atomic_load_n(stop, __ATOMIC_ACQUIRE))
		return 0;
	if (poll(p, n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0 || !(p[i].revents & POLLIN))
			continue;
		if (read(fds[i], &counter, sizeof(counter)) == sizeof(counter))
			mask |= 1L << i;
		else if (errno != EAGAIN)
			return -errno;
	}
	return mask;
}
