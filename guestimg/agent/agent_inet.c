/*
 * agent_inet.c - traffic through Linux's own IPv4 stack, for the offload
 * checks: the kernel builds the headers and decides, with the driver,
 * what the device does for it (checksum insertion, TCP segmentation) and
 * what it trusts the device to have verified on receive.  The host judges
 * what reaches the wire, and what the guest's stack let through.
 *
 *   inet <nic> <a.b.c.d>                         OK txcsum= tso= rxcsum=
 *   udpsend <nic> <a.b.c.d> <port> <size> <count> <seed>   OK sent=
 *   tcpsend <nic> <a.b.c.d> <port> <bytes> <seed>          OK sent= mss=
 *   udprecv <nic> <port> <count> <seed>          DATA armed, OK got= bad= csumerrors=
 *
 * Addresses are link-local only (169.254.0.0/16): the agent refuses any
 * other, so nothing it sends can leave the suite's namespaces routed.
 * Payload byte i of stream (or datagram) s is (s + i + i/256) mod 256.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include "agent.h"
#include "../net.h"
#include "../proto.h"

#define CONNECT_MS	5000	/* the peer listens before it asks */
#define DRAIN_MS	30000	/* the peer closes once it has every byte */
#define CHUNK		65536

static uint8_t pattern(uint32_t stream, uint32_t i)
{
	return (uint8_t)(stream + i + (i >> 8));
}

static bool parse_link_local(const char *s, struct in_addr *out)
{
	unsigned a, b, c, d;
	char tail;

	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 ||
	    a != 169 || b != 254 || c > 255 || d > 255)
		return false;
	out->s_addr = htonl(a << 24 | b << 16 | c << 8 | d);
	return true;
}

static struct agent_nic *agent_of(struct nic *n)
{
	return n->priv;
}

/* A socket of type bound to n's interface (and to port, if not 0). */
static int inet_socket(struct nic *n, int type, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	const char *ifname = agent_of(n)->ifname;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname) + 1) < 0 ||
	    (port && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ERR failed, saying which call failed and its errno. */
static void reply_errno(const struct request *r, const char *what, int err)
{
	struct fmt f;

	proto_begin(&f, r->seq, "ERR failed ");
	fmt_str(&f, what);
	fmt_str(&f, " errno=");
	fmt_dec(&f, (uint32_t)err);
	proto_send(&f);
}

static bool arg_addr(const struct request *r, unsigned i, struct in_addr *a)
{
	if (!parse_link_local(r->argv[i], a)) {
		net_reply_err(r, "badargs");
		return false;
	}
	return true;
}

static bool arg_port(const struct request *r, unsigned i, uint16_t *port)
{
	uint32_t v;

	if (!net_arg_u32(r, i, &v) || v == 0 || v > 65535) {
		net_reply_err(r, "badargs");
		return false;
	}
	*port = (uint16_t)v;
	return true;
}

void cmd_inet(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct in_addr a;
	const char *ifname;
	struct fmt f;
	int err;

	if (!n || !arg_addr(r, 2, &a))
		return;
	ifname = agent_of(n)->ifname;
	err = if_set_ipv4(ifname, SIOCSIFADDR, a.s_addr);
	if (!err)
		err = if_set_ipv4(ifname, SIOCSIFNETMASK, htonl(0xFFFF0000));
	if (err) {
		reply_errno(r, "address", -err);
		return;
	}
	proto_begin(&f, r->seq, "OK txcsum=");
	fmt_dec(&f, if_offload(ifname, ETHTOOL_GTXCSUM));
	fmt_str(&f, " tso=");
	fmt_dec(&f, if_offload(ifname, ETHTOOL_GTSO));
	fmt_str(&f, " rxcsum=");
	fmt_dec(&f, if_offload(ifname, ETHTOOL_GRXCSUM));
	proto_send(&f);
}

void cmd_udpsend(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint32_t size, count, seed, sent = 0;
	static uint8_t buf[CHUNK];
	struct fmt f;
	int fd;

	if (!n || !arg_addr(r, 2, &to.sin_addr) || !arg_port(r, 3, &to.sin_port))
		return;
	to.sin_port = htons(to.sin_port);
	if (!net_arg_u32(r, 4, &size) || !net_arg_u32(r, 5, &count) ||
	    !net_arg_u32(r, 6, &seed) || size > 65507) {
		net_reply_err(r, "badargs");
		return;
	}
	if ((fd = inet_socket(n, SOCK_DGRAM, 0)) < 0) {
		reply_errno(r, "socket", errno);
		return;
	}
	for (; sent < count; sent++) {
		for (uint32_t i = 0; i < size; i++)
			buf[i] = pattern(seed + sent, i);
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			break;
	}
	close(fd);
	proto_begin(&f, r->seq, "OK sent=");
	fmt_dec(&f, sent);
	proto_send(&f);
}

/* Wait up to ms for events on fd: false on a timeout. */
static bool wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, ms) == 1;
}

