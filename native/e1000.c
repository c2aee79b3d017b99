/* See e1000.h. Section numbers are the 8254x SDM's. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "e1000.h"
#include "kvmnet_native.h"

#define STAT(e, reg) ((e)->stats[((reg) - E1000_STATS) / 4])
#define ETH_HLEN 14
#define ETH_MIN 60       /* without FCS */
#define ETH_MAX 1514     /* without FCS; 1518 with a VLAN tag */
#define FCS_LEN 4
#define VLAN_HLEN 4

static uint16_t le16(const uint8_t *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t le32(const uint8_t *p)
{
	return le16(p) | (uint32_t)le16(p + 2) << 16;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* The descriptor status byte (offset 12 in every format) is written last, with DD. */
static void put_status(uint8_t *desc, uint8_t status)
{
	__atomic_store_n(&desc[12], status, __ATOMIC_RELEASE);
}

void e1000_update_irq(struct e1000 *e)
{
	e->core.irq_level = (e->icr & e->ims) != 0;
}

static void stat_add64(struct e1000 *e, uint32_t low_reg, uint64_t n)
{
	uint64_t v = STAT(e, low_reg) | (uint64_t)STAT(e, low_reg + 4) << 32;

	v += n;
	STAT(e, low_reg) = v;
	STAT(e, low_reg + 4) = v >> 32;
}

/* PRC64..PRC1522 / PTC64..PTC1522: 64, 65-127, 128-255, 256-511, 512-1023, 1024-1522. */
static void stat_size(struct e1000 *e, uint32_t reg64, size_t len_with_fcs)
{
	static const size_t limits[] = { 64, 127, 255, 511, 1023, 1522 };
	unsigned i;

	for (i = 0; i < 6; i++) {
		if (len_with_fcs <= limits[i]) {
			e->stats[(reg64 - E1000_STATS) / 4 + i]++;
			return;
		}
	}
}

static int is_tagged(const struct e1000 *e, const uint8_t *frame, size_t len)
{
	return len >= ETH_HLEN + VLAN_HLEN && (uint32_t)(frame[12] << 8 | frame[13]) == (e->vet & 0xffff);
}

/* 13.4.x RAL/RAH: exact filters, each valid with AV; address select 00 is the destination. */
static int ra_match(const struct e1000 *e, const uint8_t *dst)
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		uint32_t ral = e->ra[2 * i], rah = e->ra[2 * i + 1];

		if (!(rah & E1000_RAH_AV) || (rah >> 16 & 3))
			continue;
		if (le32(dst) == ral && le16(dst + 4) == (rah & 0xffff))
			return 1;
	}
	return 0;
}

/* 13.4.x MTA: 12 bits of the address, chosen by RCTL.MO, index a 4096-bit table. */
static int mta_match(const struct e1000 *e, const uint8_t *dst)
{
	unsigned mo = e->rctl >> E1000_RCTL_MO_SHIFT & 3;
	uint32_t hash;

	if (e->core.faults & NIC_FAULT_MTA_BITS)
		mo = (mo + 1) & 3;

	if (mo == 3)
		hash = dst[4] | dst[5] << 8;
	else
		hash = dst[4] >> (4 - mo) | dst[5] << (4 + mo);
	hash &= 0xfff;
	return e->mta[hash >> 5] >> (hash & 31) & 1;
}

int e1000_rx_accept(struct e1000 *e, const uint8_t *frame, size_t len)
{
	const uint8_t *dst = frame;

	if (len < ETH_HLEN)
		return 0;
	if ((e->rctl & E1000_RCTL_VFE) && is_tagged(e, frame, len)) {
		uint16_t vid = (frame[14] << 8 | frame[15]) & 0xfff;

		if (!(e->vfta[vid >> 5] >> (vid & 31) & 1))
			return 0;
	}
	if (ra_match(e, dst))
		return 1;
	if (!nic_is_multicast(dst))
		return (e->rctl & E1000_RCTL_UPE) || (e->core.faults & NIC_FAULT_FILTER_BUG);
	if (nic_is_broadcast(dst) && (e->rctl & E1000_RCTL_BAM))
		return 1;
	if (e->rctl & E1000_RCTL_MPE)
		return 1;
	return mta_match(e, dst);
}

/* RCTL.BSIZE with BSEX (13.4.22); 0 for the reserved encoding. */
static uint32_t rx_buffer_size(uint32_t rctl)
{
	unsigned bsize = rctl >> E1000_RCTL_BSIZE_SHIFT & 3;

	if (rctl & E1000_RCTL_BSEX)
		return bsize ? 32768 >> bsize : 0;
	return 2048 >> bsize;
}

