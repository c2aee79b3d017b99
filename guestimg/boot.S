/*
 * boot.S - everything that has to be assembly: the multiboot header, the
 * 32-bit entry and switch to long mode, the descriptor and page tables,
 * the exception stubs, the DPL-3 test gate and the dec/jnz spin loop.
 *
 * On kvm_pvm hosts guest ring 0 is emulated (about 0.5 us per dec/jnz
 * iteration, over 1000x slower than ring 3), so the tables are static data
 * and the path from _start to the iretq into ring 3 is a few dozen
 * instructions plus idt_init() (trap.c).
 */
#include "x86.h"

#define MB_MAGIC	0x1BADB002
#define MB_MEMINFO	0x00000002	/* we want mem_lower/upper and mmap */
#define MB_ADDRS	0x00010000	/* load from the address fields below */
#define MB_FLAGS	(MB_MEMINFO | MB_ADDRS)

/* 2 MiB page-directory entries: RAM is write-back, the PCI MMIO window
 * from 3 GiB up is uncached. */
#define PDE_RAM		(PTE_P | PTE_W | PTE_U | PTE_PS)
#define PDE_MMIO	(PDE_RAM | PTE_PWT | PTE_PCD)
#define PT_LINK		(PTE_P | PTE_W | PTE_U)

/*
 * Multiboot v1 header.  QEMU refuses 64-bit ELF kernels, so the image is
 * a flat binary and these address fields tell the loader where it goes.
 */
	.section .multiboot, "a"
	.balign 4
	.globl	mb_header		/* kvmnet.ld checks it is the first byte */
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header		/* header_addr: also the first byte */
	.long	_image_start		/* load_addr */
	.long	_load_end		/* load_end_addr: end of the file */
	.long	_bss_end		/* bss_end_addr: loader zeroes up to here */
	.long	_start			/* entry_addr */

/*
 * 32-bit entry: protected mode, paging off, flat segments,
 * EAX = 0x2BADB002, EBX = physical address of the multiboot info.
 * No stack is needed until long mode.
 */
	.section .text.boot, "ax"
	.code32
	.globl	_start
_start:
	mov	%eax, mb_magic		/* read later from ring 3 */
	mov	%ebx, mb_info

	/* The TSS base is split over three descriptor fields, which the
	 * assembler cannot compute from a symbol; fill them here. */
	mov	$tss, %eax
	mov	%ax, gdt_tss + 2
	shr	$16, %eax
	mov	%al, gdt_tss + 4
	mov	%ah, gdt_tss + 7
	lgdt	gdt_desc

	mov	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx		/* EFER = LME only: one wrmsr, no rdmsr */
	mov	$EFER_LME, %eax
	xor	%edx, %edx
	wrmsr
	mov	$(CR0_PG | CR0_PE), %eax
	mov	%eax, %cr0
	ljmp	$KERNEL_CS, $start64

	.code64
start64:
	/* DS/ES/SS keep the loader's flat descriptors; long mode ignores
	 * their bases and the iretq below replaces SS. */
	mov	$kstack_top, %rsp
	mov	$TSS_SEL, %ax
	ltr	%ax
	lidt	idt_desc
	call	idt_init

	/* Drop to ring 3 for good, with IF=0 and IOPL=3 (port I/O; PVM hosts
	 * look at the TSS I/O bitmap instead).  The -8 gives main() the stack
	 * alignment of a normal call. */
	push	$USER_DS
	push	$(ustack_top - 8)
	push	$(RFLAGS_IOPL3 | RFLAGS_RESERVED1)
	push	$USER_CS
	push	$main
	iretq

/*
 * Exception stubs, one per vector 0-31.  Where the CPU pushes no error
 * code we push 0, so every frame has the same shape; then the vector.
 */
	.text
