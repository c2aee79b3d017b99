/* See peer.h. The frame layout and the LCG are kvmnet/testframe.py's. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_packet.h>

#include "peer.h"

#include "testframe_layout.h" /* guestimg/: the guest builds and checks the same frames */

#define LCG_A TF_LCG_A
#define LCG_C TF_LCG_C
#define SEQ_MIX TF_SEQ_MIX
/* One read: the largest tap frame and a virtio-net header. */
#define DATAGRAM_MAX (65536 + 64)
/* Retry a write the fd refused for lack of room this often (ms) until the timeout. */
#define ROOM_WAIT_MS 10

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t lcg_start(uint32_t seed, uint32_t seq)
{
	return seed ^ (seq * SEQ_MIX);
}

/*
 * Payload bytes: the LCG's successive states, little-endian. Four interleaved chains (each
 * stepped by the LCG applied four times: A4, C4) let the multiplies overlap; a single
 * chain's dependency would make the checker the peer's bottleneck.
 */
#define LCG_A4 0x0979e791u /* A^4 */
#define LCG_C4 0xaaf95334u /* C * (A^3 + A^2 + A + 1) */

static void put_le32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 4);
#else
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
#endif
}

static void payload_fill(uint8_t *out, uint32_t n, uint32_t state)
{
	uint32_t s[4], i = 0;
	uint8_t tail[16];

	for (int k = 0; k < 4; k++)
		state = s[k] = state * LCG_A + LCG_C;
	for (; i + 16 <= n; i += 16) {
		for (int k = 0; k < 4; k++) {
			put_le32(out + i + 4 * k, s[k]);
			s[k] = s[k] * LCG_A4 + LCG_C4;
		}
	}
	for (int k = 0; k < 4; k++)
		put_le32(tail + 4 * k, s[k]);
	memcpy(out + i, tail, n - i);
}

static int is_header(const uint8_t *f, size_t len, uint16_t ethertype, const char *magic)
{
	return len >= 18 && f[12] == ethertype >> 8 && f[13] == (ethertype & 0xff) &&
	       memcmp(f + 14, magic, 4) == 0;
}

long kvmnet_testframe_build(uint8_t *buf, size_t cap, const uint8_t *dst, const uint8_t *src,
			    uint32_t seq, uint32_t seed, uint32_t length)
{
	if (length < TF_MIN || length > TF_MAX || length > cap)
		return -EINVAL;
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = TF_ETHERTYPE >> 8;
	buf[13] = TF_ETHERTYPE & 0xff;
	memcpy(buf + 14, TF_MAGIC, 4);
	put_be32(buf + 18, seq);
	put_be32(buf + 22, seed);
	buf[26] = length >> 8;
	buf[27] = length;
	payload_fill(buf + TF_HEADER, length - TF_HEADER, lcg_start(seed, seq));
	return length;
}

int kvmnet_testframe_check(const uint8_t *f, size_t len, uint32_t seed, int check_seed,
			   uint32_t *seq, uint32_t *detail)
{
	uint32_t frame_seed, length;

	*seq = *detail = 0;
	if (len < TF_HEADER || !is_header(f, len, TF_ETHERTYPE, TF_MAGIC))
		return KVMNET_TF_NOT_TEST;
	*seq = get_be32(f + 18);
	frame_seed = get_be32(f + 22);
	length = (uint32_t)f[26] << 8 | f[27];
	if (check_seed && frame_seed != seed) {
		*detail = frame_seed;
		return KVMNET_TF_SEED;
	}
	if (len < length) {
		*detail = len;
		return KVMNET_TF_SHORT;
	}
	/* Past the length only zero padding up to the 60-byte minimum may follow. */
	if (len > length) {
		int nonzero = len > TF_PADDED;

		for (size_t i = length; i < len && !nonzero; i++)
			nonzero = f[i] != 0;
		if (nonzero) {
			*detail = len - length;
			return KVMNET_TF_TRAILING;
		}
	}
	/* At most 64 KiB (a 16-bit field): the expected payload fits the stack. */
	if (length <= TF_HEADER)
		return KVMNET_TF_OK;
	{
		uint8_t expected[length - TF_HEADER];

		payload_fill(expected, length - TF_HEADER, lcg_start(frame_seed, *seq));
		if (memcmp(f + TF_HEADER, expected, length - TF_HEADER) == 0)
			return KVMNET_TF_OK;
		for (uint32_t i = 0;; i++) {
			if (f[TF_HEADER + i] != expected[i]) {
				*detail = TF_HEADER + i;
				return KVMNET_TF_PAYLOAD;
			}
		}
	}
}

