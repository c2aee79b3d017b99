/* virtio_pci.c - the modern and legacy virtio PCI transports; see
 * virtio_pci.h. */
#include "virtio_pci.h"
#include "cpu.h"
#include "dma.h"

/* Modern: vendor capability cfg_type values. */
#define CAP_COMMON	1
#define CAP_NOTIFY	2
#define CAP_ISR		3
#define CAP_DEVICE	4

/* Modern: struct virtio_pci_common_cfg. */
#define COMMON_DFSELECT	0
#define COMMON_DF	4
#define COMMON_GFSELECT	8
#define COMMON_GF	12
#define COMMON_MSIX	16
#define COMMON_STATUS	20
#define COMMON_Q_SELECT	22
#define COMMON_Q_SIZE	24
#define COMMON_Q_MSIX	26
#define COMMON_Q_ENABLE	28
#define COMMON_Q_NOFF	30
#define COMMON_Q_DESC	32
#define COMMON_Q_AVAIL	40
#define COMMON_Q_USED	48

/* Legacy: registers in I/O BAR 0. */
#define LEG_HOST_FEATURES	0
#define LEG_GUEST_FEATURES	4
#define LEG_QUEUE_PFN		8
#define LEG_QUEUE_NUM		12
#define LEG_QUEUE_SEL		14
#define LEG_QUEUE_NOTIFY	16
#define LEG_STATUS		18
#define LEG_ISR			19
#define LEG_MSIX_CONFIG		20
#define LEG_MSIX_QUEUE		22
#define LEG_CONFIG		20	/* 24 while MSI-X is enabled */
#define LEG_CONFIG_MSIX		24

/* Address of a structure a vendor capability describes, or 0. */
static uintptr_t cap_address(struct pci_dev *d, uint8_t cap)
{
	unsigned bar = pci_read32(d->bdf, (uint8_t)(cap + 4)) & 0xFF;
	uint32_t offset = pci_read32(d->bdf, (uint8_t)(cap + 8));
	const struct pci_bar *b;

	if (bar > 5)
		return 0;
	b = &d->bar[bar];
	if (b->kind == PCI_BAR_NONE || b->kind == PCI_BAR_IO || b->addr == 0 ||
	    b->addr + offset >= 0x100000000ull)
		return 0;
	return (uintptr_t)(b->addr + offset);
}

static bool probe_modern(struct virtio_pci *v, struct pci_dev *d)
{
	uint8_t cap = 0;
	uint32_t head = 0;

	for (unsigned guard = 0; guard < 48 && pci_cap_next(d, &cap, &head); guard++) {
		unsigned type = head >> 24;
		uintptr_t *where = type == CAP_COMMON ? &v->common :
				   type == CAP_NOTIFY ? &v->notify :
				   type == CAP_ISR ? &v->isr :
				   type == CAP_DEVICE ? &v->device : NULL;

		if ((head & 0xFF) != PCI_CAP_VENDOR || !where || *where)
			continue;	/* not needed, or not the first */
		*where = cap_address(d, cap);
		if (type == CAP_NOTIFY)
			v->notify_mul = pci_read32(d->bdf, (uint8_t)(cap + 16));
	}
	return v->common && v->notify && v->isr && v->device;
}

bool vpci_probe(struct virtio_pci *v, struct pci_dev *d, bool modern)
{
	v->pci = d;
	v->modern = modern;
	if (modern)
		return probe_modern(v, d);
	if (d->bar[0].kind != PCI_BAR_IO || d->bar[0].addr == 0)
		return false;
	v->io = (uint16_t)d->bar[0].addr;
	v->cfg_off = LEG_CONFIG;
	return true;
}

static void write_status(struct virtio_pci *v, uint8_t s)
{
	v->status = s;
	if (v->modern)
		mmio_write8(v->common + COMMON_STATUS, s);
	else
		outb(v->io + LEG_STATUS, s);
}

static uint8_t read_status(struct virtio_pci *v)
{
	if (v->modern)
		return mmio_read8(v->common + COMMON_STATUS);
	return inb(v->io + LEG_STATUS);
}

void vpci_reset(struct virtio_pci *v)
{
	write_status(v, 0);
	/* Modern devices may take a while; legacy ones read 0 at once. */
	if (v->modern)
		while (read_status(v) != 0)
			cpu_pause();
}

void vpci_add_status(struct virtio_pci *v, uint8_t bits)
{
	write_status(v, v->status | bits);
}

uint64_t vpci_device_features(struct virtio_pci *v)
{
	uint64_t lo, hi;

	if (!v->modern) {
		v->offered = inl(v->io + LEG_HOST_FEATURES);
		return v->offered;
	}
	mmio_write32(v->common + COMMON_DFSELECT, 0);
	lo = mmio_read32(v->common + COMMON_DF);
	mmio_write32(v->common + COMMON_DFSELECT, 1);
	hi = mmio_read32(v->common + COMMON_DF);
	v->offered = hi << 32 | lo;
	return v->offered;
}

