/*
 * net_irq.c - the NIC commands' use of the guest's own interrupt machinery
 * (irq.c): the "irq" command, and turning a NIC's interrupt path off before
 * a reset.  Apart from net.c so that net.c also builds as a Linux program
 * (agent/), whose NICs the kernel's drivers interrupt.
 */
#include "net.h"
#include "cpu.h"
#include "irq.h"
#include "x86.h"

/* Turn one interrupt path of n on (both sides) or off again. */
static int irq_path(struct nic *n, enum nic_irq kind)
{
	unsigned pin = n->gsi;
	int err;

	if (kind == NIC_IRQ_OFF) {
		enum nic_irq was = n->irq_kind;

		irq_cpu_enable(false);
		n->ops->irq_off(n);
		if (was == NIC_IRQ_INTX)
			irq_intx_mask(pin, true);
		else
			irq_msix_disable(n->pci);
		n->irq_kind = NIC_IRQ_OFF;
		return NIC_OK;
	}
	if (kind == NIC_IRQ_MSIX && n->model != NIC_VIRTIO &&
	    n->model != NIC_VIRTIO_LEGACY)
		return NIC_UNSUPPORTED;
	if (kind == NIC_IRQ_INTX && (!n->pci->irq_pin || !irq_intx_route(pin, true)))
		return NIC_UNSUPPORTED;
	if (kind == NIC_IRQ_MSIX &&
	    !irq_msix_enable(n->pci, 0, (uint8_t)(IRQ_VEC_MSIX + n->index)))
		return NIC_UNSUPPORTED;
	n->irq_kind = kind;
	err = n->ops->irq_on(n, kind);
	if (err != NIC_OK) {
		irq_path(n, NIC_IRQ_OFF);
		return err;
	}
	if (kind == NIC_IRQ_INTX)
		irq_intx_mask(pin, false);
	irq_cpu_enable(true);
	return NIC_OK;
}

void net_irq_off(struct nic *n)
{
	irq_path(n, NIC_IRQ_OFF);
}

void cmd_irq(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	enum nic_irq kind;
	uint32_t want, frames = 0;
	uint64_t irqs_before, spurious_before, seen;
	struct host_watch w;
	struct fmt f;
	unsigned len;
	int err;

	if (!n)
		return;
	if (strcmp(r->argv[2], "intx") == 0)
		kind = NIC_IRQ_INTX;
	else if (strcmp(r->argv[2], "msix") == 0)
		kind = NIC_IRQ_MSIX;
	else
		kind = NIC_IRQ_OFF;
	if (kind == NIC_IRQ_OFF || !net_arg_u32(r, 3, &want)) {
		net_reply_err(r, "badargs");
		return;
	}
	irq_setup();
	irqs_before = seen = n->irqs;
	spurious_before = irq_spurious_count;
	err = irq_path(n, kind);
	if (err != NIC_OK) {
		net_reply_result(r, err);
		return;
	}
	proto_line(r->seq, "DATA", "armed");	/* the host sends frames after this */
	/* Frames count once an interrupt has announced them: wait for
	 * one, take everything that is there, ask for the next. */
	host_watch_start(&w);
	while (frames < want) {
		if (n->irqs == seen) {
			if (host_stopped(&w))
				break;
			cpu_pause();
			continue;
		}
		uint32_t before = frames;

		seen = n->irqs;
		for (;;) {
			while (frames < want && nic_recv(n, &len))
				frames++;
			if (frames >= want || !n->ops->irq_rearm)
				break;
			/* virtio: a frame the device returned before the
			 * event index moved gets no interrupt; take it. */
			n->ops->irq_rearm(n);
			if (!nic_recv(n, &len))
				break;
			frames++;
		}
		if (frames != before) {	/* a host pacing its frames waits for this */
			proto_begin(&f, r->seq, "DATA took frames=");
			fmt_dec(&f, frames);
			fmt_str(&f, " irqs=");
			fmt_dec(&f, n->irqs - irqs_before);
			proto_send(&f);
		}
	}
	irq_path(n, NIC_IRQ_OFF);
	proto_begin(&f, r->seq, "OK irqs=");
	fmt_dec(&f, n->irqs - irqs_before);
	fmt_str(&f, " frames=");
	fmt_dec(&f, frames);
	fmt_str(&f, " spurious=");
	fmt_dec(&f, irq_spurious_count - spurious_before);
	proto_send(&f);
}