long kvmnet_peer_socket(const char *ifname, uint32_t protocol, int buffer_bytes,
			int ignore_outgoing)
{
	struct sockaddr_ll addr;
	struct ifreq ifr;
	int one = 1, fd, err;

	/* Protocol 0 until bound: no frame of another interface slips in before bind(). */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	memset(&addr, 0, sizeof(addr));
	addr.sll_family = AF_PACKET;
	addr.sll_protocol = htons(protocol);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_bytes, sizeof(int)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buffer_bytes, sizeof(int)) < 0 ||
	    (ignore_outgoing &&
	     setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0))
		goto fail;
	addr.sll_ifindex = ifr.ifr_ifindex;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

/* How one call talks to its fd: a socket (recv/send flags) or a tap (read/write). */
struct chan {
	int fd;
	int is_socket;
	uint32_t hdr_len;
};

static int chan_init(struct chan *c, int fd, uint32_t hdr_len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	c->fd = fd;
	c->is_socket = S_ISSOCK(st.st_mode);
	c->hdr_len = hdr_len;
	return 0;
}

/* One datagram without waiting: its length, -EAGAIN if none, or -errno. */
static long chan_read(struct chan *c, uint8_t *buf, size_t cap)
{
	ssize_t n;

	do {
		n = c->is_socket ? recv(c->fd, buf, cap, MSG_DONTWAIT) : read(c->fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

#define WAIT_STOPPED 2

/*
 * Wait up to timeout_ms (-1: for ever) for events on the channel, or for stop_fd (if not
 * -1) to become readable: 1 when the events came, WAIT_STOPPED, 0 on timeout, or -errno.
 */
static int chan_wait_stop(struct chan *c, short events, int stop_fd, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = c->fd, .events = events }, { .fd = stop_fd, .events = POLLIN } };
	int n;

	do {
		n = poll(p, stop_fd < 0 ? 1 : 2, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (stop_fd >= 0 && p[1].revents)
		return WAIT_STOPPED;
	if (n && (p[0].revents & (POLLERR | POLLNVAL)) && !(p[0].revents & events))
		return -EIO;
	return n;
}

static int chan_wait(struct chan *c, short events, int timeout_ms)
{
	return chan_wait_stop(c, events, -1, timeout_ms);
}

/* Write one whole datagram, waiting for room up to timeout_ms; -ETIMEDOUT past it. */
static long chan_write(struct chan *c, const uint8_t *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000;

	for (;;) {
		ssize_t n = c->is_socket ? send(c->fd, buf, len, MSG_DONTWAIT) : write(c->fd, buf, len);

		if (n >= 0)
			return n == (ssize_t)len ? 0 : -EMSGSIZE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return -errno;
		if (timeout_ms >= 0 && now_ns() > deadline)
			return -ETIMEDOUT;
		/* ENOBUFS does not wake POLLOUT: wait a short, bounded time instead. */
		int waited = chan_wait(c, POLLOUT, ROOM_WAIT_MS);

		if (waited < 0)
			return waited;
	}
}

/* Take every ack waiting on the channel; the highest count wins (they are cumulative). */
static long drain_acks(struct chan *c, const struct kvmnet_stream *s, uint8_t *buf,
		       struct kvmnet_send_result *r)
{
	for (;;) {
		long n = chan_read(c, buf, DATAGRAM_MAX);
		const uint8_t *f = buf + c->hdr_len;

		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return n;
		if ((size_t)n < c->hdr_len + 26 || !is_header(f, n - c->hdr_len, TF_ACK_ETHERTYPE, TF_ACK_MAGIC) ||
		    memcmp(f, s->src, 6) != 0)
			continue;
		/* More than was sent: an ack left over from an earlier stream. */
		if (get_be32(f + 18) >= r->acked && get_be32(f + 18) <= r->sent) {
			r->acked = get_be32(f + 18);
			r->acked_bad = get_be32(f + 22);
		}
	}
}

long kvmnet_peer_send(int fd, const struct kvmnet_stream *s, struct kvmnet_send_result *r)
{
	uint8_t *buf, *rbuf;
	struct chan c;
	uint64_t start = 0;
	long ret;

	memset(r, 0, sizeof(*r));
	if (s->size < TF_MIN || s->size > TF_MAX)
		return -EINVAL;
	ret = chan_init(&c, fd, s->hdr_len);
	if (ret < 0)
		return ret;
	buf = calloc(1, s->hdr_len + s->size);
	rbuf = malloc(DATAGRAM_MAX);
	if (!buf || !rbuf) {
		ret = -ENOMEM;
		goto out;
	}
	/* Whatever waits on a reused fd (a tap's queue) is from before this stream. */
	while (s->window && (ret = chan_read(&c, rbuf, DATAGRAM_MAX)) >= 0)
		;
	if (ret < 0 && ret != -EAGAIN)
		goto out;
	for (uint32_t i = 0; i < s->count; i++) {
		while (s->window && r->sent - r->acked >= s->window) {
			int ready;

			r->full_waits++;
			ready = chan_wait(&c, POLLIN, s->timeout_ms);
			if (ready <= 0) {
				ret = ready < 0 ? ready : -ETIMEDOUT;
				goto out;
			}
			ret = drain_acks(&c, s, rbuf, r);
			if (ret < 0)
				goto out;
		}
		kvmnet_testframe_build(buf + s->hdr_len, s->size, s->dst, s->src,
				       s->first_seq + i, s->seed, s->size);
		ret = chan_write(&c, buf, s->hdr_len + s->size, s->timeout_ms);
		if (ret < 0)
			goto out;
		if (!r->sent)
			start = now_ns();
		r->sent++;
		r->ns = now_ns() - start;
		if (s->window && r->sent - r->acked > r->max_outstanding)
			r->max_outstanding = r->sent - r->acked;
	}
	/* Acks that came while sending: the result says how far the receiver got. */
	ret = s->window ? drain_acks(&c, s, rbuf, r) : 0;
	/* The stream ends when the receiver has all of it: a rate timed to the last write
	   would leave out the window still in flight. A stream that loses frames never gets
	   that ack; its result says so with acked_ns 0, and is not an error. */
	while (ret == 0 && s->window && s->await_last && r->acked < r->sent) {
		int ready = chan_wait(&c, POLLIN, s->timeout_ms);

		if (ready <= 0) {
			ret = ready < 0 ? ready : 0;
			break;
		}
		ret = drain_acks(&c, s, rbuf, r);
	}
	if (ret == 0 && s->await_last && r->sent && r->acked == r->sent)
		r->acked_ns = now_ns() - start;
out:
	free(buf);
	free(rbuf);
	return ret;
}

static long send_ack(struct chan *c, const struct kvmnet_stream *s, struct kvmnet_recv_result *r)
{
	uint8_t ack[64 + TF_PADDED];
	uint8_t *f = ack + c->hdr_len;

	if (c->hdr_len > 64)
		return -EINVAL;
	memset(ack, 0, sizeof(ack));
	memcpy(f, s->src, 6);
	memcpy(f + 6, s->dst, 6);
	f[12] = TF_ACK_ETHERTYPE >> 8;
	f[13] = TF_ACK_ETHERTYPE & 0xff;
	memcpy(f + 14, TF_ACK_MAGIC, 4);
	put_be32(f + 18, r->got + r->bad);
	put_be32(f + 22, r->bad);
	r->acks_sent++;
	return chan_write(c, ack, c->hdr_len + TF_PADDED, s->timeout_ms);
}

/* The byte a whole test frame of (seed, seq) has at offset at (in its payload). */
static uint8_t payload_byte(uint32_t seed, uint32_t seq, uint32_t at)
{
	uint32_t x = lcg_start(seed, seq);

	for (uint32_t word = 0; word <= (at - TF_HEADER) / 4; word++)
		x = x * LCG_A + LCG_C;
	return x >> (8 * ((at - TF_HEADER) % 4));
}

/* Keep what went wrong with a bad frame f (len bytes), for the report. */
static void sample_bad(struct kvmnet_recv_result *r, const uint8_t *f, size_t len, uint32_t seq,
		       int reason, uint32_t detail)
{
	uint32_t i = r->n_samples;

	if (i >= KVMNET_PEER_BAD_SAMPLES)
		return;
	r->sample_seq[i] = seq;
	r->sample_reason[i] = reason;
	r->sample_detail[i] = detail;
	r->sample_len[i] = len;
	if (reason == KVMNET_TF_PAYLOAD) {
		r->sample_want[i] = payload_byte(get_be32(f + 22), seq, detail);
		r->sample_got[i] = f[detail];
	} else if (reason == KVMNET_TF_ADDRESS) {
		memcpy(r->sample_mac[i], f + 6 * detail, 6);
	}
	r->n_samples++;
}

/* Did f go from the stream's source to its destination? 0, or KVMNET_TF_ADDRESS. */
static int check_addresses(const struct kvmnet_stream *s, const uint8_t *f, uint32_t *detail)
{
	if (!s->check_addresses)
		return 0;
	*detail = memcmp(f, s->expect_dst, 6) ? 0 : memcmp(f + 6, s->src, 6) ? 1 : 2;
	return *detail < 2 ? KVMNET_TF_ADDRESS : 0;
}

/* Account one frame; 1 if it belonged to the stream. */
static int account(const struct kvmnet_stream *s, uint8_t *seen, const uint8_t *f, size_t len,
		   uint32_t *distinct, int64_t *highest, struct kvmnet_recv_result *r)
{
	uint32_t seq, detail, idx;
	int verdict = kvmnet_testframe_check(f, len, s->seed, 1, &seq, &detail);

	if (verdict == KVMNET_TF_NOT_TEST || verdict == KVMNET_TF_SEED) {
		r->other++;
		return 0;
	}
	r->bytes += len;
	idx = seq - s->first_seq;
	if (idx >= s->count) {
		r->bad++;
		sample_bad(r, f, len, seq, verdict ? verdict : KVMNET_TF_SEQ_RANGE, detail);
		return 1;
	}
	if (seen[idx / 8] & (1u << (idx % 8))) {
		if (r->dup < KVMNET_PEER_BAD_SAMPLES)
			r->dup_seq[r->dup] = seq;
		r->dup++;
		return 1;
	}
	seen[idx / 8] |= 1u << (idx % 8);
	(*distinct)++;
	if ((int64_t)idx < *highest) {
		if (r->reordered < KVMNET_PEER_BAD_SAMPLES) {
			r->late_seq[r->reordered] = seq;
			r->late_after[r->reordered] = s->first_seq + (uint32_t)*highest;
		}
		r->reordered++;
	} else {
		*highest = idx;
	}
	if (verdict == KVMNET_TF_OK)
		verdict = check_addresses(s, f, &detail);
	if (verdict == KVMNET_TF_OK) {
		r->got++;
	} else {
		r->bad++;
		sample_bad(r, f, len, seq, verdict, detail);
	}
	return 1;
}

long kvmnet_peer_receive(int fd, int stop_fd, const struct kvmnet_stream *s, uint8_t *seen,
			 struct kvmnet_recv_result *r)
{
	uint64_t start = 0, last, timeout_ns = (uint64_t)s->timeout_ms * 1000000;
	uint32_t distinct = 0, since_ack = 0;
	int64_t highest = -1;
	struct chan c;
	uint8_t *buf;
	long ret;

	memset(r, 0, sizeof(*r));
	ret = chan_init(&c, fd, s->hdr_len);
	if (ret < 0)
		return ret;
	buf = malloc(DATAGRAM_MAX);
	if (!buf)
		return -ENOMEM;
	last = now_ns();
	while (distinct < s->count) {
		long n = chan_read(&c, buf, DATAGRAM_MAX);

		if (n == -EAGAIN) {
			int wait_ms = -1;

			if (s->timeout_ms >= 0) {
				uint64_t idle = now_ns() - last;

				if (idle >= timeout_ns) {
					r->timed_out = 1;
					break;
				}
				wait_ms = (timeout_ns - idle + 999999) / 1000000;
			}
			ret = chan_wait_stop(&c, POLLIN, stop_fd, wait_ms);
			if (ret < 0)
				goto out;
			if (ret == WAIT_STOPPED) {
				r->stopped = 1;
				break;
			}
			continue;
		}
		if (n < 0) {
			ret = n;
			goto out;
		}
		if ((size_t)n < c.hdr_len ||
		    !account(s, seen, buf + c.hdr_len, n - c.hdr_len, &distinct, &highest, r)) {
			/* A flood of other frames must not keep a dead stream waiting. */
			if (s->timeout_ms >= 0 && now_ns() - last >= timeout_ns) {
				r->timed_out = 1;
				break;
			}
			continue;
		}
		last = now_ns();
		if (!start)
			start = last;
		r->ns = last - start;
		if (s->ack_every && ++since_ack >= s->ack_every) {
			since_ack = 0;
			ret = send_ack(&c, s, r);
			if (ret < 0)
				goto out;
		}
	}
	r->lost = s->count - distinct;
	ret = 0;
	/* The last ack, so that a windowed sender sees the whole stream arrive. */
	if (s->ack_every && since_ack && distinct == s->count)
		ret = send_ack(&c, s, r);
out:
	free(buf);
	return ret;
}

long kvmnet_peer_write_ceiling(int fd, uint32_t hdr_len, uint32_t size, uint32_t count,
			       uint64_t *ns)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0xfe }, src[6] = { 0x02, 0, 0, 0, 0, 0xfd };
	uint64_t start;
	uint32_t i;
	uint8_t *buf;
	long ret = 0;

	if (size < TF_MIN || size > TF_MAX)
		return -EINVAL;
	buf = calloc(1, hdr_len + size);
	if (!buf)
		return -ENOMEM;
	kvmnet_testframe_build(buf + hdr_len, size, dst, src, 0, 0, size);
	start = now_ns();
	for (i = 0; i < count; i++) {
		if (write(fd, buf, hdr_len + size) < 0) {
			ret = -errno;
			break;
		}
	}
	*ns = now_ns() - start;
	free(buf);
	return ret < 0 ? ret : (long)i;
}
