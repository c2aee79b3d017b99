/*
 * agent_packet.c - the agent's nic_ops: frames through an AF_PACKET
 * socket bound to the interface, settings through agent_if.c.
 *
 * The socket takes every frame the driver hands the stack (ETH_P_ALL),
 * without the FCS, as the device delivered it: short frames unpadded,
 * unicast to other addresses included.  It filters nothing itself, so
 * what arrives is what the device's filter let through; receive mode and
 * multicast list go to the driver (IFF_PROMISC, IFF_ALLMULTI,
 * SIOCADDMULTI), never to the socket (PACKET_MR_PROMISC), which would
 * filter in software.  The kernel queues what is sent (qdisc, driver
 * ring), so there is nothing to kick and nothing to wait for.
 */
#include <errno.h>
#include <stdio.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include "agent.h"
#include "../lib.h"

#define RCVBUF_BYTES	(4 << 20)	/* a burst of jumbo frames, unread */
#define RX_IDLE_MS	1		/* how long rx waits for a frame */
#define TX_RETRY_MS	1000		/* how long tx keeps trying */
#define RUNNING_MS	3000		/* how long to wait for carrier */
#define SETTLE_MS	2500		/* a link that stays up this long has settled:
					 * e1000's watchdog looks every 2 s */
#define SETTLE_MAX_MS	10000

static uint8_t rx_buf[NIC_FRAME_MAX];

static struct agent_nic *priv(struct nic *n)
{
	return n->priv;
}

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&t, NULL);
}

int packet_open(struct nic *n)
{
	struct agent_nic *a = priv(n);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = a->ifindex,
	};
	int one = 1, size = RCVBUF_BYTES, fd;

	if (a->fd >= 0)
		return 0;
	/* Protocol 0 until bound: no frame of another interface gets in. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only what arrives: without it our own transmissions come back. */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	a->fd = fd;
	return 0;
}

void packet_flush(struct nic *n)
{
	/* ENETDOWN: said once after the interface went down, not the end */
	while (recv(priv(n)->fd, rx_buf, sizeof(rx_buf), MSG_TRUNC) >= 0 ||
	       errno == ENETDOWN || errno == EINTR)
		;
}

bool packet_wait_running(struct nic *n)
{
	uint64_t end = now_ms() + RUNNING_MS;

	while (!n->ops->link(n)) {
		if (now_ms() > end)
			return false;
		sleep_ms(10);
	}
	return true;
}

/* A full socket buffer (EAGAIN), a full qdisc (ENOBUFS) or a driver
 * between down and up (ENETDOWN) passes; anything else is final. */
static bool tx(struct nic *n, const void *frame, unsigned len)
{
	struct agent_nic *a = priv(n);
	uint64_t end = 0;

	while (send(a->fd, frame, len, 0) < 0) {
		struct pollfd p = { .fd = a->fd, .events = POLLOUT };

		if (errno != EAGAIN && errno != ENOBUFS && errno != ENETDOWN && errno != EINTR)
			return false;
		if (!end)
			end = now_ms() + TX_RETRY_MS;
		else if (now_ms() > end)
			return false;
		if (errno == EAGAIN)
			poll(&p, 1, 1);
		else
			sleep_ms(1);
	}
	return true;
}

static void tx_kick(struct nic *n)
{
	(void)n;
}

static unsigned tx_busy(struct nic *n)
{
	(void)n;
	return 0;
}

/* Waits a moment when there is nothing, so that the commands' polling
 * loops sleep in poll() rather than spin through recv(); a frame that
 * comes meanwhile ends the wait at once. */
static const uint8_t *rx(struct nic *n, unsigned *len)
{
	struct agent_nic *a = priv(n);
	bool waited = false;

	for (;;) {
		struct pollfd p = { .fd = a->fd, .events = POLLIN };
		ssize_t got = recv(a->fd, rx_buf, sizeof(rx_buf), MSG_TRUNC);

		if (got > (ssize_t)sizeof(rx_buf)) {
			n->rx_bad++;	/* longer than any frame we take */
			continue;
		}
		if (got >= 0) {
			*len = (unsigned)got;
			return rx_buf;
		}
		if (waited)	/* EAGAIN, or ENETDOWN once after a down */
			return NULL;
		poll(&p, 1, RX_IDLE_MS);
		waited = true;
	}
}

static bool running(struct nic *n)
{
	unsigned flags;

	return if_get_flags(priv(n)->ifname, &flags) == 0 && (flags & IFF_RUNNING);
}

