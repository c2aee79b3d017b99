/*
 * uart.h - polled 16550 on COM1 (0x3F8), 115200 8N1, FIFOs on.  The only
 * channel to the host: protocol lines and free console text both go here.
 * Every register access is a VM exit, so the code avoids needless ones.
 */
#ifndef UART_H
#define UART_H

#include <stddef.h>

void uart_init(void);
void uart_putc(char c);
void uart_write(const char *s, size_t n);
/* Wait until every byte written has left the transmitter. */
void uart_flush(void);
/* Wait for and return the next received byte. */
char uart_getc(void);
/* The next received byte if one is waiting, else -1 (one or two exits). */
int uart_poll(void);

#endif
