/*
 * e1000.c - Intel 82540EM (8086:100e) through its memory BAR, with the
 * legacy descriptor formats.
 *
 * Both rings have 256 descriptors with a 2 KiB buffer each; with an MTU
 * above 1500 the receive ring switches to 16 KiB buffers (RCTL.LPE, BSEX).
 * A frame longer than one buffer spans several descriptors: EOP marks the
 * last, and the driver copies such a frame into a scratch buffer before
 * handing it out (transmit always, receive should a device do it).  The driver polls the DD bits the device
 * writes back into the rings in RAM; TDT is written once per batch of
 * frames, RDT once per 64 buffers given back (or when the ring is idle).
 * MTA is kept in a shadow copy, so changing the multicast list writes
 * only the registers that change (the first setup clears all 128).
 *
 * Register writes are posted: QEMU, for one, buffers writes to every
 * register but MDIC, ICR, ICS, IMS, IMC, TCTL and TDT in KVM's coalesced
 * MMIO ring and applies them only at the next other access to the
 * device.  So, as on hardware, a read of STATUS follows every change that
 * must take effect now (filters, addresses, RCTL), and an RDT write the
 * driver is about to wait behind (the receive ring has gone idle).
 */
#include "e1000.h"
#include "dma.h"
#include "lib.h"

static struct e1000 e1000_state[NIC_MAX];

static bool e1000_link(struct nic *n)
{
	return e1000_rd(n->priv, STATUS) & STATUS_LU;
}

