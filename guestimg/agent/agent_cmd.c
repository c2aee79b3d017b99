/*
 * agent_cmd.c - the agent's command table (cmd.h's cmd_run).  The NIC
 * commands are the guest image's (../net.c, ../traffic.c, ../serve.c) on
 * the agent's nic_ops; hello, echo and exit are the guest's, exit ending
 * the program (or the VM) instead.  What needs the guest's own rings,
 * interrupts or CPU (pci, mem, the timing and fault commands, irq,
 * features, kick) answers ERR unsupported: under Linux those belong to
 * the kernel.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/reboot.h>
#include "agent.h"
#include "../cmd.h"
#include "../cpu.h"
#include "../net.h"
#include "../uart.h"

static void cmd_hello(const struct request *r)
{
	struct fmt f;

	proto_begin(&f, r->seq, "OK kvmnet-guest ");
	fmt_str(&f, guest_version);
	proto_send(&f);
}

static void cmd_echo(const struct request *r)
{
	struct fmt f;

	proto_begin(&f, r->seq, "OK");
	for (unsigned i = 1; i < r->argc; i++) {
		fmt_char(&f, ' ');
		fmt_str(&f, r->argv[i]);
	}
	proto_send(&f);
}

/* COM1: isa-debug-exit ends the VM with the code; without one, power
 * off.  stdio: the program's exit status, the code's low 8 bits. */
static void cmd_exit(const struct request *r)
{
	uint64_t code;

	if (!parse_u64(r->argv[1], &code) || code > UINT32_MAX) {
		proto_line(r->seq, "ERR", "badargs");
		return;
	}
	proto_line(r->seq, "OK", NULL);
	uart_flush();		/* the OK must leave first */
	if (!agent_on_com1)
		exit((int)(code & 0xFF));
	outl(DEBUG_EXIT_PORT, (uint32_t)code);
	reboot(RB_POWER_OFF);
	for (;;)		/* not allowed to power off either: stay quiet */
		pause();
}

static void cmd_unsupported(const struct request *r)
{
	proto_line(r->seq, "ERR", "unsupported");
}

#define ANY_ARGS (-1)

static const struct {
	const char *name;
	int nargs;		/* arguments after the name, or ANY_ARGS */
	void (*run)(const struct request *r);
} commands[] = {
	{ "hello", 0, cmd_hello },
	{ "echo", ANY_ARGS, cmd_echo },
	{ "exit", 1, cmd_exit },
	{ "nics", 0, cmd_nics },
	{ "send", ANY_ARGS, cmd_send },
	{ "recv", ANY_ARGS, cmd_recv },
	{ "bounce", 2, cmd_bounce },
	{ "serve", 2, cmd_serve },
	{ "mac", 2, cmd_mac },
	{ "reset", 1, cmd_reset },
	{ "rxmode", 2, cmd_rxmode },
	{ "mcast", ANY_ARGS, cmd_mcast },
	{ "mtu", 2, cmd_mtu },
	{ "counters", 1, cmd_counters },
	{ "pci", ANY_ARGS, cmd_unsupported },
	{ "mem", ANY_ARGS, cmd_unsupported },
	{ "spin3", ANY_ARGS, cmd_unsupported },
	{ "spin0", ANY_ARGS, cmd_unsupported },
	{ "exits", ANY_ARGS, cmd_unsupported },
	{ "doorbell", ANY_ARGS, cmd_unsupported },
	{ "hang", ANY_ARGS, cmd_unsupported },
	{ "triplefault", ANY_ARGS, cmd_unsupported },
	{ "fault", ANY_ARGS, cmd_unsupported },
	{ "features", ANY_ARGS, cmd_unsupported },
	{ "kick", ANY_ARGS, cmd_unsupported },
	{ "irq", ANY_ARGS, cmd_unsupported },
};

void cmd_run(const struct request *r)
{
	struct fmt f;

	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(r->argv[0], commands[i].name) != 0)
			continue;
		if (commands[i].nargs != ANY_ARGS &&
		    (unsigned)commands[i].nargs != r->argc - 1)
			proto_line(r->seq, "ERR", "badargs");
		else
			commands[i].run(r);
		return;
	}
	proto_begin(&f, r->seq, "ERR unknown ");
	fmt_str(&f, r->argv[0]);
	proto_send(&f);
}