static int set_mac(struct nic *n, const uint8_t mac[ETH_ALEN])
{
	struct agent_nic *a = priv(n);
	int err = if_set_mac(a->ifname, mac);

	if (err == -EBUSY) {	/* a driver that takes it only while down */
		err = if_change_flags(a->ifname, 0, IFF_UP);
		if (!err)
			err = if_set_mac(a->ifname, mac);
		if (if_change_flags(a->ifname, IFF_UP, 0) == 0)
			packet_wait_running(n);
	}
	if (err == -EOPNOTSUPP)
		return NIC_UNSUPPORTED;
	return err ? NIC_FAILED : NIC_OK;
}

static bool listed(const uint8_t list[][ETH_ALEN], unsigned count, const uint8_t *mac)
{
	for (unsigned i = 0; i < count; i++)
		if (memcmp(list[i], mac, ETH_ALEN) == 0)
			return true;
	return false;
}

/* The groups first (those no longer listed go, the new ones come), then
 * n->rxmode as IFF_PROMISC / IFF_ALLMULTI.  The SIOCSIFFLAGS comes last
 * even when the flags stay: it has the driver compute its filter once
 * more from the finished list (a macvlan computes it before it syncs
 * the list to its lower device, so a group taken out would otherwise
 * pass until the next change). */
static int set_filter(struct nic *n)
{
	static const unsigned mode_flags[] = {
		[NIC_RX_NORMAL] = 0,
		[NIC_RX_PROMISC] = IFF_PROMISC,
		[NIC_RX_ALLMULTI] = IFF_ALLMULTI,
	};
	struct agent_nic *a = priv(n);
	int err = 0;

	for (unsigned i = a->napplied; !err && i--;) {
		if (listed(n->mcast, n->nmcast, a->applied[i]))
			continue;
		err = if_multicast(a->ifname, a->applied[i], false);
		if (err == -ENOENT)	/* gone already */
			err = 0;
		if (!err)	/* forget it: the last one takes its place */
			memcpy(a->applied[i], a->applied[--a->napplied], ETH_ALEN);
	}
	for (unsigned i = 0; !err && i < n->nmcast; i++) {
		if (listed(a->applied, a->napplied, n->mcast[i]))
			continue;
		err = if_multicast(a->ifname, n->mcast[i], true);
		if (!err)
			memcpy(a->applied[a->napplied++], n->mcast[i], ETH_ALEN);
	}
	if (!err)
		err = if_change_flags(a->ifname, mode_flags[n->rxmode],
				      IFF_PROMISC | IFF_ALLMULTI);
	return err ? NIC_FAILED : NIC_OK;
}

/* EINVAL: more than the driver takes (the kernel checks max_mtu). */
/* The times the interface's carrier changed (sysfs carrier_changes). */
static unsigned long carrier_changes(struct nic *n)
{
	char path[64];
	unsigned long changes = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/carrier_changes", priv(n)->ifname);
	if ((f = fopen(path, "re"))) {
		if (fscanf(f, "%lu", &changes) != 1)
			changes = 0;
		fclose(f);
	}
	return changes;
}

/* Wait until n's link is up and has stayed up SETTLE_MS (SETTLE_MAX_MS at
 * most): a driver that resets the device (e1000 for a new MTU) may see
 * its link come back, then lose it again while the PHY renegotiates
 * (QEMU's e1000 drops it for 500 ms on an autonegotiation restart), and
 * what is sent meanwhile is dropped. */
static void wait_settled(struct nic *n)
{
	uint64_t give_up = now_ms() + SETTLE_MAX_MS;

	while (now_ms() < give_up) {
		unsigned long changes;
		uint64_t until;

		packet_wait_running(n);
		changes = carrier_changes(n);
		until = now_ms() + SETTLE_MS;
		while (now_ms() < until && carrier_changes(n) == changes)
			sleep_ms(50);
		if (carrier_changes(n) == changes && running(n))
			return;
	}
}

static int set_mtu(struct nic *n, unsigned mtu)
{
	int err = if_set_mtu(priv(n)->ifname, mtu);

	if (!err)
		wait_settled(n);
	if (err == -EINVAL || err == -EOPNOTSUPP)
		return NIC_UNSUPPORTED;
	return err ? NIC_FAILED : NIC_OK;
}

/* The kernel's driver owns the interrupts. */
static int irq_on(struct nic *n, enum nic_irq kind)
{
	(void)n, (void)kind;
	return NIC_UNSUPPORTED;
}

static void irq_off(struct nic *n)
{
	(void)n;
}

static bool irq_ack(struct nic *n)
{
	(void)n;
	return false;
}

const struct nic_ops packet_ops = {
	.tx = tx,
	.tx_kick = tx_kick,
	.tx_busy = tx_busy,
	.rx = rx,
	.link = running,
	.set_mac = set_mac,
	.set_filter = set_filter,
	.set_mtu = set_mtu,
	.irq_on = irq_on,
	.irq_off = irq_off,
	.irq_ack = irq_ack,
};
