/*
 * peer: the suite's bulk frame engine, the side of a test that plays the network.
 *
 * It sends and receives streams of test frames (the layout of kvmnet/testframe.py, built
 * and checked byte for byte here with the same LCG) on any fd that carries one frame per
 * read/write: an AF_PACKET socket bound to the peer's interface, or a tap queue (with
 * hdr_len bytes of virtio-net header before each frame; a tap fd must be non-blocking).
 * Python (kvmnet/peer/bulk.py) opens the fds inside the right namespace and turns results
 * into sentences.
 *
 * Functions return 0 (or a count) or -errno, as everywhere in native/.
 */
#ifndef KVMNET_PEER_H
#define KVMNET_PEER_H

#include <stddef.h>
#include <stdint.h>

/* cffi: begin */
/* What kvmnet_testframe_check found wrong; 0 is a whole, correct frame. */
#define KVMNET_TF_OK 0
#define KVMNET_TF_NOT_TEST 1   /* not a test frame (EtherType or magic) */
#define KVMNET_TF_SEED 2       /* a test frame of another stream; detail: its seed */
#define KVMNET_TF_SHORT 3      /* fewer bytes than the length field; detail: bytes */
#define KVMNET_TF_TRAILING 4   /* bytes past the length that are not padding; detail: count */
#define KVMNET_TF_PAYLOAD 5    /* payload differs; detail: first differing byte's offset */
#define KVMNET_TF_SEQ_RANGE 6  /* receive only: seq outside the stream */
#define KVMNET_TF_ADDRESS 7    /* receive only (check_addresses): another destination or source
				  MAC than the stream's; detail: 0 destination, 1 source */

#define KVMNET_PEER_BAD_SAMPLES 8

/* One stream of test frames, as a sender or a receiver sees it. */
struct kvmnet_stream {
	uint8_t dst[6], src[6]; /* the frames' addresses; acks travel from dst to src */
	uint32_t seed;
	uint32_t first_seq;
	uint32_t count;
	uint32_t size;          /* send: each frame's length, 28..9018 */
	uint32_t window;        /* send: frames allowed beyond the last ack; 0 = no flow control */
	uint32_t ack_every;     /* receive: ack each N frames of the stream; 0 = never */
	uint32_t hdr_len;       /* bytes before each frame on the fd: zeros out, skipped in */
	int32_t timeout_ms;     /* send: longest wait for an ack; receive: for a stream frame */
	uint32_t await_last;    /* send with a window: after the last frame, wait (up to
				   timeout_ms) for the ack of the whole stream */
	uint32_t check_addresses; /* receive: a frame not from src to expect_dst is bad */
	uint8_t expect_dst[6];  /* receive: the frames' destination, when it is not dst */
};

struct kvmnet_send_result {
	uint32_t sent;
	uint32_t acked;           /* frames received, by the last ack */
	uint32_t acked_bad;       /* frames that failed verification, by the last ack */
	uint32_t max_outstanding; /* most frames ever sent beyond the acked count */
	uint32_t full_waits;      /* times the window was full and the sender waited */
	uint64_t ns;              /* first write to last write */
	uint64_t acked_ns;        /* first write to the ack of the whole stream (await_last;
				     0 if it did not come) */
};

struct kvmnet_recv_result {
	uint32_t got;        /* distinct seqs of the stream that arrived intact */
	uint32_t bad;        /* frames of the stream (seed matches) that failed verification */
	uint32_t lost;       /* seqs that never arrived, intact or not */
	uint32_t dup;        /* frames whose seq had arrived before */
	uint32_t reordered;  /* first arrivals of a seq below the highest seen so far */
	uint32_t other;      /* frames that are not of the stream */
	uint32_t acks_sent;
	uint32_t timed_out;  /* gave up waiting before every seq arrived */
	uint32_t stopped;    /* stop_fd became readable before every seq arrived */
	uint32_t n_samples;  /* entries used in the sample_ arrays below */
	uint32_t sample_seq[KVMNET_PEER_BAD_SAMPLES];
	uint32_t sample_reason[KVMNET_PEER_BAD_SAMPLES]; /* KVMNET_TF_* */
	uint32_t sample_detail[KVMNET_PEER_BAD_SAMPLES];
	uint32_t sample_len[KVMNET_PEER_BAD_SAMPLES];    /* bytes that arrived */
	uint8_t sample_want[KVMNET_PEER_BAD_SAMPLES];    /* PAYLOAD: the byte expected at detail */
	uint8_t sample_got[KVMNET_PEER_BAD_SAMPLES];     /* PAYLOAD: the byte found there;
							    ADDRESS: the MAC found, below */
	uint8_t sample_mac[KVMNET_PEER_BAD_SAMPLES][6];
	uint32_t dup_seq[KVMNET_PEER_BAD_SAMPLES];       /* the first dup seqs */
	uint32_t late_seq[KVMNET_PEER_BAD_SAMPLES];      /* the first reordered seqs, */
	uint32_t late_after[KVMNET_PEER_BAD_SAMPLES];    /* each after this highest seq */
	uint64_t bytes;      /* frame bytes of the stream received, headers excluded */
	uint64_t ns;         /* first stream frame to last */
};

/*
 * An AF_PACKET SOCK_RAW socket bound to ifname in the calling thread's namespace, for
 * protocol (host order; 0x0003 = ETH_P_ALL), with buffer_bytes of send and receive buffer
 * (SO_*BUFFORCE). ignore_outgoing: do not see frames sent on the interface. Returns the fd.
 */
long kvmnet_peer_socket(const char *ifname, uint32_t protocol, int buffer_bytes,
			int ignore_outgoing);

/* Build test frame (seq, seed, length) into buf (cap bytes); returns length. */
long kvmnet_testframe_build(uint8_t *buf, size_t cap, const uint8_t *dst, const uint8_t *src,
			    uint32_t seq, uint32_t seed, uint32_t length);

/*
 * Check frame (len bytes) like testframe.check: KVMNET_TF_*, with the frame's seq and a
 * detail. A seed mismatch is only reported when check_seed is set.
 */
int kvmnet_testframe_check(const uint8_t *frame, size_t len, uint32_t seed, int check_seed,
			   uint32_t *seq, uint32_t *detail);

/*
 * Send s->count frames. With a window, wait for acks (EtherType 0x88B6, addressed to
 * s->src) whenever s->window frames are outstanding: -ETIMEDOUT (result filled in) if
 * none comes for s->timeout_ms.
 */
long kvmnet_peer_send(int fd, const struct kvmnet_stream *s, struct kvmnet_send_result *r);

/*
 * Receive the stream until every seq has arrived, until no frame of it came for
 * s->timeout_ms (r->timed_out), or until stop_fd (-1: none) is readable (r->stopped).
 * seen: a zeroed bitmap of (s->count + 7) / 8 bytes. With s->ack_every, acks go from
 * s->dst to s->src, and a last one when the stream is whole.
 */
long kvmnet_peer_receive(int fd, int stop_fd, const struct kvmnet_stream *s, uint8_t *seen,
			 struct kvmnet_recv_result *r);

/*
 * The tap write ceiling: count write()s of one size-byte frame (after hdr_len zero bytes)
 * on fd, one frame per call; the elapsed time goes to *ns. Returns frames written.
 */
long kvmnet_peer_write_ceiling(int fd, uint32_t hdr_len, uint32_t size, uint32_t count,
			       uint64_t *ns);
/* cffi: end */

#endif
