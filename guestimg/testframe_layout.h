/*
 * testframe_layout.h - the suite's test frame, byte for byte: the one definition both C
 * sides build and check frames by (the guest's guestimg/testframe.c, the peer's
 * native/peer.c; kvmnet/testframe.py is the Python reference, guestimg/PROTOCOL.md the
 * text). Constants only, freestanding.
 *
 *   0  dst MAC   6  src MAC   12 EtherType TF_ETHERTYPE   14 "KVMN"
 *   18 seq (be32)   22 seed (be32)   26 length (be16, TF_MIN..TF_MAX)
 *   28 payload: a 32-bit LCG (x = x * TF_LCG_A + TF_LCG_C) started at
 *      seed ^ (seq * TF_SEQ_MIX), each state stored little-endian.
 *
 * A frame may arrive zero-padded to TF_PADDED bytes. Acknowledgements are EtherType
 * TF_ACK_ETHERTYPE, "KACK", frames received (be32), frames bad (be32), zero-padded to
 * TF_PADDED bytes.
 */
#ifndef TESTFRAME_LAYOUT_H
#define TESTFRAME_LAYOUT_H

#define TF_ETHERTYPE		0x88B5
#define TF_ACK_ETHERTYPE	0x88B6
#define TF_MAGIC		"KVMN"
#define TF_ACK_MAGIC		"KACK"
#define TF_OFF_SEQ		18
#define TF_OFF_SEED		22
#define TF_OFF_LENGTH		26
#define TF_HEADER		28
#define TF_MIN			28
#define TF_MAX			9018
#define TF_PADDED		60	/* the Ethernet minimum, without the FCS */
#define TF_LCG_A		1664525u
#define TF_LCG_C		1013904223u
#define TF_SEQ_MIX		0x9E3779B1u

#endif
