/*
 * KVM_SET_GSI_ROUTING for a VM with the in-kernel irqchip: the table the kernel installs
 * with KVM_CREATE_IRQCHIP (GSI i -> IOAPIC pin i for 0..23, and the PICs for 0..15), plus
 * one MSI route per struct kvmnet_msi_route. An eventfd bound to such a GSI with KVM_IRQFD
 * then raises that MSI with no exit to the VMM. The call replaces the whole table, which is
 * why the default routes are always sent again: without them INTx would stop.
 */
#ifndef KVMNET_IRQ_ROUTING_H
#define KVMNET_IRQ_ROUTING_H

/* cffi: begin */
struct kvmnet_msi_route {
	unsigned int gsi;		/* 24 and up: above the IOAPIC's pins */
	unsigned int address_lo, address_hi, data;
};

/* The KVM_CREATE_IRQCHIP routes and the given MSI routes, as one table. */
long kvmnet_set_msi_routes(int vm_fd, const struct kvmnet_msi_route *routes, int n);

/* The number of default (irqchip) routes kvmnet_set_msi_routes sends before the MSIs. */
int kvmnet_default_route_count(void);

/*
 * Wait up to timeout_ms for any of fds (eventfds) to be signalled; read (reset) each one
 * that was and return a mask of their positions (bit i for fds[i]), 0 on timeout or when
 * *stop is set. A negative fd is skipped. n <= 32.
 */
long kvmnet_eventfds_wait(const int *fds, int n, int timeout_ms, int *stop);
/* cffi: end */

#endif
