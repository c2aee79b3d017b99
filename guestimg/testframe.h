/*
 * testframe.h - the guest's test frames and acknowledgements: built and
 * checked byte for byte as testframe_layout.h lays them out (the layout the
 * peer's native/peer.c shares, and kvmnet/testframe.py follows).
 */
#ifndef TESTFRAME_H
#define TESTFRAME_H

#include <stdint.h>

#include "testframe_layout.h"

#define TF_ACK_LEN	TF_PADDED

enum tf_verdict {
	TF_GOOD,
	TF_OTHER,	/* not a test frame */
	TF_FOREIGN,	/* a test frame of another stream (seed) */
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
