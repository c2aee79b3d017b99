/*
 * fuzz_virtio_net: a libFuzzer harness for virtio-net's C datapath (native/virtio_net.c).
 *
 * It drives what a hostile driver and the host around it can: the state
 * kvmnet/devices/virtio_net.py writes when the driver sets DRIVER_OK (features, and each
 * ring's size and three addresses, modern or legacy layout) or resets the device; the
 * RX filter the control queue sets; the control queue's ring, its commands answered;
 * descriptors, available rings with indexes that jump,
 * and any other bytes in guest RAM; TX kicks (kvmnet_vnet_tx, as the vCPU thread calls
 * it); frames arriving on the backend; turns of the RX and TX device threads
 * (the core's nic_run, kvmnet_vnet_tx_run); and the network taking what was sent.
 *
 * Input: one configuration byte (bits 0-1 the backend's vnet header size, bit 2 a
 * SOCK_SEQPACKET backend, bits 3-5 the fault switches, bit 6 interrupts signalled on call
 * eventfds rather than returned, bit 7 an MTU of 9000 rather than 1500), then operations
 * (enum op): an opcode byte and its operands. tests/fuzz/seeds.py writes seeds in this
 * format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <linux/virtio_ring.h>

#include "virtio_net.h"
#include "fuzz.h"

#define RUN_TURNS 8	 /* loop calls in one device-thread turn: each returns per interrupt */
#define QUEUE_MAX 256	 /* virtio_pci.py's: sizes are powers of two up to it */
#define LEGACY_PAGE 4096
#define ETH_HEADER 14

/* Operations are only ever appended: an opcode is its byte modulo OP_COUNT, so inputs the
   fuzzer found mean other things after a change (regression seeds come from seeds.py). */
enum op {
	OP_ACTIVATE,	/* DRIVER_OK: features, then each ring's layout (RX, TX) */
	OP_RESET,	/* status 0 */
	OP_DESC,	/* a descriptor: ring, index, address, length, flags, next */
	OP_POST,	/* a chain made available: ring, head (avail->idx moves by one) */
	OP_AVAIL_IDX,	/* avail->idx set outright: ring, index */
	OP_AVAIL_FLAGS,	/* avail->flags and used_event: ring, flags, event */
	OP_POKE,	/* guest RAM write: address, length, bytes */
	OP_KICK_TX,	/* the driver notifies TX and it exits (virtio_net.py's notify) */
	OP_KICK_RX,	/* the driver notifies RX: the RX thread's wake eventfd */
	OP_RUN_RX,	/* a turn of the RX thread */
	OP_RUN_TX,	/* a turn of the TX thread (kicks caught by an ioeventfd) */
	OP_FRAME,	/* a frame arrives on the backend (fuzz_backend_frame) */
	OP_DRAIN,	/* the network takes what was sent */
	OP_FILTER,	/* a control-queue command: promiscuous, all-multicast, MAC, tables */
	OP_CTRL_LAYOUT,	/* the control queue's layout, as DRIVER_OK sets it */
	OP_KICK_CTRL,	/* the driver notifies the control queue (virtio_net.py's _control) */
	OP_COUNT
};

static const int vnet_hdr_sizes[] = { 0, 10, 12, 0 };
static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct rig {
	struct kvmnet_vnet *n;
	struct fuzz_backend backend;
	int wake, tx_kick;	/* the RX and TX threads' eventfds (wake: the core's) */
	int calls[2];		/* the call eventfds, or -1 */
	int stop;		/* the TX thread's stop flag */
};

/* sel: odd TX, 2 modulo 4 the control queue, else RX. */
static struct kvmnet_vring *ring(struct rig *rig, uint8_t sel)
{
	if ((sel & 3) == 2)
		return &rig->n->ctrl;
	return sel & 1 ? &rig->n->tx : &rig->n->rx;
}

