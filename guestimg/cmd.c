/* cmd.c - command handlers and dispatch; see cmd.h and PROTOCOL.md. */
#include "cmd.h"
#include "cpu.h"
#include "multiboot.h"
#include "net.h"
#include "pci.h"
#include "uart.h"
#include "x86.h"

/* Parse argv[i] as a number no larger than max (cmd_dispatch has already
 * checked the argument count). */
static bool arg_u64(const struct request *r, unsigned i, uint64_t max,
		    uint64_t *v)
{
	return parse_u64(r->argv[i], v) && *v <= max;
}

static void reply_badargs(const struct request *r)
{
	proto_line(r->seq, "ERR", "badargs");
}

static const char *const bar_kind_name[] = {
	[PCI_BAR_IO] = "io",
	[PCI_BAR_MEM32] = "mem",
	[PCI_BAR_MEM64] = "mem64",
};

static void cmd_pci(const struct request *r)
{
	struct fmt f;

	for (unsigned n = 0; n < pci_count; n++) {
		const struct pci_dev *d = &pci_devs[n];

		proto_begin(&f, r->seq, "DATA ");
		fmt_hex(&f, d->bdf >> 8, 2);
		fmt_char(&f, ':');
		fmt_hex(&f, d->bdf >> 3 & 0x1F, 2);
		fmt_char(&f, '.');
		fmt_hex(&f, d->bdf & 7, 1);
		fmt_char(&f, ' ');
		fmt_hex(&f, d->vendor, 4);
		fmt_char(&f, ':');
		fmt_hex(&f, d->device, 4);
		fmt_str(&f, " class=");
		fmt_hex(&f, d->class_code, 6);
		fmt_str(&f, " irq=");
		fmt_dec(&f, d->irq_line);
		fmt_str(&f, " pin=");
		fmt_dec(&f, d->irq_pin);
		for (unsigned i = 0; i < 6; i++) {
			const struct pci_bar *b = &d->bar[i];

			if (b->kind == PCI_BAR_NONE)
				continue;
			fmt_str(&f, " bar");
			fmt_dec(&f, i);
			fmt_char(&f, '=');
			fmt_str(&f, bar_kind_name[b->kind]);
			fmt_char(&f, ':');
			fmt_hex(&f, b->addr, 1);
			fmt_char(&f, '/');
			fmt_hex(&f, b->size, 1);
		}
		fmt_str(&f, " found=");
		fmt_hex(&f, d->found_command, 4);
		for (unsigned i = 0; i < 6; i++) {
			fmt_char(&f, ',');
			fmt_hex(&f, d->found_bar[i], 1);
		}
		proto_send(&f);
	}
	proto_begin(&f, r->seq, "OK ");
	fmt_dec(&f, pci_count);
	proto_send(&f);
}

static void cmd_exit(const struct request *r)
{
	uint64_t code;

	if (!arg_u64(r, 1, UINT32_MAX, &code)) {
		reply_badargs(r);
		return;
	}
	proto_line(r->seq, "OK", NULL);
	uart_flush();		/* the OK must leave before the VM ends */
	outl(DEBUG_EXIT_PORT, (uint32_t)code);
	for (;;)		/* no debug-exit device: stay quiet */
		cpu_pause();
}

static void cmd_mem(const struct request *r)
{
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)mb_info;
	struct fmt f;

	if (mb_magic != MULTIBOOT_LOADER_MAGIC) {
		proto_line(r->seq, "ERR", "nomultiboot");
		return;
	}
	if (!(mbi->flags & MBI_FLAG_MEM)) {
		proto_line(r->seq, "ERR", "nomeminfo");
		return;
	}

	if (mbi->flags & MBI_FLAG_MMAP) {
		uintptr_t p = mbi->mmap_addr;
		uintptr_t end = p + mbi->mmap_length;

		while (p < end) {
			const struct multiboot_mmap_entry *e = (const void *)p;

			proto_begin(&f, r->seq, "DATA mmap base=");
			fmt_hex(&f, e->addr, 1);
			fmt_str(&f, " len=");
			fmt_hex(&f, e->len, 1);
			fmt_str(&f, " type=");
			fmt_dec(&f, e->type);
			proto_send(&f);
			p += e->size + 4;
		}
	}
	proto_begin(&f, r->seq, "OK lower=");
	fmt_dec(&f, mbi->mem_lower);
	fmt_str(&f, " upper=");
	fmt_dec(&f, mbi->mem_upper);
	proto_send(&f);
}

static void cmd_spin3(const struct request *r)
{
	uint64_t n;

	if (!arg_u64(r, 1, UINT64_MAX, &n)) {
		reply_badargs(r);
		return;
	}
	spin(n);
	proto_line(r->seq, "OK", NULL);
}

static void cmd_spin0(const struct request *r)
{
	uint64_t n;

	if (!arg_u64(r, 1, UINT64_MAX, &n)) {
		reply_badargs(r);
		return;
	}
	ring0_call(GATE_SPIN0, n);
	proto_line(r->seq, "OK", NULL);
}

static void cmd_exits(const struct request *r)
{
	uint64_t n, port;

	if (!arg_u64(r, 1, UINT64_MAX, &n) || !arg_u64(r, 2, 0xFFFF, &port)) {
		reply_badargs(r);
		return;
	}
	while (n--)
		outb((uint16_t)port, 0);
	proto_line(r->seq, "OK", NULL);
}

static void cmd_hang(const struct request *r)
{
	(void)r;
	for (;;)
		cpu_pause();
}

static void cmd_triplefault(const struct request *r)
{
	(void)r;
	ring0_call(GATE_TRIPLEFAULT, 0);	/* does not return */
}

static void cmd_fault(const struct request *r)
{
	(void)r;
	__builtin_trap();	/* ud2 in ring 3: the IDT reports vec=6 */
}

static const struct command commands[] = {
	{ "hello", 0, cmd_hello },
	{ "pci", 0, cmd_pci },
	{ "echo", CMD_ANY_ARGS, cmd_echo },
	{ "exit", 1, cmd_exit },
	{ "mem", 0, cmd_mem },
	{ "spin3", 1, cmd_spin3 },
	{ "spin0", 1, cmd_spin0 },
	{ "exits", 2, cmd_exits },
	{ "hang", 0, cmd_hang },
	{ "triplefault", 0, cmd_triplefault },
	{ "fault", 0, cmd_fault },
	{ "nics", 0, cmd_nics },
	{ "send", CMD_ANY_ARGS, cmd_send },
	{ "recv", CMD_ANY_ARGS, cmd_recv },
	{ "bounce", 2, cmd_bounce },
	{ "serve", 2, cmd_serve },
	{ "mac", 2, cmd_mac },
	{ "reset", 1, cmd_reset },
	{ "rxmode", 2, cmd_rxmode },
	{ "mcast", CMD_ANY_ARGS, cmd_mcast },
	{ "mtu", 2, cmd_mtu },
	{ "counters", 1, cmd_counters },
	{ "features", 1, cmd_features },
	{ "kick", 2, cmd_kick },
	{ "irq", 3, cmd_irq },
	{ "doorbell", 2, cmd_doorbell },
};

void cmd_loop(void)
{
	cmd_serve_forever(commands, sizeof(commands) / sizeof(commands[0]));
}
