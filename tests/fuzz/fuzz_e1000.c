/*
 * fuzz_e1000: a libFuzzer harness for the e1000 model's C core (native/e1000.c, nic_io.c).
 *
 * It drives what a hostile guest and the host around it can: BAR0 accesses through the
 * vCPU run loop's fast range (kvmnet_fast_access -> e1000_fast_mmio) and, where C declines,
 * the effects kvmnet/devices/e1000.py's read/write have on the C state (mirrored below for
 * the registers kept there); BAR1's IOADDR/IODATA window (e1000_fast_io); TX and RX
 * descriptors and any other bytes in guest RAM; frames arriving on the backend; turns of
 * the device thread (nic_run: RX delivery, TX resumed once the backend has room); and the
 * network taking what was sent.
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

#include "e1000.h"
#include "kvmnet_native.h"
#include "fuzz.h"

#define BAR0 0xfebc0000ull
#define BAR0_SIZE 0x20000
#define BAR1 0xc000ull
#define BAR1_SIZE 0x40
#define RUN_TURNS 8 /* nic_run calls in one device-thread turn: it returns per interrupt */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum op {
	OP_WRITE,	/* BAR0 write: register, width, value */
	OP_READ,	/* BAR0 read: register, width */
	OP_IOADDR,	/* BAR1 IOADDR write: value */
	OP_IODATA,	/* BAR1 IODATA access: write?, width, value */
	OP_POKE,	/* guest RAM write: address, length, bytes */
	OP_TX_DESC,	/* a TX descriptor at TDBA: index, buffer address, its other 8 bytes */
	OP_RX_DESC,	/* an RX descriptor at RDBA: index, buffer address */
	OP_FRAME,	/* a frame arrives on the backend (fuzz_backend_frame) */
	OP_RUN,		/* a turn of the device thread */
	OP_DRAIN,	/* the network takes what was sent */
	OP_COUNT
};

/* What a register operand's first byte picks; past the table, 4 more bytes of offset. */
static const uint32_t registers[] = {
	E1000_CTRL, E1000_STATUS, E1000_ICR, E1000_ICS, E1000_IMS, E1000_IMC, E1000_RCTL,
	E1000_TCTL, E1000_RDBAL, E1000_RDBAH, E1000_RDLEN, E1000_RDH, E1000_RDT, E1000_TDBAL,
	E1000_TDBAH, E1000_TDLEN, E1000_TDH, E1000_TDT, E1000_VET, E1000_RA, E1000_RA + 4,
	E1000_MTA, E1000_VFTA, E1000_GPRC, E1000_MDIC,
};

static const uint32_t vnet_hdr_sizes[] = { 0, 10, 12, 0 };
static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct rig {
	struct e1000 *e;
	struct fuzz_backend backend;
	struct kvmnet_fast_range ranges[2]; /* BAR0, BAR1 */
};

/* nic.py's update_irq_locked: the line follows the level the model wants. */
static void irq_sync(struct e1000 *e)
{
	e->core.irq_line = e->core.irq_level;
}

/* e1000.py's DATAPATH: the registers Python writes into the C state, and their bits. */
static uint32_t *datapath(struct e1000 *e, uint32_t reg, uint32_t *mask)
{
	*mask = 0xffffffff;
	switch (reg) {
	case E1000_VET:
		*mask = 0xffff;
		return &e->vet;
	case E1000_RDBAL:
		*mask = 0xfffffff0;
		return &e->rdbal;
	case E1000_RDBAH:
		return &e->rdbah;
	case E1000_RDLEN:
		*mask = 0x000fff80;
		return &e->rdlen;
	case E1000_RDH:
		*mask = 0xffff;
		return &e->rdh;
	case E1000_TDBAL:
		*mask = 0xfffffff0;
		return &e->tdbal;
	case E1000_TDBAH:
		return &e->tdbah;
	case E1000_TDLEN:
		*mask = 0x000fff80;
		return &e->tdlen;
	case E1000_TDH:
		*mask = 0xffff;
		return &e->tdh;
	}
	return NULL;
}