/* virtio_net.py's reset(): both rings and the filter cleared, no frame held. */
static void reset(struct kvmnet_vnet *n)
{
	nic_lock(&n->core);
	memset(&n->rx, 0, sizeof(n->rx));
	memset(&n->tx, 0, sizeof(n->tx));
	memset(&n->ctrl, 0, sizeof(n->ctrl));
	memset(&n->filter, 0, sizeof(n->filter));
	memcpy(n->filter.mac, mac, 6);
	nic_rx_drop_held(&n->core);
	nic_unlock(&n->core);
}

/* A queue as the transport left it: modern (three addresses) or legacy (one page frame). */
static void layout(struct kvmnet_vring *q, struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	unsigned size = 1u << (how >> 2 & 15) % 9;

	if (how & 1) { /* virtio_pci.py's _legacy_queue_address */
		uint64_t pfn = fuzz_u32(in);

		q->desc = pfn * LEGACY_PAGE;
		q->avail = q->desc + 16 * size;
		q->used = (q->avail + 6 + 2 * size + LEGACY_PAGE - 1) & ~(LEGACY_PAGE - 1ull);
		q->size = pfn ? size : 0;
	} else {
		q->desc = fuzz_addr(in);
		q->avail = fuzz_addr(in);
		q->used = fuzz_addr(in);
		q->size = how & 2 ? size : 0; /* queue_enable */
	}
}

/* virtio_net.py's activate(): features, then the rings. */
static void op_activate(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vnet *n = rig->n;
	uint8_t features = fuzz_u8(in);

	nic_lock(&n->core);
	n->mergeable = features & 1;
	n->guest_hdr = (features & 4) || n->mergeable ? 12 : 10; /* VERSION_1 or MRG_RXBUF */
	n->rx.event_idx = n->tx.event_idx = (features & 2) != 0;
	layout(&n->rx, in);
	layout(&n->tx, in);
	nic_unlock(&n->core);
	eventfd_write(rig->wake, 1); /* notify(RX) */
}

/* The RX or TX queue's size, or 1 for a queue not enabled. */
static unsigned slots(struct kvmnet_vring *q)
{
	return q->size ? q->size : 1;
}

static void put_le(uint8_t *p, uint64_t v, unsigned bytes)
{
	unsigned i;

	for (i = 0; i < bytes; i++)
		p[i] = v >> 8 * i;
}

static uint16_t get_le16(uint64_t gpa)
{
	uint8_t *ram = fuzz_ram();

	return gpa < FUZZ_RAM_SIZE - 1 ? ram[gpa] | ram[gpa + 1] << 8 : 0;
}

static void op_desc(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vring *q = ring(rig, fuzz_u8(in));
	unsigned index = fuzz_u16(in) % slots(q);
	uint8_t desc[16];

	put_le(desc, fuzz_addr(in), 8);
	put_le(desc + 8, fuzz_value(in), 4);
	put_le(desc + 12, fuzz_u16(in), 2);
	put_le(desc + 14, fuzz_u16(in), 2);
	fuzz_poke(q->desc + 16 * index, desc, 16);
}

/* The driver's side of making a chain available: ring[idx % size] = head, then idx + 1. */
static void op_post(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vring *q = ring(rig, fuzz_u8(in));
	uint16_t idx = get_le16(q->avail + 2);
	uint8_t v[2];

	put_le(v, fuzz_u16(in), 2);
	fuzz_poke(q->avail + 4 + 2 * (idx % slots(q)), v, 2);
	put_le(v, idx + 1, 2);
	fuzz_poke(q->avail + 2, v, 2);
}

static void op_avail_idx(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vring *q = ring(rig, fuzz_u8(in));
	uint8_t v[2];

	put_le(v, fuzz_u16(in), 2);
	fuzz_poke(q->avail + 2, v, 2);
}

static void op_avail_flags(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vring *q = ring(rig, fuzz_u8(in));
	uint8_t v[2];

	put_le(v, fuzz_u16(in), 2);
	fuzz_poke(q->avail, v, 2);
	put_le(v, fuzz_u16(in), 2);
	fuzz_poke(q->avail + 4 + 2 * (uint64_t)q->size, v, 2); /* used_event */
}

