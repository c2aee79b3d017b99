/* net.c - the NIC configuration commands; see net.h and PROTOCOL.md. */
#include "net.h"
#include "cpu.h"
#include "lib.h"
#include "uart.h"

/* The <model> words of PROTOCOL.md, for nics (and the agent's --nic). */
static const char *const model_names[] = {
	[NIC_RTL8139] = "rtl8139",
	[NIC_E1000] = "e1000",
	[NIC_VIRTIO] = "virtio",
	[NIC_VIRTIO_LEGACY] = "virtio-legacy",
};

const char *nic_model_name(const struct nic *n)
{
	return model_names[n->model];
}

bool nic_model_by_name(const char *name, enum nic_model *model)
{
	for (unsigned m = 0; m < sizeof(model_names) / sizeof(model_names[0]); m++) {
		if (strcmp(name, model_names[m]) == 0) {
			*model = (enum nic_model)m;
			return true;
		}
	}
	return false;
}

void net_reply_err(const struct request *r, const char *reason)
{
	proto_line(r->seq, "ERR", reason);
}

bool net_arg_u32(const struct request *r, unsigned i, uint32_t *v)
{
	uint64_t x;

	if (!parse_u64(r->argv[i], &x) || x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

struct nic *net_arg_nic(const struct request *r, unsigned i)
{
	uint32_t k;

	if (!net_arg_u32(r, i, &k) || k >= nic_count) {
		net_reply_err(r, "badargs");
		return NULL;
	}
	if (!nics[k].ops) {
		net_reply_err(r, "nicfailed");
		return NULL;
	}
	return &nics[k];
}

void host_watch_start(struct host_watch *w)
{
	w->next = rdtsc() + HOST_POLL_TSC;
}

bool host_stopped(struct host_watch *w)
{
	uint64_t now = rdtsc();

	if (now < w->next)
		return false;
	w->next = now + HOST_POLL_TSC;
	return uart_poll() >= 0;
}

void net_reply_result(const struct request *r, int err)
{
	if (err == NIC_OK)
		proto_line(r->seq, "OK", NULL);
	else
		net_reply_err(r, err == NIC_UNSUPPORTED ? "unsupported" : "failed");
}

void cmd_nics(const struct request *r)
{
	struct fmt f;

	for (unsigned i = 0; i < nic_count; i++) {
		struct nic *n = &nics[i];
		uint16_t bdf = n->pci->bdf;

		proto_begin(&f, r->seq, "DATA nic");
		fmt_dec(&f, i);
		fmt_char(&f, ' ');
		fmt_str(&f, nic_model_name(n));
		fmt_char(&f, ' ');
		fmt_hex(&f, bdf >> 8, 2);
		fmt_char(&f, ':');
		fmt_hex(&f, bdf >> 3 & 0x1F, 2);
		fmt_char(&f, '.');
		fmt_hex(&f, bdf & 7, 1);
		fmt_str(&f, " mac=");
		fmt_mac(&f, n->mac);
		fmt_str(&f, " mtu=");
		fmt_dec(&f, n->mtu);
		fmt_str(&f, " link=");
		fmt_dec(&f, n->ops && n->ops->link(n));
		fmt_str(&f, " irq=");
		fmt_dec(&f, n->gsi);
		proto_send(&f);
	}
	proto_begin(&f, r->seq, "OK ");
	fmt_dec(&f, nic_count);
	proto_send(&f);
}

void cmd_reset(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);

	if (!n)
		return;
	net_irq_off(n);
	net_reply_result(r, nic_reset(n) ? NIC_OK : NIC_FAILED);
}

void cmd_mac(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint8_t mac[ETH_ALEN];
	int err;

	if (!n)
		return;
	if (!parse_mac(r->argv[2], mac) || (mac[0] & 1)) {
		net_reply_err(r, "badargs");
		return;
	}
	err = n->ops->set_mac(n, mac);
	if (err == NIC_OK)
		memcpy(n->mac, mac, ETH_ALEN);
	net_reply_result(r, err);
}

void cmd_rxmode(const struct request *r)
{
	static const char *const names[] = {
		[NIC_RX_NORMAL] = "normal",
		[NIC_RX_PROMISC] = "promisc",
		[NIC_RX_ALLMULTI] = "allmulti",
	};
	struct nic *n = net_arg_nic(r, 1);
	enum nic_rxmode old;
	int err;

	if (!n)
		return;
	old = n->rxmode;
	for (unsigned m = 0; m < 3; m++) {
		if (strcmp(r->argv[2], names[m]) != 0)
			continue;
		n->rxmode = (enum nic_rxmode)m;
		err = n->ops->set_filter(n);
		if (err != NIC_OK)
			n->rxmode = old;
		net_reply_result(r, err);
		return;
	}
	net_reply_err(r, "badargs");
}

void cmd_mcast(const struct request *r)
{
	uint8_t list[NIC_MCAST_MAX][ETH_ALEN], old[NIC_MCAST_MAX][ETH_ALEN];
	unsigned count = r->argc - 2, old_count;
	struct nic *n;
	int err;

	if (r->argc < 2 || count > NIC_MCAST_MAX) {
		net_reply_err(r, "badargs");
		return;
	}
	if (!(n = net_arg_nic(r, 1)))
		return;
	for (unsigned i = 0; i < count; i++) {
		if (!parse_mac(r->argv[2 + i], list[i]) || !(list[i][0] & 1)) {
			net_reply_err(r, "badargs");
			return;
		}
	}
	memcpy(old, n->mcast, sizeof(old));
	old_count = n->nmcast;
	memcpy(n->mcast, list, count * ETH_ALEN);
	n->nmcast = count;
	err = n->ops->set_filter(n);
	if (err != NIC_OK) {
		memcpy(n->mcast, old, sizeof(old));
		n->nmcast = old_count;
	}
	net_reply_result(r, err);
}

void cmd_mtu(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint32_t mtu;
	int err;

	if (!n)
		return;
	if (!net_arg_u32(r, 2, &mtu) || mtu < NIC_MTU_MIN || mtu > 65535) {
		net_reply_err(r, "badargs");
		return;
	}
	err = mtu > n->mtu_max ? NIC_UNSUPPORTED : n->ops->set_mtu(n, mtu);
	if (err == NIC_OK)
		n->mtu = mtu;
	net_reply_result(r, err);
}

void cmd_counters(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct fmt f;

	if (!n)
		return;
	proto_begin(&f, r->seq, "OK tx=");
	fmt_dec(&f, n->tx);
	fmt_str(&f, " rx=");
	fmt_dec(&f, n->rx);
	fmt_str(&f, " rx_bad=");
	fmt_dec(&f, n->rx_bad);
	fmt_str(&f, " rx_other=");
	fmt_dec(&f, n->rx_other);
	fmt_str(&f, " irq=");
	fmt_dec(&f, n->irqs);
	fmt_str(&f, " notify=");
	fmt_dec(&f, n->notifies);
	proto_send(&f);
}
