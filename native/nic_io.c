/* See nic_io.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "nic_io.h"
#include "coalesced.h"

/* The largest datagram a backend hands over: a tap frame of 64 KiB and a vnet header. */
#define NIC_DATAGRAM_MAX (65536 + 64)
/* Frames delivered per lock hold before nic_run lets the vCPU thread in. */
#define NIC_RX_BUDGET 64
/* How long RX defers to a busy driver before it reads the backend anyway. */
#define NIC_RX_DEFER_MS 10
/* How often nic_run drains the coalesced ring while it waits for buffers to come back. */
#define NIC_RING_POLL_MS 1

struct nic_private {
	pthread_mutex_t lock;
	const struct nic_ops *ops;
	int is_socket;       /* the backend is a socket: recv/send with MSG_DONTWAIT */
	int is_datagram;     /* ... of SOCK_DGRAM: a 0-byte read is a frame, not the end */
	int is_nonblocking;  /* O_NONBLOCK: a read says "nothing yet" itself (EAGAIN) */
	int backend_gone;    /* the backend hung up: stop polling it */
	size_t held_len;     /* a frame read but not yet accepted by the guest (0: none) */
	int held_refused;    /* the guest had no room for it at least once */
	int drained;         /* the last read found the backend empty */
	uint8_t frame[NIC_DATAGRAM_MAX];
};

int nic_core_init(struct nic_core *core, const struct nic_ops *ops, int backend_fd,
		  uint32_t vnet_hdr_size)
{
	struct nic_private *p;
	struct stat st;

	if (fstat(backend_fd, &st) < 0)
		return -errno;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	core->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (core->wake_fd < 0) {
		free(p);
		return -errno;
	}
	pthread_mutex_init(&p->lock, NULL);
	p->ops = ops;
	p->is_socket = S_ISSOCK(st.st_mode);
	p->is_nonblocking = (fcntl(backend_fd, F_GETFL) & O_NONBLOCK) != 0;
	if (p->is_socket) {
		int type = 0;
		socklen_t size = sizeof(type);

		getsockopt(backend_fd, SOL_SOCKET, SO_TYPE, &type, &size);
		p->is_datagram = type == SOCK_DGRAM;
	}
	core->backend_fd = backend_fd;
	core->vnet_hdr_size = vnet_hdr_size;
	core->defer_ms = NIC_RX_DEFER_MS;
	core->rx_budget = NIC_RX_BUDGET;
	core->rx_defer_ok = 1; /* until a deferral sees nothing come back in time */
	core->priv = p;
	return 0;
}

void nic_core_destroy(struct nic_core *core)
{
	if (!core->priv)
		return;
	close(core->wake_fd);
	core->wake_fd = -1;
	pthread_mutex_destroy(&core->priv->lock);
	free(core->priv);
	core->priv = NULL;
}

void nic_lock(struct nic_core *core)
{
	pthread_mutex_lock(&core->priv->lock);
}

void nic_unlock(struct nic_core *core)
{
	pthread_mutex_unlock(&core->priv->lock);
}

