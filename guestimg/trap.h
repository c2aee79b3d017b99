/*
 * trap.h - the ring-0 C code: idt_init() fills the IDT once at boot, and
 * trap_fault() reports any CPU exception as a FAULT line and ends the VM.
 * Both run in ring 0, which the host emulates slowly: keep them short.
 * (Device interrupts are irq.c's.)
 */
#ifndef TRAP_H
#define TRAP_H

#include <stdint.h>

#define FAULT_EXIT_STATUS 0x7F

/* Stack layout isr_common hands over: our two pushes, then the CPU's. */
struct trap_frame {
	uint64_t vector;
	uint64_t error_code;	/* 0 for vectors without one */
	uint64_t rip, cs, rflags, rsp, ss;
};

void idt_init(void);
/* Point an IDT vector at a handler (an interrupt gate, IF stays 0).  The
 * IDT is ordinary user-mapped memory, so ring 3 may call this too: irq.c
 * installs the device-interrupt gates that way, at native speed. */
void idt_set_gate(unsigned vector, uint64_t handler, unsigned dpl);
__attribute__((noreturn)) void trap_fault(const struct trap_frame *f);

#endif