static void op_poke(struct fuzz_input *in)
{
	uint64_t gpa = fuzz_addr(in);
	uint8_t bytes[256];
	size_t len = fuzz_bytes(in, bytes, fuzz_u8(in));

	fuzz_poke(gpa, bytes, len);
}

/* virtio_net.py's _after: a malformed ring is reported to the driver once. */
static void after(struct kvmnet_vring *q)
{
	if (q->broken == 1)
		q->broken = 2;
}

/* virtio_net.py's notify(TX): send on the vCPU thread; a full backend wakes the TX thread. */
static void op_kick_tx(struct rig *rig)
{
	long ret = kvmnet_vnet_tx(rig->n);

	if (ret > 0 && (ret & KVMNET_VNET_TX_FULL))
		eventfd_write(rig->tx_kick, 1);
	after(&rig->n->tx);
}

static void op_ctrl_layout(struct rig *rig, struct fuzz_input *in)
{
	layout(&rig->n->ctrl, in);
	rig->n->ctrl.event_idx = rig->n->rx.event_idx;
}

/* virtio_net.py's _control: take each command, answer it with an ack from the input. */
static void op_kick_ctrl(struct rig *rig, struct fuzz_input *in)
{
	uint8_t command[64];
	unsigned short head;
	unsigned int room;
	int i;

	for (i = 0; i <= QUEUE_MAX; i++) {
		long got = kvmnet_vnet_ctrl_take(rig->n, command, sizeof(command), &head, &room);

		if (got == -ENOENT || got == -EFAULT ||
		    kvmnet_vnet_ctrl_put(rig->n, head, fuzz_u8(in)) < 0)
			break;
	}
	after(&rig->n->ctrl);
}

/* Any wait a device thread would sleep in ends its turn. */
static void stop_turn(void *arg, int timeout)
{
	*(int *)arg = 1;
}

/* virtio_net.py's attend(): what made nic_run return (the RX interrupt, a broken ring). */
static void attend(void *model)
{
	after(&((struct kvmnet_vnet *)model)->rx);
}

/* A turn of the TX thread (virtio_net.py's _tx_thread), or of the RX thread (nic.py's
   device thread on nic_run, with virtio_net.py's attend): run until the loop would sleep. */
static void op_run(struct rig *rig, int tx)
{
	int i;

	if (!tx) {
		fuzz_nic_turn(&rig->n->core, RUN_TURNS, attend, rig->n);
		return;
	}
	rig->stop = 0;
	fuzz_sleep_hook = stop_turn;
	fuzz_sleep_arg = &rig->stop;
	for (i = 0; i < RUN_TURNS && !rig->stop; i++) {
		kvmnet_vnet_tx_run(rig->n, rig->tx_kick, &rig->stop);
		after(&rig->n->tx);
	}
	fuzz_sleep_hook = NULL;
}

/* virtio_net.py's _command: promiscuous, all-multicast, the MAC, the MAC tables. */
static void op_filter(struct rig *rig, struct fuzz_input *in)
{
	struct kvmnet_vnet_filter *f = &rig->n->filter;
	uint8_t what = fuzz_u8(in);
	unsigned i, count;

	nic_lock(&rig->n->core);
	switch (what & 3) {
	case 0:
		f->promisc = fuzz_u8(in) != 0;
		break;
	case 1:
		f->allmulti = fuzz_u8(in) != 0;
		break;
	case 2:
		fuzz_bytes(in, f->mac, 6);
		break;
	default: /* _mac_tables refuses more than 64 entries */
		count = fuzz_u8(in);
		if (count > 64)
			break;
		f->n_uni = count;
		for (i = 0; i < count; i++)
			fuzz_bytes(in, f->uni[i], 6);
		count = fuzz_u8(in);
		if (count > 64)
			break;
		f->n_multi = count;
		for (i = 0; i < count; i++)
			fuzz_bytes(in, f->multi[i], 6);
		break;
	}
	nic_unlock(&rig->n->core);
}

