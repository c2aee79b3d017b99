/* See virtio_net.h. Ring layout and rules: virtio 1.2, 2.7 (split virtqueues) and 5.1. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "virtio_net.h"

#define MAX_CHAIN 64	/* segments in one descriptor chain we gather or scatter */

struct seg {
	unsigned char *p;
	uint32_t len;
};

/* Host pointer for [gpa, gpa+len) in guest RAM, or NULL. Not counted: the rings' own
   addresses are looked at on every pass (ring_ok); buffers go through nic_dma. */
static void *guest_ptr(const struct kvmnet_vnet *n, uint64_t gpa, uint64_t len)
{
	if (gpa > n->core.ram_size || len > n->core.ram_size - gpa)
		return NULL;
	return n->core.ram + gpa;
}

static struct vring_desc *ring_desc(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	return guest_ptr(n, q->desc, (uint64_t)q->size * sizeof(struct vring_desc));
}

static struct vring_avail *ring_avail(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	return guest_ptr(n, q->avail, 6 + 2ull * q->size);	/* with used_event */
}

static struct vring_used *ring_used(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	return guest_ptr(n, q->used, 6 + 8ull * q->size);	/* with avail_event */
}

/* A malformed ring stops its queue (counted); the caller sees q->broken and asks the
   driver for a reset. */
static int broken(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	q->broken = 1;
	n->core.counters.ring_errors++;
	return 0;
}

/* The driver's published avail->idx, read before the entries it covers. */
static uint16_t avail_idx(struct vring_avail *a)
{
	return __atomic_load_n(&a->idx, __ATOMIC_ACQUIRE);
}

/*
 * avail->idx into *end, or -EFAULT if it is more than size entries past last_avail: the
 * ring has size slots, and an index that jumped further would have the device take the
 * same slots again and again, up to 65535 chains at a time (a fuzzed driver's kicks).
 */
static int avail_end(struct kvmnet_vring *q, struct vring_avail *a, uint16_t *end)
{
	*end = avail_idx(a);
	return (uint16_t)(*end - q->last_avail) > q->size ? -EFAULT : 0;
}

/*
 * The segments of the chain starting at head, the device-readable ones first (a readable
 * one after a writable one is malformed: virtio 1.2, 2.7.4.2), and in *readable how many
 * of them are readable. Returns the segment count, or -EFAULT for a malformed chain.
 */
static int walk_segments(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t head,
			 struct seg *segs, int *readable)
{
	struct vring_desc *desc = ring_desc(n, q);
	uint16_t i = head;
	int count = 0;

	*readable = 0;
	if (!desc || head >= q->size)
		return -EFAULT;
	for (int steps = 0; steps < q->size; steps++) {
		struct vring_desc *d = &desc[i];
		int writable = (d->flags & VRING_DESC_F_WRITE) != 0;

		if (d->flags & VRING_DESC_F_INDIRECT || count == MAX_CHAIN ||
		    (!writable && *readable != count))
			return -EFAULT;
		segs[count].p = nic_dma(&n->core, d->addr, d->len);
		segs[count].len = d->len;
		if (!segs[count].p)
			return -EFAULT;
		*readable += !writable;
		count++;
		if (!(d->flags & VRING_DESC_F_NEXT))
			return count;
		i = d->next;
		if (i >= q->size)
			return -EFAULT;
	}
	return -EFAULT;	/* a loop */
}

/*
 * The segments of the chain starting at head, all of which the device may read
 * (writable == 0) or all write (writable == 1), and their bytes in *total. Returns their
 * count, or -EFAULT for a malformed chain or one of the other kind.
 */
static int walk_chain(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t head, int writable,
		      struct seg *segs, uint64_t *total)
{
	int readable, count = walk_segments(n, q, head, segs, &readable);

	*total = 0;
	if (count < 0 || readable != (writable ? 0 : count))
		return -EFAULT;
	for (int i = 0; i < count; i++)
		*total += segs[i].len;
	return count;
}

/* Write a used entry without publishing it: a frame spread over several chains must
   appear to the driver all at once (flush_used). */
