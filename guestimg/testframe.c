/* testframe.c - test frame generator and checker; see testframe.h. */
#include "testframe.h"
#include "lib.h"

#define ETHERTYPE	0x88B5
#define ACK_ETHERTYPE	0x88B6
#define LCG_A		1664525u
#define LCG_C		1013904223u
#define SEQ_MIX		0x9E3779B1u

static const uint8_t magic[4] = { 'K', 'V', 'M', 'N' };
static const uint8_t ack_magic[4] = { 'K', 'A', 'C', 'K' };

static void payload(uint8_t *p, uint32_t seed, uint32_t seq, unsigned len)
{
	uint32_t x = seed ^ (seq * SEQ_MIX);

	for (; len >= 4; len -= 4, p += 4) {
		x = x * LCG_A + LCG_C;
		__builtin_memcpy(p, &x, 4);	/* little-endian, like the CPU */
	}
	if (len) {
		x = x * LCG_A + LCG_C;
		for (unsigned i = 0; i < len; i++)
			p[i] = (uint8_t)(x >> (8 * i));
	}
}

static bool payload_ok(const uint8_t *p, uint32_t seed, uint32_t seq,
		       unsigned len)
{
	uint32_t x = seed ^ (seq * SEQ_MIX), got;

	for (; len >= 4; len -= 4, p += 4) {
		x = x * LCG_A + LCG_C;
		__builtin_memcpy(&got, p, 4);
		if (got != x)
			return false;
	}
	if (len) {
		x = x * LCG_A + LCG_C;
		for (unsigned i = 0; i < len; i++)
			if (p[i] != (uint8_t)(x >> (8 * i)))
				return false;
	}
	return true;
}

void tf_build(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
	      uint32_t seq, uint32_t seed, unsigned length)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put_be16(f + 12, ETHERTYPE);
	memcpy(f + 14, magic, 4);
	put_be32(f + 18, seq);
	put_be32(f + 22, seed);
	put_be16(f + 26, (uint16_t)length);
	payload(f + TF_HEADER, seed, seq, length - TF_HEADER);
}

enum tf_verdict tf_check(const uint8_t *f, unsigned len, uint32_t seed,
			 uint32_t *seq)
{
	unsigned length;

	if (len < TF_HEADER || get_be16(f + 12) != ETHERTYPE ||
	    memcmp(f + 14, magic, 4) != 0 || get_be32(f + 22) != seed)
		return TF_OTHER;
	*seq = get_be32(f + 18);
	length = get_be16(f + 26);
	if (length < TF_MIN || length > TF_MAX)
		return TF_LENGTH;
	if (len < length)
		return TF_SHORT;
	if (len > length) {
		if (len > 60)
			return TF_PADDING;
		for (unsigned i = length; i < len; i++)
			if (f[i])
				return TF_PADDING;
	}
	if (!payload_ok(f + TF_HEADER, seed, *seq, length - TF_HEADER))
		return TF_PAYLOAD;
	return TF_GOOD;
}

const char *tf_why(enum tf_verdict v)
{
	static const char *const words[] = {
		[TF_GOOD] = "good",
		[TF_OTHER] = "other",
		[TF_LENGTH] = "length",
		[TF_SHORT] = "short",
		[TF_PADDING] = "padding",
		[TF_PAYLOAD] = "payload",
	};

	return words[v];
}

void tf_ack(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
	    uint32_t received, uint32_t bad)
{
	memset(f, 0, TF_ACK_LEN);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put_be16(f + 12, ACK_ETHERTYPE);
	memcpy(f + 14, ack_magic, 4);
	put_be32(f + 18, received);
	put_be32(f + 22, bad);
}
