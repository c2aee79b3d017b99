/*
 * nic.h - the NICs the guest drives, behind one interface.
 *
 * nic_init_all() walks what pci_init() found and brings up every function
 * a driver exists for (rtl8139.c, e1000.c, virtio_net.c), in PCI order:
 * reset, station address, rings, normal receive mode (own unicast and
 * broadcast, multicast only by list), interrupts masked.  Commands then
 * address them as nics[0], nics[1], ...
 *
 * Everything is polled.  Each register access is a VM exit (about 60 us
 * on the suite's hosts), so drivers look at descriptor and ring state in
 * RAM and touch registers only to hand over or take back whole batches:
 * nic_send() queues a frame and nic_kick() rings the doorbell once for all
 * of them; nic_recv() returns the next received frame and gives consumed
 * buffers back to the device in batches, or when the ring has gone idle.
 */
#ifndef NIC_H
#define NIC_H

#include <stdbool.h>
#include <stdint.h>
#include "pci.h"

#define NIC_MAX		8
#define NIC_MCAST_MAX	8	/* multicast groups of the "mcast" command */
#define NIC_FRAME_MAX	9216	/* largest frame a driver sends or returns */
#define NIC_MTU_MIN	68
#define NIC_MTU_DEFAULT	1500
#define NIC_TX_BATCH	64	/* frames queued per doorbell by the commands */

#define ETH_ALEN	6
#define ETH_HLEN	14
#define ETH_ZLEN	60	/* shortest frame on the wire, without FCS */

enum nic_model {
	NIC_RTL8139,
	NIC_E1000,
	NIC_VIRTIO,		/* virtio-net 1.0 (1af4:1041) */
	NIC_VIRTIO_LEGACY,	/* transitional (1af4:1000), legacy I/O BAR */
};

enum nic_rxmode {
	NIC_RX_NORMAL,		/* own unicast, broadcast, multicast list */
	NIC_RX_PROMISC,		/* everything */
	NIC_RX_ALLMULTI,	/* normal plus every multicast */
};

enum nic_irq {
	NIC_IRQ_OFF,
	NIC_IRQ_INTX,		/* the function's INTx pin, through the IOAPIC */
	NIC_IRQ_MSIX,		/* MSI-X table entry 0 */
};

/* Results of the configuration operations. */
#define NIC_OK		0
#define NIC_UNSUPPORTED	(-1)	/* the device cannot do it */
#define NIC_FAILED	(-2)	/* the device refused or did not answer */

struct nic;

/*
 * What a driver provides.  Everything runs in ring 3 except irq_ack,
 * which the interrupt handler calls in ring 0.
 */
struct nic_ops {
	/* Queue a frame (len <= ETH_HLEN + mtu_max) without telling the
	 * device; false when the ring is full even after taking back what
	 * the device has finished. */
	bool (*tx)(struct nic *n, const void *frame, unsigned len);
	/* Tell the device about everything queued (at most one exit). */
	void (*tx_kick)(struct nic *n);
	/* Take back finished frames; return how many are still queued. */
	unsigned (*tx_busy)(struct nic *n);
	/* The next received frame, valid until the next call, or NULL.  The
	 * call gives the previous frame's buffers back; with nothing new it
	 * also tells the device about all buffers given back so far. */
	const uint8_t *(*rx)(struct nic *n, unsigned *len);
	bool (*link)(struct nic *n);
	int (*set_mac)(struct nic *n, const uint8_t mac[ETH_ALEN]);
	/* Apply n->rxmode and n->mcast. */
	int (*set_filter)(struct nic *n);
	/* n->mtu_max is already checked. */
	int (*set_mtu)(struct nic *n, unsigned mtu);
	/* Device side of interrupts: clear stale causes, then raise an
	 * interrupt for received frames on the given path, or stop. */
	int (*irq_on)(struct nic *n, enum nic_irq kind);
	void (*irq_off)(struct nic *n);
	/* Ring 0, INTx: did this NIC interrupt?  Acknowledges it.  Called
	 * for every NIC on the line, also those not in interrupt mode. */
	bool (*irq_ack)(struct nic *n);
	/* After the frames an interrupt announced are taken: ask for the
	 * next one (virtio's event index); may be NULL. */
	void (*irq_rearm)(struct nic *n);
};

struct nic {
	const struct nic_ops *ops;	/* NULL: the driver failed at boot */
	struct pci_dev *pci;
	enum nic_model model;
	unsigned index;
	unsigned gsi;			/* where INTx arrives (pci_intx_gsi) */
	uint8_t mac[ETH_ALEN];		/* current station address */
	unsigned mtu, mtu_max;		/* frames up to ETH_HLEN + mtu */
	enum nic_rxmode rxmode;
	unsigned nmcast;
	uint8_t mcast[NIC_MCAST_MAX][ETH_ALEN];
	void *priv;			/* the driver's state */

	uint64_t tx, rx;		/* frames sent and received */
	uint64_t rx_bad, rx_other;	/* counted by the commands */
	volatile uint64_t irqs;		/* counted by the ring-0 handler */
	uint64_t notifies;		/* virtio queue notifications written (0 on
					 * the other models) */
	volatile enum nic_irq irq_kind;
};

extern struct nic nics[NIC_MAX];
extern unsigned nic_count;

void nic_init_all(void);
/* Reset n and bring it up again as at boot, its driver's own reset first
 * (rtl8139 CR.RST, e1000 CTRL.RST, virtio status 0): MAC read from the
 * device, MTU 1500, receive mode normal, no multicast group, new rings.
 * False (n->ops NULL) if the bring-up failed. */
bool nic_reset(struct nic *n);
const char *nic_model_name(const struct nic *n);
/* The model a <model> word of PROTOCOL.md names; false for none (net.c). */
bool nic_model_by_name(const char *name, enum nic_model *model);

/* nic_send waits for room (bounded: false after about a second of the
 * device taking nothing back); nic_drain waits until the device has
 * finished every frame.  Both keep n->tx; nic_recv keeps n->rx. */
bool nic_send(struct nic *n, const void *frame, unsigned len);
void nic_kick(struct nic *n);
bool nic_drain(struct nic *n);
const uint8_t *nic_recv(struct nic *n, unsigned *len);

/* Driver entry points, called by nic_init_all(): fill n (ops, mac,
 * mtu_max, priv) and return true, or leave n->ops NULL. */
bool rtl8139_init(struct nic *n);
bool e1000_init(struct nic *n);
bool virtio_net_init(struct nic *n);

/* Hash helpers for multicast filters: the big-endian CRC-32 of a MAC
 * (rtl8139 uses its top 6 bits). */
uint32_t ether_crc_be(const uint8_t mac[ETH_ALEN]);

/* About a second of TSC cycles at the clock rates this runs on. */
#define NIC_TIMEOUT_TSC	(3ull << 30)

#endif
