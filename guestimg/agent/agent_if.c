/*
 * agent_if.c - an interface's settings, as any Linux program changes
 * them: netdevice(7) ioctls on a helper socket, and one rtnetlink query.
 * The kernel hands each to the driver (ndo_set_mac_address,
 * ndo_change_mtu, ndo_set_rx_mode for the flags and multicast list), and
 * the driver programs the device: that is what the agent is for.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "agent.h"
#include "../lib.h"

/* Any socket serves the interface ioctls; one kept open. */
static int ctl_fd(void)
{
	static int fd = -1;

	if (fd < 0)
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return fd;
}

static int ifr_call(unsigned long request, const char *ifname, struct ifreq *ifr)
{
	int fd = ctl_fd();

	if (fd < 0)
		return -errno;
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	return ioctl(fd, request, ifr) < 0 ? -errno : 0;
}

int if_index(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int err = ifr_call(SIOCGIFINDEX, ifname, &ifr);

	return err ? err : ifr.ifr_ifindex;
}

int if_get_flags(const char *ifname, unsigned *flags)
{
	struct ifreq ifr = { 0 };
	int err = ifr_call(SIOCGIFFLAGS, ifname, &ifr);

	*flags = (unsigned short)ifr.ifr_flags;
	return err;
}

int if_change_flags(const char *ifname, unsigned set, unsigned clear)
{
	struct ifreq ifr = { 0 };
	int err = ifr_call(SIOCGIFFLAGS, ifname, &ifr);

	if (err)
		return err;
	ifr.ifr_flags = (short)(((unsigned short)ifr.ifr_flags & ~clear) | set);
	return ifr_call(SIOCSIFFLAGS, ifname, &ifr);
}

int if_get_mac(const char *ifname, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };
	int err = ifr_call(SIOCGIFHWADDR, ifname, &ifr);

	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return err;
}

int if_set_mac(const char *ifname, const uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };

	ifr.ifr_hwaddr.sa_family = 1;	/* ARPHRD_ETHER */
	memcpy(ifr.ifr_hwaddr.sa_data, mac, ETH_ALEN);
	return ifr_call(SIOCSIFHWADDR, ifname, &ifr);
}

int if_set_mtu(const char *ifname, unsigned mtu)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_mtu = (int)mtu;
	return ifr_call(SIOCSIFMTU, ifname, &ifr);
}

int if_multicast(const char *ifname, const uint8_t group[ETH_ALEN], bool add)
{
	struct ifreq ifr = { 0 };

	ifr.ifr_hwaddr.sa_family = AF_UNSPEC;
	memcpy(ifr.ifr_hwaddr.sa_data, group, ETH_ALEN);
	return ifr_call(add ? SIOCADDMULTI : SIOCDELMULTI, ifname, &ifr);
}

int if_no_ipv6(const char *ifname)
{
	char path[96];
	int fd, err = 0;

	/* /proc/sys/net is the namespace of whoever opens it: ours. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/* The value of attribute type in an RTM_NEWLINK message, or -ENODATA. */
static int link_attr_u32(const struct nlmsghdr *h, unsigned short type)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	int left = (int)IFLA_PAYLOAD(h);

	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		uint32_t v;

		if (a->rta_type != type || RTA_PAYLOAD(a) < sizeof(v))
			continue;
		memcpy(&v, RTA_DATA(a), sizeof(v));
		return (int)v;
	}
	return -ENODATA;
}

int if_max_mtu(int ifindex)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg ifi;
	} req = {
		.h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
		       .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};
	static char buf[16384];	/* one link's attributes, statistics included */
	const struct nlmsghdr *h = (const void *)buf;
	int fd, len, ret;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0 ||
	    (len = (int)recv(fd, buf, sizeof(buf), 0)) < 0)
		ret = -errno;
	else if (!NLMSG_OK(h, (unsigned)len))
		ret = -EPROTO;
	else if (h->nlmsg_type == NLMSG_ERROR)
		ret = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
	else
		ret = link_attr_u32(h, IFLA_MAX_MTU);
	close(fd);
	return ret;
}

int if_set_ipv4(const char *ifname, unsigned long request, uint32_t value)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = value;
	return ifr_call(request, ifname, &ifr);
}

int if_offload(const char *ifname, uint32_t cmd)
{
	struct ethtool_value v = { .cmd = cmd };
	struct ifreq ifr = { 0 };

	ifr.ifr_data = (void *)&v;
	return ifr_call(SIOCETHTOOL, ifname, &ifr) ? 0 : v.data != 0;
}
