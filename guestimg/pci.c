/* pci.c - bus 0 enumeration and BAR assignment; see pci.h. */
#include <stdbool.h>
#include <stddef.h>
#include "pci.h"
#include "cpu.h"

#define PCI_CONFIG_ADDR	0xCF8
#define PCI_CONFIG_DATA	0xCFC
#define PCI_ENABLE	0x80000000u

/* Configuration registers (dword offsets). */
#define PCI_ID		0x00	/* device << 16 | vendor */
#define PCI_COMMAND	0x04	/* status in the upper half is write-1-to-clear */
#define PCI_CLASS	0x08	/* class code << 8 | revision */
#define PCI_HEADER	0x0C	/* header type in bits 23:16 */
#define PCI_BAR0	0x10
#define PCI_CAPS	0x34	/* first capability pointer */
#define PCI_INTR	0x3C	/* pin << 8 | line */
#define STATUS_CAPS	0x0010	/* status bit: capability list present */
#define PIIX_PIRQRC	0x60	/* PIIX: PIRQA-D routing, one byte each */
#define PIRQ_DISABLED	0x80

#define CMD_IO		0x1
#define CMD_MEM		0x2
#define CMD_MASTER	0x4
#define HEADER_MULTIFUNCTION 0x80

/* Where BARs left at 0 are placed: upwards from the base, above any BAR
 * firmware already put in the window, naturally aligned. */
#define MEM_WINDOW_BASE	0xE0000000u
#define MEM_WINDOW_END	0xFEC00000u	/* IOAPIC, HPET, LAPIC, BIOS above */
#define IO_WINDOW_BASE	0xC000u
#define IO_WINDOW_END	0x10000u

struct pci_dev pci_devs[PCI_MAX_DEVS];
unsigned pci_count;

/* Last value written to 0xCF8, so repeated accesses to one register cost
 * one VM exit instead of two.  0 never matches: we always set bit 31. */
static uint32_t cf8_current;

static void select_reg(uint16_t bdf, uint8_t offset)
{
	uint32_t a = PCI_ENABLE | (uint32_t)bdf << 8 | (offset & 0xFC);

	if (a != cf8_current) {
		outl(PCI_CONFIG_ADDR, a);
		cf8_current = a;
	}
}

uint32_t pci_read32(uint16_t bdf, uint8_t offset)
{
	select_reg(bdf, offset);
	return inl(PCI_CONFIG_DATA);
}

void pci_write32(uint16_t bdf, uint8_t offset, uint32_t value)
{
	select_reg(bdf, offset);
	outl(PCI_CONFIG_DATA, value);
}

/* Write all-ones, read back the size mask, restore.  A BAR that reads
 * back 0 is not implemented and ignores writes: nothing to restore. */
static uint32_t probe_mask(uint16_t bdf, uint8_t offset, uint32_t *orig)
{
	uint32_t mask;

	*orig = pci_read32(bdf, offset);
	pci_write32(bdf, offset, 0xFFFFFFFF);
	mask = pci_read32(bdf, offset);
	if (mask != 0)
		pci_write32(bdf, offset, *orig);
	return mask;
}

/* Size BAR i of d (decoding must be off).  Returns the number of BAR
 * slots it occupies: 2 for a 64-bit memory BAR, else 1. */
static unsigned size_bar(struct pci_dev *d, unsigned i)
{
	struct pci_bar *b = &d->bar[i];
	uint8_t offset = (uint8_t)(PCI_BAR0 + 4 * i);
	uint32_t orig, orig_hi;
	uint32_t mask = probe_mask(d->bdf, offset, &orig);

	if (mask == 0)
		return 1;	/* not implemented */

	if (mask & 1) {
		/* I/O: devices decoding only 16 bits read 0 above them. */
		mask &= ~3u;
		if (!(mask & 0xFFFF0000))
			mask |= 0xFFFF0000;
		b->kind = PCI_BAR_IO;
		b->addr = orig & ~3u;
		b->size = (uint32_t)(~mask + 1);
		return 1;
	}

	if ((mask & 6) == 4 && i < 5) {
		/* 64-bit memory: the next BAR holds the upper half. */
		uint32_t mask_hi = probe_mask(d->bdf, offset + 4, &orig_hi);
		uint64_t m = (uint64_t)mask_hi << 32 | (mask & ~0xFu);

		b->kind = PCI_BAR_MEM64;
		b->addr = (uint64_t)orig_hi << 32 | (orig & ~0xFu);
		b->size = ~m + 1;
		return 2;
	}

	if (!(mask & ~0xFu))
		return 1;	/* no address bits: treat as absent */
	b->kind = PCI_BAR_MEM32;
	b->addr = orig & ~0xFu;
	b->size = (uint32_t)(~(mask & ~0xFu) + 1);
	return 1;
}

