/*
 * uart: the data path of the 16550A model (kvmnet/vmm/serial.py), the guest's COM1.
 *
 * The guest polls LSR and moves its control channel a byte per access: every RBR read, LSR
 * read and THR write is an exit. The C side owns what those touch -- the receive FIFO (a
 * ring that grows to whatever the host feeds, fed from any thread) and the transmit buffer
 * (bytes the guest wrote, handed to Python a line at a time) -- and answers them in the
 * vCPU's run loop. Python owns every other register and mirrors LCR and MCR here, which
 * decide what offset 0 means. Everything runs under the UART's lock.
 */
#ifndef KVMNET_UART_H
#define KVMNET_UART_H

#include <stddef.h>
#include <stdint.h>

/* cffi: begin */
/* Register offsets with LCR.DLAB clear, and the bits the data path reads (16550A datasheet). */
#define UART_RBR_THR 0
#define UART_LSR 5

#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_TX_SIZE 1024 /* bytes the guest may write before Python must take them */

struct uart_private;

struct uart {
	uint8_t lcr;         /* as the guest wrote them: Python stores them, the handler reads */
	uint8_t mcr;         /* DLAB and LOOP from them (a byte store: no lock needed) */
	struct uart_private *priv;
};

int uart_init(struct uart *u);

/* Release what uart_init made. Idempotent. */
void uart_destroy(struct uart *u);

/* Bytes arriving on the line, appended to the receive FIFO (any thread). 0 or -ENOMEM. */
int uart_feed(struct uart *u, const void *data, size_t len);

/* RBR: the oldest received byte, taken from the FIFO; 0 when it is empty. */
int uart_rx_pop(struct uart *u);

/* FCR's RX clear: drop every received byte. */
void uart_rx_clear(struct uart *u);

/* LSR: the transmitter is always empty (bytes leave at once), DR while bytes wait. */
int uart_lsr(struct uart *u);

/* Move what the guest transmitted, up to size bytes, to out: the count moved. */
size_t uart_tx_take(struct uart *u, uint8_t *out, size_t size);

/*
 * The data path, answered in the vCPU's run loop (kvmnet_native.h, kvmnet_fast_handler;
 * opaque is the struct uart): byte reads of LSR, and with DLAB and LOOP clear byte reads of
 * RBR and byte writes of THR. A THR write that ends a line ('\n') or fills the buffer
 * returns KVMNET_FAST_ATTEND, for Python to take the bytes; one that finds the buffer full
 * (another vCPU wrote first) goes to Python, which takes them before it writes its own.
 * Every other access goes to Python.
 */
int uart_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
		     unsigned int size, int is_write);
/* cffi: end */

#endif