/* e1000.py's _peek for the registers in the C state; the others read 0 here. */
static uint32_t peek(struct e1000 *e, uint32_t reg)
{
	uint32_t mask, *field = datapath(e, reg, &mask);

	if (field)
		return *field;
	switch (reg) {
	case E1000_CTRL:
		return e->ctrl;
	case E1000_ICR:
	case E1000_ICS:
		return e->icr;
	case E1000_IMS:
		return e->ims;
	case E1000_RCTL:
		return e->rctl;
	case E1000_TCTL:
		return e->tctl;
	case E1000_RDT:
		return e->rdt;
	case E1000_TDT:
		return e->tdt;
	}
	if (reg >= E1000_RA && reg < E1000_RA + 128)
		return e->ra[(reg - E1000_RA) / 4];
	if (reg >= E1000_MTA && reg < E1000_MTA + 512)
		return e->mta[(reg - E1000_MTA) / 4];
	if (reg >= E1000_VFTA && reg < E1000_VFTA + 512)
		return e->vfta[(reg - E1000_VFTA) / 4];
	if (reg >= E1000_STATS && reg < E1000_STATS + 256)
		return e->stats[(reg - E1000_STATS) / 4];
	return 0;
}

/* e1000.py's _write_ctrl: RST resets, SLU 0 -> 1 raises LSC. */
static void write_ctrl(struct e1000 *e, uint32_t value)
{
	if (value & E1000_CTRL_RST) {
		e1000_reset(e);
		return;
	}
	if (value & ~e->ctrl & E1000_CTRL_SLU)
		e->icr |= E1000_ICR_LSC;
	e->ctrl = value & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
}

/* e1000.py's _write for the registers in the C state; the others hold nothing C reads. */
static void write_reg(struct e1000 *e, uint32_t reg, uint32_t value)
{
	uint32_t mask, *field = datapath(e, reg, &mask);

	if (field) {
		*field = value & mask;
		return;
	}
	switch (reg) {
	case E1000_CTRL:
		write_ctrl(e, value);
		return;
	case E1000_ICR:
		e->icr &= ~value;
		return;
	case E1000_ICS:
		e->icr |= value & E1000_ICR_ALL;
		return;
	case E1000_IMS:
		e->ims |= value & E1000_ICR_ALL;
		return;
	case E1000_IMC:
		e->ims &= ~value;
		return;
	case E1000_RCTL:
		e->rctl = value & 0x07fffffe;
		nic_kick(&e->core);
		return;
	case E1000_TCTL:
		e->tctl = value & 0x03fffffa;
		e1000_tx(e);
		return;
	case E1000_RDT:
		e1000_write_rdt(e, value);
		return;
	case E1000_TDT:
		e->tdt = value & 0xffff;
		e1000_tx(e);
		return;
	case E1000_MDIC:
		if (value & E1000_MDIC_INT_EN)
			e->icr |= E1000_ICR_MDAC;
		return;
	}
	if (reg >= E1000_RA && reg < E1000_RA + 128) {
		unsigned i = (reg - E1000_RA) / 4;

		e->ra[i] = value & (i & 1 ? 0x8003ffff : 0xffffffff);
	} else if (reg >= E1000_MTA && reg < E1000_MTA + 512) {
		e->mta[(reg - E1000_MTA) / 4] = value;
	} else if (reg >= E1000_VFTA && reg < E1000_VFTA + 512) {
		e->vfta[(reg - E1000_VFTA) / 4] = value;
	}
}

static int bitwise(uint32_t reg)
{
	return reg == E1000_ICR || reg == E1000_ICS || reg == E1000_IMS || reg == E1000_IMC;
}