/* Record one function and size its BARs. */
static void probe(uint16_t bdf, uint32_t id, uint8_t header_type)
{
	struct pci_dev *d;
	uint32_t intr, cmd;
	unsigned nbars = header_type == 0 ? 6 : header_type == 1 ? 2 : 0;

	if (pci_count == PCI_MAX_DEVS)
		return;
	d = &pci_devs[pci_count++];
	d->bdf = bdf;
	d->vendor = (uint16_t)id;
	d->device = (uint16_t)(id >> 16);
	d->class_code = pci_read32(bdf, PCI_CLASS) >> 8;
	d->header_type = header_type;
	intr = pci_read32(bdf, PCI_INTR);
	d->irq_line = (uint8_t)intr;
	d->irq_pin = (uint8_t)(intr >> 8);
	d->found_command = (uint16_t)pci_read32(bdf, PCI_COMMAND);
	for (unsigned i = 0; i < nbars; i++)
		d->found_bar[i] = pci_read32(bdf, (uint8_t)(PCI_BAR0 + 4 * i));
	if (nbars == 0)
		return;

	/* Decoding off while a BAR holds all-ones, so the device never
	 * claims the top of the address space.  Writing 0 to the status
	 * half leaves its write-1-to-clear bits alone. */
	cmd = pci_read32(bdf, PCI_COMMAND) & 0xFFFF;
	if (cmd & (CMD_IO | CMD_MEM))
		pci_write32(bdf, PCI_COMMAND, cmd & ~(CMD_IO | CMD_MEM));
	for (unsigned i = 0; i < nbars;)
		i += size_bar(d, i);
	if (cmd & (CMD_IO | CMD_MEM))
		pci_write32(bdf, PCI_COMMAND, cmd);
}

static void scan_bus0(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned fn = 0; fn < 8; fn++) {
			uint16_t bdf = (uint16_t)(dev << 3 | fn);
			uint32_t id = pci_read32(bdf, PCI_ID);
			uint8_t header;

			if ((id & 0xFFFF) == 0xFFFF) {
				if (fn == 0)
					break;	/* no device */
				continue;
			}
			header = (uint8_t)(pci_read32(bdf, PCI_HEADER) >> 16);
			probe(bdf, id, header & ~HEADER_MULTIFUNCTION);
			if (fn == 0 && !(header & HEADER_MULTIFUNCTION))
				break;
		}
	}
}

/* First free address of a window: past the highest BAR of this kind
 * that firmware already placed inside it. */
static uint64_t window_start(bool io, uint64_t base, uint64_t end)
{
	uint64_t next = base;

	for (unsigned n = 0; n < pci_count; n++) {
		for (unsigned i = 0; i < 6; i++) {
			const struct pci_bar *b = &pci_devs[n].bar[i];

			if (b->kind == PCI_BAR_NONE || (b->kind == PCI_BAR_IO) != io)
				continue;
			if (b->addr >= base && b->addr < end && b->addr + b->size > next)
				next = b->addr + b->size;
		}
	}
	return next;
}

