/*
 * agent_nic.c - the NIC table of nic.h, filled with Linux interfaces:
 * the PCI functions' (agent_pci.c), or under --stdio those named on the
 * command line.
 * Bring-up is what the guest's drivers do at boot, asked of the kernel:
 * the boot address, MTU 1500, receive mode normal with no multicast
 * group of ours, up, and carrier awaited.
 */
#include <net/if.h>
#include <string.h>
#include "agent.h"
#include "../net.h"

struct nic nics[NIC_MAX];
unsigned nic_count;

static struct agent_nic agent_nics[NIC_MAX];
static struct pci_dev agent_pci[NIC_MAX];	/* zero for a non-PCI one */

bool agent_nic_add(const char *ifname, enum nic_model model,
		   const struct pci_dev *pci, unsigned gsi)
{
	struct nic *n = &nics[nic_count];
	struct agent_nic *a = &agent_nics[nic_count];

	if (nic_count == NIC_MAX || strlen(ifname) >= sizeof(a->ifname))
		return false;
	strcpy(a->ifname, ifname);
	a->fd = -1;
	if (pci)
		agent_pci[nic_count] = *pci;
	n->pci = &agent_pci[nic_count];
	n->model = model;
	n->index = nic_count++;
	n->gsi = gsi;
	n->priv = a;
	return true;
}

/* The state of nic.h's bring-up, from whatever the interface had; false
 * (and a note saying why) if the kernel refused a step. */
static bool bring_up(struct nic *n)
{
	struct agent_nic *a = n->priv;
	const char *step;
	int err, max;

	n->ops = NULL;
	n->mtu = NIC_MTU_DEFAULT;
	n->rxmode = NIC_RX_NORMAL;
	n->nmcast = 0;
	a->ifindex = if_index(a->ifname);
	if (a->ifindex < 0) {
		err = a->ifindex;
		step = "SIOCGIFINDEX";
		goto refused;
	}
	if_no_ipv6(a->ifname);	/* a kernel without IPv6 is fine */
	if ((err = if_get_mac(a->ifname, n->mac))) {
		step = "SIOCGIFHWADDR";
		goto refused;
	}
	if (!a->booted) {	/* the address the driver read from the device */
		memcpy(a->boot_mac, n->mac, ETH_ALEN);
		a->booted = true;
	} else if (memcmp(n->mac, a->boot_mac, ETH_ALEN) != 0) {
		if ((err = if_set_mac(a->ifname, a->boot_mac))) {
			step = "SIOCSIFHWADDR";
			goto refused;
		}
		memcpy(n->mac, a->boot_mac, ETH_ALEN);
	}
	if ((err = if_set_mtu(a->ifname, NIC_MTU_DEFAULT))) {
		step = "SIOCSIFMTU";
		goto refused;
	}
	max = if_max_mtu(a->ifindex);
	n->mtu_max = max < 0 ? 9000 : (unsigned)max;	/* an old kernel */
	if (n->mtu_max > NIC_FRAME_MAX - ETH_HLEN)	/* the frame buffers' */
		n->mtu_max = NIC_FRAME_MAX - ETH_HLEN;
	n->ops = &packet_ops;
	if ((err = packet_open(n))) {
		step = "AF_PACKET socket";
		goto refused;
	}
	if (n->ops->set_filter(n) != NIC_OK) {	/* errno not kept */
		step = "receive mode";
		goto refused;
	}
	if ((err = if_change_flags(a->ifname, IFF_UP, 0))) {
		step = "IFF_UP";
		goto refused;
	}
	return true;

refused:
	agent_note("%s: %s: %s", a->ifname, step, err ? strerror(-err) : "refused");
	n->ops = NULL;
	return false;
}

void nic_init_all(void)
{
	/* Under --stdio, on a host, only what was named: a scan would take
	 * over the host's own NICs. */
	if (agent_on_com1)
		agent_pci_scan();
	for (unsigned i = 0; i < nic_count; i++)
		bring_up(&nics[i]);
	for (unsigned i = 0; i < nic_count; i++) {
		if (!nics[i].ops)
			continue;
		if (!packet_wait_running(&nics[i]))
			agent_note("%s: no carrier yet", agent_nics[i].ifname);
		packet_flush(&nics[i]);
	}
}

/* The driver's reset is its stop and open (e1000_down/e1000_reset,
 * rtl8139_close/rtl8139_hw_start, virtnet_close/virtnet_open); frames
 * received before it are dropped, as a reset drops its rings. */
bool nic_reset(struct nic *n)
{
	struct agent_nic *a = n->priv;

	if_change_flags(a->ifname, 0, IFF_UP);
	if (!bring_up(n))
		return false;
	if (!packet_wait_running(n))
		agent_note("%s: no carrier after the reset", a->ifname);
	packet_flush(n);
	return true;
}

/* The kernel queues what it takes: tx waits for room itself. */
bool nic_send(struct nic *n, const void *frame, unsigned len)
{
	if (!n->ops->tx(n, frame, len))
		return false;
	n->tx++;
	return true;
}

void nic_kick(struct nic *n)
{
	n->ops->tx_kick(n);
}

bool nic_drain(struct nic *n)
{
	return n->ops->tx_busy(n) == 0;
}

const uint8_t *nic_recv(struct nic *n, unsigned *len)
{
	const uint8_t *f = n->ops->rx(n, len);

	if (f)
		n->rx++;
	return f;
}

/* net.c's reset turns the guest's interrupt path off first; here the
 * kernel's driver owns interrupts, and there is none to turn off. */
void net_irq_off(struct nic *n)
{
	(void)n;
}
