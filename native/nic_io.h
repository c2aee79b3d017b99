/*
 * nic_io: the datapath every NIC model shares.
 *
 * A model's C state embeds a struct nic_core. The core owns the device thread's waiting
 * (nic_run: the backend fd and a wake eventfd), the one frame held back while the guest has
 * no room for it, bounds-checked DMA into guest RAM, sends to the backend, the counters and
 * the fault switches. The model gives three callbacks (struct nic_ops) and keeps its
 * registers beside the core; Python reads and writes both under the core's lock
 * (nic_lock/nic_unlock), the device thread holds the same lock while it delivers frames.
 *
 * Interrupts: the model's C code sets core->irq_level (the INTx level it wants) or bits in
 * core->attention; nic_run returns NIC_RUN_ATTENTION whenever either differs from what
 * Python last acted on (irq_line, attention cleared), and Python drives the line.
 *
 * Functions return 0 (or a count) or -errno, as everywhere in native/.
 */
#ifndef KVMNET_NIC_IO_H
#define KVMNET_NIC_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct kvmnet_coalesced;

/* cffi: begin */
/* Fault switches (test only): what the model does wrong when the bit is set in core->faults. */
#define NIC_FAULT_FILTER_BUG 0x1     /* the unicast filter accepts any destination */
#define NIC_FAULT_LOSE_DESCRIPTOR 0x2 /* one TX descriptor in 100 completes unsent */
#define NIC_FAULT_CORRUPT_RX 0x4     /* one payload byte of each received frame flipped */
#define NIC_FAULT_PAD_GARBAGE 0x8    /* a short frame is padded with whatever the buffer
					held, not zeros (e1000 with PSP, rtl8139) */
#define NIC_FAULT_NO_PAD 0x10        /* e1000 ignores TCTL.PSP: short frames go out short */
#define NIC_FAULT_MTA_BITS 0x20      /* e1000 hashes multicast with the next RCTL.MO's bits */
#define NIC_FAULT_BAD_TX_CSUM 0x100 /* the TCP/UDP checksum a guest left to the device is
					wrong on the wire (e1000: inserted off by one;
					virtio-net: the request dropped from the header) */
#define NIC_FAULT_TSO_OVER_MSS 0x200 /* e1000's TCP segmentation cuts one byte past the MSS */
#define NIC_FAULT_RX_CSUM_TRUSTED 0x400 /* every received frame is marked checksum-verified
					(e1000 TCPCS, virtio-net DATA_VALID), unchecked */
/* virtio-net's, read by Python alone (kvmnet/devices/virtio_vhost.py, virtio_pci.py): */
#define NIC_FAULT_NO_IOEVENTFD 0x40  /* TX kicks are not caught by KVM: each exits */
#define NIC_FAULT_BAD_VRING_ADDR 0x80 /* vhost is told a descriptor table one page off */

/* What nic_run returned for. */
#define NIC_RUN_STOP 0
#define NIC_RUN_ATTENTION 1

/* What a model's rx_frame returns. */
#define NIC_RX_DONE 0  /* delivered, or dropped and counted */
#define NIC_RX_RETRY 1 /* no room in the guest now: hold the frame, offer it again later */

struct nic_counters {
	uint64_t tx_frames;     /* frames handed to the backend */
	uint64_t tx_bytes;
	uint64_t tx_errors;     /* frames the guest queued that were not sent (bad DMA, size, backend) */
	uint64_t tx_lost;       /* frames the lose_descriptor fault completed unsent */
	uint64_t tx_blocked;    /* times the backend was full and TX waited for room */
	uint64_t rx_frames;     /* frames delivered to the guest */
	uint64_t rx_bytes;
	uint64_t rx_filtered;   /* frames the address filter rejected */
	uint64_t rx_no_buffer;  /* frames that found no room and were held until the guest made some */
	uint64_t rx_dropped;    /* frames dropped for another reason: RX off, too long, bad DMA */
	uint64_t rx_corrupted;  /* frames the corrupt_rx fault altered */
	uint64_t dma_errors;    /* guest addresses outside RAM (descriptor rings and buffers) */
	uint64_t backend_errors; /* backend read/write failures other than "try again" */
	uint64_t irqs_raised;   /* interrupts signalled: INTx rising edges (counted by Python) */
	uint64_t rx_deferred;   /* times RX left the backend alone for a driver busy enough */
	uint64_t ring_errors;   /* malformed descriptor rings, each of which stopped its queue
				   (virtio-net: the driver is asked to reset) */
};