isr0:	push $0; push $0;  jmp isr_common	/* #DE */
isr1:	push $0; push $1;  jmp isr_common	/* #DB */
isr2:	push $0; push $2;  jmp isr_common	/* NMI */
isr3:	push $0; push $3;  jmp isr_common	/* #BP; the gate takes vector 3 */
isr4:	push $0; push $4;  jmp isr_common	/* #OF */
isr5:	push $0; push $5;  jmp isr_common	/* #BR */
isr6:	push $0; push $6;  jmp isr_common	/* #UD */
isr7:	push $0; push $7;  jmp isr_common	/* #NM */
isr8:	         push $8;  jmp isr_common	/* #DF, error code */
isr9:	push $0; push $9;  jmp isr_common
isr10:	         push $10; jmp isr_common	/* #TS, error code */
isr11:	         push $11; jmp isr_common	/* #NP, error code */
isr12:	         push $12; jmp isr_common	/* #SS, error code */
isr13:	         push $13; jmp isr_common	/* #GP, error code */
isr14:	         push $14; jmp isr_common	/* #PF, error code */
isr15:	push $0; push $15; jmp isr_common
isr16:	push $0; push $16; jmp isr_common	/* #MF */
isr17:	         push $17; jmp isr_common	/* #AC, error code */
isr18:	push $0; push $18; jmp isr_common	/* #MC */
isr19:	push $0; push $19; jmp isr_common	/* #XM */
isr20:	push $0; push $20; jmp isr_common	/* #VE */
isr21:	         push $21; jmp isr_common	/* #CP, error code */
isr22:	push $0; push $22; jmp isr_common
isr23:	push $0; push $23; jmp isr_common
isr24:	push $0; push $24; jmp isr_common
isr25:	push $0; push $25; jmp isr_common
isr26:	push $0; push $26; jmp isr_common
isr27:	push $0; push $27; jmp isr_common
isr28:	push $0; push $28; jmp isr_common
isr29:	         push $29; jmp isr_common	/* #VC, error code */
isr30:	         push $30; jmp isr_common	/* #SX, error code */
isr31:	push $0; push $31; jmp isr_common

/* Every exception is fatal: hand the frame (struct trap_frame) to C,
 * which prints the FAULT line and exits the VM. */
isr_common:
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	trap_fault
1:	hlt
	jmp	1b

/*
 * The DPL-3 gate, reached from ring 3 with int3 (see GATE_VECTOR in
 * x86.h), a service number in RAX and its argument in RDI.  Interrupt
 * gate, so IF stays 0.
 */
	.globl	gate_entry
gate_entry:
	cmp	$GATE_SPIN0, %rax
	je	gate_spin0
	cmp	$GATE_TRIPLEFAULT, %rax
	je	gate_triplefault
	cmp	$GATE_IRQ_ON, %rax
	je	gate_irq_on
	cmp	$GATE_IRQ_OFF, %rax
	je	gate_irq_off
	iretq				/* unknown service: ignore */
gate_irq_on:
	/* The iretq frame is RIP, CS, RFLAGS, RSP, SS: set IF in the RFLAGS
	 * ring 3 gets back.  (PVM hosts ignore IOPL, so ring 3 cannot sti.) */
	orq	$RFLAGS_IF, 16(%rsp)
	iretq
gate_irq_off:
	andq	$~RFLAGS_IF, 16(%rsp)
	iretq
gate_spin0:
	call	spin			/* the same loop ring 3 runs */
	iretq
gate_triplefault:
	/* With an empty IDT the #UD cannot be delivered: #GP, then #DF,
	 * then shutdown.  ud2 rather than int3: KVM's emulator, which runs
	 * ring 0 on PVM hosts, cannot execute int3 in long mode. */
	lidt	null_idt_desc
	ud2

/* void spin(uint64_t n): n iterations of dec/jnz at the current ring. */
	.globl	spin
spin:
	test	%rdi, %rdi
	jz	2f
1:	dec	%rdi
	jnz	1b
2:	ret

/* void ring0_call(uint64_t service, uint64_t arg): ring 3 -> gate_entry. */
	.globl	ring0_call
