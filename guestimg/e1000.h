/*
 * e1000.h - the 82540EM driver's registers, descriptor formats and state,
 * shared by e1000.c (bring-up, configuration, interrupts) and
 * e1000_rings.c (the receive and transmit rings).  e1000.c says how the
 * driver works.
 */
#ifndef E1000_H
#define E1000_H

#include <stdbool.h>
#include <stdint.h>
#include "cpu.h"
#include "nic.h"

/* Registers (offsets in BAR 0). */
#define CTRL	0x0000
#define STATUS	0x0008
#define EERD	0x0014
#define ICR	0x00C0
#define IMS	0x00D0
#define IMC	0x00D8
#define RCTL	0x0100
#define TCTL	0x0400
#define TIPG	0x0410
#define RDBAL	0x2800
#define RDBAH	0x2804
#define RDLEN	0x2808
#define RDH	0x2810
#define RDT	0x2818
#define TDBAL	0x3800
#define TDBAH	0x3804
#define TDLEN	0x3808
#define TDH	0x3810
#define TDT	0x3818
#define MTA	0x5200	/* 128 x 32 bits */
#define RAL0	0x5400
#define RAH0	0x5404

#define CTRL_ASDE	(1u << 5)
#define CTRL_SLU	(1u << 6)
#define CTRL_RST	(1u << 26)
#define STATUS_LU	(1u << 1)
#define EERD_START	(1u << 0)
#define EERD_DONE	(1u << 4)
#define RAH_AV		(1u << 31)

#define RCTL_EN		(1u << 1)
#define RCTL_UPE	(1u << 3)
#define RCTL_MPE	(1u << 4)
#define RCTL_LPE	(1u << 5)
#define RCTL_BAM	(1u << 15)
#define RCTL_SZ_16K	(1u << 16)	/* BSIZE 01: with BSEX, 16384 */
#define RCTL_BSEX	(1u << 25)	/* BSIZE 00 without it: 2048 */
#define RCTL_SECRC	(1u << 26)	/* strip the CRC */

#define TCTL_EN		(1u << 1)
#define TCTL_PSP	(1u << 3)	/* pad short frames to 64 bytes */
#define TCTL_CT		(0x0Fu << 4)
#define TCTL_COLD	(0x3Fu << 12)
#define TIPG_COPPER	(8u | 8u << 10 | 6u << 20)

#define ICR_RXT0	(1u << 7)	/* receiver timer: frames arrived */

#define TXD_EOP		0x01
#define TXD_IFCS	0x02
#define TXD_RS		0x08
#define DESC_DD		0x01
#define RXD_EOP		0x02

#define RING		256
#define BUF_SIZE	2048	/* transmit buffers, receive ones normally */
#define BIG_BUF_SIZE	16384	/* receive buffers with an MTU above 1500 */
#define RX_BATCH	64	/* buffers given back per RDT write: a quarter of the
				   ring, the device keeps the rest; each write is
				   an exit where a VMM does not post it */
#define JUMBO_MTU_MAX	9004	/* frames up to 9018, the longest test frame */

struct rx_desc {
	uint64_t addr;
	uint16_t length;
	uint16_t csum;
	uint8_t status;
	uint8_t errors;
	uint16_t special;
};

struct tx_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
};

struct e1000 {
	uintptr_t regs;
	volatile struct rx_desc *rxd;
	volatile struct tx_desc *txd;
	uint8_t *rx_buf, *tx_buf, *scratch;
	uint8_t *rx_small, *rx_big;	/* the 2 KiB and 16 KiB buffer sets */
	unsigned rx_size;	/* bytes per receive buffer now */
	unsigned rx_next;	/* next descriptor the device fills */
	unsigned rx_tail;	/* RDT as last written */
	unsigned cur_descs;	/* descriptors of the frame handed out */
	unsigned tx_tail;	/* next free descriptor */
	unsigned tx_kicked;	/* TDT as last written */
	unsigned tx_clean;	/* oldest descriptor not taken back */
	bool posted;		/* written since the last flush */
	uint32_t rctl;
	uint32_t mta[128];	/* what the MTA registers hold */
};

static inline uint32_t e1000_rd(struct e1000 *e, unsigned reg)
{
	return mmio_read32(e->regs + reg);
}

/* A write that may stay posted until e1000_flush(). */
static inline void e1000_wr(struct e1000 *e, unsigned reg, uint32_t v)
{
	mmio_write32(e->regs + reg, v);
	e->posted = true;
}

/* Make posted writes take effect: one read. */
static inline void e1000_flush(struct e1000 *e)
{
	if (e->posted) {
		(void)e1000_rd(e, STATUS);
		e->posted = false;
	}
}

/* e1000_rings.c */
const uint8_t *e1000_rx(struct nic *n, unsigned *len);
bool e1000_tx(struct nic *n, const void *frame, unsigned len);
void e1000_tx_kick(struct nic *n);
unsigned e1000_tx_busy(struct nic *n);

#endif
