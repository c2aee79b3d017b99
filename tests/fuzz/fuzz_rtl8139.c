/*
 * fuzz_rtl8139: a libFuzzer harness for the RTL8139 model's C core (native/rtl8139.c,
 * nic_io.c).
 *
 * It drives what a hostile guest and the host around it can: register accesses of any
 * width at any offset through the vCPU run loop's fast range (kvmnet_fast_access ->
 * rtl8139_fast_access) and, where C declines, the effects kvmnet/devices/rtl8139.py's
 * byte-wise register writes have on the C state (mirrored below); transmit slots handed
 * over with any address and size; the receive ring (RBSTART, RCR's size and WRAP, CAPR)
 * and any other bytes in guest RAM; frames arriving on the backend; turns of the device
 * thread (nic_run); and the network taking what was sent.
 *
 * Input: one configuration byte (bits 0-1 the backend's vnet header size, bit 2 a
 * SOCK_SEQPACKET backend, bits 3-5 the fault switches), then operations (enum op): an
 * opcode byte and its operands. tests/fuzz/seeds.py writes seeds in this format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rtl8139.h"
#include "kvmnet_native.h"
#include "fuzz.h"

#define BAR 0xc100ull
#define BAR_SIZE 0x100
#define RUN_TURNS 8 /* nic_run calls in one device-thread turn: it returns per interrupt */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EEM_CONFIG_WRITE 3
#define EEM_AUTOLOAD 1
#define RCR_WRITABLE 0x0f03ffbf /* rtl8139.py's */
#define TCR_WRITABLE 0x030707f1

enum op {
	OP_WRITE,	/* register write: register, width, value */
	OP_READ,	/* register read: register, width */
	OP_TX_SLOT,	/* hand a slot over: slot, buffer address (TSAD), TSD value */
	OP_POKE,	/* guest RAM write: address, length, bytes */
	OP_FRAME,	/* a frame arrives on the backend (fuzz_backend_frame) */
	OP_RUN,		/* a turn of the device thread */
	OP_DRAIN,	/* the network takes what was sent */
	OP_COUNT
};

/* What a register operand's first byte picks; past the table, one more byte of offset. */
static const uint8_t registers[] = {
	RTL8139_IDR0, RTL8139_MAR0, RTL8139_TSD0, RTL8139_TSD0 + 4, RTL8139_TSD0 + 8,
	RTL8139_TSD0 + 12, RTL8139_TSAD0, RTL8139_TSAD0 + 4, RTL8139_TSAD0 + 8, RTL8139_TSAD0 + 12,
	RTL8139_RBSTART, RTL8139_CR, RTL8139_CAPR, RTL8139_CBR, RTL8139_IMR, RTL8139_ISR,
	RTL8139_TCR, RTL8139_RCR, RTL8139_9346CR, RTL8139_TSAD,
};

static const uint32_t vnet_hdr_sizes[] = { 0, 10, 12, 0 };
static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct rig {
	struct rtl8139 *r;
	struct fuzz_backend backend;
	struct kvmnet_fast_range range; /* either BAR: both reach the same registers */
	unsigned eem;			/* 9346CR's mode, kept by rtl8139.py */
};

/* nic.py's update_irq_locked: the line follows the level the model wants. */
static void irq_sync(struct rtl8139 *r)
{
	r->core.irq_line = r->core.irq_level;
}

/* rtl8139.py's REGISTERS that reach the C state, and 9346CR: the first byte and width of
   the register holding byte `at`; 0 width if none of them does. */
static unsigned reg_at(unsigned at, unsigned *start)
{
	static const struct { uint8_t start, width; } map[] = {
		{ RTL8139_TSD0, 4 }, { RTL8139_TSD0 + 4, 4 }, { RTL8139_TSD0 + 8, 4 },
		{ RTL8139_TSD0 + 12, 4 }, { RTL8139_TSAD0, 4 }, { RTL8139_TSAD0 + 4, 4 },
		{ RTL8139_TSAD0 + 8, 4 }, { RTL8139_TSAD0 + 12, 4 }, { RTL8139_RBSTART, 4 },
		{ RTL8139_CR, 1 }, { RTL8139_CAPR, 2 }, { RTL8139_IMR, 2 }, { RTL8139_ISR, 2 },
		{ RTL8139_TCR, 4 }, { RTL8139_RCR, 4 }, { RTL8139_9346CR, 1 },
	};
	unsigned i;

	if (at < RTL8139_IDR0 + 6 || (at >= RTL8139_MAR0 && at < RTL8139_MAR0 + 8)) {
		*start = at; /* IDR0-5, MAR0-7: a byte each */
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(map); i++) {
		if (at >= map[i].start && at < map[i].start + map[i].width) {
			*start = map[i].start;
			return map[i].width;
		}
	}
	return 0;
}