/* Give BAR i of d the next aligned slot of a window; false if full. */
static bool place(struct pci_dev *d, unsigned i, uint64_t *next, uint64_t end)
{
	struct pci_bar *b = &d->bar[i];
	uint8_t offset = (uint8_t)(PCI_BAR0 + 4 * i);
	uint64_t addr = (*next + b->size - 1) & ~(b->size - 1);

	if (b->size == 0 || b->size > end || addr > end - b->size)
		return false;
	pci_write32(d->bdf, offset, (uint32_t)addr);
	if (b->kind == PCI_BAR_MEM64)
		pci_write32(d->bdf, offset + 4, (uint32_t)(addr >> 32));
	b->addr = addr;
	*next = addr + b->size;
	return true;
}

static void assign_bars(void)
{
	uint64_t mem_next = window_start(false, MEM_WINDOW_BASE, MEM_WINDOW_END);
	uint64_t io_next = window_start(true, IO_WINDOW_BASE, IO_WINDOW_END);

	for (unsigned n = 0; n < pci_count; n++) {
		struct pci_dev *d = &pci_devs[n];
		bool placed = false;

		for (unsigned i = 0; i < 6; i++) {
			struct pci_bar *b = &d->bar[i];

			if (b->kind == PCI_BAR_NONE || b->addr != 0)
				continue;	/* absent, or firmware's */
			if (b->kind == PCI_BAR_IO)
				placed |= place(d, i, &io_next, IO_WINDOW_END);
			else
				placed |= place(d, i, &mem_next, MEM_WINDOW_END);
		}
		if (placed) {
			uint32_t cmd = pci_read32(d->bdf, PCI_COMMAND) & 0xFFFF;

			pci_write32(d->bdf, PCI_COMMAND,
				    cmd | CMD_IO | CMD_MEM | CMD_MASTER);
		}
	}
}

void pci_init(void)
{
	pci_count = 0;
	scan_bus0();
	assign_bars();
}

void pci_enable(const struct pci_dev *d)
{
	uint32_t cmd = pci_read32(d->bdf, PCI_COMMAND) & 0xFFFF;
	uint32_t want = cmd | CMD_IO | CMD_MEM | CMD_MASTER;

	if (want != cmd)
		pci_write32(d->bdf, PCI_COMMAND, want);
}

bool pci_cap_next(const struct pci_dev *d, uint8_t *at, uint32_t *head)
{
	uint8_t next;

	if (*at == 0) {
		if (!(pci_read32(d->bdf, PCI_COMMAND) >> 16 & STATUS_CAPS))
			return false;
		next = (uint8_t)pci_read32(d->bdf, PCI_CAPS);
	} else {
		next = (uint8_t)(*head >> 8);
	}
	if (next < 0x40)
		return false;
	*at = next & 0xFC;
	*head = pci_read32(d->bdf, *at);
	return true;
}

uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id)
{
	uint8_t at = 0;
	uint32_t head = 0;

	for (unsigned guard = 0; guard < 48 && pci_cap_next(d, &at, &head); guard++)
		if ((head & 0xFF) == id)
			return at;
	return 0;
}

/* PIIX3/PIIX4 function 0 (the PCI-to-ISA bridge) on bus 0, if any. */
static const struct pci_dev *piix_isa(void)
{
	for (unsigned n = 0; n < pci_count; n++) {
		const struct pci_dev *d = &pci_devs[n];

		if (d->vendor == 0x8086 && (d->device == 0x7000 || d->device == 0x7110) &&
		    (d->bdf & 7) == 0)
			return d;
	}
	return NULL;
}

unsigned pci_intx_gsi(const struct pci_dev *d)
{
	const struct pci_dev *isa = piix_isa();
	unsigned slot = d->bdf >> 3 & 0x1F, pirq, route;

	if (!isa || d->irq_pin < 1 || d->irq_pin > 4 || slot == 0)
		return d->irq_line;
	pirq = (slot - 1 + d->irq_pin - 1) & 3;
	route = pci_read32(isa->bdf, PIIX_PIRQRC) >> (8 * pirq) & 0xFF;
	/* Routable ISA IRQs: 3-7, 9-12, 14, 15. */
	if (route & PIRQ_DISABLED || route < 3 || route == 8 || route == 13 ||
	    route > 15)
		return d->irq_line;
	return route;
}
