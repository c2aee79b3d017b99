/*
 * fuzz: what the device-model fuzz harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * Each harness plays a hostile guest, and the host around one NIC model's C core: it reads
 * libFuzzer's input as a sequence of operations (register accesses, guest-memory writes,
 * frames arriving on the backend, turns of the device thread) and applies them through the
 * entry points Python and the vCPU run loop use. This file gives them
 *
 *   - the input, read as little-endian integers that run out as zeros;
 *   - guest RAM: FUZZ_RAM_SIZE bytes at guest-physical 0 with PROT_NONE on either side, so
 *     that any access a model makes outside RAM faults and libFuzzer reports it;
 *   - the backend: a socketpair, the model's end non-blocking as kvmnet's taps are and
 *     with a small send buffer (a full backend is a path too), the harness's end the
 *     network;
 *   - device-thread turns: the models' threads (nic_run, kvmnet_vnet_tx_run)
 *     sleep in poll(2). The harness links with -Wl,--wrap=poll: a poll that would sleep
 *     calls fuzz_sleep_hook, which tells the loop to stop, instead of sleeping.
 *
 * Functions that can fail return 0 or -errno.
 */
#ifndef KVMNET_FUZZ_H
#define KVMNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "nic_io.h"

/* Guest RAM: tests/support/nic_rig.py, a small guest. */
#define FUZZ_RAM_SIZE (4u << 20)
/* The model's send buffer on the backend: a dozen full-size frames fill it (-EAGAIN). */
#define FUZZ_SNDBUF 16384
/* The largest datagram a harness sends: past nic_io's NIC_DATAGRAM_MAX, to be truncated. */
#define FUZZ_FRAME_MAX (65536 + 64 + 64)

struct fuzz_input {
	const uint8_t *data;
	size_t size;
};

uint8_t fuzz_u8(struct fuzz_input *in);
uint16_t fuzz_u16(struct fuzz_input *in);
uint32_t fuzz_u32(struct fuzz_input *in);
uint64_t fuzz_u64(struct fuzz_input *in);

/* Copy up to len bytes of input to out; the count copied. */
size_t fuzz_bytes(struct fuzz_input *in, uint8_t *out, size_t len);

/*
 * A guest-physical address, a mode byte first: 0 a raw 32-bit address, 1 RAM's end plus a
 * signed 16-bit offset (either side of it), 2 a raw 64-bit address, 3 a 16-aligned address
 * in the first MiB. Mutations reach the edges of RAM without guessing them.
 */
uint64_t fuzz_addr(struct fuzz_input *in);

/* A 32-bit register value, a mode byte first: raw, small, an address (fuzz_addr), or ~small. */
uint32_t fuzz_value(struct fuzz_input *in);

/* Guest RAM (mapped once), zeroed for each input. */
uint8_t *fuzz_ram(void);
void fuzz_ram_reset(void);

/* The guest's CPU writes RAM: the part of [gpa, gpa + len) inside it. */
void fuzz_poke(uint64_t gpa, const void *src, size_t len);

struct fuzz_backend {
	int near; /* the model's backend fd */
	int peer; /* the network's end */
};

/* A socketpair of type (SOCK_DGRAM as tests/support/nic_rig.py, or SOCK_SEQPACKET). */
int fuzz_backend_open(struct fuzz_backend *b, int type);
void fuzz_backend_close(struct fuzz_backend *b);

/*
 * One frame from the network, decoded from the input: its length (a mode byte: short, any
 * 16 bits, around 1514, around the largest datagram), then hdr bytes of virtio-net header
 * (zeros) and a destination (a byte: mac, broadcast, multicast, or both from the input),
 * then a count byte and that many bytes (at most 32) of input, then a pattern. Sent
 * without waiting: a full backend drops it. 0 or -errno.
 */
int fuzz_backend_frame(struct fuzz_backend *b, struct fuzz_input *in, size_t hdr,
		       const uint8_t mac[6]);

/* Take whatever the model sent (the network reads it); frames read, or -errno. */
int fuzz_backend_drain(struct fuzz_backend *b);

/* Called by poll() where it would sleep (timeout != 0 and nothing ready): stop the loop. */
extern void (*fuzz_sleep_hook)(void *arg, int timeout);
extern void *fuzz_sleep_arg;

/* libFuzzer's entry points, which each harness defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A turn of nic.py's device thread (every model's RX runs on nic_run): up to turns calls
 * of nic_run, each after attend(model) under the lock (Python's attend: the interrupt
 * line, or virtio-net's broken ring), while nic_run asks for attention; a wait that would last for ever ends
 * the turn, a deferral's wait times out at once.
 */
void fuzz_nic_turn(struct nic_core *core, int turns, void (*attend)(void *model), void *model);

/* FUZZ_REPORT=1 in the environment: the core's counters after an input, for whoever
   writes seeds (on standard error). */
void fuzz_report(const struct nic_core *core);

#endif
