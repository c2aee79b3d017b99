/*
 * virtio_ring.h - split virtqueues (virtio 1.x section 2.7), the driver
 * side: descriptor table, available ring and used ring in one block laid
 * out as legacy devices require (used ring on the next 4 KiB boundary),
 * which modern devices accept as well.
 *
 * Drivers pre-link their descriptor chains once and afterwards only put
 * chain heads in the available ring: vring_add() stages one, vring_publish()
 * makes everything staged visible to the device, and vring_should_kick()
 * says whether the device asked to be notified of it (event index, or
 * the used ring's NO_NOTIFY flag), so most batches cost no exit at all.
 */
#ifndef VIRTIO_RING_H
#define VIRTIO_RING_H

#include <stdbool.h>
#include <stdint.h>

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY	1
#define VRING_ALIGN		4096

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* num entries, then used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];	/* num entries, then avail_event */
};

struct vring {
	unsigned index;		/* queue number */
	unsigned num;		/* queue size, a power of two */
	bool event_idx;		/* VIRTIO_F_RING_EVENT_IDX negotiated */
	volatile struct vring_desc *desc;
	volatile struct vring_avail *avail;
	volatile struct vring_used *used;
	uint16_t avail_idx;	/* next available slot (staged) */
	uint16_t kicked_idx;	/* avail idx when the device was last told */
	uint16_t last_used;	/* next used entry to read */
	uintptr_t notify;	/* modern: the queue's notify register */
};

/* Allocate and zero the rings for a queue of num entries (interrupts
 * suppressed); false when memory runs out. */
bool vring_alloc(struct vring *r, unsigned index, unsigned num, bool event_idx);

void vring_add(struct vring *r, uint16_t head);
void vring_publish(struct vring *r);
bool vring_should_kick(struct vring *r);

/* The next used element, or false if the device has returned nothing. */
bool vring_get_used(struct vring *r, uint32_t *id, uint32_t *len);

/* Ask for a used-buffer notification for the next buffer the device
 * returns (on), or for as few as possible (off). */
void vring_interrupts(struct vring *r, bool on);

#endif
