/* trap.c - IDT setup and the fatal-exception report; see trap.h. */
#include "trap.h"
#include "cpu.h"
#include "proto.h"
#include "uart.h"
#include "x86.h"

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;	/* present | DPL << 5 | type */
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
};

#define GATE_INTERRUPT 0x8E	/* present 64-bit interrupt gate: IF stays 0 */

/* boot.S */
extern struct idt_gate idt[256];
extern const uint64_t isr_table[32];
extern char gate_entry[];

void idt_set_gate(unsigned vector, uint64_t handler, unsigned dpl)
{
	struct idt_gate *g = &idt[vector];

	g->offset_lo = (uint16_t)handler;
	g->selector = KERNEL_CS;
	g->type_attr = (uint8_t)(GATE_INTERRUPT | dpl << 5);
	g->offset_mid = (uint16_t)(handler >> 16);
	g->offset_hi = (uint32_t)(handler >> 32);
	/* ist and reserved stay 0: the IDT is in .bss */
}

void idt_init(void)
{
	for (unsigned v = 0; v < 32; v++)
		idt_set_gate(v, isr_table[v], 0);
	idt_set_gate(GATE_VECTOR, (uint64_t)gate_entry, 3);	/* replaces isr3 */
}

void trap_fault(const struct trap_frame *f)
{
	struct fmt l;

	proto_begin(&l, 0, "FAULT");
	fmt_str(&l, " vec=");
	fmt_dec(&l, f->vector);
	fmt_str(&l, " err=");
	fmt_hex(&l, f->error_code, 1);
	fmt_str(&l, " rip=");
	fmt_hex(&l, f->rip, 1);
	if (f->vector == 14) {
		fmt_str(&l, " cr2=");
		fmt_hex(&l, read_cr2(), 1);
	}
	proto_send(&l);
	uart_flush();
	outl(DEBUG_EXIT_PORT, FAULT_EXIT_STATUS);
	cpu_halt_forever();	/* no debug-exit device */
}
