/*
 * irq.h - device interrupts, used only by the "irq" command: the guest is
 * otherwise polled, and each interrupt costs a ring-0 handler that the
 * suite's hosts emulate instruction by instruction.
 *
 * irq_setup() (once, on first use) masks both 8259 PICs, enables the
 * local APIC (0xFEE00000) and installs the IDT gates.  INTx goes through
 * the IOAPIC (0xFEC00000): a function's Interrupt Line register is taken
 * as its GSI, which is the IOAPIC pin, programmed level-triggered and
 * active-high.  MSI-X entries are written to message address 0xFEE00000
 * (this CPU) with the vector as data.  The ring-0 handler counts each
 * interrupt in the NIC it belongs to (n->irqs), acknowledges the device
 * through the driver's irq_ack for INTx, and sends the LAPIC its EOI.
 * An INTx pin that keeps interrupting with no NIC claiming it is masked,
 * so it cannot storm; single unclaimed interrupts are only counted.
 */
#ifndef IRQ_H
#define IRQ_H

#include <stdbool.h>
#include <stdint.h>
#include "nic.h"

/* Ring 3.  False if the hardware is not there (no IOAPIC pin, no MSI-X). */
bool irq_setup(void);
bool irq_intx_route(unsigned pin, bool masked);
void irq_intx_mask(unsigned pin, bool masked);
bool irq_msix_enable(const struct pci_dev *d, unsigned entry, uint8_t vector);
void irq_msix_disable(const struct pci_dev *d);
/* Let interrupts in while ring 3 runs (through the DPL-3 gate). */
void irq_cpu_enable(bool on);

extern volatile uint64_t irq_spurious_count;
extern volatile uint64_t irq_doorbell_count;	/* IRQ_VEC_DOORBELL's */

/* Ring 0, from irq_entry.S. */
void irq_dispatch(uint64_t vector);

#endif
