/*
 * net.h - the NIC commands of the protocol (PROTOCOL.md, "NIC commands").
 * net.c has the configuration commands and the argument helpers they
 * share, traffic.c the commands that move test frames (send, recv,
 * bounce), serve.c the ARP and ICMP echo responder, net_irq.c what needs
 * the guest's interrupt code (irq.c).  net.c, traffic.c and serve.c also
 * build into the Linux agent (agent/), which has its own net_irq_off().
 */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stdint.h>
#include "nic.h"
#include "proto.h"

void cmd_nics(const struct request *r);
void cmd_mac(const struct request *r);
void cmd_reset(const struct request *r);
void cmd_rxmode(const struct request *r);
void cmd_mcast(const struct request *r);
void cmd_mtu(const struct request *r);
void cmd_counters(const struct request *r);
void cmd_features(const struct request *r);	/* virtio_net_cfg.c */
void cmd_kick(const struct request *r);		/* virtio_net_cfg.c */
void cmd_irq(const struct request *r);		/* net_irq.c */
void cmd_send(const struct request *r);
void cmd_recv(const struct request *r);
void cmd_bounce(const struct request *r);
void cmd_serve(const struct request *r);

/* argv[i] as the index of a NIC that came up at boot; otherwise replies
 * ERR badargs (no such NIC) or ERR nicfailed and returns NULL. */
struct nic *net_arg_nic(const struct request *r, unsigned i);
bool net_arg_u32(const struct request *r, unsigned i, uint32_t *v);
void net_reply_err(const struct request *r, const char *reason);
/* OK, or the ERR for a driver's result (NIC_OK, NIC_UNSUPPORTED, ...). */
void net_reply_result(const struct request *r, int err);
/* Turn n's interrupt path off, as a reset needs (net_irq.c). */
void net_irq_off(struct nic *n);

/* Watching COM1 while a command runs: true, with the byte consumed, once
 * the host has sent one.  The UART is read at most every HOST_POLL_TSC
 * cycles (a millisecond or two), so the check costs next to nothing. */
#define HOST_POLL_TSC	(1ull << 22)
struct host_watch {
	uint64_t next;
};
void host_watch_start(struct host_watch *w);
bool host_stopped(struct host_watch *w);

#endif
