/* nic.c - the NIC table and the driver-independent calls; see nic.h. */
#include "nic.h"
#include "cpu.h"
#include "dma.h"
#include "lib.h"

struct nic nics[NIC_MAX];
unsigned nic_count;

static const struct {
	uint16_t vendor, device;
	enum nic_model model;
	bool (*init)(struct nic *n);
} drivers[] = {
	{ 0x10EC, 0x8139, NIC_RTL8139, rtl8139_init },
	{ 0x8086, 0x100E, NIC_E1000, e1000_init },
	{ 0x1AF4, 0x1041, NIC_VIRTIO, virtio_net_init },
	{ 0x1AF4, 0x1000, NIC_VIRTIO_LEGACY, virtio_net_init },
};

static bool bring_up(struct nic *n);

void nic_init_all(void)
{
	dma_init();
	nic_count = 0;
	for (unsigned i = 0; i < pci_count && nic_count < NIC_MAX; i++) {
		struct pci_dev *d = &pci_devs[i];

		for (unsigned k = 0; k < sizeof(drivers) / sizeof(drivers[0]); k++) {
			struct nic *n = &nics[nic_count];

			if (d->vendor != drivers[k].vendor ||
			    d->device != drivers[k].device)
				continue;
			/* 1af4:1000 is any transitional virtio device;
			 * class 02 says it is the network one. */
			if (d->class_code >> 16 != 0x02)
				break;
			n->pci = d;
			n->model = drivers[k].model;
			n->index = nic_count++;
			n->gsi = pci_intx_gsi(d);
			bring_up(n);
			break;
		}
	}
}

/* The driver's bring-up, from the state a NIC has at boot. */
static bool bring_up(struct nic *n)
{
	n->ops = NULL;
	n->mtu = NIC_MTU_DEFAULT;
	n->mtu_max = NIC_MTU_DEFAULT;
	n->rxmode = NIC_RX_NORMAL;
	n->nmcast = 0;
	for (unsigned k = 0; k < sizeof(drivers) / sizeof(drivers[0]); k++)
		if (drivers[k].model == n->model)
			return drivers[k].init(n);
	return false;
}

bool nic_reset(struct nic *n)
{
	return bring_up(n);
}

bool nic_send(struct nic *n, const void *frame, unsigned len)
{
	uint64_t start;

	if (!n->ops->tx(n, frame, len)) {
		n->ops->tx_kick(n);
		start = rdtsc();
		while (!n->ops->tx(n, frame, len)) {
			if (rdtsc() - start > NIC_TIMEOUT_TSC)
				return false;
			cpu_pause();
		}
	}
	n->tx++;
	return true;
}

void nic_kick(struct nic *n)
{
	n->ops->tx_kick(n);
}

bool nic_drain(struct nic *n)
{
	uint64_t start = rdtsc();

	n->ops->tx_kick(n);
	while (n->ops->tx_busy(n)) {
		if (rdtsc() - start > NIC_TIMEOUT_TSC)
			return false;
		cpu_pause();
	}
	return true;
}

const uint8_t *nic_recv(struct nic *n, unsigned *len)
{
	const uint8_t *f = n->ops->rx(n, len);

	if (f)
		n->rx++;
	return f;
}

uint32_t ether_crc_be(const uint8_t mac[ETH_ALEN])
{
	uint32_t crc = 0xFFFFFFFF;

	for (unsigned i = 0; i < ETH_ALEN; i++) {
		uint8_t b = mac[i];

		for (int k = 0; k < 8; k++, b >>= 1)
			crc = (crc << 1) ^ ((crc >> 31 ^ (b & 1)) ? 0x04C11DB7 : 0);
	}
	return crc;
}