static void step(struct rig *rig, struct fuzz_input *in)
{
	switch (fuzz_u8(in) % OP_COUNT) {
	case OP_ACTIVATE:
		op_activate(rig, in);
		break;
	case OP_RESET:
		reset(rig->n);
		break;
	case OP_DESC:
		op_desc(rig, in);
		break;
	case OP_POST:
		op_post(rig, in);
		break;
	case OP_AVAIL_IDX:
		op_avail_idx(rig, in);
		break;
	case OP_AVAIL_FLAGS:
		op_avail_flags(rig, in);
		break;
	case OP_POKE:
		op_poke(in);
		break;
	case OP_KICK_TX:
		op_kick_tx(rig);
		break;
	case OP_KICK_RX:
		eventfd_write(rig->wake, 1);
		break;
	case OP_RUN_RX:
		op_run(rig, 0);
		break;
	case OP_RUN_TX:
		op_run(rig, 1);
		break;
	case OP_FRAME:
		fuzz_backend_frame(&rig->backend, in, rig->n->core.vnet_hdr_size, mac);
		break;
	case OP_DRAIN:
		fuzz_backend_drain(&rig->backend);
		break;
	case OP_FILTER:
		op_filter(rig, in);
		break;
	case OP_CTRL_LAYOUT:
		op_ctrl_layout(rig, in);
		break;
	case OP_KICK_CTRL:
		op_kick_ctrl(rig, in);
		break;
	}
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* FUZZ_REPORT=1 in the environment: what an input did, for whoever writes seeds. */
static void report(const struct kvmnet_vnet *n)
{
	fuzz_report(&n->core);
	if (getenv("FUZZ_REPORT"))
		fprintf(stderr, "broken rx %u tx %u ctrl %u\n", n->rx.broken, n->tx.broken,
			n->ctrl.broken);
}

static void rig_close(struct rig *rig)
{
	if (rig->n) {
		report(rig->n);
		nic_core_destroy(&rig->n->core);
		free(rig->n->rx_buf);
		free(rig->n->tx_buf);
		free(rig->n);
	}
	close_fd(&rig->tx_kick);
	close_fd(&rig->calls[0]);
	close_fd(&rig->calls[1]);
	fuzz_backend_close(&rig->backend);
}

/* The device as virtio_net.py's constructor and its memory setter (nic.py) leave it. */
static int rig_open(struct rig *rig, uint8_t config)
{
	unsigned mtu = config & 0x80 ? 9000 : 1500, i;
	struct kvmnet_vnet *n;
	int ret;

	rig->wake = rig->tx_kick = rig->calls[0] = rig->calls[1] = -1;
	ret = fuzz_backend_open(&rig->backend, config & 4 ? SOCK_SEQPACKET : SOCK_DGRAM);
	if (ret)
		return ret;
	n = rig->n = calloc(1, sizeof(*n));
	if (!n)
		goto fail;
	/* Each exactly as large as virtio_net.py makes it: ASan sees past their ends. */
	n->rx_buf = malloc(mtu + ETH_HEADER + 32);
	n->tx_buf = malloc(mtu + ETH_HEADER + 32);
	if (!n->rx_buf || !n->tx_buf ||
	    kvmnet_vnet_init(n, rig->backend.near, vnet_hdr_sizes[config & 3]))
		goto fail;
	n->max_frame = mtu + ETH_HEADER;
	n->core.faults = config >> 3 & 7;
	n->core.ram = fuzz_ram();
	n->core.ram_size = FUZZ_RAM_SIZE;
	rig->wake = n->core.wake_fd;
	rig->tx_kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (i = 0; i < 2 && (config & 0x40); i++)
		rig->calls[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rig->wake < 0 || rig->tx_kick < 0 || ((config & 0x40) && rig->calls[1] < 0))
		goto fail;
	n->rx_call_fd = rig->calls[0];
	n->tx_call_fd = rig->calls[1];
	reset(n);
	return 0;
fail:
	rig_close(rig);
	return -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct rig rig = { 0 };

	fuzz_ram_reset();
	if (rig_open(&rig, fuzz_u8(&in)))
		abort(); /* out of fds or memory: not the model's fault, but nothing to test */
	while (in.size)
		step(&rig, &in);
	rig_close(&rig);
	return 0;
}
