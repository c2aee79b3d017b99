/*
 * agent.c - kvmnet-agent's life: pick the transport, bring up the NICs,
 * announce HELLO as the guest image does, then serve host commands.
 *
 *   kvmnet-agent                 COM1 by port I/O, the NICs found on PCI:
 *                                the Linux guest's /init (or its child)
 *   kvmnet-agent --stdio [--nic <ifname>=<model>]...
 *                                stdin/stdout, for tests on a host, and
 *                                only the interfaces named
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include "agent.h"
#include "../cmd.h"
#include "../cpu.h"
#include "../proto.h"
#include "../uart.h"

#ifndef KVMNET_VERSION
#define KVMNET_VERSION "0"
#endif
#define SYSLOG_ACTION_CONSOLE_LEVEL 8

const char guest_version[] = KVMNET_VERSION;
bool agent_on_com1 = true;

void agent_note(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int len;

	len = snprintf(line, sizeof(line), "kvmnet-agent: ");
	va_start(ap, fmt);
	vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	va_end(ap);
	uart_write(line, strlen(line));
	uart_putc('\n');
}

static int usage(void)
{
	fprintf(stderr, "usage: kvmnet-agent [--stdio [--nic <ifname>=<model>]...]\n"
		"  models: rtl8139, e1000, virtio, virtio-legacy\n");
	return 2;
}

/* --nic <ifname>=<model> */
static bool add_named(char *arg)
{
	char *eq = strchr(arg, '=');
	enum nic_model model;

	if (!eq || eq == arg || !nic_model_by_name(eq + 1, &model))
		return false;
	*eq = '\0';
	return agent_nic_add(arg, model, NULL, 0);
}

/*
 * COM1 belongs to the kernel's console too.  While /dev/console is open
 * (our stdin/out/err, from init) the 8250 driver's interrupt handler
 * takes the bytes the host sends, so it is let go; and kernel messages,
 * which would land inside protocol lines, are kept off the console.
 */
static bool take_com1(void)
{
	int null;

	/* Run by hand on a host it would drive the host's serial port and
	 * take over its NICs: only init, or init's child, may. */
	if (getpid() != 1 && getppid() != 1) {
		fprintf(stderr, "kvmnet-agent: COM1 mode is for the guest's init; "
			"use --stdio --nic <ifname>=<model> elsewhere\n");
		return false;
	}
	if (syscall(SYS_iopl, 3) != 0) {
		perror("kvmnet-agent: iopl(3)");
		return false;
	}
	null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	if (null > 2)
		close(null);
	klogctl(SYSLOG_ACTION_CONSOLE_LEVEL, NULL, 1);	/* emergencies only */
	return true;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--stdio") == 0)
			agent_on_com1 = false;
		else if (strcmp(argv[i], "--nic") != 0 || i + 1 == argc || !add_named(argv[++i]))
			return usage();
	}
	if (agent_on_com1 && nic_count)	/* --nic is for tests, with --stdio */
		return usage();
	if (agent_on_com1 && !take_com1())
		return 1;
	if (!agent_on_com1)
		uart_use_stdio();	/* never port I/O on a host */
	uart_init();
	nic_init_all();

	cmd_loop();	/* HELLO, then commands for ever */
}