/* e1000.py's write(): 8 bytes are two registers; a narrower write merges into one. */
static void py_write(struct e1000 *e, uint32_t offset, const uint8_t *data, unsigned size)
{
	uint32_t reg = offset & ~3u, shift = 8 * (offset & 3), value;
	uint64_t v = 0;
	unsigned i;

	if (size == 8) {
		py_write(e, offset, data, 4);
		py_write(e, offset + 4, data + 4, 4);
		return;
	}
	for (i = 0; i < size; i++)
		v |= (uint64_t)data[i] << 8 * i;
	value = v << shift;
	nic_lock(&e->core);
	if (size < 4 && !bitwise(reg)) {
		uint32_t mask = (uint32_t)(((1ull << 8 * size) - 1) << shift);

		value = (peek(e, reg) & ~mask) | value;
	}
	write_reg(e, reg, value);
	e1000_update_irq(e);
	irq_sync(e);
	nic_unlock(&e->core);
}

/* e1000.py's read(): ICR and the statistics are cleared by a read. */
static void py_read(struct e1000 *e, uint32_t offset, unsigned size)
{
	uint32_t reg = offset & ~3u;

	if (size == 8) {
		py_read(e, offset, 4);
		py_read(e, offset + 4, 4);
		return;
	}
	nic_lock(&e->core);
	if (reg == E1000_ICR)
		e->icr = 0;
	else if (reg >= E1000_STATS && reg < E1000_STATS + 256)
		e->stats[(reg - E1000_STATS) / 4] = 0;
	e1000_update_irq(e);
	irq_sync(e);
	nic_unlock(&e->core);
}

/* e1000.py's IoWindow: IOADDR at 0, IODATA at 4 reaching the register IOADDR selects. */
static void py_io(struct e1000 *e, uint32_t offset, const uint8_t *data, unsigned size,
		  int is_write)
{
	if (is_write && offset == 0 && size == 4)
		e->ioaddr = (data[0] | data[1] << 8 | (uint32_t)data[2] << 16) & 0x1ffff;
	else if (is_write && offset == 4)
		py_write(e, e->ioaddr & 0x1fffc, data, size);
	else if (!is_write && offset >= 4 && offset < 8)
		py_read(e, e->ioaddr & 0x1fffc, size);
}

/* One access as a vCPU makes it: the run loop's fast range, else Python. */
static void vcpu_access(struct rig *rig, int bar, uint32_t offset, uint8_t *data,
			unsigned size, int is_write)
{
	struct e1000 *e = rig->e;
	int ret = kvmnet_fast_access(rig->ranges, 2, (bar ? BAR1 : BAR0) + offset, data, size,
				     is_write);

	if (ret == KVMNET_FAST_ATTEND) { /* nic.py's fast_attend */
		nic_lock(&e->core);
		irq_sync(e);
		nic_unlock(&e->core);
	}
	if (ret != KVMNET_FAST_PYTHON)
		return;
	if (bar)
		py_io(e, offset, data, size, is_write);
	else if (offset < BAR0_SIZE && size <= BAR0_SIZE - offset)
		is_write ? py_write(e, offset, data, size) : py_read(e, offset, size);
}

static void put_value(uint8_t *data, uint64_t value)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		data[i] = value >> 8 * i;
}

/* A register, then a width byte: 1 << bits 0-1 bytes, bits 2-3 added to the offset. */
static void op_register(struct rig *rig, struct fuzz_input *in, int bar, int is_write)
{
	uint32_t offset = 4; /* BAR1: IODATA */
	uint8_t sel, width, data[8];
	unsigned size;

	if (bar) {
		is_write = fuzz_u8(in) & 1;
	} else {
		sel = fuzz_u8(in);
		offset = sel < ARRAY_SIZE(registers) ? registers[sel] : fuzz_u32(in) % BAR0_SIZE;
	}
	width = fuzz_u8(in);
	size = 1u << (width & 3);
	if (bar && size == 8)
		size = 4; /* port I/O is at most 4 bytes */
	offset += width >> 2 & 3;
	put_value(data, fuzz_value(in) | (size == 8 ? (uint64_t)fuzz_value(in) << 32 : 0));
	vcpu_access(rig, bar, offset, data, size, is_write);
}

