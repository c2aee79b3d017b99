/* virtio_net_cfg.c - virtio-net bring-up, the control queue and the
 * configuration operations; see virtio_net.c for the design. */
#include "virtio_net.h"
#include "cpu.h"
#include "dma.h"
#include "lib.h"
#include "net.h"

static struct vnet vnet_state[NIC_MAX];

static bool has(const struct vnet *v, unsigned feature)
{
	return v->vp.features & BIT(feature);
}

/* A control command: class and command, one or two data parts. */
struct ctrl_cmd {
	uint8_t cls, cmd;
	const void *a;
	unsigned alen;
	const void *b;
	unsigned blen;
};

/* Send n (<= CTRL_BATCH) control commands with one notification and
 * wait for the device's answers.  Command k owns descriptors 4k..4k+3
 * and slot k of the control buffer. */
static int ctrl_run(struct vnet *v, const struct ctrl_cmd *c, unsigned n)
{
	uint32_t id, len;
	uint64_t start;
	unsigned done = 0;

	if (!v->has_ctrl)
		return NIC_UNSUPPORTED;
	for (unsigned k = 0; k < n; k++, c++) {
		volatile struct vring_desc *d = &v->ctrl.desc[4 * k];
		uint8_t *buf = v->ctrl_buf + k * CTRL_SLOT;
		uint16_t next = (uint16_t)(4 * k + 1);

		buf[0] = c->cls;
		buf[1] = c->cmd;
		memcpy(buf + CTRL_A, c->a, c->alen);
		memcpy(buf + CTRL_B, c->b, c->blen);
		buf[CTRL_ACK] = 0xFF;
		*d++ = (struct vring_desc){ dma_addr(buf), 2, VRING_DESC_F_NEXT, next++ };
		*d++ = (struct vring_desc){ dma_addr(buf + CTRL_A), c->alen,
					    VRING_DESC_F_NEXT, next++ };
		if (c->blen)
			*d++ = (struct vring_desc){ dma_addr(buf + CTRL_B), c->blen,
						    VRING_DESC_F_NEXT, next++ };
		*d = (struct vring_desc){ dma_addr(buf + CTRL_ACK), 1, VRING_DESC_F_WRITE, 0 };
		vring_add(&v->ctrl, (uint16_t)(4 * k));
	}
	vnet_kick(v, &v->ctrl);
	start = rdtsc();
	while (done < n) {
		if (vring_get_used(&v->ctrl, &id, &len)) {
			done++;
			continue;
		}
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return NIC_FAILED;
		cpu_pause();
	}
	barrier();
	for (unsigned k = 0; k < n; k++)
		if (v->ctrl_buf[k * CTRL_SLOT + CTRL_ACK] != CTRL_ACK_OK)
			return NIC_FAILED;
	return NIC_OK;
}

/* Configuration. */

static bool vnet_link(struct nic *n)
{
	struct vnet *v = n->priv;

	return !has(v, NET_F_STATUS) ||
	       (vpci_cfg_read16(&v->vp, CFG_STATUS) & CFG_LINK_UP);
}

static int vnet_set_mac(struct nic *n, const uint8_t mac[ETH_ALEN])
{
	struct vnet *v = n->priv;

	if (has(v, NET_F_CTRL_MAC_ADDR))
		return ctrl_run(v, &(struct ctrl_cmd){ CTRL_MAC, CTRL_MAC_ADDR_SET,
							mac, ETH_ALEN, NULL, 0 }, 1);
	if (v->vp.modern)
		return NIC_UNSUPPORTED;	/* read-only config in virtio 1.x */
	for (unsigned i = 0; i < ETH_ALEN; i++)
		vpci_cfg_write8(&v->vp, CFG_MAC + i, mac[i]);
	return NIC_OK;
}

static int vnet_set_filter(struct nic *n)
{
	struct vnet *v = n->priv;
	uint8_t promisc = n->rxmode == NIC_RX_PROMISC;
	uint8_t allmulti = n->rxmode == NIC_RX_ALLMULTI;
	uint8_t table[4 + NIC_MCAST_MAX * ETH_ALEN];
	uint32_t none = 0;

	if (!has(v, NET_F_CTRL_RX))
		return NIC_UNSUPPORTED;
	memcpy(table, &n->nmcast, 4);	/* le32 entries */
	memcpy(table + 4, n->mcast, n->nmcast * ETH_ALEN);
	return ctrl_run(v, (const struct ctrl_cmd[CTRL_BATCH]){
		{ CTRL_RX, CTRL_RX_PROMISC, &promisc, 1, NULL, 0 },
		{ CTRL_RX, CTRL_RX_ALLMULTI, &allmulti, 1, NULL, 0 },
		/* no unicast entries, then the multicast list */
		{ CTRL_MAC, CTRL_MAC_TABLE_SET, &none, 4, table, 4 + n->nmcast * ETH_ALEN },
	}, CTRL_BATCH);
}

static int vnet_set_mtu(struct nic *n, unsigned mtu)
{
	(void)n;
	(void)mtu;	/* buffers were sized for mtu_max at setup */
	return NIC_OK;
}