static int tcp_connect(struct nic *n, const struct sockaddr_in *to)
{
	int fd = inet_socket(n, SOCK_STREAM, 0), err = 0;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -errno;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
		err = errno;
	else if (!wait_fd(fd, POLLOUT, CONNECT_MS))
		err = ETIMEDOUT;
	else
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

/* Write total bytes of stream seed to fd: how many the socket took. */
static uint32_t tcp_write(int fd, uint32_t total, uint32_t seed)
{
	static uint8_t buf[CHUNK];
	uint32_t done = 0;

	while (done < total) {
		uint32_t n = total - done < CHUNK ? total - done : CHUNK;
		ssize_t w;

		for (uint32_t i = 0; i < n; i++)
			buf[i] = pattern(seed, done + i);
		if (!wait_fd(fd, POLLOUT, DRAIN_MS))
			break;
		w = write(fd, buf, n);
		if (w < 0 && errno == EAGAIN)
			continue;
		if (w <= 0)
			break;
		done += (uint32_t)w;
	}
	return done;
}

void cmd_tcpsend(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint32_t total, seed, sent;
	int fd, mss = 0;
	socklen_t len = sizeof(mss);
	char sink[256];
	struct fmt f;

	if (!n || !arg_addr(r, 2, &to.sin_addr) || !arg_port(r, 3, &to.sin_port))
		return;
	to.sin_port = htons(to.sin_port);
	if (!net_arg_u32(r, 4, &total) || !net_arg_u32(r, 5, &seed)) {
		net_reply_err(r, "badargs");
		return;
	}
	if ((fd = tcp_connect(n, &to)) < 0) {
		reply_errno(r, "connect", -fd);
		return;
	}
	sent = tcp_write(fd, total, seed);
	getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len);
	shutdown(fd, SHUT_WR);
	/* The peer closes once it has read everything: wait for that, so
	 * the OK means every byte was acknowledged. */
	while (wait_fd(fd, POLLIN, DRAIN_MS) && read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	proto_begin(&f, r->seq, "OK sent=");
	fmt_dec(&f, sent);
	fmt_str(&f, " mss=");
	fmt_dec(&f, (uint32_t)mss);
	proto_send(&f);
}

/* Udp InCsumErrors from /proc/net/snmp: datagrams the stack checked and
 * dropped for their checksum. */
static uint32_t udp_csum_errors(void)
{
	char names[1024], values[1024];
	uint32_t found = 0;
	FILE *f = fopen("/proc/net/snmp", "re");

	if (!f)
		return 0;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		char *np, *vp, *name, *value;

		if (strncmp(names, "Udp:", 4) != 0)
			continue;
		name = strtok_r(names + 4, " \n", &np);
		value = strtok_r(values + 4, " \n", &vp);
		for (; name && value; name = strtok_r(NULL, " \n", &np),
		     value = strtok_r(NULL, " \n", &vp))
			if (strcmp(name, "InCsumErrors") == 0)
				found = (uint32_t)strtoul(value, NULL, 10);
		break;
	}
	fclose(f);
	return found;
}

/* A datagram of stream seed + k, k read from its first byte. */
static bool datagram_ok(const uint8_t *p, ssize_t len, uint32_t seed)
{
	uint32_t k = (uint8_t)(p[0] - seed);

	for (ssize_t i = 0; i < len; i++)
		if (p[i] != pattern(seed + k, (uint32_t)i))
			return false;
	return len > 0;
}

void cmd_udprecv(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	static uint8_t buf[CHUNK];
	uint32_t want, seed, got = 0, bad = 0, errors_before;
	struct host_watch w;
	uint16_t port;
	struct fmt f;
	int fd;

	if (!n || !arg_port(r, 2, &port))
		return;
	if (!net_arg_u32(r, 3, &want) || !net_arg_u32(r, 4, &seed)) {
		net_reply_err(r, "badargs");
		return;
	}
	if ((fd = inet_socket(n, SOCK_DGRAM, port)) < 0) {
		reply_errno(r, "bind", errno);
		return;
	}
	errors_before = udp_csum_errors();
	proto_line(r->seq, "DATA", "armed");	/* the host sends after this */
	host_watch_start(&w);
	while (got + bad < want && !host_stopped(&w)) {
		ssize_t len;

		if (!wait_fd(fd, POLLIN, 10))
			continue;
		len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (len < 0)
			continue;
		if (datagram_ok(buf, len, seed))
			got++;
		else
			bad++;
	}
	close(fd);
	proto_begin(&f, r->seq, "OK got=");
	fmt_dec(&f, got);
	fmt_str(&f, " bad=");
	fmt_dec(&f, bad);
	fmt_str(&f, " csumerrors=");
	fmt_dec(&f, udp_csum_errors() - errors_before);
	proto_send(&f);
}