struct nic_private;

struct nic_core {
	int backend_fd;
	int wake_fd;            /* eventfd: nic_kick() wakes nic_run() */
	uint32_t vnet_hdr_size; /* bytes of virtio-net header before each frame on the backend */
	uint8_t mac[6];         /* the permanent address (EEPROM / IDR default) */
	uint8_t *ram;           /* guest RAM at guest-physical 0, ram_size bytes (0: no DMA) */
	uint64_t ram_size;
	uint32_t faults;        /* NIC_FAULT_* */
	uint32_t irq_level;     /* the INTx level the model wants (set by model code) */
	uint32_t irq_line;      /* the level Python last put on the line */
	uint32_t attention;     /* model-defined bits that ask Python to act (e.g. MSI-X vectors) */
	uint32_t stopping;      /* nic_run returns NIC_RUN_STOP once set (under the lock) */
	uint32_t tx_blocked;    /* a send found the backend full: nic_run waits for POLLOUT */
	uint32_t tx_count;      /* TX descriptors seen, for the lose_descriptor fault */
	uint32_t rx_reoffer;    /* set while rx_frame sees a frame it refused (RETRY) before */
	uint32_t rx_deferring;  /* nic_run waits for the driver to return buffers, not the backend */
	uint32_t rx_defer_ok;   /* cleared when a deferral saw no return in time; set by nic_rx_room */
	int32_t defer_ms;       /* how long a deferral waits (nic_core_init: NIC_RX_DEFER_MS; 0: off) */
	uint32_t rx_budget;     /* frames delivered per lock hold (nic_core_init: NIC_RX_BUDGET) */
	/* The VM's coalesced ring where the model's buffer returns (RDT) are a zone: nic_run
	   drains it before it waits for a return, and every NIC_RING_POLL_MS while it waits. */
	struct kvmnet_coalesced *coalesced;
	struct nic_counters counters;
	struct nic_private *priv;
};

/* The lock that guards the core and the model state around it. */
void nic_lock(struct nic_core *core);
void nic_unlock(struct nic_core *core);

/* Drop the frame held for want of room, if any (a device reset, or rings taken away);
   under the lock. 1 if there was one. */
int nic_rx_drop_held(struct nic_core *core);

/* Wake nic_run (the guest returned buffers, or the core is stopping). */
int nic_kick(struct nic_core *core);

/*
 * The guest returned receive buffers (RDT, CAPR); under the lock. Wakes nic_run only if it
 * holds a frame for want of room, or defers to the driver (see nic_ops.rx_driver_busy):
 * otherwise it is not waiting for room, and the next frame it reads (under the same lock)
 * finds the room by itself. 0 or -errno.
 */
int nic_rx_room(struct nic_core *core);

/*
 * The device thread's body: wait on the backend and the wake eventfd, and deliver frames
 * with the model's rx_frame, until stopping (NIC_RUN_STOP) or until Python must act
 * (NIC_RUN_ATTENTION). Called without the lock; takes it while it works.
 */
long nic_run(struct nic_core *core);

/* Release what nic_core_init made (the eventfd, the held-frame buffer). Idempotent. */
void nic_core_destroy(struct nic_core *core);