/* rtl8139.py's _get for those registers. */
static uint32_t get(struct rig *rig, unsigned start)
{
	struct rtl8139 *r = rig->r;

	if (start < RTL8139_IDR0 + 6)
		return r->idr[start];
	if (start >= RTL8139_MAR0 && start < RTL8139_MAR0 + 8)
		return r->mar[start - RTL8139_MAR0];
	if (start >= RTL8139_TSD0 && start < RTL8139_TSD0 + 16)
		return r->tsd[(start - RTL8139_TSD0) / 4];
	if (start >= RTL8139_TSAD0 && start < RTL8139_TSAD0 + 16)
		return r->tsad[(start - RTL8139_TSAD0) / 4];
	switch (start) {
	case RTL8139_RBSTART:
		return r->rbstart;
	case RTL8139_CR:
		return r->cr | (rtl8139_buffer_empty(r) ? RTL8139_CR_BUFE : 0);
	case RTL8139_CAPR:
		return r->capr;
	case RTL8139_IMR:
		return r->imr;
	case RTL8139_ISR:
		return 0; /* a write's ones clear bits: the rest of the register is 0 */
	case RTL8139_TCR:
		return r->tcr;
	case RTL8139_RCR:
		return r->rcr;
	case RTL8139_9346CR:
		return rig->eem << 6;
	}
	return 0;
}

/* rtl8139.py's _soft_reset (CR.RST). */
static void soft_reset(struct rtl8139 *r)
{
	unsigned i;

	r->cr = r->isr = r->imr = r->cbr = 0;
	r->capr = 0xfff0;
	for (i = 0; i < 4; i++)
		r->tsd[i] = RTL8139_TSD_OWN;
	r->tx_queued = 0;
	rtl8139_update_irq(r);
	irq_sync(r);
}

/* rtl8139.py's _write_cr. */
static void write_cr(struct rtl8139 *r, uint32_t value)
{
	uint32_t enabling = value & ~r->cr;

	if (value & RTL8139_CR_RST) {
		soft_reset(r);
		return;
	}
	r->cr = value & (RTL8139_CR_TE | RTL8139_CR_RE);
	if (enabling & RTL8139_CR_TE)
		rtl8139_tx(r);
	if (enabling & RTL8139_CR_RE)
		nic_kick(&r->core);
}

/* rtl8139.py's _set for those registers. */
static void set(struct rig *rig, unsigned start, uint32_t value)
{
	struct rtl8139 *r = rig->r;

	if (start < RTL8139_IDR0 + 6) {
		if (rig->eem == EEM_CONFIG_WRITE)
			r->idr[start] = value;
	} else if (start >= RTL8139_MAR0 && start < RTL8139_MAR0 + 8) {
		r->mar[start - RTL8139_MAR0] = value;
	} else if (start >= RTL8139_TSD0 && start < RTL8139_TSD0 + 16) {
		r->tsd[(start - RTL8139_TSD0) / 4] = value & RTL8139_TSD_WRITABLE;
		rtl8139_tsd_written(r, (start - RTL8139_TSD0) / 4);
	} else if (start >= RTL8139_TSAD0 && start < RTL8139_TSAD0 + 16) {
		r->tsad[(start - RTL8139_TSAD0) / 4] = value;
	} else if (start == RTL8139_RBSTART) {
		r->rbstart = value;
	} else if (start == RTL8139_CR) {
		write_cr(r, value);
	} else if (start == RTL8139_CAPR) {
		r->capr = value;
		nic_rx_room(&r->core);
	} else if (start == RTL8139_IMR) {
		r->imr = value & RTL8139_ISR_ALL;
	} else if (start == RTL8139_ISR) {
		r->isr &= ~value;
	} else if (start == RTL8139_TCR) {
		r->tcr = value & TCR_WRITABLE;
	} else if (start == RTL8139_RCR) {
		r->rcr = value & RCR_WRITABLE;
		nic_kick(&r->core);
	} else if (start == RTL8139_9346CR) {
		rig->eem = value >> 6 & 3;
		if (rig->eem == EEM_AUTOLOAD) { /* the MAC from the EEPROM, at once */
			memcpy(r->idr, r->core.mac, 6);
			rig->eem = 0;
		}
	}
}

/* rtl8139.py's write(): each register the access covers, merged byte by byte. */
static void py_write(struct rig *rig, unsigned offset, const uint8_t *data, unsigned size)
{
	unsigned i = 0, start, width, k;

	nic_lock(&rig->r->core);
	while (i < size) {
		uint32_t value;

		width = reg_at((offset + i) & 0xff, &start);
		if (!width) {
			i++;
			continue;
		}
		value = get(rig, start);
		for (k = (offset + i) & 0xff; k < start + width && i < size; k++, i++) {
			value &= ~(0xffu << 8 * (k - start));
			value |= (uint32_t)data[i] << 8 * (k - start);
		}
		set(rig, start, value);
	}
	rtl8139_update_irq(rig->r);
	irq_sync(rig->r);
	nic_unlock(&rig->r->core);
}

/* One access as a vCPU makes it: the run loop's fast range, else Python (reads there
   change nothing in the C state). */
