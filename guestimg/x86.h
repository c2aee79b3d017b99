/*
 * x86.h - constants shared by boot.S and the C code: GDT selectors, the
 * DPL-3 test gate, and the control-register, RFLAGS and page-table bits
 * the boot path uses.  Only #defines, so the assembler can include it.
 */
#ifndef X86_H
#define X86_H

/* GDT layout (boot.S builds it in this order). */
#define KERNEL_CS	0x08
#define KERNEL_DS	0x10
#define USER_CS		(0x18 | 3)
#define USER_DS		(0x20 | 3)
#define TSS_SEL		0x28

/*
 * The one gate ring 3 may call, with a service number in RAX and its
 * argument in RDI.  It is vector 3, entered with int3: on kvm_pvm hosts
 * "int $n" from ring 3 never reaches the guest IDT (the guest gets #UD),
 * while int3 is reflected into it like on any x86.  So a breakpoint
 * exception is not reported as a FAULT; it is this gate.
 */
#define GATE_VECTOR		3
#define GATE_SPIN0		1	/* dec/jnz RDI times in ring 0 */
#define GATE_TRIPLEFAULT	2	/* load an empty IDT and fault */
#define GATE_IRQ_ON		3	/* return to ring 3 with IF=1 */
#define GATE_IRQ_OFF		4	/* return to ring 3 with IF=0 */

/* Vectors of device interrupts (irq.c, irq_entry.S): INTx of IOAPIC pin
 * p arrives at IRQ_VEC_INTX + p, MSI-X of NIC i at IRQ_VEC_MSIX + i, and
 * the doorbell's MSI (doorbell.c) at IRQ_VEC_DOORBELL. */
#define IRQ_VEC_FIRST		0x30
#define IRQ_VEC_INTX		0x30	/* 24 IOAPIC pins: 0x30-0x47 */
#define IRQ_VEC_MSIX		0x48	/* 8 NICs: 0x48-0x4F */
#define IRQ_VEC_DOORBELL	0x50
#define IRQ_VEC_COUNT		33
#define IRQ_VEC_SPURIOUS	0xFF	/* the LAPIC's spurious vector */

/* Ring 3 runs with IOPL=3 (port I/O allowed) and IF=0 (no interrupts),
 * except while the irq command waits for device interrupts. */
#define RFLAGS_RESERVED1	0x0002
#define RFLAGS_IF		0x0200
#define RFLAGS_IOPL3		0x3000

#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xC0000080
#define EFER_LME	0x00000100

/* Page-table entry bits.  Every entry has U set: ring 3 uses all memory. */
#define PTE_P		0x001
#define PTE_W		0x002
#define PTE_U		0x004
#define PTE_PWT		0x008
#define PTE_PCD		0x010
#define PTE_PS		0x080	/* 2 MiB page in a page-directory entry */

#endif
