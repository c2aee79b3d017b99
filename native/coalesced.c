/* See coalesced.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "coalesced.h"
#include "kvmnet_native.h"

struct kvmnet_coalesced_private {
	pthread_mutex_t lock;
	struct kvm_coalesced_mmio_ring *ring; /* NULL: nothing to read */
	uint32_t max;        /* KVM_COALESCED_MMIO_MAX for this page size */
	int python;          /* an entry pop_declined took is being applied by Python */
	int nattends;
	unsigned long long attends[KVMNET_COALESCED_ATTENDS];
};

/* This thread is draining: a handler that drains again (the UART's) must not recurse. */
static __thread int draining;

int kvmnet_coalesced_init(struct kvmnet_coalesced *c)
{
	struct kvmnet_coalesced_private *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	c->applied = 0;
	c->priv = p;
	return 0;
}

void kvmnet_coalesced_destroy(struct kvmnet_coalesced *c)
{
	if (!c->priv)
		return;
	pthread_mutex_destroy(&c->priv->lock);
	free(c->priv);
	c->priv = NULL;
}

static unsigned long long entry_key(const struct kvm_coalesced_mmio *e)
{
	return e->phys_addr | (e->pio ? 0 : KVMNET_HIT_MMIO);
}

/* Remember key for take_attends (once; the table holds more addresses than zones exist). */
static void remember_locked(struct kvmnet_coalesced_private *p, unsigned long long key)
{
	for (int i = 0; i < p->nattends; i++)
		if (p->attends[i] == key)
			return;
	if (p->nattends < KVMNET_COALESCED_ATTENDS)
		p->attends[p->nattends++] = key;
}

/* Take the ring's oldest entry off it (KVM may reuse the slot). */
static void advance_locked(struct kvmnet_coalesced *c)
{
	struct kvm_coalesced_mmio_ring *ring = c->priv->ring;

	__atomic_store_n(&ring->first, (ring->first + 1) % c->priv->max, __ATOMIC_RELEASE);
	c->applied++;
}

/* Apply entries oldest first until the ring is empty or C declines one: the found bits. */
static int drain_locked(struct kvmnet_coalesced *c)
{
	struct kvmnet_coalesced_private *p = c->priv;
	struct kvm_coalesced_mmio_ring *ring = p->ring;
	int found = 0;

	if (!ring || p->python)
		return 0; /* Python is applying one: the entries after it wait for it */
	while (ring->first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[ring->first];
		unsigned char data[8];
		unsigned int len = e->len <= sizeof(data) ? e->len : sizeof(data);
		int ret;

		memcpy(data, e->data, sizeof(data));
		if (e->pio)
			ret = kvmnet_fast_access(c->pio, c->npio, e->phys_addr, data, len, 1);
		else
			ret = kvmnet_fast_access(c->mmio, c->nmmio, e->phys_addr, data, len, 1);
		if (ret == KVMNET_FAST_PYTHON) {
			remember_locked(p, entry_key(e)); /* the device may make room (UART) */
			return found | KVMNET_COALESCED_ATTEND | KVMNET_COALESCED_DECLINED;
		}
		if (ret == KVMNET_FAST_ATTEND) {
			remember_locked(p, entry_key(e));
			found |= KVMNET_COALESCED_ATTEND;
		}
		advance_locked(c);
	}
	return found;
}

int kvmnet_coalesced_drain(struct kvmnet_coalesced *c)
{
	struct kvmnet_coalesced_private *p = c->priv;
	int found;

	if (draining || !p)
		return 0;
	pthread_mutex_lock(&p->lock);
	draining = 1;
	found = drain_locked(c);
	draining = 0;
	pthread_mutex_unlock(&p->lock);
	return found;
}

int kvmnet_coalesced_pop_declined(struct kvmnet_coalesced *c, struct kvm_coalesced_mmio *entry)
{
	struct kvmnet_coalesced_private *p = c->priv;
	int ret = 0;

	pthread_mutex_lock(&p->lock);
	draining = 1;
	p->python = 0; /* the caller applied the last one it took */
	if (drain_locked(c) & KVMNET_COALESCED_DECLINED) {
		*entry = p->ring->coalesced_mmio[p->ring->first];
		advance_locked(c);
		p->python = 1;
		ret = 1;
	}
	draining = 0;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int kvmnet_coalesced_take_attends(struct kvmnet_coalesced *c, unsigned long long *keys, int n)
{
	struct kvmnet_coalesced_private *p = c->priv;
	int taken;

	pthread_mutex_lock(&p->lock);
	taken = p->nattends < n ? p->nattends : n;
	memcpy(keys, p->attends, taken * sizeof(*keys));
	memmove(p->attends, p->attends + taken, (p->nattends - taken) * sizeof(*keys));
	p->nattends -= taken;
	pthread_mutex_unlock(&p->lock);
	return taken;
}

void kvmnet_coalesced_set_ring(struct kvmnet_coalesced *c, struct kvm_coalesced_mmio_ring *ring)
{
	struct kvmnet_coalesced_private *p = c->priv;

	pthread_mutex_lock(&p->lock);
	draining = 1;
	p->python = 0;
	drain_locked(c);
	p->ring = ring;
	p->max = (sysconf(_SC_PAGESIZE) - sizeof(*ring)) / sizeof(ring->coalesced_mmio[0]);
	draining = 0;
	pthread_mutex_unlock(&p->lock);
}