bool vpci_set_features(struct virtio_pci *v, uint64_t features)
{
	v->features = features;
	if (!v->modern) {
		outl(v->io + LEG_GUEST_FEATURES, (uint32_t)features);
		return true;
	}
	mmio_write32(v->common + COMMON_GFSELECT, 0);
	mmio_write32(v->common + COMMON_GF, (uint32_t)features);
	mmio_write32(v->common + COMMON_GFSELECT, 1);
	mmio_write32(v->common + COMMON_GF, (uint32_t)(features >> 32));
	vpci_add_status(v, VIRTIO_FEATURES_OK);
	return read_status(v) & VIRTIO_FEATURES_OK;
}

unsigned vpci_queue_max(struct virtio_pci *v, unsigned q)
{
	if (v->modern) {
		mmio_write16(v->common + COMMON_Q_SELECT, (uint16_t)q);
		v->queue_max = mmio_read16(v->common + COMMON_Q_SIZE);
	} else {
		outw(v->io + LEG_QUEUE_SEL, (uint16_t)q);
		v->queue_max = inw(v->io + LEG_QUEUE_NUM);
	}
	return v->queue_max;
}

static void write64(uintptr_t at, uint64_t value)
{
	mmio_write32(at, (uint32_t)value);
	mmio_write32(at + 4, (uint32_t)(value >> 32));
}

bool vpci_queue_setup(struct virtio_pci *v, struct vring *r)
{
	uint16_t noff;

	/* The queue is still selected by vpci_queue_max(). */
	if (!v->modern) {
		outl(v->io + LEG_QUEUE_PFN, (uint32_t)(dma_addr(r->desc) >> 12));
		return true;
	}
	if (r->num != v->queue_max)
		mmio_write16(v->common + COMMON_Q_SIZE, (uint16_t)r->num);
	write64(v->common + COMMON_Q_DESC, dma_addr(r->desc));
	write64(v->common + COMMON_Q_AVAIL, dma_addr(r->avail));
	write64(v->common + COMMON_Q_USED, dma_addr(r->used));
	noff = mmio_read16(v->common + COMMON_Q_NOFF);
	r->notify = v->notify + (uintptr_t)noff * v->notify_mul;
	mmio_write16(v->common + COMMON_Q_ENABLE, 1);
	return true;
}

void vpci_notify(struct virtio_pci *v, struct vring *r)
{
	if (v->modern)
		mmio_write16(r->notify, (uint16_t)r->index);
	else
		outw(v->io + LEG_QUEUE_NOTIFY, (uint16_t)r->index);
}

uint8_t vpci_isr(struct virtio_pci *v)
{
	if (v->modern)
		return mmio_read8(v->isr);
	return inb(v->io + LEG_ISR);
}

uint8_t vpci_cfg_read8(struct virtio_pci *v, unsigned off)
{
	if (v->modern)
		return mmio_read8(v->device + off);
	return inb((uint16_t)(v->io + v->cfg_off + off));
}

uint16_t vpci_cfg_read16(struct virtio_pci *v, unsigned off)
{
	if (v->modern)
		return mmio_read16(v->device + off);
	return inw((uint16_t)(v->io + v->cfg_off + off));
}

void vpci_cfg_write8(struct virtio_pci *v, unsigned off, uint8_t val)
{
	if (v->modern)
		mmio_write8(v->device + off, val);
	else
		outb((uint16_t)(v->io + v->cfg_off + off), val);
}

bool vpci_set_vectors(struct virtio_pci *v, uint16_t config, unsigned q,
		      uint16_t queue, bool msix_on)
{
	bool ok;

	if (v->modern) {
		mmio_write16(v->common + COMMON_MSIX, config);
		ok = mmio_read16(v->common + COMMON_MSIX) == config;
		mmio_write16(v->common + COMMON_Q_SELECT, (uint16_t)q);
		mmio_write16(v->common + COMMON_Q_MSIX, queue);
		return ok && mmio_read16(v->common + COMMON_Q_MSIX) == queue;
	}
	outw(v->io + LEG_MSIX_CONFIG, config);
	ok = inw(v->io + LEG_MSIX_CONFIG) == config;
	outw(v->io + LEG_QUEUE_SEL, (uint16_t)q);
	outw(v->io + LEG_MSIX_QUEUE, queue);
	ok = ok && inw(v->io + LEG_MSIX_QUEUE) == queue;
	v->cfg_off = msix_on ? LEG_CONFIG_MSIX : LEG_CONFIG;
	return ok;
}
