/*
 * trap.h - the ring-0 C code: idt_init() fills the IDT once at boot, and
 * trap_fault() reports any CPU exception as a FAULT line and ends the VM.
 * Both run in ring 0, which the host emulates slowly: keep them short.
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
__attribute__((noreturn)) void trap_fault(const struct trap_frame *f);

#endif
