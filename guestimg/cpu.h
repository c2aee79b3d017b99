/*
 * cpu.h - the few instructions C code needs: port I/O (legal in ring 3
 * because boot.S sets IOPL=3), reading CS and CR2, pause and hlt, plus the
 * assembly helpers in boot.S that C calls.
 */
#ifndef CPU_H
#define CPU_H

#include <stdint.h>

/* isa-debug-exit: an outl here ends the VM; QEMU exits with (v << 1) | 1. */
#define DEBUG_EXIT_PORT 0xF4

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* Current privilege level: the RPL bits of CS. */
static inline unsigned cpu_ring(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}

/* Faulting address of the last #PF (ring 0 only). */
static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void cpu_pause(void)
{
	__asm__ volatile("pause");
}

/* Ring 0 only: with IF=0 this stops the vCPU for good. */
__attribute__((noreturn)) static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("hlt");
}

/* boot.S */
void spin(uint64_t n);				/* n x dec/jnz, current ring */
void ring0_call(uint64_t service, uint64_t arg);	/* int3 into the gate */

#endif
