/*
 * coalesced: the one consumer of a VM's coalesced MMIO ring.
 *
 * Writes to a zone registered with KVM_REGISTER_COALESCED_MMIO (MMIO, or ports with pio)
 * do not exit: KVM appends them to a ring in a page every vCPU maps, and they take effect
 * when userspace reads them. kvmnet_coalesced_drain() applies them, oldest first, through
 * the buses' fast-range tables (kvmnet_native.h: pio entries through the port table, the
 * others through the MMIO table) exactly as if each write had exited then. It runs
 *
 *   - in every vCPU's run loop, at each KVM_RUN return, before the exit is handled (so a
 *     write and the exits around it keep their order, as in QEMU);
 *   - wherever a device could otherwise observe state a coalesced write changes: the
 *     UART before its data path, control changes and hand-overs; a NIC's device thread
 *     before it waits for the guest to give buffers back, and every millisecond while it
 *     waits (a guest may write RDT and then only poll memory, exiting never).
 *
 * An entry a handler declines (KVMNET_FAST_PYTHON: a full UART buffer, no range at its
 * address) stops the drain, with the entries after it, until Python applies it
 * (kvmnet_coalesced_pop_declined, on a vCPU thread, before that vCPU's exit). Entries whose
 * handler asks for Python (KVMNET_FAST_ATTEND) are remembered for the next vCPU to return
 * to Python (kvmnet_coalesced_take_attends). Coalesced writes are not exits and are not
 * counted as such; `applied` counts them.
 *
 * Lock order: the ring's lock, then a device's. A device calls the drain without its own
 * lock; a drain reached again from a handler on the same thread returns at once.
 */
#ifndef KVMNET_COALESCED_H
#define KVMNET_COALESCED_H

#include <stdint.h>

struct kvm_coalesced_mmio_ring;
struct kvm_coalesced_mmio;
struct kvmnet_fast_range;

/* cffi: begin */
/* What kvmnet_coalesced_drain() found (bits). */
#define KVMNET_COALESCED_ATTEND 1   /* a handler asked for Python: take_attends */
#define KVMNET_COALESCED_DECLINED 2 /* stopped at an entry C declined: pop_declined */

#define KVMNET_COALESCED_ATTENDS 8 /* distinct addresses remembered between takes */

struct kvmnet_coalesced_private;

struct kvmnet_coalesced {
	struct kvmnet_fast_range *pio;
	int npio;
	struct kvmnet_fast_range *mmio;
	int nmmio;
	uint64_t applied;           /* entries applied (by C or Python) */
	struct kvmnet_coalesced_private *priv;
};

/* Set up with no ring (pio/mmio: the buses' tables, set by the caller). 0 or -ENOMEM. */
int kvmnet_coalesced_init(struct kvmnet_coalesced *c);

/* Release what init made. Idempotent; the ring must have been left (set_ring NULL). */
void kvmnet_coalesced_destroy(struct kvmnet_coalesced *c);

/*
 * Read ring (the VM's ring, a page, as a vCPU's mapping shows it); or, with NULL, apply
 * what it holds (up to an entry C declines) and stop reading it (before the mapping goes).
 */
void kvmnet_coalesced_set_ring(struct kvmnet_coalesced *c, struct kvm_coalesced_mmio_ring *ring);

/* Apply what the ring holds, oldest first (any thread): KVMNET_COALESCED_* bits. */
int kvmnet_coalesced_drain(struct kvmnet_coalesced *c);

/*
 * Drain; if the drain stopped at an entry C declined, copy it to entry, take it off the
 * ring and return 1: the caller applies it through Python, and no drain applies anything
 * until the caller's next call, which returns 0 once nothing is declined.
 */
int kvmnet_coalesced_pop_declined(struct kvmnet_coalesced *c, struct kvm_coalesced_mmio *entry);

/*
 * Addresses whose handler asked for Python since the last take, up to n into keys
 * (address | KVMNET_HIT_MMIO for MMIO): the count.
 */
int kvmnet_coalesced_take_attends(struct kvmnet_coalesced *c, unsigned long long *keys, int n);
/* cffi: end */

#endif