int nic_kick(struct nic_core *core)
{
	uint64_t one = 1;

	if (write(core->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int nic_rx_room(struct nic_core *core)
{
	core->rx_defer_ok = 1;
	return core->priv->held_len || core->rx_deferring ? nic_kick(core) : 0;
}

int nic_rx_drop_held(struct nic_core *core)
{
	struct nic_private *p = core->priv;
	int had = p->held_len != 0;

	p->held_len = 0;
	p->held_refused = 0;
	return had;
}

int nic_send(struct nic_core *core, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt };
	size_t len = 0;
	ssize_t n;
	int i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (core->priv->is_socket)
		n = sendmsg(core->backend_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		n = writev(core->backend_fd, iov, iovcnt);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		core->counters.tx_blocked++;
		core->tx_blocked = 1;
		nic_kick(core);
		return -EAGAIN;
	}
	if (n < 0 || (size_t)n != len) {
		int err = n < 0 ? errno : EMSGSIZE;

		core->counters.backend_errors++;
		core->counters.tx_errors++;
		return -err;
	}
	core->counters.tx_frames++;
	core->counters.tx_bytes += len - core->vnet_hdr_size;
	return 0;
}

int nic_fault_lose(struct nic_core *core)
{
	if (!(core->faults & NIC_FAULT_LOSE_DESCRIPTOR))
		return 0;
	if (core->tx_count++ % 100 != 99)
		return 0;
	core->counters.tx_lost++;
	return 1;
}

void nic_fault_corrupt(struct nic_core *core, uint8_t *frame, size_t len)
{
	/* The last byte past the Ethernet header: the payload, never the addresses. */
	if (!(core->faults & NIC_FAULT_CORRUPT_RX) || len <= 14)
		return;
	frame[len - 1] ^= 0x5a;
	core->counters.rx_corrupted++;
}

/*
 * CRC-32 in its bit-reflected form (polynomial 0xedb88320), eight bytes at a time
 * ("slicing-by-8"): table[k][b] is the CRC of byte b followed by k zero bytes. Every frame
 * an RTL8139 receives gets its CRC, so this is per-frame work.
 */
static uint32_t crc32_table[8][256];

__attribute__((constructor)) static void nic_crc32_table(void)
{
	uint32_t i, c;
	int k;

	for (i = 0; i < 256; i++) {
		for (c = i, k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc32_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc32_table[k][i] = crc32_table[k - 1][i] >> 8 ^
					    crc32_table[0][crc32_table[k - 1][i] & 0xff];
}

static uint32_t nic_crc32_le(uint32_t crc, const uint8_t *data, size_t len)
{
	const uint32_t (*t)[256] = crc32_table;

	for (; len >= 8; data += 8, len -= 8) {
		uint32_t lo = crc ^ (data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24);
		uint32_t hi = data[4] | data[5] << 8 | data[6] << 16 | (uint32_t)data[7] << 24;

		crc = t[7][lo & 0xff] ^ t[6][lo >> 8 & 0xff] ^ t[5][lo >> 16 & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][hi >> 8 & 0xff] ^ t[1][hi >> 16 & 0xff] ^ t[0][hi >> 24];
	}
	while (len--)
		crc = t[0][(crc ^ *data++) & 0xff] ^ (crc >> 8);
	return crc;
}

static uint32_t bitrev32(uint32_t x)
{
	x = (x >> 1 & 0x55555555) | (x & 0x55555555) << 1;
	x = (x >> 2 & 0x33333333) | (x & 0x33333333) << 2;
	x = (x >> 4 & 0x0f0f0f0f) | (x & 0x0f0f0f0f) << 4;
	return __builtin_bswap32(x);
}

uint32_t nic_ether_crc(const uint8_t *data, size_t len)
{
	return bitrev32(nic_crc32_le(0xffffffff, data, len));
}

void nic_fcs(const uint8_t *frame, size_t len, uint8_t fcs[4])
{
	uint32_t crc = ~nic_crc32_le(0xffffffff, frame, len);

	fcs[0] = crc;
	fcs[1] = crc >> 8;
	fcs[2] = crc >> 16;
	fcs[3] = crc >> 24;
}

uint32_t nic_csum_add(uint32_t sum, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += data[i] << 8 | data[i + 1];
	if (len & 1)
		sum += data[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* Read one datagram into the held-frame buffer: its length, 0 if none is waiting, -errno. */
static ssize_t nic_recv(struct nic_core *core)
{
	struct nic_private *p = core->priv;
	struct pollfd pfd = { .fd = core->backend_fd, .events = POLLIN };
	ssize_t n;

	if (p->is_socket) {
		n = recv(core->backend_fd, p->frame, sizeof(p->frame), MSG_DONTWAIT | MSG_TRUNC);
	} else {
		/* A char device (tap) that may block is read only when poll says there is
		 * something; a non-blocking one (kvmnet's taps) is read at once: one system call
		 * a frame, not two. */
		if (!p->is_nonblocking && (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLIN)))
			return pfd.revents & (POLLHUP | POLLERR) ? -EPIPE : 0;
		n = read(core->backend_fd, p->frame, sizeof(p->frame));
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0 && p->is_socket && (errno == ECONNREFUSED || errno == ENOBUFS ||
				      errno == ENOMEM || errno == EHOSTUNREACH)) {
		core->counters.backend_errors++; /* a socket's passing error: it was reported */
		return 0;
	}
	if (n < 0)
		return -errno;
	if ((size_t)n > sizeof(p->frame)) {
		core->counters.rx_dropped++; /* larger than any backend frame: truncated, dropped */
		return 0;
	}
	if (n == 0 && !p->is_datagram)
		return -EPIPE; /* the end of a stream, or a tap that went away */
	return n;
}

/*
 * POLLERR on the backend. A socket's pending error and error queue are read (and counted)
 * so that poll does not report them again; any other fd with an error is gone.
 */
static void nic_backend_error(struct nic_core *core)
{
	struct nic_private *p = core->priv;
	int err = 0;
	socklen_t size = sizeof(err);

	core->counters.backend_errors++;
	if (!p->is_socket) {
		p->backend_gone = 1;
		return;
	}
	getsockopt(core->backend_fd, SOL_SOCKET, SO_ERROR, &err, &size);
	while (recv(core->backend_fd, p->frame, sizeof(p->frame),
		    MSG_ERRQUEUE | MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
}

/* Offer the held frame, if any; true if it is still held. */
static int nic_offer_held(struct nic_core *core)
{
	struct nic_private *p = core->priv;

	if (!p->held_len)
		return 0;
	core->rx_reoffer = p->held_refused;
	if (p->ops->rx_frame(core, p->frame, p->held_len) == NIC_RX_DONE) {
		p->held_len = 0;
		p->held_refused = 0;
	} else if (!p->held_refused) {
		core->counters.rx_no_buffer++;
		p->held_refused = 1;
	}
	core->rx_reoffer = 0;
	return p->held_len != 0;
}

/* Read and offer frames while the guest takes them; stops at the budget or a held frame. */
static void nic_receive(struct nic_core *core)
{
	struct nic_private *p = core->priv;
	uint32_t i;

	for (i = 0; i < core->rx_budget && !core->stopping; i++) {
		ssize_t n = nic_recv(core);

		if (n < 0) {
			core->counters.backend_errors++;
			p->backend_gone = 1;
			break;
		}
		p->drained = n == 0;
		if (n == 0)
			break;
		p->held_len = n;
		if (nic_offer_held(core) || core->attention || core->irq_level != core->irq_line)
			break; /* held, or let Python raise the interrupt before more frames */
	}
}

static int nic_wants_python(struct nic_core *core)
{
	return core->attention || core->irq_level != core->irq_line;
}

/* Whether nic_run defers to the driver now (see nic_ops.rx_driver_busy): only with the
   backend drained, no frame held, and no deferral since the last return timed out. */
static int nic_defers(struct nic_core *core, int held)
{
	struct nic_private *p = core->priv;

	if (held || !p->drained || !core->rx_defer_ok || core->defer_ms <= 0 ||
	    !p->ops->rx_driver_busy || !p->ops->rx_driver_busy(core))
		return 0;
	core->counters.rx_deferred++;
	return 1;
}

/*
 * poll(fds, 2, timeout), draining ring (if any) first and then every NIC_RING_POLL_MS: a
 * buffer return found there kicks the wake eventfd. Without the lock: the return's handler
 * takes it.
 */
static int nic_poll(struct pollfd *fds, int timeout, struct kvmnet_coalesced *ring)
{
	int waited = 0, ready;

	if (!ring)
		return poll(fds, 2, timeout);
	kvmnet_coalesced_drain(ring);
	for (;;) {
		int slice = timeout >= 0 && timeout - waited < NIC_RING_POLL_MS ? timeout - waited
										 : NIC_RING_POLL_MS;

		ready = poll(fds, 2, slice);
		if (ready != 0)
			return ready;
		waited += slice;
		if (timeout >= 0 && waited >= timeout)
			return 0;
		kvmnet_coalesced_drain(ring);
	}
}

long nic_run(struct nic_core *core)
{
	struct nic_private *p = core->priv;
	struct kvmnet_coalesced *ring;
	struct pollfd fds[2];
	uint64_t count;
	long ret;

	nic_lock(core);
	for (;;) {
		short revents;
		int held, ready;

		/* A held frame is offered once more even when stopping: buffers the driver added
		   without telling the device take it before the rings change hands (a vhost
		   handoff). */
		held = nic_offer_held(core);
		if (p->ops->rx_idle)
			p->ops->rx_idle(core, held);
		if (core->stopping) {
			ret = NIC_RUN_STOP;
			break;
		}
		if (nic_wants_python(core)) {
			ret = NIC_RUN_ATTENTION;
			break;
		}
		core->rx_deferring = nic_defers(core, held);
		fds[0] = (struct pollfd){ .fd = core->wake_fd, .events = POLLIN };
		fds[1].events = (held || core->rx_deferring ? 0 : POLLIN) |
				(core->tx_blocked ? POLLOUT : 0);
		/* Poll the backend only for something to wait for: a hang-up is always reported. */
		fds[1].fd = p->backend_gone || !fds[1].events ? -1 : core->backend_fd;
		fds[1].revents = 0;
		/* Waiting for the guest to give buffers back, which it may have done already,
		   without an exit, into the coalesced ring: watch the ring too. */
		ring = held || core->rx_deferring ? core->coalesced : NULL;
		nic_unlock(core);
		ready = nic_poll(fds, core->rx_deferring ? core->defer_ms : -1, ring);
		if (ready < 0 && errno != EINTR) {
			ret = -errno;
			nic_lock(core);
			break;
		}
		if (fds[0].revents & POLLIN)
			(void)!read(core->wake_fd, &count, sizeof(count));
		nic_lock(core);
		if (core->rx_deferring) {
			core->rx_deferring = 0;
			if (ready == 0 && p->ops->rx_defer_expired)
				p->ops->rx_defer_expired(core); /* nothing came back in time */
			else if (ready == 0)
				core->rx_defer_ok = 0;
			if (!p->held_len)
				nic_receive(core); /* what queued in the backend meanwhile */
		}
		revents = fds[1].revents;
		if (revents & POLLERR)
			nic_backend_error(core);
		if ((revents & (POLLHUP | POLLNVAL)) && !(revents & POLLIN))
			p->backend_gone = 1; /* it would wake poll forever */
		if ((revents & (POLLOUT | POLLERR | POLLHUP)) && core->tx_blocked) {
			core->tx_blocked = 0;
			p->ops->tx_resume(core);
		}
		if ((revents & POLLIN) && !p->held_len)
			nic_receive(core);
	}
	nic_unlock(core);
	return ret;
}
