/*
 * pci.h - PCI bus 0 through configuration mechanism #1 (0xCF8/0xCFC,
 * 32-bit accesses only).  pci_init() finds every function, sizes its
 * BARs, places the BARs firmware left at 0 and records it all in
 * pci_devs[] for the "pci" command and for tests that drive devices.
 */
#ifndef PCI_H
#define PCI_H

#include <stdbool.h>
#include <stdint.h>

enum pci_bar_kind {
	PCI_BAR_NONE,	/* not implemented, or the upper half of a 64-bit BAR */
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,
};

struct pci_bar {
	enum pci_bar_kind kind;
	uint64_t addr;	/* 0 if unassigned and no room was left */
	uint64_t size;
};

struct pci_dev {
	uint16_t bdf;		/* bus << 8 | device << 3 | function */
	uint16_t vendor, device;
	uint32_t class_code;	/* class << 16 | subclass << 8 | prog-if */
	uint8_t header_type;	/* without the multi-function bit */
	uint8_t irq_line;	/* config 0x3C, as firmware left it */
	uint8_t irq_pin;	/* 0 none, 1-4 INTA#-INTD# */
	struct pci_bar bar[6];
	/* COMMAND and the BARs as the guest found them, before it touched
	 * anything: what firmware, or the VMM's reset, left. */
	uint16_t found_command;
	uint32_t found_bar[6];
};

#define PCI_MAX_DEVS 64

extern struct pci_dev pci_devs[PCI_MAX_DEVS];
extern unsigned pci_count;

void pci_init(void);
uint32_t pci_read32(uint16_t bdf, uint8_t offset);
void pci_write32(uint16_t bdf, uint8_t offset, uint32_t value);

/* COMMAND |= I/O | memory | bus master, for a driver that will use the
 * function (firmware may have left bus mastering off). */
void pci_enable(const struct pci_dev *d);

/*
 * The GSI (and IOAPIC pin) that INTx of d drives.  Normally the Interrupt
 * Line register says it.  On i440FX/PIIX machines the wire goes where the
 * PIIX routes the slot's PIRQ (QEMU: slot s, pin p -> PIRQ (s + p - 2) & 3,
 * ISA IRQ = PIRQRC[that]), and firmware may report it wrongly: qboot
 * writes 11 for an e1000 in slot 2 that PIIX routes to IRQ 10.  So there
 * the routing registers win.
 */
unsigned pci_intx_gsi(const struct pci_dev *d);

#define PCI_CAP_MSIX	0x11
#define PCI_CAP_VENDOR	0x09	/* virtio's structure locators */

/* Step through the capability list, one config read a step: start with
 * *at = 0; each call moves *at to the next capability and puts its first
 * dword (ID, next pointer, two bytes of body) in *head, which the next
 * call needs; false past the end. */
bool pci_cap_next(const struct pci_dev *d, uint8_t *at, uint32_t *head);
/* Config offset of the first capability with this ID, or 0. */
uint8_t pci_find_cap(const struct pci_dev *d, uint8_t id);

#endif