/* A frame (with FCS) into the ring from RDH (3.2): buffers of RCTL.BSIZE, EOP on the last. */
static int e1000_rx_frame(struct nic_core *core, const uint8_t *data, size_t len)
{
	struct e1000 *e = (struct e1000 *)core;
	uint8_t *scratch = e->rx_frame;
	uint32_t n = e->rdlen / 16, bufsize = rx_buffer_size(e->rctl);
	uint32_t free, need, i, threshold;
	uint64_t base = (uint64_t)e->rdbah << 32 | e->rdbal;
	const uint8_t *frame = data + core->vnet_hdr_size;
	/* No receive checksum offload: IXSM tells the driver to check for itself. */
	uint8_t status = core->faults & NIC_FAULT_RX_CSUM_TRUSTED ? E1000_RXD_STAT_TCPCS
								  : E1000_RXD_STAT_IXSM;
	uint16_t special = 0;
	size_t out_len, off = 0;
	int tagged, bad = 0;

	if (len < core->vnet_hdr_size + ETH_HLEN || !(e->rctl & E1000_RCTL_EN) || !bufsize) {
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	len -= core->vnet_hdr_size;
	tagged = is_tagged(e, frame, len);
	if (len > ((e->rctl & E1000_RCTL_LPE) ? E1000_RX_MAX : ETH_MAX + (tagged ? VLAN_HLEN : 0))) {
		STAT(e, E1000_ROC)++;
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	if (!e1000_rx_accept(e, frame, len)) {
		core->counters.rx_filtered++;
		return NIC_RX_DONE;
	}
	/* A frame shorter than the minimum comes from a host stack, not a wire: the wire would
	 * have carried it padded, and so does the guest get it. */
	if (len < ETH_MIN) {
		memcpy(e->rx_short, frame, len);
		memset(e->rx_short + len, 0, ETH_MIN - len);
		frame = e->rx_short;
		len = ETH_MIN;
	}
	out_len = len - ((tagged && (e->ctrl & E1000_CTRL_VME)) ? VLAN_HLEN : 0);
	if (!(e->rctl & E1000_RCTL_SECRC))
		out_len += FCS_LEN;
	need = (out_len + bufsize - 1) / bufsize;
	free = (n && e->rdh < n && e->rdt < n) ? (e->rdt + n - e->rdh) % n : 0;
	if (n && need >= n) { /* could never fit: the ring holds n - 1 buffers */
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	if (free < need) {
		if (!core->rx_reoffer) {
			STAT(e, E1000_RNBC)++;
			e->icr |= E1000_ICR_RXO;
			e1000_update_irq(e);
		}
		return NIC_RX_RETRY;
	}

	/* The frame as the guest gets it: 802.1Q tag stripped with CTRL.VME, FCS unless SECRC. */
	if (tagged && (e->ctrl & E1000_CTRL_VME)) {
		special = frame[14] << 8 | frame[15];
		status |= E1000_RXD_STAT_VP;
		memcpy(scratch, frame, 12);
		memcpy(scratch + 12, frame + 16, len - 16);
	} else {
		memcpy(scratch, frame, len);
	}
	if (!(e->rctl & E1000_RCTL_SECRC))
		nic_fcs(frame, len, scratch + out_len - FCS_LEN);
	nic_fault_corrupt(core, scratch, out_len - ((e->rctl & E1000_RCTL_SECRC) ? 0 : FCS_LEN));

	for (i = 0; i < need; i++) {
		uint8_t *desc = nic_dma(core, base + (uint64_t)e->rdh * 16, 16), *buf;
		size_t chunk = out_len - off < bufsize ? out_len - off : bufsize;
		int last = i == need - 1;

		if (!desc) { /* the ring itself is outside RAM */
			core->counters.rx_dropped++;
			return NIC_RX_DONE;
		}
		buf = nic_dma(core, le32(desc) | (uint64_t)le32(desc + 4) << 32, chunk);
		if (buf)
			memcpy(buf, scratch + off, chunk);
		else
			bad = 1;
		off += chunk;
		put_le16(desc + 8, chunk);
		put_le16(desc + 10, 0);                         /* packet checksum: not computed */
		desc[13] = last && bad ? E1000_RXD_ERR_RXE : 0; /* errors */
		put_le16(desc + 14, last ? special : 0);
		put_status(desc, status | E1000_RXD_STAT_DD | (last ? E1000_RXD_STAT_EOP : 0));
		e->rdh = (e->rdh + 1) % n;
	}

	threshold = n >> ((e->rctl >> E1000_RCTL_RDMTS_SHIFT & 3) + 1);
	if (free - need <= threshold)
		e->icr |= E1000_ICR_RXDMT0;
	e->icr |= E1000_ICR_RXT0;
	e1000_update_irq(e);
	if (bad) {
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	core->counters.rx_frames++;
	core->counters.rx_bytes += len;
	STAT(e, E1000_GPRC)++;
	STAT(e, E1000_TPR)++;
	stat_add64(e, E1000_GORCL, len + FCS_LEN);
	stat_add64(e, E1000_TORL, len + FCS_LEN);
	stat_size(e, E1000_PRC64, len + FCS_LEN);
	if (nic_is_broadcast(frame))
		STAT(e, E1000_BPRC)++;
	else if (nic_is_multicast(frame))
		STAT(e, E1000_MPRC)++;
	return NIC_RX_DONE;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, v >> 16);
	put_be16(p + 2, v);
}

/* ~(ones' complement sum of frame[start..end] and sum) at frame[at], big-endian (3.3.5).
 * end 0 (or past the frame) is the frame's last byte. */
static void insert_checksum(uint8_t *frame, size_t len, size_t start, size_t end, size_t at,
			    uint32_t sum)
{
	if (!end || end >= len)
		end = len - 1;
	if (start > end || at + 2 > len)
		return;
	put_be16(frame + at, ~nic_csum_add(sum, frame + start, end - start + 1));
}

/* The TCP/UDP checksum (TXSM) of frame[start..end] into frame[at]: sum is what the data
 * adds to the pseudo-header sum the driver left there (a TSO segment's length). */
static void insert_l4_checksum(struct e1000 *e, uint8_t *frame, size_t len, size_t start,
			       size_t end, size_t at, uint32_t sum)
{
	insert_checksum(frame, len, start, end, at, sum);
	if (e->core.faults & NIC_FAULT_BAD_TX_CSUM && at + 2 <= len)
		frame[at + 1] ^= 1;
}

/* Insert the 802.1Q tag (CTRL.VME, the descriptor's VLE) into f, which has room for it. */
static size_t insert_tag(struct e1000 *e, uint8_t *f, size_t len)
{
	if (!e->tx_vle || !(e->ctrl & E1000_CTRL_VME) || len < 12)
		return len;
	memmove(f + 16, f + 12, len - 12);
	put_be16(f + 12, e->vet);
	put_be16(f + 14, e->tx_special);
	return len + VLAN_HLEN;
}

/* Hand one frame to the backend and count it: 0 (sent, or failed and counted) or -EAGAIN. */
static int send_one(struct e1000 *e, const uint8_t *f, size_t len)
{
	static const uint8_t no_offload[64];
	struct nic_core *core = &e->core;
	struct iovec iov[2] = {
		{ (void *)no_offload, core->vnet_hdr_size },
		{ (void *)f, len },
	};
	int ret = nic_send(core, core->vnet_hdr_size ? iov : iov + 1, core->vnet_hdr_size ? 2 : 1);

	if (ret == 0) {
		STAT(e, E1000_GPTC)++;
		STAT(e, E1000_TPT)++;
		stat_add64(e, E1000_GOTCL, len + FCS_LEN);
		stat_add64(e, E1000_TOTL, len + FCS_LEN);
		stat_size(e, E1000_PTC64, len + FCS_LEN);
		if (nic_is_broadcast(f))
			STAT(e, E1000_BPTC)++;
		else if (nic_is_multicast(f))
			STAT(e, E1000_MPTC)++;
	}
	return ret == -EAGAIN ? ret : 0;
}

/*
 * TCP segmentation (3.5): the header (HDRLEN bytes) before each MSS of payload, with the
 * IPv4 total length and identification (or IPv6 payload length), the TCP sequence number
 * and flags (FIN and PSH on the last segment only) or the UDP length, and the checksums the
 * data descriptor asks for: the TCP/UDP one adds the segment's length to the pseudo-header
 * sum the driver left in the field. 0 or -EAGAIN (resumed at the next segment).
 */
static int tso_send(struct e1000 *e)
{
	const uint8_t *ctx = e->tx_ctx, *hdr = e->tx_frame;
	uint32_t ipcss = ctx[0], ipcso = ctx[1], ipcse = le16(ctx + 2);
	uint32_t tucss = ctx[4], tucso = ctx[5], tucmd = ctx[11];
	uint32_t paylen = le32(ctx + 8) & 0xfffff, hdrlen = ctx[13], mss = le16(ctx + 14);
	uint8_t *s = e->tx_segment;

	if (e->core.faults & NIC_FAULT_TSO_OVER_MSS)
		mss++;

	if (!mss || hdrlen + paylen != e->tx_len || hdrlen + mss > E1000_TX_MAX ||
	    ipcss + 20 > hdrlen || tucss + ((tucmd & E1000_TXD_TUCMD_TCP) ? 20 : 8) > hdrlen ||
	    ipcso + 2 > hdrlen || tucso + 2 > hdrlen) {
		e->core.counters.tx_errors++;
		return 0;
	}
	if (!e->tx_tso_done && nic_fault_lose(&e->core))
		return 0;
	while (e->tx_tso_done < paylen) {
		uint32_t off = e->tx_tso_done, n = paylen - off < mss ? paylen - off : mss;
		size_t len = hdrlen + n;

		memcpy(s, hdr, hdrlen);
		memcpy(s + hdrlen, hdr + hdrlen + off, n);
		if (tucmd & E1000_TXD_TUCMD_IP) {
			put_be16(s + ipcss + 2, len - ipcss);
			put_be16(s + ipcss + 4, (hdr[ipcss + 4] << 8 | hdr[ipcss + 5]) + off / mss);
		} else {
			put_be16(s + ipcss + 4, len - ipcss - 40);
		}
		if (tucmd & E1000_TXD_TUCMD_TCP) {
			put_be32(s + tucss + 4, be32(hdr + tucss + 4) + off);
			if (off + n < paylen)
				s[tucss + 13] &= ~0x09; /* FIN, PSH */
		} else {
			put_be16(s + tucss + 4, len - tucss);
		}
		if (e->tx_popts & E1000_TXD_POPTS_IXSM) {
			put_be16(s + ipcso, 0);
			insert_checksum(s, len, ipcss, ipcse, ipcso, 0);
		}
		if (e->tx_popts & E1000_TXD_POPTS_TXSM)
			insert_l4_checksum(e, s, len, tucss, 0, tucso, len - tucss);
		if (send_one(e, s, insert_tag(e, s, len)) == -EAGAIN)
			return -EAGAIN; /* the tag goes in again on the retry, into a fresh copy */
		e->tx_tso_done += n;
	}
	return 0;
}

/* The gathered frame as it goes on the wire: checksums, 802.1Q tag, padding. */
static void tx_finish(struct e1000 *e)
{
	const uint8_t *ctx = e->tx_ctx;
	uint8_t *f = e->tx_frame;

	if (e->tx_tse)
		return; /* tso_send does it per segment */
	if (e->tx_legacy_ic)
		insert_checksum(f, e->tx_len, e->tx_legacy_css, 0, e->tx_legacy_cso, 0);
	if (e->tx_popts & E1000_TXD_POPTS_IXSM)
		insert_checksum(f, e->tx_len, ctx[0], le16(ctx + 2), ctx[1], 0);
	if (e->tx_popts & E1000_TXD_POPTS_TXSM)
		insert_l4_checksum(e, f, e->tx_len, ctx[4], le16(ctx + 6), ctx[5], 0);
	e->tx_len = insert_tag(e, f, e->tx_len);
	if ((e->tctl & E1000_TCTL_PSP) && e->tx_len < ETH_MIN &&
	    !(e->core.faults & NIC_FAULT_NO_PAD)) {
		if (!(e->core.faults & NIC_FAULT_PAD_GARBAGE))
			memset(f + e->tx_len, 0, ETH_MIN - e->tx_len);
		e->tx_len = ETH_MIN;
	}
}

/* Send the finished frame: 0 (sent, or lost and counted) or -EAGAIN (backend full). */
static int tx_send(struct e1000 *e)
{
	if (e->tx_bad || e->tx_len < ETH_HLEN || e->core.vnet_hdr_size > 64) {
		e->core.counters.tx_errors++;
		return 0;
	}
	if (e->tx_tse)
		return tso_send(e);
	if (nic_fault_lose(&e->core))
		return 0;
	return send_one(e, e->tx_frame, e->tx_len);
}

/* Gather one data descriptor (legacy or extended) into the frame in progress. */
static void tx_gather(struct e1000 *e, const uint8_t *desc)
{
	uint8_t cmd = desc[11];
	int dext = cmd & E1000_TXD_CMD_DEXT;
	uint32_t len = dext ? le32(desc + 8) & 0xfffff : le16(desc + 8);
	uint8_t *buf;

	if (e->tx_len == 0 && !e->tx_bad) { /* the first descriptor of a frame */
		e->tx_popts = dext ? desc[13] : 0;
		e->tx_tse = dext && (cmd & E1000_TXD_CMD_TSE);
	}
	buf = len ? nic_dma(&e->core, le32(desc) | (uint64_t)le32(desc + 4) << 32, len) : NULL;
	if (len && (!buf || e->tx_len + len > (e->tx_tse ? E1000_TSO_MAX : E1000_TX_MAX))) {
		e->tx_bad = 1;
	} else if (len && !e->tx_bad) {
		memcpy(e->tx_frame + e->tx_len, buf, len);
		e->tx_len += len;
	}
	if (cmd & E1000_TXD_CMD_EOP) {
		/* Taken from the EOP descriptor: Linux repeats them in every descriptor. */
		e->tx_legacy_ic = !dext && (cmd & E1000_TXD_CMD_IC);
		e->tx_legacy_cso = dext ? 0 : desc[10];
		e->tx_legacy_css = dext ? 0 : desc[13];
		e->tx_vle = cmd & E1000_TXD_CMD_VLE;
		e->tx_special = le16(desc + 14);
		if (!e->tx_bad)
			tx_finish(e);
		e->tx_ready = 1;
	}
}

void e1000_tx(struct e1000 *e)
{
	struct nic_core *core = &e->core;
	uint32_t n = e->tdlen / 16;
	uint64_t base = (uint64_t)e->tdbah << 32 | e->tdbal;
	uint32_t first = e->tdh;

	if (!(e->tctl & E1000_TCTL_EN) || core->tx_blocked || !n || e->tdh >= n || e->tdt >= n)
		return;
	while (e->tdh != e->tdt) {
		uint8_t *desc = nic_dma(core, base + (uint64_t)e->tdh * 16, 16);
		uint8_t copy[16], cmd;

		if (!desc) { /* the ring is outside RAM: TX stops here */
			core->counters.tx_errors++;
			break;
		}
		memcpy(copy, desc, 16); /* the guest may write the ring while we read it */
		cmd = copy[11];
		if ((cmd & E1000_TXD_CMD_DEXT) && (copy[10] >> 4) == E1000_TXD_DTYP_C) {
			memcpy(e->tx_ctx, copy, 16); /* a context descriptor: offload offsets */
		} else {
			if (!e->tx_ready)
				tx_gather(e, copy);
			if (e->tx_ready) {
				if (tx_send(e) == -EAGAIN)
					break; /* nic_run calls e1000_tx again when there is room */
				e->tx_ready = e->tx_bad = e->tx_len = e->tx_tso_done = 0;
			}
		}
		if (cmd & (E1000_TXD_CMD_RS | E1000_TXD_CMD_RPS)) {
			put_status(desc, (copy[12] & 0xf0) | E1000_TXD_STAT_DD);
			e->icr |= E1000_ICR_TXDW;
		}
		e->tdh = (e->tdh + 1) % n;
	}
	if (e->tdh == e->tdt && e->tdh != first)
		e->icr |= E1000_ICR_TXQE; /* the queue ran empty */
	e1000_update_irq(e);
}

static void e1000_tx_resume(struct nic_core *core)
{
	e1000_tx((struct e1000 *)core);
}

int e1000_write_rdt(struct e1000 *e, uint32_t value)
{
	uint32_t n = e->rdlen / 16, rdt = value & 0xffff;

	e->rx_returned = n && rdt < n && e->rdt < n ? (rdt + n - e->rdt) % n : 0;
	e->rdt = rdt;
	return nic_rx_room(&e->core); /* the guest returned buffers */
}

/*
 * RX deferral (nic_ops.rx_driver_busy). A driver gives buffers back in batches (Linux's
 * e1000 16 at a time, kvmnet's guest 64), taking the size of its last RDT advance as its
 * batch: while it holds at least that many filled descriptors it will write RDT again
 * before it runs dry, and that write wakes RX. Batches under E1000_DEFER_BATCH are not
 * worth it (a driver returning each buffer kicks per frame anyway).
 */
#define E1000_DEFER_BATCH 16

static int e1000_rx_driver_busy(struct nic_core *core)
{
	struct e1000 *e = (struct e1000 *)core;
	uint32_t n = e->rdlen / 16, held;

	if (!n || e->rdh >= n || e->rdt >= n || e->rx_returned < E1000_DEFER_BATCH)
		return 0;
	held = n - 1 - (e->rdt + n - e->rdh) % n; /* filled, not yet given back */
	return held >= e->rx_returned;
}

static const struct nic_ops e1000_ops = {
	.rx_frame = e1000_rx_frame,
	.tx_resume = e1000_tx_resume,
	.rx_driver_busy = e1000_rx_driver_busy,
};

int e1000_init(struct e1000 *e, int backend_fd, uint32_t vnet_hdr_size)
{
	return nic_core_init(&e->core, &e1000_ops, backend_fd, vnet_hdr_size);
}

void e1000_reset(struct e1000 *e)
{
	const uint8_t *mac = e->core.mac;

	memset(&e->ctrl, 0, offsetof(struct e1000, tx_frame) - offsetof(struct e1000, ctrl));
	e->ctrl = E1000_CTRL_FD | E1000_CTRL_SLU | E1000_CTRL_SPD_1000;
	e->vet = 0x8100;
	e->ra[0] = le32(mac);
	e->ra[1] = le16(mac + 4) | E1000_RAH_AV;
	e1000_update_irq(e);
}

/* The fast registers (see e1000.h) under the lock: 1 if served, 0 if Python's. */
int e1000_hot_register(struct e1000 *e, uint32_t reg, uint32_t *value, int is_write)
{
	if (is_write) {
		switch (reg) {
		case E1000_RDT:
			e1000_write_rdt(e, *value);
			break;
		case E1000_TDT:
			e->tdt = *value & 0xffff;
			e1000_tx(e);
			break;
		default:
			return 0;
		}
	} else {
		switch (reg) {
		case E1000_STATUS:
			*value = E1000_STATUS_LINK_UP;
			break;
		case E1000_ICR:
			*value = e->icr;
			e->icr = 0; /* cleared on read */
			break;
		case E1000_IMS:
			*value = e->ims;
			break;
		case E1000_RDH:
			*value = e->rdh;
			break;
		case E1000_RDT:
			*value = e->rdt;
			break;
		case E1000_TDH:
			*value = e->tdh;
			break;
		case E1000_TDT:
			*value = e->tdt;
			break;
		default:
			return 0;
		}
	}
	e1000_update_irq(e);
	return 1;
}

int e1000_fast_mmio(void *opaque, unsigned long long offset, unsigned char *data,
		    unsigned int size, int is_write)
{
	struct e1000 *e = opaque;
	uint32_t value = 0;
	int ret = KVMNET_FAST_DONE;

	/* A narrower write to RDT merges into it, as e1000.py does: RDT may be a coalesced
	   zone, whose every entry C must be able to apply. */
	int narrow = is_write && size < 4 && (offset & ~3ULL) == E1000_RDT &&
		     (offset & 3) + size <= 4;

	/* Closed (priv gone) only after the machine stopped its vCPUs: then Python says so. */
	if ((!narrow && (size != 4 || (offset & 3))) || !e->core.priv)
		return KVMNET_FAST_PYTHON;
	nic_lock(&e->core);
	if (narrow) {
		value = e->rdt;
		memcpy((uint8_t *)&value + (offset & 3), data, size); /* x86: little-endian */
		offset = E1000_RDT;
	} else if (is_write) {
		value = le32(data);
	}
	if (!e1000_hot_register(e, offset, &value, is_write))
		ret = KVMNET_FAST_PYTHON;
	else if (e->core.irq_level != e->core.irq_line)
		ret = KVMNET_FAST_ATTEND; /* Python drives the line (kvmnet/vmm/irq.py) */
	nic_unlock(&e->core);
	if (ret != KVMNET_FAST_PYTHON && !is_write)
		memcpy(data, &value, 4); /* x86: little-endian, as the register is */
	return ret;
}

int e1000_fast_io(void *opaque, unsigned long long offset, unsigned char *data,
		  unsigned int size, int is_write)
{
	struct e1000 *e = opaque;

	/* IOADDR is written in Python; one vCPU writes it and then IODATA, in that order. */
	if (offset != 4)
		return KVMNET_FAST_PYTHON;
	return e1000_fast_mmio(opaque, e->ioaddr & 0x1fffc, data, size, is_write);
}