/*
 * CRC-32 (IEEE 802.3 polynomial) of data as Linux's ether_crc(): started at all-ones, not
 * inverted at the end, bit 31 the first-shifted bit. Hash filters take its top bits
 * (RTL8139: ether_crc >> 26). The FCS is ~bitrev32(nic_ether_crc()).
 */
uint32_t nic_ether_crc(const uint8_t *data, size_t len);
/* cffi: end */

/* The IEEE 802.3 FCS of a frame (without FCS), in the byte order it follows the frame. */
void nic_fcs(const uint8_t *frame, size_t len, uint8_t fcs[4]);

/* The 16-bit ones' complement sum of data, folded (not inverted), starting from sum. */
uint32_t nic_csum_add(uint32_t sum, const uint8_t *data, size_t len);

struct nic_ops {
	/* Offer one frame (as read from the backend, vnet header included): NIC_RX_*. */
	int (*rx_frame)(struct nic_core *core, const uint8_t *frame, size_t len);
	/* The backend has room again after a send returned -EAGAIN. */
	void (*tx_resume)(struct nic_core *core);
	/*
	 * Optional, for RX deferral: true if the driver holds so many filled buffers that it
	 * will give some back (nic_rx_room) before it runs out of frames. nic_run then leaves
	 * the backend alone until it does, instead of waking for each frame the backend gets
	 * (on a busy host, preempting the frames' sender each time), and moves what queued
	 * meanwhile in one go. If nothing comes back within defer_ms, the driver was not busy
	 * after all: RX watches the backend again until the next return.
	 */
	int (*rx_driver_busy)(struct nic_core *core);
	/*
	 * Optional: the driver returned nothing within defer_ms. Without it the core defers no
	 * more until the next nic_rx_room; a model whose returns do not pass through it
	 * (virtio-net: its RX kicks signal wake_fd from KVM) forgets instead what made it defer.
	 */
	void (*rx_defer_expired)(struct nic_core *core);
	/*
	 * Optional: nic_run is done delivering for now (the backend is drained, the budget
	 * spent, or a frame is held: held) and is about to wait. A model that interrupts once
	 * for a batch of frames, not per frame, decides it here (virtio-net: the used ring's
	 * interrupt, and whether it wants the driver's next RX kick). Under the lock.
	 */
	void (*rx_idle)(struct nic_core *core, int held);
};

/* Set the core up for backend_fd (not owned) and ops; 0 or -errno. */
int nic_core_init(struct nic_core *core, const struct nic_ops *ops, int backend_fd,
		  uint32_t vnet_hdr_size);

/*
 * Host address of guest-physical [gpa, gpa + len), or NULL, counting a DMA error, if any
 * byte of it is outside RAM. Every guest address goes through here.
 */
static inline uint8_t *nic_dma(struct nic_core *core, uint64_t gpa, uint64_t len)
{
	if (gpa > core->ram_size || len > core->ram_size - gpa) {
		core->counters.dma_errors++;
		return NULL;
	}
	return core->ram + gpa;
}

/*
 * Send one frame to the backend. 0: sent and counted. -EAGAIN: the backend is full; the
 * frame was not sent, core->tx_blocked is set and nic_run will call tx_resume when there is
 * room: the model keeps the frame's descriptors and stops. Other -errno: the frame is lost
 * (counted as a backend and a TX error).
 */
int nic_send(struct nic_core *core, const struct iovec *iov, int iovcnt);

/* The lose_descriptor fault: true for one TX descriptor in 100 when the fault is on. */
int nic_fault_lose(struct nic_core *core);

/* The corrupt_rx fault: flip one payload byte of frame (len bytes) when the fault is on. */
void nic_fault_corrupt(struct nic_core *core, uint8_t *frame, size_t len);

static inline int nic_is_multicast(const uint8_t *dst)
{
	return dst[0] & 1;
}

static inline int nic_is_broadcast(const uint8_t *dst)
{
	return (dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xff;
}

#endif
