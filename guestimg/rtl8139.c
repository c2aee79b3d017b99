/*
 * rtl8139.c - Realtek RTL8139 (10ec:8139) through its I/O BAR, in the
 * classic (not C+) mode, the way Linux's 8139too drives it.
 *
 * Receive: one 32 KiB ring at RBSTART (plus slack for RCR.WRAP=1, where a
 * frame that starts near the end runs on past it).  The chip writes each frame as a 4-byte header (status,
 * length with CRC), the frame, the CRC, then moves CBR to the next 4-byte
 * boundary; the driver reads behind it and says how far with CAPR (which,
 * famously, lags 16 bytes).  A device model may write the header before
 * the frame, so a non-zero header in RAM only says "look": the driver
 * then reads CBR once, and every frame below it is complete.  Consumed
 * bytes are zeroed, so a header position that still reads 0 means "no
 * frame yet" without an exit.  CAPR is written once per batch.
 *
 * Transmit: four slots used round-robin (the chip sends them in order).
 * A TSD write with the length starts one; the OWN bits of all four come
 * back in one read of TSAD, done only when no slot is known to be free.
 */
#include "nic.h"
#include "cpu.h"
#include "dma.h"
#include "lib.h"

/* Registers (offsets in the I/O BAR). */
#define IDR0	0x00	/* station address, 32-bit accesses */
#define IDR4	0x04
#define MAR0	0x08	/* multicast hash, 64 bits */
#define MAR4	0x0C
#define TSD0	0x10	/* transmit status of slot i at TSD0 + 4i */
#define TSAD0	0x20	/* transmit buffer address of slot i */
#define RBSTART	0x30
#define CR	0x37
#define CAPR	0x38
#define CBR	0x3A
#define IMR	0x3C
#define ISR	0x3E
#define TCR	0x40
#define RCR	0x44
#define CR9346	0x50
#define MSR	0x58
#define TSAD	0x60	/* transmit status of all descriptors */

#define CR_RST		0x10
#define CR_RE		0x08
#define CR_TE		0x04

#define RCR_AAP		0x01	/* all physical (promiscuous) */
#define RCR_APM		0x02	/* own address */
#define RCR_AM		0x04	/* multicast through MAR */
#define RCR_AB		0x08	/* broadcast */
#define RCR_WRAP	0x80	/* write past the ring end instead of wrapping */
#define RCR_RBLEN_32K	(2 << 11)
#define RCR_MXDMA_UNL	(7 << 8)
#define RCR_RXFTH_NONE	(7 << 13)

#define TCR_MXDMA_1K	(6 << 8)
#define TCR_IFG96	(3 << 24)
#define TSD_ERTXTH	0x00080000	/* early-transmit threshold 256 bytes */
#define TSAD_OWN(i)	(1u << (i))	/* slot i's DMA is done */

#define RX_OK		0x0001	/* header status: frame good */
#define ISR_ROK		0x0001
#define ISR_RXOVW	0x0010
#define MSR_LINKB	0x04	/* 1 = link down */
#define CR9346_UNLOCK	0xC0
#define CR9346_AUTOLOAD	0x40	/* EEM = 01: load the EEPROM as at power-on */
#define CR9346_EEM	0xC0

#define RING_SIZE	32768
#define RING_SLACK	(16 + 4 + NIC_FRAME_MAX + 4)	/* what WRAP=1 may spill */
#define TX_SLOTS	4
#define TX_BUF_SIZE	2048

/* Set to 1 to let the chip write frames past the ring end (RCR.WRAP);
 * the reader handles both layouts. */
#define USE_WRAP	0

struct rtl8139 {
	uint16_t io;
	uint8_t *ring;
	uint8_t *scratch;	/* a frame that wraps around the ring end */
	uint32_t rcr;
	unsigned rx_off;	/* next header */
	unsigned rx_limit;	/* CBR when last read: complete up to here */
	unsigned cur_len;	/* bytes of the frame handed out (0: none) */
	bool capr_stale;	/* rx_off moved since CAPR was written */
	uint8_t *tx_buf[TX_SLOTS];
	unsigned tx_next, tx_busy;
};

