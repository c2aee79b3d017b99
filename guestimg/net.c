/* net.c - the NIC configuration commands; see net.h and PROTOCOL.md. */
#include "net.h"
#include "cpu.h"
#include "irq.h"
#include "lib.h"
#include "uart.h"
#include "x86.h"

void net_reply_err(const struct request *r, const char *reason)
{
	proto_line(r->seq, "ERR", reason);
}

bool net_arg_u32(const struct request *r, unsigned i, uint32_t *v)
{
	uint64_t x;

	if (!parse_u64(r->argv[i], &x) || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

struct nic *net_arg_nic(const struct request *r, unsigned i)
{
	uint32_t k;

	if (!net_arg_u32(r, i, &k) || k >= nic_count) {
		net_reply_err(r, "badargs");
		return NULL;
	}
	if (!nics[k].ops) {
		net_reply_err(r, "nicfailed");
		return NULL;
	}
	return &nics[k];
}

void host_watch_start(struct host_watch *w)
{
	w->next = rdtsc() + HOST_POLL_TSC;
}

bool host_stopped(struct host_watch *w)
{
	uint64_t now = rdtsc();

	if (now < w->next)
		return false;
	w->next = now + HOST_POLL_TSC;
	return uart_poll() >= 0;
}

/* OK, or the ERR for a driver's result. */
static void reply_result(const struct request *r, int err)
{
	if (err == NIC_OK)
		proto_line(r->seq, "OK", NULL);
	else
		net_reply_err(r, err == NIC_UNSUPPORTED ? "unsupported" : "failed");
}

void cmd_nics(const struct request *r)
{
	struct fmt f;

	for (unsigned i = 0; i < nic_count; i++) {
		struct nic *n = &nics[i];
		uint16_t bdf = n->pci->bdf;

		proto_begin(&f, r->seq, "DATA nic");
		fmt_dec(&f, i);
		fmt_char(&f, ' ');
		fmt_str(&f, nic_model_name(n));
		fmt_char(&f, ' ');
		fmt_hex(&f, bdf >> 8, 2);
		fmt_char(&f, ':');
		fmt_hex(&f, bdf >> 3 & 0x1F, 2);
		fmt_char(&f, '.');
		fmt_hex(&f, bdf & 7, 1);
		fmt_str(&f, " mac=");
		fmt_mac(&f, n->mac);
		fmt_str(&f, " mtu=");
		fmt_dec(&f, n->mtu);
		fmt_str(&f, " link=");
		fmt_dec(&f, n->ops && n->ops->link(n));
		fmt_str(&f, " irq=");
		fmt_dec(&f, n->gsi);
		proto_send(&f);
	}
	proto_begin(&f, r->seq, "OK ");
	fmt_dec(&f, nic_count);
	proto_send(&f);
}

static int irq_path(struct nic *n, enum nic_irq kind);

void cmd_reset(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);

	if (!n)
		return;
	irq_path(n, NIC_IRQ_OFF);
	reply_result(r, nic_reset(n) ? NIC_OK : NIC_FAILED);
}

void cmd_mac(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint8_t mac[ETH_ALEN];
	int err;

	if (!n)
		return;
	if (!parse_mac(r->argv[2], mac) || (mac[0] & 1)) {
		net_reply_err(r, "badargs");
		return;
	}
	err = n->ops->set_mac(n, mac);
	if (err == NIC_OK)
		memcpy(n->mac, mac, ETH_ALEN);
	reply_result(r, err);
}

void cmd_rxmode(const struct request *r)
{
	static const char *const names[] = {
		[NIC_RX_NORMAL] = "normal",
		[NIC_RX_PROMISC] = "promisc",
		[NIC_RX_ALLMULTI] = "allmulti",
	};
	struct nic *n = net_arg_nic(r, 1);
	enum nic_rxmode old;
	int err;

	if (!n)
		return;
	old = n->rxmode;
	for (unsigned m = 0; m < 3; m++) {
		if (strcmp(r->argv[2], names[m]) != 0)
			continue;
		n->rxmode = (enum nic_rxmode)m;
		err = n->ops->set_filter(n);
		if (err != NIC_OK)
			n->rxmode = old;
		reply_result(r, err);
		return;
	}
	net_reply_err(r, "badargs");
}

void cmd_mcast(const struct request *r)
{
	uint8_t list[NIC_MCAST_MAX][ETH_ALEN], old[NIC_MCAST_MAX][ETH_ALEN];
	unsigned count = r->argc - 2, old_count;
	struct nic *n;
	int err;

	if (r->argc < 2 || count > NIC_MCAST_MAX) {
		net_reply_err(r, "badargs");
		return;
	}
	if (!(n = net_arg_nic(r, 1)))
		return;
	for (unsigned i = 0; i < count; i++) {
		if (!parse_mac(r->argv[2 + i], list[i]) || !(list[i][0] & 1)) {
			net_reply_err(r, "badargs");
			return;
		}
	}
	memcpy(old, n->mcast, sizeof(old));
	old_count = n->nmcast;
	memcpy(n->mcast, list, count * ETH_ALEN);
	n->nmcast = count;
	err = n->ops->set_filter(n);
	if (err != NIC_OK) {
		memcpy(n->mcast, old, sizeof(old));
		n->nmcast = old_count;
	}
	reply_result(r, err);
}

void cmd_mtu(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint32_t mtu;
	int err;

	if (!n)
		return;
	if (!net_arg_u32(r, 2, &mtu) || mtu < NIC_MTU_MIN || mtu > 65535) {
		net_reply_err(r, "badargs");
		return;
	}
	err = mtu > n->mtu_max ? NIC_UNSUPPORTED : n->ops->set_mtu(n, mtu);
	if (err == NIC_OK)
		n->mtu = mtu;
	reply_result(r, err);
}

void cmd_counters(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct fmt f;

	if (!n)
		return;
	proto_begin(&f, r->seq, "OK tx=");
	fmt_dec(&f, n->tx);
	fmt_str(&f, " rx=");
	fmt_dec(&f, n->rx);
	fmt_str(&f, " rx_bad=");
	fmt_dec(&f, n->rx_bad);
	fmt_str(&f, " rx_other=");
	fmt_dec(&f, n->rx_other);
	fmt_str(&f, " irq=");
	fmt_dec(&f, n->irqs);
	fmt_str(&f, " notify=");
	fmt_dec(&f, n->notifies);
	proto_send(&f);
}

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
		reply_result(r, err);
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
