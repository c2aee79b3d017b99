/*
 * lib.h - the freestanding basics: mem and str functions (GCC may call
 * memcpy/memset itself), a bounded string builder for protocol lines, and
 * number parsing for command arguments.
 */
#ifndef LIB_H
#define LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* KVMNET_HOSTED: built as a Linux program (agent/), where the C library
 * has the mem and str functions. */
#ifdef KVMNET_HOSTED
#include <string.h>
#else
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
#endif

/* A line under construction.  Output past FMT_MAX bytes is dropped. */
#define FMT_MAX 256
struct fmt {
	unsigned len;
	char buf[FMT_MAX];
};

void fmt_init(struct fmt *f);
void fmt_char(struct fmt *f, char c);
void fmt_str(struct fmt *f, const char *s);
void fmt_dec(struct fmt *f, uint64_t v);
/* Lowercase hex, no 0x, zero-padded to at least min_digits digits. */
void fmt_hex(struct fmt *f, uint64_t v, unsigned min_digits);

/* Big-endian fields of frames, at any alignment. */
static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Value of hex digit c (either case), or -1. */
int hex_digit(char c);
/* Decimal, or hex with a 0x prefix; the whole string must be the number.
 * False on empty input, junk or overflow. */
bool parse_u64(const char *s, uint64_t *out);
/* A MAC address as 12 hex digits, or six 2-digit groups split by ':'. */
bool parse_mac(const char *s, uint8_t mac[6]);
/* 12 lowercase hex digits, no separators. */
void fmt_mac(struct fmt *f, const uint8_t mac[6]);

#endif