static struct rtl8139 rtl_state[NIC_MAX];

static unsigned ring_next(unsigned off, unsigned bytes)
{
	return ((off + bytes + 3) & ~3u) % RING_SIZE;
}

/* Where the device will write next, as a ring offset. */
static unsigned read_cbr(struct rtl8139 *r)
{
	return inw(r->io + CBR) % RING_SIZE;
}

/* Zero the frame at rx_off (header, data and CRC: total bytes) and move
 * past it.  With WRAP=0 the tail sits at the start of the ring; with
 * WRAP=1 it sits in the slack, and the start already holds new frames. */
static void rx_release(struct rtl8139 *r)
{
	unsigned total = (r->cur_len + 3) & ~3u;
	unsigned first = RING_SIZE - r->rx_off;

	if (total <= first) {
		memset(r->ring + r->rx_off, 0, total);
	} else {
		memset(r->ring + r->rx_off, 0, first);
		memset(USE_WRAP ? r->ring + RING_SIZE : r->ring, 0, total - first);
	}
	r->rx_off = ring_next(r->rx_off, r->cur_len);
	r->cur_len = 0;
	r->capr_stale = true;
}

static void rx_flush(struct rtl8139 *r)
{
	if (r->capr_stale) {
		outw(r->io + CAPR, (uint16_t)(r->rx_off - 16));
		r->capr_stale = false;
	}
}

/* Forget everything in the ring and start reading where the device will
 * write next.  Used after RCR writes (QEMU then restarts the ring at 0,
 * real chips do not) and when a header makes no sense. */
static void rx_resync(struct rtl8139 *r)
{
	memset(r->ring, 0, RING_SIZE + RING_SLACK);
	r->cur_len = 0;
	r->rx_off = r->rx_limit = read_cbr(r);
	r->capr_stale = true;
	rx_flush(r);
}

static const uint8_t *rtl_rx(struct nic *n, unsigned *len)
{
	struct rtl8139 *r = n->priv;
	uint32_t head;
	unsigned status, size, first;

	if (r->cur_len)
		rx_release(r);
	if (r->rx_off == r->rx_limit) {
		if (*(volatile uint32_t *)(r->ring + r->rx_off) == 0) {
			rx_flush(r);
			return NULL;
		}
		rx_flush(r);
		r->rx_limit = read_cbr(r);
		if (r->rx_off == r->rx_limit)
			return NULL;	/* header seen, frame still coming */
	}
	barrier();
	head = *(volatile uint32_t *)(r->ring + r->rx_off);
	status = head & 0xFFFF;
	size = head >> 16;		/* frame + 4 bytes of CRC */
	if (!(status & RX_OK) || size < 4 + ETH_HLEN || size > 4 + NIC_FRAME_MAX) {
		n->rx_bad++;
		rx_resync(r);
		return NULL;
	}
	r->cur_len = 4 + size;
	*len = size - 4;
	first = RING_SIZE - r->rx_off - 4;
	if (USE_WRAP || *len <= first)
		return r->ring + r->rx_off + 4;
	memcpy(r->scratch, r->ring + r->rx_off + 4, first);
	memcpy(r->scratch + first, r->ring, *len - first);
	return r->scratch;
}

/* Take back slots whose DMA is done: one TSAD read. */
static void tx_reclaim(struct rtl8139 *r)
{
	uint16_t tsad;
	unsigned oldest;

	if (!r->tx_busy)
		return;
	tsad = inw(r->io + TSAD);
	oldest = (r->tx_next + TX_SLOTS - r->tx_busy) % TX_SLOTS;
	while (r->tx_busy && (tsad & TSAD_OWN(oldest))) {
		oldest = (oldest + 1) % TX_SLOTS;
		r->tx_busy--;
	}
}

