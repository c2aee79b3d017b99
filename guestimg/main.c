/*
 * main.c - the guest's life in ring 3, where boot.S's iretq lands: bring
 * up the UART, PCI and the NICs, announce "HELLO", then serve host
 * commands forever.
 */
#include "cmd.h"
#include "nic.h"
#include "pci.h"
#include "uart.h"

#ifndef KVMNET_VERSION
#define KVMNET_VERSION "0"
#endif

const char guest_version[] = KVMNET_VERSION;

void main(void)
{
	uart_init();
	pci_init();
	nic_init_all();
	cmd_loop();	/* HELLO, then commands for ever */
}