static const struct nic_ops vnet_ops = {
	.tx = vnet_tx,
	.tx_kick = vnet_tx_kick,
	.tx_busy = vnet_tx_busy,
	.rx = vnet_rx,
	.link = vnet_link,
	.set_mac = vnet_set_mac,
	.set_filter = vnet_set_filter,
	.set_mtu = vnet_set_mtu,
	.irq_on = vnet_irq_on,
	.irq_off = vnet_irq_off,
	.irq_ack = vnet_irq_ack,
	.irq_rearm = vnet_irq_rearm,
};

/* Bring-up. */

static unsigned pow2_below(unsigned n)
{
	unsigned p = 1;

	while (p * 2 <= n)
		p *= 2;
	return p;
}

static unsigned round64(unsigned n)
{
	return (n + 63) & ~63u;
}

/* Size and allocate queue q (a modern device gets at most QUEUE_MAX
 * entries; a legacy one must be given its full size). */
static bool queue_init(struct vnet *v, struct vring *r, unsigned q)
{
	unsigned num = vpci_queue_max(&v->vp, q);

	if (num == 0 || (!v->vp.modern && (num & (num - 1))))
		return false;
	if (v->vp.modern)
		num = pow2_below(num < QUEUE_MAX ? num : QUEUE_MAX);
	return vring_alloc(r, q, num, has(v, VIRTIO_F_EVENT_IDX)) &&
	       vpci_queue_setup(&v->vp, r);
}

/* Link every chain once: slot s owns descriptors s * per .. s * per + per - 1,
 * the header (when separate) in the first. */
static void link_chains(struct vring *r, unsigned slots, unsigned per,
			uint8_t *hdrs, unsigned hdr_len, uint8_t *bufs,
			unsigned size, uint16_t flags)
{
	for (unsigned s = 0; s < slots; s++) {
		volatile struct vring_desc *d = &r->desc[s * per];

		if (per == 2) {
			d->addr = dma_addr(hdrs + s * HDR_SLOT);
			d->len = hdr_len;
			d->flags = flags | VRING_DESC_F_NEXT;
			d->next = (uint16_t)(s * per + 1);
			d++;
		}
		d->addr = dma_addr(bufs + s * size);
		d->len = size;
		d->flags = flags;
	}
}

static bool setup_rings(struct vnet *v, unsigned mtu_max)
{
	unsigned frame_max = ETH_HLEN + 4 + mtu_max;	/* room for a VLAN tag */

	if (!queue_init(v, &v->rx, 0) || !queue_init(v, &v->tx, 1))
		return false;
	if (v->has_ctrl && (!queue_init(v, &v->ctrl, 2) || v->ctrl.num < 4 * CTRL_BATCH))
		return false;

	v->rx_slots = v->rx.num / v->rx_per;
	v->rx_size = v->mrg ? MRG_BUF_SIZE :
		     round64((v->rx_per == 2 ? 0 : v->hdr_len) + frame_max);
	v->tx_slots = v->tx.num / v->tx_per;
	if (v->tx_slots > TX_SLOTS_MAX)
		v->tx_slots = TX_SLOTS_MAX;
	v->tx_size = round64(v->hdr_len + frame_max);
	v->rx_buf = dma_alloc(v->rx_slots * v->rx_size, 64);
	v->rx_hdr = dma_alloc(v->rx_slots * HDR_SLOT, 64);
	v->tx_buf = dma_alloc(v->tx_slots * v->tx_size, 64);
	v->tx_hdr = dma_alloc(v->tx_slots * HDR_SLOT, 64);
	v->scratch = dma_alloc(NIC_FRAME_MAX, 64);
	v->ctrl_buf = dma_alloc(CTRL_BATCH * CTRL_SLOT, 64);
	if (!v->rx_buf || !v->rx_hdr || !v->tx_buf || !v->tx_hdr ||
	    !v->scratch || !v->ctrl_buf)
		return false;

	link_chains(&v->rx, v->rx_slots, v->rx_per, v->rx_hdr, v->hdr_len,
		    v->rx_buf, v->rx_size, VRING_DESC_F_WRITE);
	link_chains(&v->tx, v->tx_slots, v->tx_per, v->tx_hdr, v->hdr_len,
		    v->tx_buf, v->tx_size, 0);
	for (unsigned s = 0; s < v->rx_slots; s++)
		vnet_rx_post(v, s);
	vring_publish(&v->rx);
	for (unsigned s = 0; s < v->tx_slots; s++)
		v->tx_free[s] = (uint16_t)(v->tx_slots - 1 - s);
	v->tx_nfree = v->tx_slots;
	return true;
}

static uint64_t wanted_features(bool modern)
{
	uint64_t f = BIT(NET_F_MAC) | BIT(NET_F_STATUS) | BIT(NET_F_MRG_RXBUF) |
		     BIT(NET_F_CTRL_VQ) | BIT(NET_F_CTRL_RX) |
		     BIT(NET_F_CTRL_MAC_ADDR) | BIT(VIRTIO_F_EVENT_IDX) |
		     BIT(NET_F_MTU);

	return f | (modern ? BIT(VIRTIO_F_VERSION_1) : BIT(VIRTIO_F_ANY_LAYOUT));
}

