/* proto.c - framing, CRC and parsing for the COM1 protocol; see proto.h. */
#include "proto.h"
#include "uart.h"

uint32_t crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = 0xFFFFFFFF;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320 & -(crc & 1));
	}
	return ~crc;
}

void proto_begin(struct fmt *f, uint32_t seq, const char *word)
{
	fmt_init(f);
	fmt_dec(f, seq);
	fmt_char(f, ' ');
	fmt_str(f, word);
}

void proto_send(const struct fmt *f)
{
	struct fmt tail;

	fmt_init(&tail);
	fmt_char(&tail, '*');
	fmt_hex(&tail, crc32(f->buf, f->len), 8);
	fmt_char(&tail, '\n');

	uart_putc('!');
	uart_write(f->buf, f->len);
	uart_write(tail.buf, tail.len);
}

void proto_line(uint32_t seq, const char *word, const char *text)
{
	struct fmt f;

	proto_begin(&f, seq, word);
	if (text) {
		fmt_char(&f, ' ');
		fmt_str(&f, text);
	}
	proto_send(&f);
}

/* "<decimal>" fitting in 32 bits. */
static bool parse_seq(const char *s, uint32_t *seq)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*seq = (uint32_t)v;
	return true;
}

/* Check "<body>*<8 hex digits>" and split body into seq and argv.
 * line is NUL-terminated and gets cut into tokens in place. */
static bool parse_frame(char *line, size_t len, struct request *r)
{
	char *star = NULL;
	uint32_t want = 0;

	for (size_t i = 0; i < len; i++)
		if (line[i] == '*')
			star = &line[i];
	if (!star || line + len - star != 9)
		return false;
	for (int i = 1; i <= 8; i++) {
		int d = hex_digit(star[i]);

		if (d < 0)
			return false;
		want = want << 4 | (uint32_t)d;
	}
	for (char *p = line; p < star; p++)
		if (*p < 0x20 || *p > 0x7E)
			return false;
	if (crc32(line, (size_t)(star - line)) != want)
		return false;
	*star = '\0';

	/* Tokens are separated by runs of spaces. */
	char *tok[PROTO_ARGS_MAX + 1];
	unsigned n = 0;
	for (char *p = line; *p;) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p)
			tok[n++] = p;
		while (*p && *p != ' ')
			p++;
	}
	if (n < 2 || !parse_seq(tok[0], &r->seq))
		return false;
	r->argc = n - 1;
	for (unsigned i = 1; i < n; i++)
		r->argv[i - 1] = tok[i];
	return true;
}

void proto_read(struct request *r)
{
	for (;;) {
		size_t len = 0;
		bool toolong = false;
		char c;

		while ((c = uart_getc()) != '\n') {
			if (len < PROTO_LINE_MAX)
				r->line[len++] = c;
			else
				toolong = true;
		}
		if (toolong) {
			proto_line(0, "ERR", "toolong");
			continue;
		}
		if (len && r->line[len - 1] == '\r')
			len--;
		if (len == 0)
			continue;	/* blank lines are ignored */
		r->line[len] = '\0';
		if (parse_frame(r->line, len, r))
			return;
		proto_line(0, "ERR", "badframe");
	}
}
