/* testframe.c - test frame generator and checker; see testframe.h. */
#include "testframe.h"
#include "lib.h"

#define ETHERTYPE	TF_ETHERTYPE
#define ACK_ETHERTYPE	TF_ACK_ETHERTYPE
#define LCG_A		TF_LCG_A
#define LCG_C		TF_LCG_C
#define SEQ_MIX		TF_SEQ_MIX

static const uint8_t magic[4] = TF_MAGIC;
static const uint8_t ack_magic[4] = TF_ACK_MAGIC;

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

/* The payload's first byte that is not the generator's, as its offset in
 * p (want, got set); len if there is none. */
static unsigned payload_diff(const uint8_t *p, uint32_t seed, uint32_t seq,
			     unsigned len, uint8_t *want, uint8_t *got)
{
	uint32_t x = seed ^ (seq * SEQ_MIX), word;
	unsigned at = 0, end;

	for (; at + 4 <= len; at += 4) {	/* a word at a time: the hot path */
		x = x * LCG_A + LCG_C;
		__builtin_memcpy(&word, p + at, 4);
		if (word != x)
			break;
	}
	if (at + 4 > len)
		x = x * LCG_A + LCG_C;	/* the tail's state */
	end = at + 4 < len ? at + 4 : len;
	for (unsigned i = at; i < end; i++) {
		if (p[i] != (uint8_t)(x >> (8 * (i - at)))) {
			*want = (uint8_t)(x >> (8 * (i - at)));
			*got = p[i];
			return i;
		}
	}
	return len;
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
			 uint32_t *seq, struct tf_fault *fault)
{
	struct tf_fault scratch;
	unsigned length;

	if (!fault)
		fault = &scratch;
	memset(fault, 0, sizeof(*fault));
	fault->len = len;

	if (len < TF_HEADER || get_be16(f + 12) != ETHERTYPE ||
	    memcmp(f + 14, magic, 4) != 0)
		return TF_OTHER;
	if (get_be32(f + 22) != seed)
		return TF_FOREIGN;
	*seq = get_be32(f + 18);
	length = fault->length = get_be16(f + 26);
	if (length < TF_MIN || length > TF_MAX)
		return TF_LENGTH;
	if (len < length)
		return TF_SHORT;
	for (unsigned i = length; i < len; i++) {
		if (len > 60 || f[i]) {	/* only zeros up to 60 are padding */
			fault->at = i;
			fault->got = f[i];
			return TF_PADDING;
		}
	}
	fault->at = TF_HEADER + payload_diff(f + TF_HEADER, seed, *seq,
					     length - TF_HEADER, &fault->want,
					     &fault->got);
	if (fault->at < length)
		return TF_PAYLOAD;
	return TF_GOOD;
}

const char *tf_why(enum tf_verdict v)
{
	static const char *const words[] = {
		[TF_GOOD] = "good",
		[TF_OTHER] = "other",
		[TF_FOREIGN] = "foreign",
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
