/*
 * main.c - the guest's life in ring 3, where boot.S's iretq lands: bring
 * up the UART, PCI and the NICs, announce "HELLO", then serve host
 * commands forever.
 */
#include "cmd.h"
#include "cpu.h"
#include "nic.h"
#include "pci.h"
#include "proto.h"
#include "uart.h"

#ifndef KVMNET_VERSION
#define KVMNET_VERSION "0"
#endif

const char guest_version[] = KVMNET_VERSION;

void main(void)
{
	static struct request req;
	struct fmt f;

	uart_init();
	pci_init();
	nic_init_all();

	/* End any line firmware left open (SeaBIOS prints "Booting from
	 * ROM.." with no newline): protocol lines must start a line. */
	uart_putc('\n');

	proto_begin(&f, 0, "HELLO kvmnet-guest ");
	fmt_str(&f, guest_version);
	fmt_str(&f, " ring=");
	fmt_dec(&f, cpu_ring());	/* from CS: proves we run in ring 3 */
	proto_send(&f);

	for (;;) {
		proto_read(&req);
		cmd_run(&req);
	}
}
