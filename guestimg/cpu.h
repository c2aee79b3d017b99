/*
 * cpu.h - the few instructions C code needs: port I/O (legal in ring 3
 * because boot.S sets IOPL=3), MMIO accesses, the TSC, memory barriers,
 * reading CS and CR2, pause and hlt, plus the assembly helpers in boot.S
 * that C calls.
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

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/*
 * Memory-mapped registers.  RAM is identity-mapped, the PCI window
 * (3-4 GiB) uncached, so a register's physical address is its pointer.
 * Each access is one plain mov, which every VMM's MMIO emulation decodes.
 */
static inline uint8_t mmio_read8(uintptr_t addr)
{
	return *(volatile uint8_t *)addr;
}

static inline uint16_t mmio_read16(uintptr_t addr)
{
	return *(volatile uint16_t *)addr;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write8(uintptr_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}

static inline void mmio_write16(uintptr_t addr, uint16_t v)
{
	*(volatile uint16_t *)addr = v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

/*
 * Ordering against DMA.  x86 keeps loads in order and stores in order, so
 * the compiler is the only thing to stop for "read the flag, then the
 * data" and "write the data, then the index"; a store followed by a load
 * of another location (publish an index, then read the device's event
 * index) needs a real fence.  A locked add is one without SSE.
 */
static inline void barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

static inline void fence(void)
{
	__asm__ volatile("lock addl $0, (%%rsp)" : : : "memory", "cc");
}

/* The time-stamp counter; ring 3 may read it (CR4.TSD is clear). */
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
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
