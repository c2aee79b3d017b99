/*
 * testframe.h - the suite's test frames and acknowledgements, byte for
 * byte as kvmnet/testframe.py (the reference) builds and checks them:
 *
 *   0  dst MAC   6  src MAC   12 EtherType 0x88B5   14 "KVMN"
 *   18 seq (be32)   22 seed (be32)   26 length (be16, 28..9018)
 *   28 payload: a 32-bit LCG (x = x * 1664525 + 1013904223) started at
 *      seed ^ (seq * 0x9E3779B1), each state stored little-endian.
 *
 * A frame may arrive zero-padded to 60 bytes.  Acknowledgements are
 * EtherType 0x88B6, "KACK", frames received (be32), frames bad (be32),
 * zero-padded to 60 bytes.
 */
#ifndef TESTFRAME_H
#define TESTFRAME_H

#include <stdint.h>

#define TF_HEADER	28
#define TF_MIN		28
#define TF_MAX		9018
#define TF_ACK_LEN	60

enum tf_verdict {
	TF_GOOD,
	TF_OTHER,	/* not a test frame, or another seed's */
	TF_LENGTH,	/* length field outside 28..9018 */
	TF_SHORT,	/* fewer bytes than the length field says */
	TF_PADDING,	/* bytes past the end that are not zero padding */
	TF_PAYLOAD,	/* payload differs from the generator's */
};

/* Where a bad frame went wrong, for the report: its length as received
 * and as its header says, and the first byte that differs (offset,
 * expected, found) for TF_PADDING and TF_PAYLOAD. */
struct tf_fault {
	unsigned len, length, at;
	uint8_t want, got;
};

void tf_build(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6],
	      uint32_t seq, uint32_t seed, unsigned length);
/* Check frame (len bytes as received) against stream seed; *seq is set
 * whenever the header is a test frame's, *fault (if not NULL) for a bad
 * one. */
enum tf_verdict tf_check(const uint8_t *frame, unsigned len, uint32_t seed,
			 uint32_t *seq, struct tf_fault *fault);
/* The word PROTOCOL.md uses for a verdict ("short", "payload", ...). */
const char *tf_why(enum tf_verdict v);
void tf_ack(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6],
	    uint32_t received, uint32_t bad);

#endif
