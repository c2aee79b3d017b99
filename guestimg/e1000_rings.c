/* e1000_rings.c - the 82540EM's receive and transmit rings; see e1000.c. */
#include "e1000.h"
#include "dma.h"
#include "lib.h"

/* Give the device what we have taken from the receive ring; idle: the
 * device must see it before we wait for more. */
static void rx_give_back(struct e1000 *e, bool idle)
{
	unsigned tail = (e->rx_next + RING - 1) % RING;

	if (tail != e->rx_tail) {
		e->rx_tail = tail;
		e1000_wr(e, RDT, tail);
	}
	if (idle)
		e1000_flush(e);
}

/* Give the descriptors of the frame handed out last back to ourselves;
 * the device gets them with the next RDT write. */
static void rx_release(struct e1000 *e)
{
	for (; e->cur_descs; e->cur_descs--) {
		e->rxd[e->rx_next].status = 0;
		e->rx_next = (e->rx_next + 1) % RING;
	}
	if ((e->rx_next - e->rx_tail + RING) % RING > RX_BATCH)
		rx_give_back(e, false);
}

/* Descriptors of the complete frame at rx_next (its length in *total),
 * or 0 if its last descriptor is not done yet. */
static unsigned rx_frame(struct e1000 *e, unsigned *total, bool *good)
{
	unsigned count = 0, i = e->rx_next;
	uint8_t status;

	*total = 0;
	*good = true;
	do {
		status = e->rxd[i].status;
		if (!(status & DESC_DD))
			return 0;
		barrier();	/* the DD bit first, then the rest */
		*total += e->rxd[i].length;
		if (e->rxd[i].errors)
			*good = false;
		count++;
		i = (i + 1) % RING;
	} while (!(status & RXD_EOP) && count < RING / 2);
	if (!(status & RXD_EOP) || *total > NIC_FRAME_MAX || *total < ETH_HLEN)
		*good = false;
	return count;
}

const uint8_t *e1000_rx(struct nic *n, unsigned *len)
{
	struct e1000 *e = n->priv;
	unsigned count, total, i;
	bool good;

	for (;;) {
		rx_release(e);
		count = rx_frame(e, &total, &good);
		if (!count) {
			rx_give_back(e, true);
			return NULL;
		}
		e->cur_descs = count;
		if (good)
			break;
		n->rx_bad++;	/* dropped */
	}
	*len = total;
	i = e->rx_next;
	if (count == 1)
		return e->rx_buf + i * e->rx_size;
	for (unsigned k = 0, at = 0; k < count; k++) {
		unsigned d = (i + k) % RING;

		memcpy(e->scratch + at, e->rx_buf + d * e->rx_size, e->rxd[d].length);
		at += e->rxd[d].length;
	}
	return e->scratch;
}

static void tx_reclaim(struct e1000 *e)
{
	while (e->tx_clean != e->tx_kicked && (e->txd[e->tx_clean].status & DESC_DD))
		e->tx_clean = (e->tx_clean + 1) % RING;
}

bool e1000_tx(struct nic *n, const void *frame, unsigned len)
{
	struct e1000 *e = n->priv;
	unsigned need = (len + BUF_SIZE - 1) / BUF_SIZE;
	unsigned used = (e->tx_tail - e->tx_clean + RING) % RING;
	const uint8_t *p = frame;

	if (RING - 1 - used < need) {
		tx_reclaim(e);
		used = (e->tx_tail - e->tx_clean + RING) % RING;
		if (RING - 1 - used < need)
			return false;
	}
	while (len) {
		unsigned i = e->tx_tail, chunk = len < BUF_SIZE ? len : BUF_SIZE;
		volatile struct tx_desc *d = &e->txd[i];

		memcpy(e->tx_buf + i * BUF_SIZE, p, chunk);
		d->addr = dma_addr(e->tx_buf + i * BUF_SIZE);
		d->length = (uint16_t)chunk;
		d->status = 0;
		d->cmd = TXD_IFCS | TXD_RS | (chunk == len ? TXD_EOP : 0);
		p += chunk;
		len -= chunk;
		e->tx_tail = (i + 1) % RING;
	}
	return true;
}

void e1000_tx_kick(struct nic *n)
{
	struct e1000 *e = n->priv;

	if (e->tx_kicked != e->tx_tail) {
		barrier();
		e->tx_kicked = e->tx_tail;
		mmio_write32(e->regs + TDT, e->tx_tail);	/* never posted */
	}
}

unsigned e1000_tx_busy(struct nic *n)
{
	struct e1000 *e = n->priv;

	tx_reclaim(e);
	return (e->tx_tail - e->tx_clean + RING) % RING;
}
