/*
 * serve.c - "serve <nic> <a.b.c.d>": answer ARP requests for the address
 * and ICMP echo requests sent to it, as a host would, until the host
 * sends a byte.  Only link-local addresses (169.254.0.0/16) are taken:
 * the suite keeps IPv4 inside that block.  Replies carry correct IP and
 * ICMP checksums; requests with a bad checksum, IP options or fragments
 * are left alone, like everything else, and counted as rx_other.
 */
#include "net.h"
#include "cpu.h"
#include "lib.h"

#define ETHERTYPE_IPV4	0x0800
#define ETHERTYPE_ARP	0x0806
#define ARP_LEN		28	/* Ethernet/IPv4 ARP body */
#define IP_LEN		20	/* header without options */
#define IP_ICMP		1
#define ICMP_ECHO_REPLY	0
#define ICMP_ECHO	8

static uint8_t reply[NIC_FRAME_MAX];

static bool parse_ipv4(const char *s, uint8_t ip[4])
{
	for (unsigned i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
			v = v * 10 + (unsigned)(*s - '0');
		if (!digits || v > 255 || *s != (i < 3 ? '.' : '\0'))
			return false;
		ip[i] = (uint8_t)v;
		s += i < 3;
	}
	return true;
}

/* The Internet checksum (RFC 1071) of len bytes. */
static uint16_t inet_csum(const uint8_t *p, unsigned len)
{
	uint32_t sum = 0;

	for (; len >= 2; p += 2, len -= 2)
		sum += get_be16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An ARP request for ip: the reply's length, else 0. */
static unsigned arp_reply(const struct nic *n, const uint8_t ip[4],
			  const uint8_t *f, unsigned len)
{
	const uint8_t *a = f + ETH_HLEN;
	uint8_t *b = reply + ETH_HLEN;

	if (len < ETH_HLEN + ARP_LEN || get_be16(a) != 1 ||	/* Ethernet */
	    get_be16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4 ||
	    get_be16(a + 6) != 1 || memcmp(a + 24, ip, 4) != 0)	/* request */
		return 0;
	memcpy(reply, a + 8, ETH_ALEN);		/* to the asker */
	memcpy(reply + ETH_ALEN, n->mac, ETH_ALEN);
	put_be16(reply + 12, ETHERTYPE_ARP);
	memcpy(b, a, 6);			/* htype, ptype, hlen, plen */
	put_be16(b + 6, 2);			/* reply */
	memcpy(b + 8, n->mac, ETH_ALEN);	/* sender: us */
	memcpy(b + 14, ip, 4);
	memcpy(b + 18, a + 8, 10);		/* target: the asker */
	return ETH_HLEN + ARP_LEN;
}

/* An ICMP echo request to ip: the reply's length, else 0. */
static unsigned icmp_reply(const struct nic *n, const uint8_t ip[4],
			   const uint8_t *f, unsigned len)
{
	const uint8_t *h = f + ETH_HLEN;
	unsigned total;
	uint8_t *o = reply + ETH_HLEN;

	if (len < ETH_HLEN + IP_LEN + 8 || h[0] != 0x45 || h[9] != IP_ICMP ||
	    memcmp(h + 16, ip, 4) != 0 || (get_be16(h + 6) & 0x3FFF) ||
	    inet_csum(h, IP_LEN) != 0)
		return 0;		/* not for us, options, fragment, bad */
	total = get_be16(h + 2);
	if (total < IP_LEN + 8 || ETH_HLEN + total > len ||
	    h[IP_LEN] != ICMP_ECHO || inet_csum(h + IP_LEN, total - IP_LEN) != 0)
		return 0;
	memcpy(reply, f + ETH_ALEN, ETH_ALEN);
	memcpy(reply + ETH_ALEN, n->mac, ETH_ALEN);
	put_be16(reply + 12, ETHERTYPE_IPV4);
	memcpy(o, h, total);
	o[8] = 64;				/* TTL */
	memcpy(o + 12, ip, 4);			/* from us */
	memcpy(o + 16, h + 12, 4);		/* to the asker */
	put_be16(o + 10, 0);
	put_be16(o + 10, inet_csum(o, IP_LEN));
	o[IP_LEN] = ICMP_ECHO_REPLY;
	put_be16(o + IP_LEN + 2, 0);
	put_be16(o + IP_LEN + 2, inet_csum(o + IP_LEN, total - IP_LEN));
	return ETH_HLEN + total;
}

void cmd_serve(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint8_t ip[4];
	uint64_t arps = 0, pings = 0;
	struct host_watch w;
	const uint8_t *rx;
	unsigned len, out;
	struct fmt f;

	if (!n)
		return;
	if (!parse_ipv4(r->argv[2], ip) || ip[0] != 169 || ip[1] != 254) {
		net_reply_err(r, "badargs");
		return;
	}
	host_watch_start(&w);
	while (!host_stopped(&w)) {
		if (!(rx = nic_recv(n, &len))) {
			cpu_pause();
			continue;
		}
		out = 0;
		if (len >= ETH_HLEN && get_be16(rx + 12) == ETHERTYPE_ARP) {
			out = arp_reply(n, ip, rx, len);
			arps += out != 0;
		} else if (len >= ETH_HLEN && get_be16(rx + 12) == ETHERTYPE_IPV4) {
			out = icmp_reply(n, ip, rx, len);
			pings += out != 0;
		}
		if (!out || out > ETH_HLEN + n->mtu_max) {
			n->rx_other++;
			continue;
		}
		nic_send(n, reply, out);
		nic_kick(n);
	}
	nic_drain(n);
	proto_begin(&f, r->seq, "OK arp=");
	fmt_dec(&f, arps);
	fmt_str(&f, " icmp=");
	fmt_dec(&f, pings);
	proto_send(&f);
}