static void fill_used(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t head, uint32_t len)
{
	struct vring_used *used = ring_used(n, q);

	used->ring[q->used_idx % q->size].id = head;
	used->ring[q->used_idx % q->size].len = len;
	q->used_idx++;
}

static void flush_used(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	__atomic_store_n(&ring_used(n, q)->idx, q->used_idx, __ATOMIC_RELEASE);
}

static void put_used(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t head, uint32_t len)
{
	fill_used(n, q, head, len);
	flush_used(n, q);
}

/* Does the driver want an interrupt for what was used since the last decision? */
static int want_interrupt(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	struct vring_avail *avail = ring_avail(n, q);
	uint16_t old = q->signalled, now = q->used_idx;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* used->idx before used_event */
	q->signalled = now;
	if (old == now)
		return 0;
	if (q->event_idx)
		return vring_need_event(avail->ring[q->size], now, old);
	return !(avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
}

/*
 * Ask the driver (EVENT_IDX) to kick once it makes entry `index` available. avail_event
 * is the 16 bits after the used ring's entries (virtio 1.2, 2.7.10): a 32-bit store there
 * wrote 2 bytes past the used ring, past RAM's end for a ring that ends there.
 */
static void ask_kick_at(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t index)
{
	struct vring_used *used = ring_used(n, q);

	if (used && q->event_idx)
		__atomic_store_n((uint16_t *)&used->ring[q->size], index, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);	/* avail_event before re-reading avail->idx */
}

/*
 * The alignments virtio 1.2, 2.7 requires (descriptors 16, available ring 2, used ring 4).
 * A driver may write any address: C must not touch ring structures misaligned (undefined
 * behaviour, and the atomics on idx are no longer single accesses), so such a queue stays
 * idle, as one outside RAM does.
 */
static int ring_aligned(const struct kvmnet_vring *q)
{
	return !(q->desc & 15) && !(q->avail & 1) && !(q->used & 3);
}

static int ring_ok(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	return q->size && !q->broken && ring_aligned(q) && ring_desc(n, q) && ring_avail(n, q) &&
	       ring_used(n, q);
}

/* Copy a chain's readable bytes into buf (at most cap); the byte count, or -EFAULT. */
static long gather(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint16_t head,
		   unsigned char *buf, uint64_t cap)
{
	struct seg segs[MAX_CHAIN];
	uint64_t total, done = 0;
	int count = walk_chain(n, q, head, 0, segs, &total);

	if (count < 0)
		return count;
	if (total > cap)
		return -EMSGSIZE;
	for (int i = 0; i < count; i++) {
		memcpy(buf + done, segs[i].p, segs[i].len);
		done += segs[i].len;
	}
	return done;
}

/*
 * The lose_descriptor fault: one TX chain in 100 (nic_fault_lose), and the chain marked by
 * lose_next_tx, complete unsent (counted in tx_lost).
 */
static int lose(struct kvmnet_vnet *n)
{
	if (n->lose_next_tx && (n->core.faults & NIC_FAULT_LOSE_DESCRIPTOR)) {
		n->lose_next_tx = 0;
		n->core.counters.tx_lost++;
		return 1;
	}
	return nic_fault_lose(&n->core);
}

static long tx_locked(struct kvmnet_vnet *n);

long kvmnet_vnet_tx(struct kvmnet_vnet *n)
{
	long ret;

	nic_lock(&n->core);
	ret = tx_locked(n);
	nic_unlock(&n->core);
	return ret;
}

/*
 * TX: each chain is [virtio_net_hdr][frame] in readable descriptors. It is gathered into
 * tx_buf so that the backend's header (backend_hdr bytes) sits right before the frame.
 */
static long tx_locked(struct kvmnet_vnet *n)
{
	struct kvmnet_vring *q = &n->tx;
	unsigned char *base = n->tx_buf + 12;	/* room to grow the header in front */
	struct vring_avail *avail;
	int irq = 0, full = 0;

	if (!ring_ok(n, q))
		return 0;
	avail = ring_avail(n, q);
	for (;;) {
		uint16_t end;

		if (avail_end(q, avail, &end))
			return broken(n, q);
		while (q->last_avail != end) {
			uint16_t head = avail->ring[q->last_avail % q->size];
			long len = gather(n, q, head, base, n->max_tx + n->guest_hdr);

			if (len < 0 && len != -EMSGSIZE)
				return broken(n, q);
			q->last_avail++;
			if (len < n->guest_hdr + 14) {	/* too long, or no room for an Ethernet header */
				n->core.counters.tx_errors++;
			} else if (!lose(n)) {
				/* The first 10 header bytes mean the same to the backend; num_buffers
				   means nothing on TX. */
				unsigned int backend_hdr = n->core.vnet_hdr_size;
				unsigned char *out = base + n->guest_hdr - backend_hdr;
				size_t frame = len - n->guest_hdr;
				unsigned char hdr[10];

				memcpy(hdr, base, 10);
				if (n->core.faults & NIC_FAULT_BAD_TX_CSUM)
					hdr[0] &= ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
				if (n->core.faults & NIC_FAULT_TSO_OVER_MSS &&
				    hdr[1] != VIRTIO_NET_HDR_GSO_NONE && ++hdr[4] == 0)
					hdr[5]++;	/* gso_size + 1 (little-endian) */
				if (backend_hdr) {
					memcpy(out, hdr, 10);
					memset(out + 10, 0, backend_hdr - 10);
				}
				if (write(n->core.backend_fd, out, frame + backend_hdr) < 0) {
					if (errno == EAGAIN || errno == ENOBUFS) {
						/* The backend is full (a macvtap's socket
						   buffer, say): the chain stays the guest's
						   until it can take the frame. */
						q->last_avail--;
						full = KVMNET_VNET_TX_FULL;
						break;
					}
					n->core.counters.backend_errors++;
					n->core.counters.tx_errors++;
				} else {
					n->core.counters.tx_frames++;
					n->core.counters.tx_bytes += frame;
				}
			}
			put_used(n, q, head, 0);
		}
		if (full)
			break;
		ask_kick_at(n, q, q->last_avail);	/* the next entry after these */
		if (q->last_avail == avail_idx(avail))
			break;
	}
	irq = want_interrupt(n, q);
	return (irq ? KVMNET_VNET_IRQ_TX : 0) | full;
}

static int same_mac(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, 6) == 0;
}

