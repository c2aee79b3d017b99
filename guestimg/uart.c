/* uart.c - see uart.h. */
#include "uart.h"
#include "cpu.h"

#define COM1 0x3F8

/* Register offsets; DLL/DLM appear at 0/1 while LCR.DLAB is set. */
#define THR 0	/* transmit holding (write) */
#define RBR 0	/* receive buffer (read) */
#define DLL 0
#define DLM 1
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5

#define LCR_8N1		0x03
#define LCR_DLAB	0x80
#define FCR_ENABLE_CLEAR 0x07	/* enable FIFOs, clear RX and TX */
#define MCR_DTR_RTS	0x03
#define LSR_DR		0x01	/* a received byte is waiting */
#define LSR_THRE	0x20	/* TX FIFO empty */
#define LSR_TEMT	0x40	/* TX FIFO and shift register empty */

#define TX_FIFO_SIZE	16

/* Bytes we may still write without reading LSR: after THRE says the FIFO
 * is empty, 16 writes are safe, so LSR is read once per 16 bytes rather
 * than before each byte. */
static unsigned tx_room;

void uart_init(void)
{
	outb(COM1 + IER, 0);		/* polled: no interrupts */
	outb(COM1 + LCR, LCR_DLAB);
	outb(COM1 + DLL, 1);		/* 115200 = 1.8432 MHz / 16 / 1 */
	outb(COM1 + DLM, 0);
	outb(COM1 + LCR, LCR_8N1);
	outb(COM1 + FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + MCR, MCR_DTR_RTS);
	tx_room = 0;
}

void uart_putc(char c)
{
	if (tx_room == 0) {
		while (!(inb(COM1 + LSR) & LSR_THRE))
			cpu_pause();
		tx_room = TX_FIFO_SIZE;
	}
	outb(COM1 + THR, (uint8_t)c);
	tx_room--;
}

void uart_write(const char *s, size_t n)
{
	while (n--)
		uart_putc(*s++);
}

void uart_flush(void)
{
	while (!(inb(COM1 + LSR) & LSR_TEMT))
		cpu_pause();
	tx_room = TX_FIFO_SIZE;
}

char uart_getc(void)
{
	while (!(inb(COM1 + LSR) & LSR_DR))
		cpu_pause();
	return (char)inb(COM1 + RBR);
}

int uart_poll(void)
{
	if (!(inb(COM1 + LSR) & LSR_DR))
		return -1;
	return (uint8_t)inb(COM1 + RBR);
}
