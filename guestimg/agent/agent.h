/*
 * agent.h - kvmnet-agent: the guest image's protocol (../PROTOCOL.md)
 * served by a Linux program, whose NICs are driven by Linux's own drivers
 * (8139too, e1000, virtio_net) through AF_PACKET sockets and the
 * interface ioctls.  The framing, the commands that move frames and the
 * NIC configuration commands are the guest image's own files, built
 * hosted (KVMNET_HOSTED); these files put Linux where the guest has its
 * drivers, its PCI code and its boot path.
 */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include "../nic.h"
#include "../proto.h"

/* uart_stdio.c: the uart.h calls go to COM1 (../uart.c, port I/O after
 * iopl) unless uart_use_stdio() moved them to stdin/stdout. */
void uart_use_stdio(void);

/* agent.c: false under --stdio (no COM1, no debug-exit port). */
extern bool agent_on_com1;
/* agent.c: one line of console text ("kvmnet-agent: ..."), which the
 * host keeps in its log and otherwise ignores. */
void agent_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* agent_nic.c: interface ifname as the next NIC, brought up by
 * nic_init_all(); pci NULL for one that is no PCI function (a veth on a
 * test host).  False when there are NIC_MAX already.  nic_init_all()
 * scans PCI on COM1 only: under --stdio the NICs are the ones named. */
bool agent_nic_add(const char *ifname, enum nic_model model,
		   const struct pci_dev *pci, unsigned gsi);
/* agent_pci.c: agent_nic_add() every netdev on a PCI function of a model
 * nic.h knows, in PCI address order, as sysfs describes it. */
void agent_pci_scan(void);

/* agent_if.c: interface settings through netdevice(7) ioctls and
 * rtnetlink; each returns 0 or -errno. */
int if_index(const char *ifname);
int if_get_flags(const char *ifname, unsigned *flags);
/* flags = (flags & ~clear) | set */
int if_change_flags(const char *ifname, unsigned set, unsigned clear);
int if_get_mac(const char *ifname, uint8_t mac[ETH_ALEN]);
int if_set_mac(const char *ifname, const uint8_t mac[ETH_ALEN]);
int if_set_mtu(const char *ifname, unsigned mtu);
int if_multicast(const char *ifname, const uint8_t group[ETH_ALEN], bool add);
/* IFLA_MAX_MTU, the most the driver takes; -ENODATA if the kernel does
 * not say. */
int if_max_mtu(int ifindex);
/* No IPv6 on it: Linux then sends nothing on the interface by itself
 * (router solicitations, DAD, MLD reports) and joins no IPv6 group. */
int if_no_ipv6(const char *ifname);
/* An IPv4 address (SIOCSIFADDR) or netmask (SIOCSIFNETMASK), network order. */
int if_set_ipv4(const char *ifname, unsigned long request, uint32_t value);
/* One of the driver's offloads as ethtool reads it (ETHTOOL_G*): 1, or 0
 * when off or unknown. */
int if_offload(const char *ifname, uint32_t cmd);

/* agent_packet.c: the nic_ops, on an AF_PACKET socket bound to the
 * interface. */
struct agent_nic {
	char ifname[16];		/* IFNAMSIZ */
	int ifindex;
	int fd;				/* the AF_PACKET socket, -1 before */
	bool booted;			/* boot_mac is read */
	uint8_t boot_mac[ETH_ALEN];	/* what reset restores */
	unsigned napplied;		/* the groups SIOCADDMULTI added */
	uint8_t applied[NIC_MCAST_MAX][ETH_ALEN];
};

extern const struct nic_ops packet_ops;
/* Open n's socket if it has none (0 or -errno), and drop whatever it
 * has received so far. */
int packet_open(struct nic *n);
void packet_flush(struct nic *n);
/* Wait (up to about 3 s) until n's interface is running: a driver
 * reports carrier some time after it is brought up (e1000's watchdog). */
bool packet_wait_running(struct nic *n);

/* agent_inet.c: traffic through Linux's IPv4 stack, on link-local
 * addresses only (the offload checks). */
void cmd_inet(const struct request *r);
void cmd_udpsend(const struct request *r);
void cmd_tcpsend(const struct request *r);
void cmd_udprecv(const struct request *r);

#endif
