/* See uart.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "uart.h"
#include "kvmnet_native.h"

#define RX_MIN 4096 /* the receive ring's first size; it doubles as the host feeds more */

struct uart_private {
	pthread_mutex_t lock;
	uint8_t *rx;         /* the receive FIFO: rx_len bytes from rx_head, wrapping */
	size_t rx_size;      /* a power of two (0 until the first feed) */
	size_t rx_head, rx_len;
	size_t tx_len;
	uint8_t tx[UART_TX_SIZE];
};

int uart_init(struct uart *u)
{
	struct uart_private *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
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

/* Make room for len more received bytes, keeping their order. 0 or -ENOMEM. */
static int rx_reserve(struct uart_private *p, size_t len)
{
	size_t size = p->rx_size ? p->rx_size : RX_MIN, first;
	uint8_t *rx;

	while (size - p->rx_len < len)
		size *= 2;
	if (size == p->rx_size)
		return 0;
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
	return 0;
}

int uart_feed(struct uart *u, const void *data, size_t len)
{
	struct uart_private *p = u->priv;
	const uint8_t *bytes = data;
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = rx_reserve(p, len);
	for (size_t i = 0; !ret && i < len; i++)
		p->rx[(p->rx_head + p->rx_len++) & (p->rx_size - 1)] = bytes[i];
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int rx_pop_locked(struct uart_private *p)
{
	int byte;

	if (!p->rx_len)
		return 0;
	byte = p->rx[p->rx_head];
	p->rx_head = (p->rx_head + 1) & (p->rx_size - 1);
	p->rx_len--;
	return byte;
}

static int lsr_locked(struct uart_private *p)
{
	return UART_LSR_THRE | UART_LSR_TEMT | (p->rx_len ? UART_LSR_DR : 0);
}

int uart_rx_pop(struct uart *u)
{
	int byte;

	pthread_mutex_lock(&u->priv->lock);
	byte = rx_pop_locked(u->priv);
	pthread_mutex_unlock(&u->priv->lock);
	return byte;
}

void uart_rx_clear(struct uart *u)
{
	pthread_mutex_lock(&u->priv->lock);
	u->priv->rx_len = 0;
	pthread_mutex_unlock(&u->priv->lock);
}

int uart_lsr(struct uart *u)
{
	int lsr;

	pthread_mutex_lock(&u->priv->lock);
	lsr = lsr_locked(u->priv);
	pthread_mutex_unlock(&u->priv->lock);
	return lsr;
}

size_t uart_tx_take(struct uart *u, uint8_t *out, size_t size)
{
	struct uart_private *p = u->priv;
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->tx_len < size ? p->tx_len : size;
	memcpy(out, p->tx, n);
	memmove(p->tx, p->tx + n, p->tx_len - n);
	p->tx_len -= n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* A THR write: KVMNET_FAST_DONE, ATTEND when Python should take the line, PYTHON if full. */
static int tx_put_locked(struct uart_private *p, uint8_t byte)
{
	if (p->tx_len == UART_TX_SIZE)
		return KVMNET_FAST_PYTHON;
	p->tx[p->tx_len++] = byte;
	return byte == '\n' || p->tx_len == UART_TX_SIZE ? KVMNET_FAST_ATTEND : KVMNET_FAST_DONE;
}

int uart_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
		     unsigned int size, int is_write)
{
	struct uart *u = opaque;
	struct uart_private *p = u->priv;
	int ret = KVMNET_FAST_DONE;

	if (size != 1)
		return KVMNET_FAST_PYTHON;
	/* DLAB makes offset 0 the divisor latch; LOOP sends THR to the receiver: Python's. */
	if (offset == UART_RBR_THR && ((u->lcr & UART_LCR_DLAB) || (u->mcr & UART_MCR_LOOP)))
		return KVMNET_FAST_PYTHON;
	pthread_mutex_lock(&p->lock);
	if (offset == UART_LSR && !is_write)
		*data = lsr_locked(p);
	else if (offset == UART_RBR_THR && is_write)
		ret = tx_put_locked(p, *data);
	else if (offset == UART_RBR_THR)
		*data = rx_pop_locked(p);
	else
		ret = KVMNET_FAST_PYTHON;
	pthread_mutex_unlock(&p->lock);
	return ret;
}
