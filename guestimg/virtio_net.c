/*
 * virtio_net.c - virtio-net over virtio_pci.c: modern devices (1af4:1041)
 * and transitional ones (1af4:1000) through the legacy interface.
 *
 * Queues: receive (0), transmit (1) and, with CTRL_VQ, control (2).  The
 * driver asks for MAC, STATUS, MRG_RXBUF, CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR,
 * EVENT_IDX and MTU, plus VERSION_1 (modern) or ANY_LAYOUT (legacy), and
 * no offloads.  Every buffer is a fixed descriptor chain linked at setup:
 * one descriptor holding header and frame, or, for a legacy device
 * without ANY_LAYOUT, a header descriptor and a frame descriptor.  The
 * rings carry only chain heads afterwards.  Receive buffers are 2 KiB
 * with MRG_RXBUF (a longer frame spans several, copied into a scratch
 * buffer) and big enough for the largest frame without it.  Notifications
 * follow the device's event index (or NO_NOTIFY flag), so a batch of
 * frames usually costs one exit or none.
 */
#include "virtio_net.h"
#include "cpu.h"
#include "dma.h"
#include "lib.h"

void vnet_notify(struct vnet *v, struct vring *r)
{
#ifdef KVMNET_FAULT_VIRTIO_NO_NOTIFY
	/* Test only (make FAULTS=VIRTIO_NO_NOTIFY): the data queues are never notified.
	 * A backend that polls its rings still moves frames, so a check that counts on
	 * kicks can be seen failing when there are none. */
	if (r != &v->ctrl)
		return;
#endif
	vpci_notify(&v->vp, r);
	v->nic->notifies++;
}

void vnet_kick(struct vnet *v, struct vring *r)
{
	vring_publish(r);
	if (vring_should_kick(r))
		vnet_notify(v, r);
}

/* Receive. */

void vnet_rx_post(struct vnet *v, unsigned slot)
{
	vring_add(&v->rx, (uint16_t)(slot * v->rx_per));
}

static void rx_repost(struct vnet *v)
{
	if (!v->ncur)
		return;
	while (v->ncur)
		vnet_rx_post(v, v->cur[--v->ncur]);
	vnet_kick(v, &v->rx);
}

/* The next used receive buffer: its slot and the bytes the device
 * wrote (header included).  It joins the buffers given back next. */
static bool rx_next(struct vnet *v, unsigned *slot, unsigned *len)
{
	uint32_t id, used_len;

	while (vring_get_used(&v->rx, &id, &used_len)) {
		*slot = id / v->rx_per;
		if (id % v->rx_per || *slot >= v->rx_slots)
			continue;	/* not ours: nothing to give back */
		v->cur[v->ncur++] = (uint16_t)*slot;
		*len = used_len;
		return true;
	}
	return false;
}

static uint8_t *rx_data(struct vnet *v, unsigned slot)
{
	return v->rx_buf + slot * v->rx_size;
}

const uint8_t *vnet_rx(struct nic *n, unsigned *len)
{
	struct vnet *v = n->priv;
	unsigned slot, used, nbufs, total;
	const uint8_t *hdr, *data;
	bool good;

	for (;;) {
		rx_repost(v);
		if (!rx_next(v, &slot, &used))
			return NULL;
		if (v->rx_per == 2) {
			hdr = v->rx_hdr + slot * HDR_SLOT;
			data = rx_data(v, slot);
		} else {
			hdr = rx_data(v, slot);
			data = hdr + v->hdr_len;
		}
		if (used < v->hdr_len + ETH_HLEN) {
			n->rx_bad++;
			continue;
		}
		*len = used - v->hdr_len;
		nbufs = v->mrg ? hdr[MRG_NUM_BUFFERS] | hdr[MRG_NUM_BUFFERS + 1] << 8 : 1;
		if (nbufs <= 1)
			return data;

		/* Mergeable buffers: the device returns all of a frame's
		 * buffers before it moves the used index.  Each is copied
		 * out at once, so it may go back to the device at once. */
		memcpy(v->scratch, data, *len);
		total = *len;
		good = true;
		while (--nbufs) {
			if (v->ncur == MRG_BUFS_MAX)
				rx_repost(v);
			if (!rx_next(v, &slot, &used)) {
				good = false;
				break;
			}
			if (total + used > NIC_FRAME_MAX)
				good = false;	/* keep taking the rest */
			if (good)
				memcpy(v->scratch + total, rx_data(v, slot), used);
			total += used;
		}
		if (good) {
			*len = total;
			return v->scratch;
		}
		n->rx_bad++;
	}
}

/* Transmit. */

static void tx_reclaim(struct vnet *v)
{
	uint32_t id, len;

	while (vring_get_used(&v->tx, &id, &len)) {
		unsigned slot = id / v->tx_per;

		if (id % v->tx_per == 0 && slot < v->tx_slots &&
		    v->tx_nfree < v->tx_slots)
			v->tx_free[v->tx_nfree++] = (uint16_t)slot;
	}
}

bool vnet_tx(struct nic *n, const void *frame, unsigned len)
{
	struct vnet *v = n->priv;
	unsigned slot, head;
	uint8_t *buf;

	if (!v->tx_nfree)
		tx_reclaim(v);
	if (!v->tx_nfree)
		return false;
	slot = v->tx_free[--v->tx_nfree];
	head = slot * v->tx_per;
	buf = v->tx_buf + slot * v->tx_size;
	if (v->tx_per == 2) {		/* the header descriptor stays zero */
		memcpy(buf, frame, len);
		v->tx.desc[head + 1].len = len;
	} else {
		memcpy(buf + v->hdr_len, frame, len);
		v->tx.desc[head].len = v->hdr_len + len;
	}
	vring_add(&v->tx, (uint16_t)head);
	return true;
}

void vnet_tx_kick(struct nic *n)
{
	struct vnet *v = n->priv;

	vnet_kick(v, &v->tx);
}

unsigned vnet_tx_busy(struct nic *n)
{
	struct vnet *v = n->priv;

	tx_reclaim(v);
	return v->tx_slots - v->tx_nfree;
}

/* Interrupts. */

int vnet_irq_on(struct nic *n, enum nic_irq kind)
{
	struct vnet *v = n->priv;

	if (kind == NIC_IRQ_MSIX &&
	    !vpci_set_vectors(&v->vp, VIRTIO_NO_VECTOR, 0, 0, true))
		return NIC_FAILED;
	if (kind == NIC_IRQ_INTX)
		(void)vpci_isr(&v->vp);		/* drop a stale INTx level */
	vring_interrupts(&v->rx, true);
	return NIC_OK;
}

void vnet_irq_off(struct nic *n)
{
	struct vnet *v = n->priv;

	vring_interrupts(&v->rx, false);
	if (n->irq_kind == NIC_IRQ_MSIX)
		vpci_set_vectors(&v->vp, VIRTIO_NO_VECTOR, 0, VIRTIO_NO_VECTOR, false);
	else
		(void)vpci_isr(&v->vp);
}

/* Ring 0. */
bool vnet_irq_ack(struct nic *n)
{
	struct vnet *v = n->priv;

	return vpci_isr(&v->vp) != 0;
}

void vnet_irq_rearm(struct nic *n)
{
	struct vnet *v = n->priv;

	vring_interrupts(&v->rx, true);
}

