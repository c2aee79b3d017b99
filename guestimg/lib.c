/* lib.c - see lib.h. */
#include "lib.h"

#ifndef KVMNET_HOSTED	/* hosted, the C library's are used */
/* rep stosb / rep movsb: fast on every CPU with ERMS, and frames and
 * rings are copied and cleared often enough for it to matter. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb"
			 : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *dp = d;

	__asm__ volatile("rep movsb"
			 : "+D"(dp), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp)
		return memcpy(d, s, n);
	while (n--)
		dp[n] = sp[n];
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}
#endif

void fmt_init(struct fmt *f)
{
	f->len = 0;
}

void fmt_char(struct fmt *f, char c)
{
	if (f->len < FMT_MAX)
		f->buf[f->len++] = c;
}

void fmt_str(struct fmt *f, const char *s)
{
	while (*s)
		fmt_char(f, *s++);
}

void fmt_dec(struct fmt *f, uint64_t v)
{
	char digits[20];
	unsigned n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		fmt_char(f, digits[--n]);
}

void fmt_hex(struct fmt *f, uint64_t v, unsigned min_digits)
{
	unsigned n = 1;

	while (n < 16 && v >> (4 * n))
		n++;
	if (n < min_digits)
		n = min_digits < 16 ? min_digits : 16;
	while (n--)
		fmt_char(f, "0123456789abcdef"[(v >> (4 * n)) & 0xF]);
}

int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		int d = hex_digit(*s);

		if (d < 0 || (unsigned)d >= base)
			return false;
		if (v > (UINT64_MAX - (unsigned)d) / base)
			return false;
		v = v * base + (unsigned)d;
	}
	*out = v;
	return true;
}

bool parse_mac(const char *s, uint8_t mac[6])
{
	bool colons = strlen(s) == 17;

	if (!colons && strlen(s) != 12)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hex_digit(s[0]), lo = hex_digit(s[1]);

		if (hi < 0 || lo < 0)
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (colons && i < 5 && *s++ != ':')
			return false;
	}
	return true;
}

void fmt_mac(struct fmt *f, const uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++)
		fmt_hex(f, mac[i], 2);
}