static void vcpu_access(struct rig *rig, unsigned offset, uint8_t *data, unsigned size,
			int is_write)
{
	struct rtl8139 *r = rig->r;
	int ret = kvmnet_fast_access(&rig->range, 1, BAR + offset, data, size, is_write);

	if (ret == KVMNET_FAST_ATTEND) { /* nic.py's fast_attend */
		nic_lock(&r->core);
		irq_sync(r);
		nic_unlock(&r->core);
	}
	if (ret == KVMNET_FAST_PYTHON && is_write)
		py_write(rig, offset, data, size);
}

static void put_value(uint8_t *data, uint64_t value)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		data[i] = value >> 8 * i;
}

/* A register, then a width byte: 1 << bits 0-1 bytes, bits 2-3 added to the offset. */
static void op_register(struct rig *rig, struct fuzz_input *in, int is_write)
{
	uint8_t sel = fuzz_u8(in), width, data[8];
	unsigned offset = sel < ARRAY_SIZE(registers) ? registers[sel] : fuzz_u8(in), size;

	width = fuzz_u8(in);
	size = 1u << (width & 3);
	offset = (offset + (width >> 2 & 3)) & 0xff;
	put_value(data, fuzz_value(in) | (size == 8 ? (uint64_t)fuzz_value(in) << 32 : 0));
	vcpu_access(rig, offset, data, size, is_write);
}

/* 8139too's rtl8139_start_xmit: TSAD[slot], then TSD[slot] with the size, OWN clear. */
static void op_tx_slot(struct rig *rig, struct fuzz_input *in)
{
	unsigned slot = fuzz_u8(in) & 3;
	uint8_t data[8];

	put_value(data, fuzz_addr(in));
	vcpu_access(rig, RTL8139_TSAD0 + 4 * slot, data, 4, 1);
	put_value(data, fuzz_value(in));
	vcpu_access(rig, RTL8139_TSD0 + 4 * slot, data, 4, 1);
}

static void op_poke(struct fuzz_input *in)
{
	uint64_t gpa = fuzz_addr(in);
	uint8_t bytes[256];
	size_t len = fuzz_bytes(in, bytes, fuzz_u8(in));

	fuzz_poke(gpa, bytes, len);
}

static void attend(void *model)
{
	irq_sync(model);
}

/* A turn of nic.py's device thread: nic_run, and attend() whenever it asks. */
static void op_run(struct rig *rig)
{
	fuzz_nic_turn(&rig->r->core, RUN_TURNS, attend, rig->r);
}

static void step(struct rig *rig, struct fuzz_input *in)
{
	switch (fuzz_u8(in) % OP_COUNT) {
	case OP_WRITE:
		op_register(rig, in, 1);
		break;
	case OP_READ:
		op_register(rig, in, 0);
		break;
	case OP_TX_SLOT:
		op_tx_slot(rig, in);
		break;
	case OP_POKE:
		op_poke(in);
		break;
	case OP_FRAME:
		fuzz_backend_frame(&rig->backend, in, rig->r->core.vnet_hdr_size, mac);
		break;
	case OP_RUN:
		op_run(rig);
		break;
	case OP_DRAIN:
		fuzz_backend_drain(&rig->backend);
		break;
	}
}

/* The model as rtl8139.py's constructor leaves it (_power_on), on fresh RAM and backend. */
static int rig_open(struct rig *rig, uint8_t config)
{
	struct rtl8139 *r;
	int ret = fuzz_backend_open(&rig->backend, config & 4 ? SOCK_SEQPACKET : SOCK_DGRAM);

	if (ret)
		return ret;
	r = rig->r = calloc(1, sizeof(*r)); /* exactly its size: ASan sees past its end */
	if (!r) {
		fuzz_backend_close(&rig->backend);
		return -ENOMEM;
	}
	ret = rtl8139_init(r, rig->backend.near, vnet_hdr_sizes[config & 3]);
	if (ret) {
		free(r);
		fuzz_backend_close(&rig->backend);
		return ret;
	}
	memcpy(r->core.mac, mac, 6);
	memcpy(r->idr, mac, 6);
	r->core.ram = fuzz_ram();
	r->core.ram_size = FUZZ_RAM_SIZE;
	r->core.faults = config >> 3 & 7;
	rig->eem = 0;
	nic_lock(&r->core);
	soft_reset(r);
	nic_unlock(&r->core);
	rig->range = (struct kvmnet_fast_range){ BAR, BAR_SIZE, rtl8139_fast_access, r, 1 };
	return 0;
}

static void rig_close(struct rig *rig)
{
	fuzz_report(&rig->r->core);
	nic_core_destroy(&rig->r->core);
	free(rig->r);
	fuzz_backend_close(&rig->backend);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct rig rig;

	fuzz_ram_reset();
	if (rig_open(&rig, fuzz_u8(&in)))
		abort(); /* out of fds or memory: not the model's fault, but nothing to test */
	while (in.size)
		step(&rig, &in);
	rig_close(&rig);
	return 0;
}
