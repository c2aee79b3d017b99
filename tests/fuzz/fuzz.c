/* See fuzz.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "fuzz.h"

/* PROT_NONE around RAM: before it, and past it for any 32-bit offset from its end. */
#define GUARD_BEFORE (1ul << 20)
#define GUARD_AFTER ((1ul << 32) + (1ul << 20))

void (*fuzz_sleep_hook)(void *arg, int timeout);
void *fuzz_sleep_arg;

static uint8_t *ram;

uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v;

	if (!in->size)
		return 0;
	v = *in->data++;
	in->size--;
	return v;
}

uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return lo | fuzz_u8(in) << 8;
}

uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t lo = fuzz_u16(in);

	return lo | (uint32_t)fuzz_u16(in) << 16;
}

uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

size_t fuzz_bytes(struct fuzz_input *in, uint8_t *out, size_t len)
{
	if (len > in->size)
		len = in->size;
	memcpy(out, in->data, len);
	in->data += len;
	in->size -= len;
	return len;
}

uint64_t fuzz_addr(struct fuzz_input *in)
{
	switch (fuzz_u8(in) & 3) {
	case 0:
		return fuzz_u32(in);
	case 1:
		return FUZZ_RAM_SIZE + (int64_t)(int16_t)fuzz_u16(in);
	case 2:
		return fuzz_u64(in);
	default:
		return (uint64_t)fuzz_u16(in) * 16;
	}
}

uint32_t fuzz_value(struct fuzz_input *in)
{
	switch (fuzz_u8(in) & 3) {
	case 0:
		return fuzz_u32(in);
	case 1:
		return fuzz_u8(in);
	case 2:
		return fuzz_addr(in);
	default:
		return ~(uint32_t)fuzz_u8(in);
	}
}

uint8_t *fuzz_ram(void)
{
	uint8_t *map;

	if (ram)
		return ram;
	map = mmap(NULL, GUARD_BEFORE + FUZZ_RAM_SIZE + GUARD_AFTER, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		abort();
	if (mprotect(map + GUARD_BEFORE, FUZZ_RAM_SIZE, PROT_READ | PROT_WRITE))
		abort();
	ram = map + GUARD_BEFORE;
	return ram;
}

void fuzz_ram_reset(void)
{
	/* Anonymous private pages read as zeros again: only the touched ones cost anything. */
	madvise(fuzz_ram(), FUZZ_RAM_SIZE, MADV_DONTNEED);
}

void fuzz_poke(uint64_t gpa, const void *src, size_t len)
{
	if (gpa >= FUZZ_RAM_SIZE)
		return;
	if (len > FUZZ_RAM_SIZE - gpa)
		len = FUZZ_RAM_SIZE - gpa;
	memcpy(fuzz_ram() + gpa, src, len);
}

int fuzz_backend_open(struct fuzz_backend *b, int type)
{
	int fds[2], sndbuf = FUZZ_SNDBUF;

	if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
		return -errno;
	if (setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	b->near = fds[0];
	b->peer = fds[1];
	return 0;
}

void fuzz_backend_close(struct fuzz_backend *b)
{
	close(b->near);
	close(b->peer);
	b->near = b->peer = -1;
}

static size_t frame_length(struct fuzz_input *in)
{
	uint8_t mode = fuzz_u8(in);

	switch (mode & 3) {
	case 0:
		return fuzz_u8(in);
	case 1:
		return fuzz_u16(in);
	case 2:
		return 1514 + (int8_t)fuzz_u8(in);
	default:
		return FUZZ_FRAME_MAX - fuzz_u8(in);
	}
}

int fuzz_backend_frame(struct fuzz_backend *b, struct fuzz_input *in, size_t hdr,
		       const uint8_t mac[6])
{
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t multicast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	static uint8_t frame[FUZZ_FRAME_MAX], pattern[FUZZ_FRAME_MAX];
	size_t len = frame_length(in), dst = fuzz_u8(in) & 3, got, i;
	uint8_t head[64] = { 0 };

	if (!pattern[1]) /* once: a loop here per frame would be most of a run's time */
		for (i = 0; i < sizeof(pattern); i++)
			pattern[i] = i;

	/* The vnet header (zeros) and a destination, or both from the input; then a count
	   byte and up to 32 bytes of input, then a pattern. */
	memcpy(head + hdr, dst == 0 ? mac : dst == 1 ? broadcast : multicast, 6);
	got = dst == 3 ? 0 : hdr + 6;
	got += fuzz_bytes(in, head + got, fuzz_u8(in) % 33);
	got = got < len ? got : len;
	memcpy(frame, head, got);
	memcpy(frame + got, pattern + got, len - got);
	if (send(b->peer, frame, len, MSG_DONTWAIT) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int fuzz_backend_drain(struct fuzz_backend *b)
{
	static uint8_t frame[FUZZ_FRAME_MAX];
	int n = 0;

	while (recv(b->peer, frame, sizeof(frame), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		n++;
	return errno == EAGAIN ? n : -errno;
}

int __real_poll(struct pollfd *fds, nfds_t nfds, int timeout);

/* See fuzz.h: a device thread's poll never sleeps in a harness. */
int __wrap_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	int ready;

	if (!timeout || !fuzz_sleep_hook)
		return __real_poll(fds, nfds, timeout);
	ready = __real_poll(fds, nfds, 0);
	if (ready == 0)
		fuzz_sleep_hook(fuzz_sleep_arg, timeout);
	return ready;
}

/* The device thread stops where it would wait for ever; a deferral's wait times out. */
static void stop_turn(void *arg, int timeout)
{
	struct nic_core *core = arg;

	if (timeout < 0)
		core->stopping = 1;
}

void fuzz_nic_turn(struct nic_core *core, int turns, void (*attend)(void *model), void *model)
{
	long ret = NIC_RUN_ATTENTION;
	int i;

	for (i = 0; i < turns && ret == NIC_RUN_ATTENTION; i++) {
		nic_lock(core);
		core->attention = 0;
		attend(model);
		nic_unlock(core);
		fuzz_sleep_hook = stop_turn;
		fuzz_sleep_arg = core;
		ret = nic_run(core);
		fuzz_sleep_hook = NULL;
	}
	core->stopping = 0;
}

void fuzz_report(const struct nic_core *core)
{
	const struct nic_counters *c = &core->counters;

	if (!getenv("FUZZ_REPORT"))
		return;
	fprintf(stderr, "tx_frames %lu tx_bytes %lu tx_errors %lu tx_lost %lu tx_blocked %lu "
		"rx_frames %lu rx_bytes %lu rx_filtered %lu rx_no_buffer %lu rx_dropped %lu "
		"dma_errors %lu backend_errors %lu rx_deferred %lu ring_errors %lu\n",
		c->tx_frames, c->tx_bytes, c->tx_errors, c->tx_lost, c->tx_blocked, c->rx_frames,
		c->rx_bytes, c->rx_filtered, c->rx_no_buffer, c->rx_dropped, c->dma_errors,
		c->backend_errors, c->rx_deferred, c->ring_errors);
}
