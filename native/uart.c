/* See uart.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "uart.h"
#include "kvmnet_native.h"
#include "coalesced.h"

#define RX_MIN 4096 /* the receive ring's first size; it doubles as the host feeds more */
#define DIVISOR_RESET 12

struct uart_private {
	pthread_mutex_t lock;
	uint8_t *rx;         /* the receive FIFO: rx_len bytes from rx_head, wrapping */
	size_t rx_size;      /* a power of two (0 until the first byte) */
	size_t rx_head, rx_len;
	struct kvmnet_coalesced *coalesced; /* the VM's ring, where THR is a zone (or NULL) */
	int tx_attend;       /* a line ended or the buffer filled since Python last took */
	size_t tx_len;
	uint8_t tx[UART_TX_SIZE];
};

int uart_init(struct uart *u)
{
	struct uart_private *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	u->lcr = u->mcr = 0;
	u->divisor = DIVISOR_RESET;
	u->priv = p;
	return 0;
}

void uart_destroy(struct uart *u)
{
	if (!u->priv)
		return;
	pthread_mutex_destroy(&u->priv->lock);
	free(u->priv->rx);
	free(u->priv);
	u->priv = NULL;
}

/* Append len received bytes, growing the ring as needed and keeping their order. */
static int rx_push_locked(struct uart_private *p, const uint8_t *data, size_t len)
{
	size_t size = p->rx_size ? p->rx_size : RX_MIN, first;
	uint8_t *rx;

	while (size - p->rx_len < len)
		size *= 2;
	if (size != p->rx_size) {
		rx = malloc(size);
		if (!rx)
			return -ENOMEM;
		first = p->rx_len < p->rx_size - p->rx_head ? p->rx_len : p->rx_size - p->rx_head;
		if (p->rx_len) {
			memcpy(rx, p->rx + p->rx_head, first);
			memcpy(rx + first, p->rx, p->rx_len - first);
		}
		free(p->rx);
		p->rx = rx;
		p->rx_size = size;
		p->rx_head = 0;
	}
	for (size_t i = 0; i < len; i++)
		p->rx[(p->rx_head + p->rx_len++) & (p->rx_size - 1)] = data[i];
	return 0;
}

int uart_feed(struct uart *u, const void *data, size_t len)
{
	int ret;

	pthread_mutex_lock(&u->priv->lock);
	ret = rx_push_locked(u->priv, data, len);
	pthread_mutex_unlock(&u->priv->lock);
	return ret;
}

/* A byte written to offset 0: KVMNET_FAST_DONE, or PYTHON if the transmit buffer is full. */
static int data_write_locked(struct uart *u, uint8_t byte)
{
	struct uart_private *p = u->priv;

	if (u->lcr & UART_LCR_DLAB) {
		u->divisor = (u->divisor & 0xff00) | byte;
		return KVMNET_FAST_DONE;
	}
	if (u->mcr & UART_MCR_LOOP) {
		rx_push_locked(p, &byte, 1); /* without memory the byte is lost, as in an overrun */
		return KVMNET_FAST_DONE;
	}
	if (p->tx_len == UART_TX_SIZE)
		return KVMNET_FAST_PYTHON;
	p->tx[p->tx_len++] = byte;
	if (byte == '\n' || p->tx_len == UART_TX_SIZE)
		p->tx_attend = 1;
	return KVMNET_FAST_DONE;
}

/*
 * Apply the THR writes KVM coalesced, oldest first, as if each had exited now: everything
 * that could tell (offset 0, DLM, LSR, an LCR or MCR change, an RX clear, a take) comes here
 * first, without the UART's lock (the ring's entries reach uart_fast_access, which takes
 * it). The ring stops at a write that finds the transmit buffer full, for the next take.
 */
static void drain(struct uart *u)
{
	struct kvmnet_coalesced *c = __atomic_load_n(&u->priv->coalesced, __ATOMIC_ACQUIRE);

	if (c)
		kvmnet_coalesced_drain(c);
}

void uart_set_control(struct uart *u, uint8_t lcr, uint8_t mcr)
{
	drain(u);
	pthread_mutex_lock(&u->priv->lock);
	u->lcr = lcr;
	u->mcr = mcr;
	pthread_mutex_unlock(&u->priv->lock);
}

void uart_rx_clear(struct uart *u)
{
	drain(u);
	pthread_mutex_lock(&u->priv->lock);
	u->priv->rx_len = 0;
	pthread_mutex_unlock(&u->priv->lock);
}

size_t uart_tx_take(struct uart *u, uint8_t *out, size_t size)
{
	struct uart_private *p = u->priv;
	size_t n;

	drain(u);
	pthread_mutex_lock(&p->lock);
	n = p->tx_len < size ? p->tx_len : size;
	memcpy(out, p->tx, n);
	memmove(p->tx, p->tx + n, p->tx_len - n);
	p->tx_len -= n;
	p->tx_attend = 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void uart_coalesce(struct uart *u, struct kvmnet_coalesced *coalesced)
{
	drain(u);
	__atomic_store_n(&u->priv->coalesced, coalesced, __ATOMIC_RELEASE);
}

static uint8_t data_read_locked(struct uart *u)
{
	struct uart_private *p = u->priv;
	uint8_t byte;

	if (u->lcr & UART_LCR_DLAB)
		return u->divisor & 0xff;
	if (!p->rx_len)
		return 0;
	byte = p->rx[p->rx_head];
	p->rx_head = (p->rx_head + 1) & (p->rx_size - 1);
	p->rx_len--;
	return byte;
}

int uart_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
		     unsigned int size, int is_write)
{
	struct uart *u = opaque;
	struct uart_private *p = u->priv;
	int ret = KVMNET_FAST_DONE;

	if (size != 1 || !(offset == UART_RBR_THR || offset == UART_DLM || offset == UART_LSR))
		return KVMNET_FAST_PYTHON;
	drain(u); /* (nothing, when this is the ring's own entry being applied) */
	pthread_mutex_lock(&p->lock);
	if (offset == UART_LSR && !is_write) /* the transmitter is always empty */
		*data = UART_LSR_THRE | UART_LSR_TEMT | (p->rx_len ? UART_LSR_DR : 0);
	else if (offset == UART_DLM && (u->lcr & UART_LCR_DLAB) && is_write)
		u->divisor = (u->divisor & 0xff) | *data << 8;
	else if (offset == UART_DLM && (u->lcr & UART_LCR_DLAB))
		*data = u->divisor >> 8;
	else if (offset == UART_RBR_THR && is_write)
		ret = data_write_locked(u, *data);
	else if (offset == UART_RBR_THR)
		*data = data_read_locked(u);
	else
		ret = KVMNET_FAST_PYTHON; /* IER, or a write to LSR */
	if (ret == KVMNET_FAST_DONE && p->tx_attend)
		ret = KVMNET_FAST_ATTEND;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
