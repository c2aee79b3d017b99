/*
 * irq_entry.S - entry stubs for device interrupts.  One 16-byte stub per
 * vector IRQ_VEC_FIRST .. IRQ_VEC_FIRST + IRQ_VEC_COUNT - 1 pushes its
 * vector and jumps to irq_common, which saves the registers C may
 * clobber, calls irq_dispatch(vector) (irq.c) and returns with iretq.
 * Interrupts are only ever enabled in ring 3, so every entry comes from
 * ring 3 onto the TSS stack, 16-byte aligned by the CPU.
 */
#include "x86.h"

	.text
	.balign	16
	.globl	irq_stubs
irq_stubs:
	.set	vec, IRQ_VEC_FIRST
	.rept	IRQ_VEC_COUNT
	.balign	16
	pushq	$vec
	jmp	irq_common
	.set	vec, vec + 1
	.endr

irq_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	mov	72(%rsp), %rdi		/* the vector */
	sub	$8, %rsp		/* 5 + 1 + 9 pushes: realign for the call */
	call	irq_dispatch
	add	$8, %rsp
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$8, %rsp		/* the vector */
	iretq

/* The LAPIC's spurious vector: no EOI, nothing to do. */
	.globl	irq_spurious
irq_spurious:
	iretq

	.section .note.GNU-stack, "", @progbits
