/*
 * virtio-net's datapath: split virtqueues walked in C, frames moved between guest memory
 * and the backend fd (a tap, one frame per read/write) with the virtio-net header converted
 * between the guest's size and the backend's.
 *
 * Python (kvmnet/devices/virtio_net.py) owns the device's registers and configuration and
 * fills struct kvmnet_vnet; these functions only walk rings. Every guest address is checked
 * against guest RAM: a bad one stops that queue, never the VMM.
 * Return values: a mask of KVMNET_VNET_IRQ_* (which queues want an interrupt), or -errno.
 * A malformed ring counts in ring_errors, outside guest RAM in dma_errors too.
 */
#ifndef KVMNET_VIRTIO_NET_H
#define KVMNET_VIRTIO_NET_H

#include "nic_io.h"

/* cffi: begin */
struct kvmnet_vring {
	unsigned long long desc, avail, used;	/* guest-physical addresses of the three parts */
	unsigned short size;			/* entries; 0 = queue not enabled */
	unsigned short last_avail;		/* next available entry the device takes */
	unsigned short used_idx;		/* the device's copy of used->idx */
	unsigned short signalled;		/* used_idx at the last interrupt (EVENT_IDX) */
	unsigned char event_idx;		/* VIRTIO_RING_F_EVENT_IDX negotiated */
	unsigned char broken;			/* a bad descriptor was seen: queue stopped */
	unsigned short posted;			/* RX: most entries ever available at once,
						   taken as the driver's buffer count */
};

struct kvmnet_vnet_filter {
	unsigned char mac[6];
	unsigned char promisc, allmulti, alluni, nomulti, nouni, nobcast;
	unsigned int n_uni, n_multi;
	unsigned char uni[64][6], multi[64][6];
};

/*
 * The device's state. What every NIC model shares is its struct nic_core (native/nic_io.h):
 * the backend fd and its vnet header size, guest RAM, the fault switches (NIC_FAULT_*),
 * the counters, the lock that guards all of this state, RX deferral's wait (defer_ms) and
 * the RX thread's wake eventfd (the driver's RX kicks and stop requests). RX runs on the
 * core's nic_run with virtio-net's nic_ops (set up by kvmnet_vnet_init): the core reads the
 * backend, holds a frame that finds no buffers and defers to a busy driver; virtio-net
 * walks the ring and decides one interrupt per batch. TX has its own loop below: it waits
 * on its own kick eventfd, and keeps its chains in the ring while the backend is full.
 */
struct kvmnet_vnet {
	struct nic_core core;
	int guest_hdr;		/* virtio_net_hdr size the driver uses: 10, or 12 */
	int mergeable;		/* VIRTIO_NET_F_MRG_RXBUF negotiated */
	unsigned int max_frame;	/* longest frame the device takes or gives */
	unsigned int max_tx;	/* longest frame the driver may send: max_frame, or a TSO
				   frame's 64 KiB when HOST_TSO4/6 was negotiated */
	unsigned int lose_next_tx;	/* the lose_descriptor fault loses the next TX chain too
					   (set when the VMM takes its rings back from vhost) */
	unsigned char *rx_buf;	/* each holds one frame and its headers: max_frame + 32 bytes; */
	unsigned char *tx_buf;	/* max_tx + 32 bytes. RX (the corrupt_rx fault's altered
				   copy) and TX run on different threads, so one each */
	struct kvmnet_vring rx, tx, ctrl;	/* ctrl: the vCPU thread's alone */
	struct kvmnet_vnet_filter filter;
	int rx_call_fd, tx_call_fd;	/* eventfds the run loops signal for an interrupt
					   (an irqfd, or the VMM's call watcher); -1: return it */
};

#define KVMNET_VNET_IRQ_RX 1
#define KVMNET_VNET_IRQ_TX 2
#define KVMNET_VNET_TX_FULL 4	/* kvmnet_vnet_tx stopped at a full backend, chains left */
#define KVMNET_VNET_RX_DEFER_BACKLOG 16	/* frames a driver holds that make RX defer */
#define KVMNET_VNET_RX_BUDGET 256	/* frames per lock hold: the largest ring's worth */
/* Bits of core.attention: what makes nic_run return to Python (NIC_RUN_ATTENTION). */
#define KVMNET_VNET_ATTENTION_RX 1	/* an RX interrupt, with no rx_call_fd to signal */
#define KVMNET_VNET_ATTENTION_BROKEN 2	/* the RX ring is malformed: the driver must reset */

/* Take every available TX chain, send its frame to the backend, return the chain (takes
   the mutex). A backend that is full (EAGAIN) leaves the rest of the chains in the ring,
   and adds KVMNET_VNET_TX_FULL: kvmnet_vnet_tx_run sends them once it can. */
long kvmnet_vnet_tx(struct kvmnet_vnet *n);

/* Set the core up for backend_fd (not owned; backend_hdr vnet header bytes on it: 0, 10
   or 12) with virtio-net's nic_ops; nic_core_destroy releases it. Python takes the core's
   lock (nic_lock) around any change of configuration: queues, features, filter. 0 or
   -errno. */
int kvmnet_vnet_init(struct kvmnet_vnet *n, int backend_fd, unsigned int backend_hdr);

/*
 * The TX device thread's body, for kicks that KVM turns into eventfd signals (an ioeventfd
 * on the notify address: no exit to the VMM): wait for kick_fd, send what the driver queued.
 * Loops in C until the driver wants an interrupt and tx_call_fd is -1 (returns
 * KVMNET_VNET_IRQ_TX) or *stop is set (returns 0).
 *
 * RX (nic_run) and TX signal their queue's call eventfd (rx_call_fd, tx_call_fd) when it
 * is set, so an interrupt never passes through Python.
 */
long kvmnet_vnet_tx_run(struct kvmnet_vnet *n, int kick_fd, int *stop);

/*
 * The control queue (virtio 1.2, 5.1.6.5): its few commands are decided in Python, its
 * ring walked here, on the vCPU thread (not under the mutex: no other thread touches it).
 * kvmnet_vnet_ctrl_take takes the next available chain: its readable bytes (the class,
 * the command and its data) are copied to buf, *head is the chain to answer, *ack_room the
 * bytes the driver left for the answer. Returns the byte count; -ENOENT when there is no
 * chain (having asked, with EVENT_IDX, for a kick at the next); -EMSGSIZE for a command
 * longer than cap (taken: answer it with an error); -EFAULT for a malformed ring (stopped,
 * as the RX and TX rings are: ctrl.broken is set).
 */
long kvmnet_vnet_ctrl_take(struct kvmnet_vnet *n, unsigned char *buf, unsigned int cap,
			   unsigned short *head, unsigned int *ack_room);

/* Answer chain head with ack (in its first writable byte, if it has one) and return it to
   the driver: 0, or -EFAULT for a malformed ring. */
int kvmnet_vnet_ctrl_put(struct kvmnet_vnet *n, unsigned short head, unsigned char ack);

/* cffi: end */

#endif
