/*
 * virtio_pci.h - the virtio PCI transport, both flavours, for drivers:
 *
 *  - modern (virtio 1.x): vendor capabilities point at the common, notify,
 *    ISR and device configuration structures in memory BARs;
 *  - legacy (virtio 0.9.5, and transitional devices driven that way): the
 *    registers of I/O BAR 0, 32 feature bits, queue PFNs, and device
 *    configuration at offset 20, or 24 while MSI-X is enabled.
 *
 * Every access is a VM exit; drivers call these at setup and for the
 * occasional notification, interrupt status or configuration read.
 */
#ifndef VIRTIO_PCI_H
#define VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>
#include "pci.h"
#include "virtio_ring.h"

/* Device status bits. */
#define VIRTIO_ACKNOWLEDGE	1
#define VIRTIO_DRIVER		2
#define VIRTIO_DRIVER_OK	4
#define VIRTIO_FEATURES_OK	8
#define VIRTIO_FAILED		128

#define VIRTIO_F_ANY_LAYOUT	27
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32

#define VIRTIO_NO_VECTOR	0xFFFF
#define VIRTIO_ISR_QUEUE	1

struct virtio_pci {
	struct pci_dev *pci;
	bool modern;
	uint16_t io;		/* legacy: I/O BAR 0 */
	unsigned cfg_off;	/* legacy: device config offset, 20 or 24 */
	uintptr_t common, isr, device, notify;	/* modern */
	uint32_t notify_mul;	/* modern: notify_off_multiplier */
	uint8_t status;		/* what we last wrote */
	unsigned queue_max;	/* vpci_queue_max()'s last answer */
	uint64_t offered;	/* the device's features, as last read */
	uint64_t features;	/* negotiated */
};

/* Find the registers of d; false if the BARs or capabilities needed are
 * missing or outside the mapped 4 GiB. */
bool vpci_probe(struct virtio_pci *v, struct pci_dev *d, bool modern);

void vpci_reset(struct virtio_pci *v);
void vpci_add_status(struct virtio_pci *v, uint8_t bits);
uint64_t vpci_device_features(struct virtio_pci *v);
/* Write the driver's features; modern devices must then accept them
 * (FEATURES_OK).  False if refused. */
bool vpci_set_features(struct virtio_pci *v, uint64_t features);

/* Select queue q and return its largest size, 0 if it does not exist. */
unsigned vpci_queue_max(struct virtio_pci *v, unsigned q);
/* Give the device the rings of r, right after vpci_queue_max() for the
 * same queue (r->num may be below the maximum only on modern devices). */
bool vpci_queue_setup(struct virtio_pci *v, struct vring *r);
void vpci_notify(struct virtio_pci *v, struct vring *r);

/* Reading the ISR status acknowledges an INTx interrupt. */
uint8_t vpci_isr(struct virtio_pci *v);

uint8_t vpci_cfg_read8(struct virtio_pci *v, unsigned off);
uint16_t vpci_cfg_read16(struct virtio_pci *v, unsigned off);
void vpci_cfg_write8(struct virtio_pci *v, unsigned off, uint8_t val);

/* MSI-X vectors of the configuration and of queue q (VIRTIO_NO_VECTOR to
 * detach them); false if the device does not keep what was written.
 * The caller enables MSI-X in PCI config space first (and legacy's
 * device config then moves; msix_on tells the transport). */
bool vpci_set_vectors(struct virtio_pci *v, uint16_t config, unsigned q,
		      uint16_t queue, bool msix_on);

#endif
