/* virtio_ring.c - split virtqueue bookkeeping; see virtio_ring.h. */
#include "virtio_ring.h"
#include "cpu.h"
#include "dma.h"

static uintptr_t align_up(uintptr_t v, uintptr_t a)
{
	return (v + a - 1) & ~(a - 1);
}

bool vring_alloc(struct vring *r, unsigned index, unsigned num, bool event_idx)
{
	uintptr_t avail_at = 16 * num;
	uintptr_t used_at = align_up(avail_at + 6 + 2 * num, VRING_ALIGN);
	uint8_t *mem = dma_alloc(used_at + align_up(6 + 8 * num, VRING_ALIGN),
				 VRING_ALIGN);

	if (!mem)
		return false;
	r->index = index;
	r->num = num;
	r->event_idx = event_idx;
	r->desc = (volatile struct vring_desc *)mem;
	r->avail = (volatile struct vring_avail *)(mem + avail_at);
	r->used = (volatile struct vring_used *)(mem + used_at);
	r->avail_idx = r->kicked_idx = r->last_used = 0;
	vring_interrupts(r, false);
	return true;
}

void vring_add(struct vring *r, uint16_t head)
{
	r->avail->ring[r->avail_idx & (r->num - 1)] = head;
	r->avail_idx++;
}

void vring_publish(struct vring *r)
{
	barrier();		/* descriptors and ring entries first */
	r->avail->idx = r->avail_idx;
}

/* The device's avail_event, just past the used ring's entries. */
static uint16_t avail_event(const struct vring *r)
{
	const volatile uint8_t *at = (const volatile uint8_t *)r->used;

	return *(const volatile uint16_t *)(at + 4 + 8 * r->num);
}

/* virtio's vring_need_event(): has the index moved past the event? */
static bool need_event(uint16_t event, uint16_t now, uint16_t before)
{
	return (uint16_t)(now - event - 1) < (uint16_t)(now - before);
}

bool vring_should_kick(struct vring *r)
{
	uint16_t before = r->kicked_idx;
	bool kick;

	if (r->avail_idx == before)
		return false;
	fence();		/* our idx store before reading the device's */
	if (r->event_idx)
		kick = need_event(avail_event(r), r->avail_idx, before);
	else
		kick = !(r->used->flags & VRING_USED_F_NO_NOTIFY);
	r->kicked_idx = r->avail_idx;
	return kick;
}

bool vring_get_used(struct vring *r, uint32_t *id, uint32_t *len)
{
	volatile struct vring_used_elem *e;

	if (r->used->idx == r->last_used)
		return false;
	barrier();		/* the index first, then the element */
	e = &r->used->ring[r->last_used & (r->num - 1)];
	*id = e->id;
	*len = e->len;
	r->last_used++;
	return true;
}

void vring_interrupts(struct vring *r, bool on)
{
	volatile uint16_t *used_event = &r->avail->ring[r->num];

	if (on) {
		r->avail->flags = 0;
		*used_event = r->last_used;
	} else {
		r->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
		*used_event = (uint16_t)(r->last_used - 1);
	}
	fence();	/* visible before we look at the used ring again */
}