static void op_ioaddr(struct rig *rig, struct fuzz_input *in)
{
	uint8_t data[8];

	put_value(data, fuzz_value(in));
	vcpu_access(rig, 1, 0, data, 4, 1);
}

static void op_poke(struct fuzz_input *in)
{
	uint64_t gpa = fuzz_addr(in);
	uint8_t bytes[256];
	size_t len = fuzz_bytes(in, bytes, fuzz_u8(in));

	fuzz_poke(gpa, bytes, len);
}

/* A descriptor as the driver writes it: buffer address, then (TX) its other 8 bytes. */
static void op_desc(struct fuzz_input *in, uint64_t base, uint32_t len, int tx)
{
	uint32_t n = len / 16, index = fuzz_u16(in);
	uint8_t desc[16] = { 0 };

	put_value(desc, fuzz_addr(in));
	if (tx)
		fuzz_bytes(in, desc + 8, 8);
	fuzz_poke(base + (uint64_t)(n ? index % n : index) * 16, desc, 16);
}

static void attend(void *model)
{
	irq_sync(model);
}

/* A turn of nic.py's device thread: nic_run, and attend() whenever it asks. */
static void op_run(struct rig *rig)
{
	fuzz_nic_turn(&rig->e->core, RUN_TURNS, attend, rig->e);
}

static void step(struct rig *rig, struct fuzz_input *in)
{
	struct e1000 *e = rig->e;

	switch (fuzz_u8(in) % OP_COUNT) {
	case OP_WRITE:
		op_register(rig, in, 0, 1);
		break;
	case OP_READ:
		op_register(rig, in, 0, 0);
		break;
	case OP_IOADDR:
		op_ioaddr(rig, in);
		break;
	case OP_IODATA:
		op_register(rig, in, 1, 0);
		break;
	case OP_POKE:
		op_poke(in);
		break;
	case OP_TX_DESC:
		op_desc(in, (uint64_t)e->tdbah << 32 | e->tdbal, e->tdlen, 1);
		break;
	case OP_RX_DESC:
		op_desc(in, (uint64_t)e->rdbah << 32 | e->rdbal, e->rdlen, 0);
		break;
	case OP_FRAME:
		fuzz_backend_frame(&rig->backend, in, e->core.vnet_hdr_size, mac);
		break;
	case OP_RUN:
		op_run(rig);
		break;
	case OP_DRAIN:
		fuzz_backend_drain(&rig->backend);
		break;
	}
}

/* The model as e1000.py's constructor leaves it, on fresh RAM and a fresh backend. */
static int rig_open(struct rig *rig, uint8_t config)
{
	int ret = fuzz_backend_open(&rig->backend, config & 4 ? SOCK_SEQPACKET : SOCK_DGRAM);

	if (ret)
		return ret;
	rig->e = calloc(1, sizeof(*rig->e)); /* exactly its size: ASan sees past its end */
	if (!rig->e) {
		fuzz_backend_close(&rig->backend);
		return -ENOMEM;
	}
	ret = e1000_init(rig->e, rig->backend.near, vnet_hdr_sizes[config & 3]);
	if (ret) {
		free(rig->e);
		fuzz_backend_close(&rig->backend);
		return ret;
	}
	memcpy(rig->e->core.mac, mac, 6);
	rig->e->core.ram = fuzz_ram();
	rig->e->core.ram_size = FUZZ_RAM_SIZE;
	rig->e->core.faults = config >> 3 & 7;
	nic_lock(&rig->e->core);
	e1000_reset(rig->e);
	irq_sync(rig->e);
	nic_unlock(&rig->e->core);
	rig->ranges[0] = (struct kvmnet_fast_range){ BAR0, BAR0_SIZE, e1000_fast_mmio, rig->e, 1 };
	rig->ranges[1] = (struct kvmnet_fast_range){ BAR1, BAR1_SIZE, e1000_fast_io, rig->e, 1 };
	return 0;
}

static void rig_close(struct rig *rig)
{
	fuzz_report(&rig->e->core);
	nic_core_destroy(&rig->e->core);
	free(rig->e);
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