static int e1000_set_mac(struct nic *n, const uint8_t mac[ETH_ALEN])
{
	struct e1000 *e = n->priv;

	e1000_wr(e, RAL0, (uint32_t)mac[0] | (uint32_t)mac[1] << 8 |
			  (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24);
	e1000_wr(e, RAH0, (uint32_t)mac[4] | (uint32_t)mac[5] << 8 | RAH_AV);
	e1000_flush(e);
	return NIC_OK;
}

static void write_rctl(struct e1000 *e, uint32_t rctl)
{
	if (rctl != e->rctl) {
		e->rctl = rctl;
		e1000_wr(e, RCTL, rctl);
	}
}

static int e1000_set_filter(struct nic *n)
{
	struct e1000 *e = n->priv;
	uint32_t mta[128];
	uint32_t rctl = e->rctl & ~(RCTL_UPE | RCTL_MPE);

	memset(mta, 0, sizeof(mta));
	for (unsigned i = 0; i < n->nmcast; i++) {
		/* RCTL.MO = 0: bits 47:36 of the address. */
		unsigned h = (n->mcast[i][4] >> 4 | n->mcast[i][5] << 4) & 0xFFF;

		mta[h >> 5] |= 1u << (h & 31);
	}
	for (unsigned i = 0; i < 128; i++) {
		if (mta[i] != e->mta[i]) {
			e->mta[i] = mta[i];
			e1000_wr(e, MTA + 4 * i, mta[i]);
		}
	}
	if (n->rxmode == NIC_RX_PROMISC)
		rctl |= RCTL_UPE | RCTL_MPE;
	else if (n->rxmode == NIC_RX_ALLMULTI)
		rctl |= RCTL_MPE;
	write_rctl(e, rctl);
	e1000_flush(e);
	return NIC_OK;
}

/* Point the receive ring at a buffer set, from the start: frames not yet
 * taken are dropped.  The receiver must be off. */
static void rx_ring_reset(struct e1000 *e, uint8_t *bufs, unsigned size)
{
	e->rx_buf = bufs;
	e->rx_size = size;
	for (unsigned i = 0; i < RING; i++) {
		e->rxd[i].addr = dma_addr(bufs + i * size);
		e->rxd[i].status = 0;
	}
	e->rx_next = e->cur_descs = 0;
	e->rx_tail = RING - 1;
	e1000_wr(e, RDH, 0);
	e1000_wr(e, RDT, e->rx_tail);
}

/*
 * Above 1500 bytes: RCTL.LPE, and 16 KiB receive buffers, one per frame.
 * A frame that spans descriptors would do for the chip, but QEMU drops a
 * frame when fewer descriptors than it needs are free (it waits only
 * while none are), so multi-descriptor jumbo frames get lost under load.
 * The 4 MiB of big buffers are allocated on first use and kept.
 */
static int e1000_set_mtu(struct nic *n, unsigned mtu)
{
	struct e1000 *e = n->priv;
	bool jumbo = mtu > NIC_MTU_DEFAULT;
	uint32_t rctl = e->rctl & ~(RCTL_LPE | RCTL_BSEX | RCTL_SZ_16K);

	if (jumbo == (e->rx_size == BIG_BUF_SIZE))
		return NIC_OK;
	if (jumbo && !e->rx_big && !(e->rx_big = dma_alloc(RING * BIG_BUF_SIZE, 16)))
		return NIC_FAILED;
	write_rctl(e, e->rctl & ~RCTL_EN);
	e1000_flush(e);
	if (jumbo)
		rx_ring_reset(e, e->rx_big, BIG_BUF_SIZE);
	else
		rx_ring_reset(e, e->rx_small, BUF_SIZE);
	write_rctl(e, rctl | (jumbo ? RCTL_LPE | RCTL_BSEX | RCTL_SZ_16K : 0));
	e1000_flush(e);
	return NIC_OK;
}

static int e1000_irq_on(struct nic *n, enum nic_irq kind)
{
	struct e1000 *e = n->priv;

	if (kind != NIC_IRQ_INTX)
		return NIC_UNSUPPORTED;
	(void)e1000_rd(e, ICR);		/* reading clears every cause */
	e1000_wr(e, IMS, ICR_RXT0);
	return NIC_OK;
}

static void e1000_irq_off(struct nic *n)
{
	struct e1000 *e = n->priv;

	e1000_wr(e, IMC, 0xFFFFFFFF);
	(void)e1000_rd(e, ICR);
}

/* Ring 0. */
static bool e1000_irq_ack(struct nic *n)
{
	return e1000_rd(n->priv, ICR) & ICR_RXT0;
}

static const struct nic_ops e1000_ops = {
	.tx = e1000_tx,
	.tx_kick = e1000_tx_kick,
	.tx_busy = e1000_tx_busy,
	.rx = e1000_rx,
	.link = e1000_link,
	.set_mac = e1000_set_mac,
	.set_filter = e1000_set_filter,
	.set_mtu = e1000_set_mtu,
	.irq_on = e1000_irq_on,
	.irq_off = e1000_irq_off,
	.irq_ack = e1000_irq_ack,
};

/* One 16-bit EEPROM word through EERD (82540EM layout: address in 15:8,
 * data in 31:16); false if the device never says done. */
static bool eeprom_read(struct e1000 *e, unsigned word, uint16_t *v)
{
	uint64_t start = rdtsc();
	uint32_t r;

	e1000_wr(e, EERD, word << 8 | EERD_START);
	while (!((r = e1000_rd(e, EERD)) & EERD_DONE))
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return false;
	*v = (uint16_t)(r >> 16);
	return true;
}

bool e1000_init(struct nic *n)
{
	struct e1000 *e = &e1000_state[n->index];
	const struct pci_bar *bar = &n->pci->bar[0];
	uint64_t start;

	memset(e, 0, sizeof(*e));	/* a reset brings it up again (nic_reset) */
	if (bar->kind == PCI_BAR_IO || bar->addr == 0 || bar->addr >= 0x100000000ull)
		return false;
	e->regs = (uintptr_t)bar->addr;
	n->priv = e;
	e->rxd = dma_alloc(RING * sizeof(struct rx_desc), 128);
	e->txd = dma_alloc(RING * sizeof(struct tx_desc), 128);
	e->rx_small = dma_alloc(RING * BUF_SIZE, 16);
	e->tx_buf = dma_alloc(RING * BUF_SIZE, 16);
	e->scratch = dma_alloc(NIC_FRAME_MAX, 16);
	if (!e->rxd || !e->txd || !e->rx_small || !e->tx_buf || !e->scratch)
		return false;
	pci_enable(n->pci);

	e1000_wr(e, IMC, 0xFFFFFFFF);
	e1000_wr(e, CTRL, CTRL_RST);
	start = rdtsc();
	while (e1000_rd(e, CTRL) & CTRL_RST)
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return false;
	e1000_wr(e, IMC, 0xFFFFFFFF);
	e1000_wr(e, CTRL, CTRL_SLU | CTRL_ASDE);

	for (unsigned w = 0; w < 3; w++) {
		uint16_t v;

		if (!eeprom_read(e, w, &v))
			return false;
		n->mac[2 * w] = (uint8_t)v;
		n->mac[2 * w + 1] = (uint8_t)(v >> 8);
	}
	e1000_set_mac(n, n->mac);
	for (unsigned i = 0; i < 128; i++)	/* undefined after reset */
		e1000_wr(e, MTA + 4 * i, 0);

	e1000_wr(e, RDBAL, (uint32_t)dma_addr(e->rxd));
	e1000_wr(e, RDBAH, 0);
	e1000_wr(e, RDLEN, RING * sizeof(struct rx_desc));
	rx_ring_reset(e, e->rx_small, BUF_SIZE);
	e->rctl = RCTL_EN | RCTL_BAM | RCTL_SECRC;
	e1000_wr(e, RCTL, e->rctl);

	e1000_wr(e, TDBAL, (uint32_t)dma_addr(e->txd));
	e1000_wr(e, TDBAH, 0);
	e1000_wr(e, TDLEN, RING * sizeof(struct tx_desc));
	e1000_wr(e, TDH, 0);
	e1000_wr(e, TDT, 0);
	e1000_wr(e, TIPG, TIPG_COPPER);
	e1000_wr(e, TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
	e1000_flush(e);

	n->mtu_max = JUMBO_MTU_MAX;
	n->ops = &e1000_ops;
	return true;
}