/* Would a frame for this destination pass the RX filter? */
static int accepts(const struct kvmnet_vnet_filter *f, const unsigned char *dst)
{
	static const unsigned char broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	if (f->promisc)
		return 1;
	if (same_mac(dst, broadcast))
		return !f->nobcast;
	if (dst[0] & 1) {
		if (f->nomulti)
			return 0;
		if (f->allmulti)
			return 1;
		for (unsigned int i = 0; i < f->n_multi && i < 64; i++)
			if (same_mac(dst, f->multi[i]))
				return 1;
		return 0;
	}
	if (f->nouni)
		return 0;
	if (f->alluni || same_mac(dst, f->mac))
		return 1;
	for (unsigned int i = 0; i < f->n_uni && i < 64; i++)
		if (same_mac(dst, f->uni[i]))
			return 1;
	return 0;
}

/* Chains from last_avail whose writable room adds up to need bytes; 0 if there are not
   enough (mergeable) or the first is too small (not mergeable), -EFAULT if malformed. */
static int chains_for(struct kvmnet_vnet *n, struct kvmnet_vring *q, uint64_t need)
{
	struct vring_avail *avail = ring_avail(n, q);
	struct seg segs[MAX_CHAIN];
	uint64_t room = 0, total;
	uint16_t end, have;

	if (avail_end(q, avail, &end))
		return -EFAULT;
	have = end - q->last_avail;
	for (uint16_t i = 0; i < have; i++) {
		uint16_t head = avail->ring[(uint16_t)(q->last_avail + i) % q->size];

		if (walk_chain(n, q, head, 1, segs, &total) < 0)
			return -EFAULT;
		room += total;
		if (room >= need)
			return i + 1;
		if (!n->mergeable)
			return -EMSGSIZE;
	}
	return 0;
}

