/* irq.c - IOAPIC, LAPIC, MSI-X and the ring-0 dispatcher; see irq.h. */
#include "irq.h"
#include "cpu.h"
#include "pci.h"
#include "trap.h"
#include "x86.h"

#define PIC1_DATA	0x21
#define PIC2_DATA	0xA1

#define LAPIC		0xFEE00000u
#define LAPIC_ID	0x020
#define LAPIC_EOI	0x0B0
#define LAPIC_SVR	0x0F0
#define SVR_ENABLE	0x100

#define IOAPIC		0xFEC00000u
#define IOREGSEL	0x00
#define IOWIN		0x10
#define IOAPIC_VER	0x01
#define IOAPIC_REDTBL	0x10	/* pin p: low dword 0x10 + 2p, high + 1 */
#define RTE_LEVEL	(1u << 15)
#define RTE_MASKED	(1u << 16)

/* Unclaimed INTx interrupts in a row that make us mask the pin.  One
 * now and then is normal: with KVM's in-kernel IOAPIC on the suite's
 * hosts, each level-triggered interrupt is delivered once more after the
 * EOI although the device has already dropped its line. */
#define STORM_RUN	64

#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_FMASK		0x4000
#define MSIX_ADDRESS		0xFEE00000u

extern const char irq_stubs[];		/* irq_entry.S */
extern const char irq_spurious[];

volatile uint64_t irq_spurious_count;
volatile uint64_t irq_doorbell_count;
static unsigned unclaimed_run;	/* INTx interrupts nobody claimed, in a row */
static bool ready;
static unsigned ioapic_pins;
static uint32_t lapic_id;

static void ioapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(IOAPIC + IOREGSEL, reg);
	mmio_write32(IOAPIC + IOWIN, v);
}

static uint32_t ioapic_read(unsigned reg)
{
	mmio_write32(IOAPIC + IOREGSEL, reg);
	return mmio_read32(IOAPIC + IOWIN);
}

bool irq_setup(void)
{
	if (ready)
		return true;
	outb(PIC1_DATA, 0xFF);	/* the 8259s must not hand us vectors */
	outb(PIC2_DATA, 0xFF);
	for (unsigned v = 0; v < IRQ_VEC_COUNT; v++)
		idt_set_gate(IRQ_VEC_FIRST + v, (uint64_t)irq_stubs + 16 * v, 0);
	idt_set_gate(IRQ_VEC_SPURIOUS, (uint64_t)irq_spurious, 0);
	lapic_id = mmio_read32(LAPIC + LAPIC_ID) >> 24;
	mmio_write32(LAPIC + LAPIC_SVR, SVR_ENABLE | IRQ_VEC_SPURIOUS);
	ioapic_pins = (ioapic_read(IOAPIC_VER) >> 16 & 0xFF) + 1;
	ready = true;
	return true;
}

bool irq_intx_route(unsigned pin, bool masked)
{
	if (pin >= ioapic_pins || pin >= IRQ_VEC_MSIX - IRQ_VEC_INTX)
		return false;
	ioapic_write(IOAPIC_REDTBL + 2 * pin + 1, lapic_id << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * pin, (IRQ_VEC_INTX + pin) | RTE_LEVEL |
		     (masked ? RTE_MASKED : 0));
	return true;
}

void irq_intx_mask(unsigned pin, bool masked)
{
	ioapic_write(IOAPIC_REDTBL + 2 * pin, (IRQ_VEC_INTX + pin) | RTE_LEVEL |
		     (masked ? RTE_MASKED : 0));
}

/* MSI-X table of d, or 0 if it has none in a mapped memory BAR. */
static uintptr_t msix_table(const struct pci_dev *d, uint8_t cap)
{
	uint32_t where = pci_read32(d->bdf, (uint8_t)(cap + 4));
	const struct pci_bar *b = &d->bar[where & 7];

	if ((where & 7) > 5 || b->kind == PCI_BAR_NONE || b->kind == PCI_BAR_IO ||
	    b->addr == 0 || b->addr >= 0x100000000ull)
		return 0;
	return (uintptr_t)(b->addr + (where & ~7u));
}

bool irq_msix_enable(const struct pci_dev *d, unsigned entry, uint8_t vector)
{
	uint8_t cap = pci_find_cap(d, PCI_CAP_MSIX);
	uint32_t head;
	uintptr_t table;

	if (!cap || !(table = msix_table(d, cap)))
		return false;
	head = pci_read32(d->bdf, cap);
	if (entry > (head >> 16 & 0x7FF))
		return false;
	/* Enabled with the function masked while the entry is written. */
	pci_write32(d->bdf, cap, head | (MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK) << 16);
	table += 16 * entry;
	mmio_write32(table + 0, MSIX_ADDRESS | lapic_id << 12);
	mmio_write32(table + 4, 0);
	mmio_write32(table + 8, vector);	/* fixed, edge */
	mmio_write32(table + 12, 0);		/* unmasked */
	pci_write32(d->bdf, cap, (head & ~((uint32_t)MSIX_CTRL_FMASK << 16)) |
		    (uint32_t)MSIX_CTRL_ENABLE << 16);
	return true;
}

void irq_msix_disable(const struct pci_dev *d)
{
	uint8_t cap = pci_find_cap(d, PCI_CAP_MSIX);
	uint32_t head;

	if (!cap)
		return;
	head = pci_read32(d->bdf, cap);
	pci_write32(d->bdf, cap, head & ~((uint32_t)(MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK) << 16));
}

void irq_cpu_enable(bool on)
{
	ring0_call(on ? GATE_IRQ_ON : GATE_IRQ_OFF, 0);
}

/* Ring 0 from here on: every instruction is emulated on PVM hosts. */
void irq_dispatch(uint64_t vector)
{
	if (vector == IRQ_VEC_DOORBELL) {
		irq_doorbell_count++;
	} else if (vector >= IRQ_VEC_MSIX) {
		unsigned i = (unsigned)(vector - IRQ_VEC_MSIX);

		if (i < nic_count && nics[i].irq_kind == NIC_IRQ_MSIX)
			nics[i].irqs++;
		else
			irq_spurious_count++;
	} else {
		unsigned pin = (unsigned)(vector - IRQ_VEC_INTX);
		bool claimed = false;

		/* Ask every NIC on the line, in interrupt mode or not: a
		 * shared line stays asserted until each has been
		 * acknowledged (virtio's ISR raises INTx whether we want it
		 * or not).  Only NICs in INTx mode count it. */
		for (unsigned i = 0; i < nic_count; i++) {
			struct nic *n = &nics[i];

			if (!n->ops || n->gsi != pin || !n->ops->irq_ack(n))
				continue;
			claimed = true;
			if (n->irq_kind == NIC_IRQ_INTX)
				n->irqs++;
		}
		if (claimed) {
			unclaimed_run = 0;
		} else {
			irq_spurious_count++;
			if (++unclaimed_run >= STORM_RUN)
				irq_intx_mask(pin, true);
		}
	}
	mmio_write32(LAPIC + LAPIC_EOI, 0);
}
