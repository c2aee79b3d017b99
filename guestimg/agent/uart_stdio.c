/*
 * uart_stdio.c - the uart.h calls, on one of two transports: COM1, by the
 * guest's own ../uart.c (built with its functions renamed com1_*, see the
 * Makefile), or stdin/stdout once uart_use_stdio() has been called, so
 * that the agent can be tested on a host without touching its ports.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include "agent.h"
#include "../uart.h"

void com1_init(void);
void com1_putc(char c);
void com1_flush(void);
char com1_getc(void);
int com1_poll(void);

static bool use_stdio;

/* Output waits here until a line is complete: one write() a line. */
static char out[512];
static size_t out_len;

void uart_use_stdio(void)
{
	use_stdio = true;
}

static void out_flush(void)
{
	size_t done = 0;

	while (done < out_len) {
		ssize_t n = write(STDOUT_FILENO, out + done, out_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			exit(0);	/* the host closed its end: nobody to serve */
		done += (size_t)n;
	}
	out_len = 0;
}

/* One byte from stdin; -1 at its end. */
static int in_byte(void)
{
	char c;
	ssize_t n;

	while ((n = read(STDIN_FILENO, &c, 1)) < 0 && errno == EINTR)
		;
	return n == 1 ? (unsigned char)c : -1;
}

void uart_init(void)
{
	if (!use_stdio)
		com1_init();
}

void uart_putc(char c)
{
	if (!use_stdio) {
		com1_putc(c);
		return;
	}
	out[out_len++] = c;
	if (c == '\n' || out_len == sizeof(out))
		out_flush();
}

void uart_write(const char *s, size_t n)
{
	while (n--)
		uart_putc(*s++);
}

void uart_flush(void)
{
	if (!use_stdio)
		com1_flush();
	else
		out_flush();
}

char uart_getc(void)
{
	int c;

	if (!use_stdio)
		return com1_getc();
	out_flush();
	if ((c = in_byte()) < 0)
		exit(0);	/* the host is done */
	return (char)c;
}

int uart_poll(void)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	int c;

	if (!use_stdio)
		return com1_poll();
	if (poll(&p, 1, 0) != 1)
		return -1;
	c = in_byte();
	return c < 0 ? '\n' : c;	/* the end of input stops a command too */
}
