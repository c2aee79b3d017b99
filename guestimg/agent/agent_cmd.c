/*
 * agent_cmd.c - the agent's command table (cmd.h's cmd_run).  The NIC
 * commands are the guest image's (../net.c, ../traffic.c, ../serve.c) on
 * the agent's nic_ops; hello, echo and exit are the guest's, exit ending
 * the program (or the VM) instead; irq counts the interrupts Linux's
 * driver took (agent_irq.c); inet, udpsend, tcpsend and udprecv move
 * traffic through Linux's IPv4 stack (agent_inet.c).  What needs the guest's own rings or CPU
 * (pci, mem, the timing and fault commands, features, kick) answers ERR
 * kernel: under Linux those belong to the kernel.
 */
#include <stdlib.h>
#include <unistd.h>
#include <sys/reboot.h>
#include "agent.h"
#include "../cmd.h"
#include "../cpu.h"
#include "../net.h"
#include "../uart.h"

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

/* What Linux owns: PCI configuration, interrupts, virtqueues, the CPU. */
static void cmd_kernel_owned(const struct request *r)
{
	proto_line(r->seq, "ERR", "kernel");
}

static const struct command commands[] = {
	{ "hello", 0, cmd_hello },
	{ "echo", CMD_ANY_ARGS, cmd_echo },
	{ "exit", 1, cmd_exit },
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
	{ "pci", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "mem", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "spin3", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "spin0", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "exits", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "doorbell", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "hang", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "triplefault", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "fault", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "features", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "kick", CMD_ANY_ARGS, cmd_kernel_owned },
	{ "irq", 3, cmd_irq },
	{ "inet", 2, cmd_inet },
	{ "udpsend", 6, cmd_udpsend },
	{ "tcpsend", 5, cmd_tcpsend },
	{ "udprecv", 4, cmd_udprecv },
};

void cmd_loop(void)
{
	cmd_serve_forever(commands, sizeof(commands) / sizeof(commands[0]));
}