ring0_call:
	mov	%rdi, %rax
	mov	%rsi, %rdi
	int3				/* vector GATE_VECTOR */
	ret

	.section .rodata
	.balign 8
	.globl	isr_table		/* trap.c points IDT vectors 0-31 here */
isr_table:
	.quad	isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7
	.quad	isr8,  isr9,  isr10, isr11, isr12, isr13, isr14, isr15
	.quad	isr16, isr17, isr18, isr19, isr20, isr21, isr22, isr23
	.quad	isr24, isr25, isr26, isr27, isr28, isr29, isr30, isr31

	.data
	.globl	mb_magic, mb_info
	.balign 4
mb_magic:	.long 0			/* EAX at entry */
mb_info:	.long 0			/* EBX at entry */

	.balign 8
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08 kernel code, 64-bit */
	.quad	0x00cf92000000ffff	/* 0x10 kernel data */
	.quad	0x00affa000000ffff	/* 0x18 user code, 64-bit, DPL 3 */
	.quad	0x00cff2000000ffff	/* 0x20 user data, DPL 3 */
gdt_tss:				/* 0x28 64-bit TSS; _start fills the base */
	.word	tss_end - tss - 1	/* limit 15:0 */
	.word	0			/* base 15:0 */
	.byte	0			/* base 23:16 */
	.byte	0x89			/* present, available 64-bit TSS */
	.byte	0			/* limit 19:16, flags */
	.byte	0			/* base 31:24 */
	.long	0			/* base 63:32 */
	.long	0
gdt_end:

gdt_desc:				/* lgdt in 32-bit mode reads 6 bytes */
	.word	gdt_end - gdt - 1
	.quad	gdt

idt_desc:
	.word	256 * 16 - 1
	.quad	idt

null_idt_desc:				/* used only by the triplefault test */
	.word	0
	.quad	0

	.balign 16
tss:
	.long	0
	.quad	kstack_top		/* rsp0: stack for entries from ring 3 */
	.quad	0, 0			/* rsp1, rsp2 */
	.quad	0
	.quad	0, 0, 0, 0, 0, 0, 0	/* ist1-7: unused */
	.quad	0
	.word	0
	.word	tss_iomap - tss		/* I/O permission bitmap offset */
/*
 * Every port allowed.  IOPL=3 already permits ring-3 port I/O on real
 * hardware, but PVM hosts do not keep the guest's IOPL and check only
 * this bitmap, so ring 3 needs both.
 */
tss_iomap:
	.fill	65536 / 8, 1, 0
	.byte	0xFF			/* the CPU reads one byte past the map */
tss_end:

/*
 * Page tables identity-mapping 0-4 GiB with 2 MiB pages: one PML4 entry,
 * four PDPT entries, four page directories (2048 entries).  Static, so
 * ring 0 spends no time building them.
 */
	.balign 4096
pml4:
	.quad	pdpt + PT_LINK
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x0000 + PT_LINK	/* 0-1 GiB */
	.quad	pd + 0x1000 + PT_LINK	/* 1-2 GiB */
	.quad	pd + 0x2000 + PT_LINK	/* 2-3 GiB */
	.quad	pd + 0x3000 + PT_LINK	/* 3-4 GiB: PCI MMIO window */
	.fill	508, 8, 0
pd:
	.set	pa, 0
	.rept	1536			/* 0 - 3 GiB */
	.quad	pa + PDE_RAM
	.set	pa, pa + 0x200000
	.endr
	.rept	512			/* 3 - 4 GiB */
	.quad	pa + PDE_MMIO
	.set	pa, pa + 0x200000
	.endr

	.bss
	.balign 4096
	.globl	idt
idt:	.skip	256 * 16		/* filled by idt_init() */
	.balign 16
kstack:	.skip	8192			/* ring 0: traps and the gate */
kstack_top:
ustack:	.skip	16384			/* ring 3: everything else */
ustack_top:

	.section .note.GNU-stack, "", @progbits	/* no executable stack */
