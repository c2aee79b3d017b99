/*
 * doorbell.c - "doorbell <port> <n>": n rounds of one outb to port, each
 * waiting for the interrupt at IRQ_VEC_DOORBELL before the next.  A VMM
 * that gives port the same eventfd as an ioeventfd and as an irqfd routed
 * to that vector closes the loop in the host kernel: the write signals
 * the eventfd, the irqfd injects the MSI, no exit reaches userspace.  It
 * times KVM's two in-kernel signalling paths.  A round with no interrupt
 * within DOORBELL_WAIT_TSC cycles (about a second) ends the command, as
 * does a byte from the host; "rounds" says how many completed.
 */
#include "cmd.h"
#include "cpu.h"
#include "irq.h"
#include "net.h"
#include "x86.h"

#define DOORBELL_WAIT_TSC	(1ull << 31)

void cmd_doorbell(const struct request *r)
{
	uint32_t port, want, rounds = 0;
	uint64_t spurious_before;
	struct host_watch w;
	struct fmt f;

	if (!net_arg_u32(r, 1, &port) || port > 0xFFFF || !net_arg_u32(r, 2, &want)) {
		net_reply_err(r, "badargs");
		return;
	}
	irq_setup();
	spurious_before = irq_spurious_count;
	irq_cpu_enable(true);
	host_watch_start(&w);
	while (rounds < want) {
		uint64_t seen = irq_doorbell_count;
		uint64_t deadline = rdtsc() + DOORBELL_WAIT_TSC;

		outb((uint16_t)port, 0);
		while (irq_doorbell_count == seen && rdtsc() < deadline &&
		       !host_stopped(&w))
			cpu_pause();
		if (irq_doorbell_count == seen)
			break;
		rounds++;
	}
	irq_cpu_enable(false);
	proto_begin(&f, r->seq, "OK rounds=");
	fmt_dec(&f, rounds);
	fmt_str(&f, " spurious=");
	fmt_dec(&f, irq_spurious_count - spurious_before);
	proto_send(&f);
}
