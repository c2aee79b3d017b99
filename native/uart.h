/*
 * uart: the data path of the 16550A model (kvmnet/vmm/serial.py), the guest's COM1.
 *
 * The guest polls LSR and moves its control channel a byte per access: every RBR read, LSR
 * read and THR write would be an exit. The C side owns what those touch -- the receive FIFO
 * (a ring that grows to whatever the host feeds, fed from any thread), the transmit buffer
 * (bytes the guest wrote, handed to Python a line at a time) and the divisor latch that
 * shares offset 0 while LCR.DLAB is set -- and answers them in the vCPU's run loop. THR
 * writes need not exit at all: KVM can append them to its coalesced ring (a zone on THR,
 * KVM_REGISTER_COALESCED_MMIO with pio), which the VM's ring consumer (native/coalesced.h)
 * applies at every exit, and the UART has applied before the guest's next access to offset
 * 0 or LSR and whenever Python takes or changes what they mean. Python owns every
 * other register. Everything runs under the UART's lock.
 */
#ifndef KVMNET_UART_H
#define KVMNET_UART_H

#include <stddef.h>
#include <stdint.h>

struct kvmnet_coalesced;

/* cffi: begin */
/* Register offsets with LCR.DLAB clear, and the bits the data path reads (16550A datasheet). */
#define UART_RBR_THR 0
#define UART_DLM 1 /* with DLAB set; IER without */
#define UART_LSR 5

#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_TX_SIZE 1024 /* bytes the guest may write before Python must take them */

struct uart_private;

struct uart {
	uint8_t lcr;         /* as the guest wrote them (uart_set_control): the handler reads */
	uint8_t mcr;         /* DLAB and LOOP from them */
	uint16_t divisor;    /* DLM:DLL */
	struct uart_private *priv;
};

/* Set up with the reset values (divisor 12: 9600 baud, what firmware leaves). */
int uart_init(struct uart *u);

/* Release what uart_init made. Idempotent. */
void uart_destroy(struct uart *u);

/* Bytes arriving on the line, appended to the receive FIFO (any thread). 0 or -ENOMEM. */
int uart_feed(struct uart *u, const void *data, size_t len);

/* The guest wrote LCR or MCR: THR writes still in the coalesced ring keep the old meaning. */
void uart_set_control(struct uart *u, uint8_t lcr, uint8_t mcr);

/* FCR's RX clear: drop every received byte (looped-back ones still coalesced, too). */
void uart_rx_clear(struct uart *u);

/*
 * Move what the guest transmitted, up to size bytes, to out, taking coalesced writes first:
 * the count moved. Call until it returns 0 to take everything.
 */
size_t uart_tx_take(struct uart *u, uint8_t *out, size_t size);

/*
 * THR is a zone of the VM's coalesced ring (native/coalesced.h), which delivers its entries
 * to uart_fast_access through the port table: drain it before whatever could tell (the data
 * path, LCR/MCR changes, an RX clear, a take); NULL: stop (THR writes all exit).
 */
void uart_coalesce(struct uart *u, struct kvmnet_coalesced *coalesced);

/*
 * The data path, answered in the vCPU's run loop (kvmnet_native.h, kvmnet_fast_handler;
 * opaque is the struct uart): byte reads of LSR and byte accesses to offset 0 -- RBR/THR,
 * THR into the receiver while LOOP, the divisor latch (and DLM at 1) while DLAB. Returns
 * KVMNET_FAST_ATTEND once a line has ended or the transmit buffer filled, for Python to take
 * the bytes; a THR write that finds the buffer full (another vCPU wrote first) goes to
 * Python, which takes them before it writes its own. Every other access goes to Python
 * (having had the coalesced writes applied, which changes nothing the guest could see).
 */
int uart_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
		     unsigned int size, int is_write);
/* cffi: end */

#endif