/* Scatter hdr (hdr_len bytes) and then frame (len bytes) into the next `chains` chains, each
   chain's used length set to what it got. */
static void scatter(struct kvmnet_vnet *n, struct kvmnet_vring *q, int chains,
		    const unsigned char *hdr, uint32_t hdr_len, const unsigned char *frame,
		    uint64_t len)
{
	struct vring_avail *avail = ring_avail(n, q);
	const unsigned char *src = hdr;
	uint64_t left = hdr_len;	/* of src; the frame follows the header */
	struct seg segs[MAX_CHAIN];
	uint64_t total;

	for (int c = 0; c < chains; c++) {
		uint16_t head = avail->ring[q->last_avail % q->size];
		int count = walk_chain(n, q, head, 1, segs, &total);
		uint32_t put = 0;

		for (int i = 0; i < count && left; i++) {
			uint32_t done = 0;

			while (done < segs[i].len && left) {
				uint32_t part = segs[i].len - done < left ? segs[i].len - done : left;

				memcpy(segs[i].p + done, src, part);
				src += part;
				left -= part;
				done += part;
				if (!left && src == hdr + hdr_len)
					src = frame, left = len;
			}
			put += done;
		}
		q->last_avail++;
		fill_used(n, q, head, put);
	}
	flush_used(n, q);
}

/*
 * Deliver one frame (as read from the backend: [backend header][frame]): NIC_RX_DONE when
 * done with it (delivered or dropped), NIC_RX_RETRY when it must wait for buffers, -EFAULT
 * for a broken ring.
 */
static int deliver(struct kvmnet_vnet *n, struct kvmnet_vring *q, const uint8_t *datagram,
		   size_t size)
{
	unsigned int backend_hdr = n->core.vnet_hdr_size;
	const unsigned char *frame = datagram + backend_hdr;
	size_t len = size - backend_hdr;
	unsigned char hdr[12] = { 0 };	/* the guest's header: 10 bytes, or 12 */
	int chains;

	if (size < backend_hdr + 14 || len > n->max_frame) {
		n->core.counters.rx_dropped += size >= backend_hdr + 14;
		return NIC_RX_DONE;
	}
	if (!accepts(&n->filter, frame) &&
	    !(n->core.faults & NIC_FAULT_FILTER_BUG && !(frame[0] & 1))) {
		n->core.counters.rx_filtered++;
		return NIC_RX_DONE;
	}
	chains = chains_for(n, q, n->guest_hdr + len);
	if (chains == -EMSGSIZE) {
		n->core.counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	if (chains < 0)
		return chains;
	if (chains == 0)
		return NIC_RX_RETRY;
	/* The first 10 header bytes mean the same to both sides; num_buffers is ours. */
	memcpy(hdr, datagram, backend_hdr < 10 ? backend_hdr : 10);
	if (n->guest_hdr == 12)
		hdr[10] = chains, hdr[11] = chains >> 8;
	if (n->core.faults & NIC_FAULT_RX_CSUM_TRUSTED)
		hdr[0] |= VIRTIO_NET_HDR_F_DATA_VALID;
	if (n->core.faults & NIC_FAULT_CORRUPT_RX) {	/* altered in rx_buf, not the core's copy */
		memcpy(n->rx_buf, frame, len);
		nic_fault_corrupt(&n->core, n->rx_buf, len);
		frame = n->rx_buf;
	}
	scatter(n, q, chains, hdr, n->guest_hdr, frame, len);
	n->core.counters.rx_frames++;
	n->core.counters.rx_bytes += len;
	return NIC_RX_DONE;
}

/* The driver's buffer count as RX deferral estimates it; returns the avail index read. */
static uint16_t note_posted(struct kvmnet_vnet *n, struct kvmnet_vring *q)
{
	uint16_t avail = avail_idx(ring_avail(n, q)), ahead = avail - q->last_avail;

	if (ahead > q->posted)
		q->posted = ahead;
	return avail;
}

/* Signal a call eventfd; -1 when there is none (the caller returns the interrupt). */
static int signal_call(int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return -1;
	return write(fd, &one, sizeof(one)) == sizeof(one) || errno == EAGAIN ? 0 : -1;
}

#define TX_WAIT_MS 200	/* how often the TX thread looks at its stop flag */

long kvmnet_vnet_tx_run(struct kvmnet_vnet *n, int kick_fd, int *stop)
{
	struct pollfd fds[2] = { { .fd = kick_fd, .events = POLLIN },
				 { .fd = n->core.backend_fd, .events = POLLOUT } };
	/* On entry there may be chains a full backend held back before this thread last
	   returned: look once the backend can take a frame, kick or not. */
	int full = 1;
	uint64_t counter;
	long ret;

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		if (poll(fds, full ? 2 : 1, TX_WAIT_MS) < 0 && errno != EINTR)
			return -errno;
		if (fds[0].revents & POLLIN) {
			if (read(kick_fd, &counter, sizeof(counter)) < 0 && errno != EAGAIN)
				return -errno;
		} else if (!(full && (fds[1].revents & POLLOUT))) {
			continue;
		}
		ret = kvmnet_vnet_tx(n);
		if (ret < 0)
			return ret;
		full = ret & KVMNET_VNET_TX_FULL;
		ret &= ~KVMNET_VNET_TX_FULL;
		if (ret && signal_call(n->tx_call_fd) < 0)
			return ret;
	}
	return 0;
}