static bool rtl_tx(struct nic *n, const void *frame, unsigned len)
{
	struct rtl8139 *r = n->priv;
	unsigned slot = r->tx_next;

	if (r->tx_busy == TX_SLOTS)
		tx_reclaim(r);
	if (r->tx_busy == TX_SLOTS)
		return false;
	/* A short frame goes to the chip as it is, as e1000's and virtio's do:
	 * Linux's 8139too pads it itself, and then a device model's own
	 * padding of short frames would never be reached by any check. */
	memcpy(r->tx_buf[slot], frame, len);
	outl(r->io + TSD0 + 4 * slot, TSD_ERTXTH | len);
	r->tx_next = (slot + 1) % TX_SLOTS;
	r->tx_busy++;
	return true;
}

static void rtl_tx_kick(struct nic *n)
{
	(void)n;	/* each TSD write already started its frame */
}

static unsigned rtl_tx_busy(struct nic *n)
{
	struct rtl8139 *r = n->priv;

	tx_reclaim(r);
	return r->tx_busy;
}

static bool rtl_link(struct nic *n)
{
	struct rtl8139 *r = n->priv;

	return !(inb(r->io + MSR) & MSR_LINKB);
}

static void write_mac(struct rtl8139 *r, const uint8_t mac[ETH_ALEN])
{
	outb(r->io + CR9346, CR9346_UNLOCK);
	outl(r->io + IDR0, (uint32_t)mac[0] | (uint32_t)mac[1] << 8 |
			   (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24);
	outl(r->io + IDR4, (uint32_t)mac[4] | (uint32_t)mac[5] << 8);
	outb(r->io + CR9346, 0);
}

static int rtl_set_mac(struct nic *n, const uint8_t mac[ETH_ALEN])
{
	write_mac(n->priv, mac);
	return NIC_OK;
}

static int rtl_set_filter(struct nic *n)
{
	struct rtl8139 *r = n->priv;
	uint32_t mar[2] = { 0, 0 };
	uint32_t rcr = r->rcr & ~(RCR_AAP | RCR_AM);

	if (n->rxmode != NIC_RX_NORMAL) {
		mar[0] = mar[1] = 0xFFFFFFFF;
		rcr |= RCR_AM;
		if (n->rxmode == NIC_RX_PROMISC)
			rcr |= RCR_AAP;
	} else if (n->nmcast) {
		for (unsigned i = 0; i < n->nmcast; i++) {
			unsigned bit = ether_crc_be(n->mcast[i]) >> 26;

			mar[bit >> 5] |= 1u << (bit & 31);
		}
		rcr |= RCR_AM;
	}
	outl(r->io + MAR0, mar[0]);
	outl(r->io + MAR4, mar[1]);
	if (rcr != r->rcr) {
		r->rcr = rcr;
		outl(r->io + RCR, rcr);
		rx_resync(r);
	}
	return NIC_OK;
}

static int rtl_set_mtu(struct nic *n, unsigned mtu)
{
	(void)n;
	(void)mtu;		/* only the send limit changes */
	return NIC_OK;
}

static int rtl_irq_on(struct nic *n, enum nic_irq kind)
{
	struct rtl8139 *r = n->priv;

	if (kind != NIC_IRQ_INTX)
		return NIC_UNSUPPORTED;
	outw(r->io + ISR, 0xFFFF);
	outw(r->io + IMR, ISR_ROK | ISR_RXOVW);
	return NIC_OK;
}

static void rtl_irq_off(struct nic *n)
{
	struct rtl8139 *r = n->priv;

	outw(r->io + IMR, 0);
	outw(r->io + ISR, 0xFFFF);
}

/* Ring 0. */
static bool rtl_irq_ack(struct nic *n)
{
	struct rtl8139 *r = n->priv;
	uint16_t isr = inw(r->io + ISR);

	if (!(isr & (ISR_ROK | ISR_RXOVW)))
		return false;
	outw(r->io + ISR, isr);
	return true;
}

static const struct nic_ops rtl_ops = {
	.tx = rtl_tx,
	.tx_kick = rtl_tx_kick,
	.tx_busy = rtl_tx_busy,
	.rx = rtl_rx,
	.link = rtl_link,
	.set_mac = rtl_set_mac,
	.set_filter = rtl_set_filter,
	.set_mtu = rtl_set_mtu,
	.irq_on = rtl_irq_on,
	.irq_off = rtl_irq_off,
	.irq_ack = rtl_irq_ack,
};

bool rtl8139_init(struct nic *n)
{
	struct rtl8139 *r = &rtl_state[n->index];
	const struct pci_bar *bar = &n->pci->bar[0];
	uint32_t lo, hi;
	uint64_t start;

	memset(r, 0, sizeof(*r));	/* a reset brings it up again (nic_reset) */
	if (bar->kind != PCI_BAR_IO || bar->addr == 0)
		return false;
	r->io = (uint16_t)bar->addr;
	n->priv = r;
	r->ring = dma_alloc(RING_SIZE + RING_SLACK, 16);
	r->scratch = dma_alloc(NIC_FRAME_MAX, 16);
	for (unsigned i = 0; i < TX_SLOTS; i++)
		r->tx_buf[i] = dma_alloc(TX_BUF_SIZE, 16);
	if (!r->ring || !r->scratch || !r->tx_buf[TX_SLOTS - 1])
		return false;
	pci_enable(n->pci);

	outb(r->io + CR, CR_RST);
	start = rdtsc();
	while (inb(r->io + CR) & CR_RST)
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return false;
	/* A soft reset keeps IDR0-5 (a MAC set since boot): auto-load them from
	 * the EEPROM, as the chip does at power-on, so that the station address
	 * read below is the EEPROM's after a driver reset too. */
	outb(r->io + CR9346, CR9346_AUTOLOAD);
	start = rdtsc();
	while (inb(r->io + CR9346) & CR9346_EEM)
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return false;

	lo = inl(r->io + IDR0);
	hi = inl(r->io + IDR4);
	for (unsigned i = 0; i < 4; i++)
		n->mac[i] = (uint8_t)(lo >> (8 * i));
	n->mac[4] = (uint8_t)hi;
	n->mac[5] = (uint8_t)(hi >> 8);

	outl(r->io + RBSTART, (uint32_t)dma_addr(r->ring));
	for (unsigned i = 0; i < TX_SLOTS; i++)
		outl(r->io + TSAD0 + 4 * i, (uint32_t)dma_addr(r->tx_buf[i]));
	/* TCR and RCR take writes only with the engines enabled. */
	outb(r->io + CR, CR_RE | CR_TE);
	outl(r->io + TCR, TCR_MXDMA_1K | TCR_IFG96);
	r->rcr = RCR_RBLEN_32K | RCR_MXDMA_UNL | RCR_RXFTH_NONE |
		 (USE_WRAP ? RCR_WRAP : 0) | RCR_APM | RCR_AB;
	outl(r->io + RCR, r->rcr);
	outl(r->io + MAR0, 0);	/* a reset leaves the hash alone */
	outl(r->io + MAR4, 0);
	rx_resync(r);

#ifdef KVMNET_FAULT_RTL8139_JUMBO
	/* Test only (make FAULTS=RTL8139_JUMBO): accept an MTU the chip cannot carry, so
	 * that the check that rtl8139 refuses MTU 9000 can be seen failing. */
	n->mtu_max = 9000;
#else
	n->mtu_max = NIC_MTU_DEFAULT;	/* TSD lengths stop at 1792 bytes */
#endif
	n->ops = &rtl_ops;
	return true;
}
