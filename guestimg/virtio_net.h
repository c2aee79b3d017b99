/*
 * virtio_net.h - shared by the two halves of the virtio-net driver:
 * virtio_net.c (the datapath: receive, transmit, interrupts) and
 * virtio_net_cfg.c (bring-up, features, queues, the control queue and
 * the configuration operations).  See virtio_net.c for the design.
 */
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H

#include "nic.h"
#include "virtio_pci.h"

#define NET_F_MTU		3
#define NET_F_MAC		5
#define NET_F_MRG_RXBUF		15
#define NET_F_STATUS		16
#define NET_F_CTRL_VQ		17
#define NET_F_CTRL_RX		18
#define NET_F_CTRL_MAC_ADDR	23
#define BIT(f)			(1ull << (f))

/* Device configuration. */
#define CFG_MAC			0
#define CFG_STATUS		6
#define CFG_MTU			10
#define CFG_LINK_UP		1

/* Control queue classes and commands. */
#define CTRL_RX			0
#define CTRL_RX_PROMISC		0
#define CTRL_RX_ALLMULTI	1
#define CTRL_MAC		1
#define CTRL_MAC_TABLE_SET	0
#define CTRL_MAC_ADDR_SET	1
#define CTRL_ACK_OK		0

#define QUEUE_MAX	256	/* entries we use of a modern queue */
#define TX_SLOTS_MAX	128
#define MRG_BUF_SIZE	2048
#define MRG_BUFS_MAX	8	/* buffers of one merged frame */
#define HDR_SLOT	16	/* bytes per header of a split chain */
#define CTRL_BATCH	3	/* control commands sent with one notification */
#define CTRL_SLOT	128	/* control buffer bytes per command: */
#define CTRL_A		16	/*   class and command at 0, data parts at */
#define CTRL_B		64	/*   CTRL_A and CTRL_B, the device's ack at */
#define CTRL_ACK	127	/*   CTRL_ACK */
#define MRG_NUM_BUFFERS	10	/* offset in the 12-byte header */

struct vnet {
	struct nic *nic;
	struct virtio_pci vp;
	struct vring rx, tx, ctrl;
	bool has_ctrl, mrg;
	unsigned hdr_len;		/* 12 with VERSION_1 or MRG_RXBUF, else 10 */
	unsigned rx_per, tx_per;	/* descriptors per chain: 1 or 2 */
	unsigned rx_slots, rx_size;
	unsigned tx_slots, tx_size;
	uint8_t *rx_buf, *rx_hdr, *tx_buf, *tx_hdr, *scratch, *ctrl_buf;
	uint16_t tx_free[TX_SLOTS_MAX];
	unsigned tx_nfree;
	uint16_t cur[MRG_BUFS_MAX];	/* buffers of the frame handed out */
	unsigned ncur;
};

/* virtio_net.c */
void vnet_kick(struct vnet *v, struct vring *r);
/* Notify r's queue now, whatever the device asked for (counted in notifies). */
void vnet_notify(struct vnet *v, struct vring *r);
void vnet_rx_post(struct vnet *v, unsigned slot);
const uint8_t *vnet_rx(struct nic *n, unsigned *len);
bool vnet_tx(struct nic *n, const void *frame, unsigned len);
void vnet_tx_kick(struct nic *n);
unsigned vnet_tx_busy(struct nic *n);
int vnet_irq_on(struct nic *n, enum nic_irq kind);
void vnet_irq_off(struct nic *n);
bool vnet_irq_ack(struct nic *n);
void vnet_irq_rearm(struct nic *n);

#endif