/*
 * RX, as the core's nic_run drives it (nic_ops): one frame at a time into the RX ring, and
 * once a batch is delivered, one interrupt decision for it. Without a usable ring (none
 * yet, broken, misaligned, outside RAM) a frame waits, held by the core, for the driver's
 * next kick: its activation kicks RX.
 */
static int vnet_rx_frame(struct nic_core *core, const uint8_t *frame, size_t len)
{
	struct kvmnet_vnet *n = (struct kvmnet_vnet *)core;
	struct kvmnet_vring *q = &n->rx;
	int ret;

	if (!ring_ok(n, q))
		return NIC_RX_RETRY;
	note_posted(n, q);	/* before the frame takes buffers: what the driver posted */
	ret = deliver(n, q, frame, len);
	if (ret == NIC_RX_RETRY) {
		/* Too few buffers: ask for a kick at the next one the driver adds (not at
		   last_avail, which it may have passed already), then look again in case it
		   added some in between. */
		ask_kick_at(n, q, avail_idx(ring_avail(n, q)));
		ret = deliver(n, q, frame, len);
	}
	if (ret < 0) {
		broken(n, q);
		core->attention |= KVMNET_VNET_ATTENTION_BROKEN;
		return NIC_RX_RETRY;
	}
	return ret;
}

/* With a frame held, a kick is wanted (asked above); without, the backend wakes RX, and
   kicks for new buffers would be exits for nothing (unless RX defers: vnet_rx_driver_busy
   asks for one). */
static void vnet_rx_idle(struct nic_core *core, int held)
{
	struct kvmnet_vnet *n = (struct kvmnet_vnet *)core;
	struct kvmnet_vring *q = &n->rx;

	if (!ring_ok(n, q))
		return;
	if (!held)
		ask_kick_at(n, q, avail_idx(ring_avail(n, q)) + 0x8000);
	if (want_interrupt(n, q) && signal_call(n->rx_call_fd) < 0)
		core->attention |= KVMNET_VNET_ATTENTION_RX;
}

/*
 * RX deferral. A driver holding at least KVMNET_VNET_RX_DEFER_BACKLOG received frames it
 * has not yet given back has work enough: instead of waking for each frame the backend
 * gets (and preempting the sender on a busy host, a context switch a frame), RX asks the
 * driver to kick once it has given back half of them, and then moves whatever queued in
 * the backend meanwhile in one go. Needs EVENT_IDX to ask. The backlog is the driver's
 * buffer count (the most ever available at once) less those available now; if no kick
 * comes within the core's defer_ms the driver was not busy (its buffer count shrank, or it
 * stopped receiving): RX learns the count again (vnet_rx_defer_expired).
 */