static bool negotiate(struct vnet *v)
{
	uint64_t f = vpci_device_features(&v->vp) & wanted_features(v->vp.modern);

	if (v->vp.modern && !(f & BIT(VIRTIO_F_VERSION_1)))
		return false;
	if (!(f & BIT(NET_F_CTRL_VQ)))
		f &= ~(BIT(NET_F_CTRL_RX) | BIT(NET_F_CTRL_MAC_ADDR));
	if (!vpci_set_features(&v->vp, f))
		return false;
	v->has_ctrl = has(v, NET_F_CTRL_VQ);
	v->mrg = has(v, NET_F_MRG_RXBUF);
	v->hdr_len = v->mrg || has(v, VIRTIO_F_VERSION_1) ? 12 : 10;
	/* Legacy devices without ANY_LAYOUT want the header in a descriptor
	 * of its own; mergeable receive buffers are single descriptors. */
	v->tx_per = v->vp.modern || has(v, VIRTIO_F_ANY_LAYOUT) ? 1 : 2;
	v->rx_per = v->mrg ? 1 : v->tx_per;
	return true;
}

/* "features <nic>": what the device offered when the driver read its
 * feature words at bring-up, and what the driver accepted of them. */
void cmd_features(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct vnet *v;
	struct fmt f;

	if (!n)
		return;
	if (n->model != NIC_VIRTIO && n->model != NIC_VIRTIO_LEGACY) {
		net_reply_err(r, "unsupported");
		return;
	}
	v = n->priv;
	proto_begin(&f, r->seq, "OK offered=");
	fmt_hex(&f, v->vp.offered, 16);
	fmt_str(&f, " accepted=");
	fmt_hex(&f, v->vp.features, 16);
	proto_send(&f);
}

/* "kick <nic> <n>": n notifications of each data queue, whatever the
 * device asked for. A backend that polls its rings asks for almost none,
 * and a check of where kicks go needs many. */
void cmd_kick(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint64_t before;
	uint32_t count;
	struct vnet *v;
	struct fmt f;

	if (!n)
		return;
	if (!net_arg_u32(r, 2, &count)) {
		net_reply_err(r, "badargs");
		return;
	}
	if (n->model != NIC_VIRTIO && n->model != NIC_VIRTIO_LEGACY) {
		net_reply_err(r, "unsupported");
		return;
	}
	v = n->priv;
	before = n->notifies;
	for (uint32_t i = 0; i < count; i++) {
		vnet_notify(v, &v->rx);
		vnet_notify(v, &v->tx);
	}
	proto_begin(&f, r->seq, "OK kicks=");
	fmt_dec(&f, n->notifies - before);
	proto_send(&f);
}

bool virtio_net_init(struct nic *n)
{
	struct vnet *v = &vnet_state[n->index];
	unsigned mtu_max = NIC_MTU_DEFAULT;

	memset(v, 0, sizeof(*v));	/* a reset brings it up again (nic_reset) */
	v->nic = n;

	if (!vpci_probe(&v->vp, n->pci, n->model == NIC_VIRTIO))
		return false;
	pci_enable(n->pci);
	vpci_reset(&v->vp);
	vpci_add_status(&v->vp, VIRTIO_ACKNOWLEDGE);
	vpci_add_status(&v->vp, VIRTIO_DRIVER);
	if (!negotiate(v))
		goto failed;
	if (has(v, NET_F_MTU)) {
		mtu_max = vpci_cfg_read16(&v->vp, CFG_MTU);
		if (mtu_max < NIC_MTU_MIN || mtu_max > NIC_FRAME_MAX - ETH_HLEN - 4)
			mtu_max = NIC_MTU_DEFAULT;
	}
	if (!setup_rings(v, mtu_max))
		goto failed;
	if (has(v, NET_F_MAC)) {
		for (unsigned i = 0; i < ETH_ALEN; i++)
			n->mac[i] = vpci_cfg_read8(&v->vp, CFG_MAC + i);
	} else {
		/* A locally administered address of our own: 02:6b:76:00:00:<i>. */
		static const uint8_t ours[ETH_ALEN] = { 0x02, 0x6b, 0x76, 0, 0, 0 };

		memcpy(n->mac, ours, ETH_ALEN);
		n->mac[5] = (uint8_t)n->index;
	}
	vpci_add_status(&v->vp, VIRTIO_DRIVER_OK);
	vnet_kick(v, &v->rx);

	n->priv = v;
	n->mtu_max = mtu_max;
	n->ops = &vnet_ops;
	if (!has(v, NET_F_MAC))
		vnet_set_mac(n, n->mac);
	if (has(v, NET_F_CTRL_RX))	/* QEMU starts promiscuous */
		vnet_set_filter(n);
	/* A device notifies the first used buffer of each queue whatever
	 * the event index says; drop the INTx level that leaves behind. */
	(void)vpci_isr(&v->vp);
	return true;
failed:
	vpci_add_status(&v->vp, VIRTIO_FAILED);
	return false;
}