static int vnet_rx_driver_busy(struct nic_core *core)
{
	struct kvmnet_vnet *n = (struct kvmnet_vnet *)core;
	struct kvmnet_vring *q = &n->rx;
	uint16_t avail, backlog, half;

	if (!ring_ok(n, q) || !q->event_idx)
		return 0;
	avail = note_posted(n, q);
	backlog = q->posted - (uint16_t)(avail - q->last_avail);
	if (backlog < KVMNET_VNET_RX_DEFER_BACKLOG)
		return 0;
	half = backlog / 2;
	ask_kick_at(n, q, avail + half);
	if ((uint16_t)(avail_idx(ring_avail(n, q)) - avail) > half) {
		/* It gave them back meanwhile: no kick is coming, and none is wanted. */
		ask_kick_at(n, q, avail_idx(ring_avail(n, q)) + 0x8000);
		return 0;
	}
	return 1;
}

static void vnet_rx_defer_expired(struct nic_core *core)
{
	((struct kvmnet_vnet *)core)->rx.posted = 0;
}

/* TX does not go through nic_send (it keeps its chains while the backend is full, and
   its own thread waits for room), so the core never asks it to resume. */
static void vnet_tx_resume(struct nic_core *core)
{
	(void)core;
}

static const struct nic_ops vnet_ops = {
	.rx_frame = vnet_rx_frame,
	.tx_resume = vnet_tx_resume,
	.rx_driver_busy = vnet_rx_driver_busy,
	.rx_defer_expired = vnet_rx_defer_expired,
	.rx_idle = vnet_rx_idle,
};

int kvmnet_vnet_init(struct kvmnet_vnet *n, int backend_fd, unsigned int backend_hdr)
{
	int ret = nic_core_init(&n->core, &vnet_ops, backend_fd, backend_hdr);

	/* A batch ends when the backend is empty or the driver's buffers run out, with one
	   interrupt decision (vnet_rx_idle), as virtio-net's own RX loop had it; at the
	   core's default of 64 a ring of 256 buffers would take up to four. TX waits for the
	   lock meanwhile, as it waits for a batch of e1000's. */
	n->core.rx_budget = KVMNET_VNET_RX_BUDGET;
	return ret;
}

long kvmnet_vnet_ctrl_take(struct kvmnet_vnet *n, unsigned char *buf, unsigned int cap,
			   unsigned short *head, unsigned int *ack_room)
{
	struct kvmnet_vring *q = &n->ctrl;
	struct seg segs[MAX_CHAIN];
	struct vring_avail *avail;
	int count, readable;
	uint64_t len = 0;
	uint16_t end;

	if (!ring_ok(n, q))
		return -ENOENT;
	avail = ring_avail(n, q);
	if (avail_end(q, avail, &end))
		goto malformed;
	if (q->last_avail == end) {
		ask_kick_at(n, q, q->last_avail);
		if (q->last_avail == avail_idx(avail))
			return -ENOENT;
	}
	*head = avail->ring[q->last_avail % q->size];
	count = walk_segments(n, q, *head, segs, &readable);
	if (count < 0)
		goto malformed;
	q->last_avail++;
	*ack_room = 0;
	for (int i = readable; i < count; i++)
		*ack_room += segs[i].len;
	for (int i = 0; i < readable; i++) {
		if (segs[i].len > cap - len)
			return -EMSGSIZE;
		memcpy(buf + len, segs[i].p, segs[i].len);
		len += segs[i].len;
	}
	return len;
malformed:
	broken(n, q);
	return -EFAULT;
}

int kvmnet_vnet_ctrl_put(struct kvmnet_vnet *n, unsigned short head, unsigned char ack)
{
	struct kvmnet_vring *q = &n->ctrl;
	struct seg segs[MAX_CHAIN];
	int count, readable;
	uint32_t put = 0;

	if (!ring_ok(n, q))
		return -EFAULT;
	count = walk_segments(n, q, head, segs, &readable);
	if (count < 0)
		goto malformed;
	if (readable < count && segs[readable].len) {
		segs[readable].p[0] = ack;
		put = 1;
	}
	put_used(n, q, head, put);
	return 0;
malformed:
	broken(n, q);
	return -EFAULT;
}
