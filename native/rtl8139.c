/* See rtl8139.h. */
#include <errno.h>
#include <string.h>

#include "rtl8139.h"
#include "kvmnet_native.h"

#define ETH_HLEN 14
#define ETH_MIN 60 /* without CRC: shorter frames from the backend are padded, as on a wire */
#define CRC_LEN 4
#define RX_HEADER 4

void rtl8139_update_irq(struct rtl8139 *r)
{
	r->core.irq_level = (r->isr & r->imr) != 0;
}

uint32_t rtl8139_ring_size(const struct rtl8139 *r)
{
	return 8192u << (r->rcr >> RTL8139_RCR_RBLEN_SHIFT & 3);
}

int rtl8139_buffer_empty(const struct rtl8139 *r)
{
	uint32_t size = rtl8139_ring_size(r);

	return (uint16_t)(r->capr + 16) % size == r->cbr % size;
}

int rtl8139_rx_accept(struct rtl8139 *r, const uint8_t *frame, size_t len)
{
	const uint8_t *dst = frame;

	if (len < ETH_HLEN)
		return 0;
	if (nic_is_broadcast(dst))
		return (r->rcr & (RTL8139_RCR_AB | RTL8139_RCR_AAP)) ? RTL8139_RX_ROK | RTL8139_RX_BAR : 0;
	if (nic_is_multicast(dst)) {
		unsigned bit = nic_ether_crc(dst, 6) >> 26; /* MAR bit: the CRC's top six bits */

		if ((r->rcr & RTL8139_RCR_AAP) ||
		    ((r->rcr & RTL8139_RCR_AM) && (r->mar[bit >> 3] >> (bit & 7) & 1)))
			return RTL8139_RX_ROK | RTL8139_RX_MAR;
		return 0;
	}
	if ((r->rcr & RTL8139_RCR_APM) && !memcmp(dst, r->idr, 6))
		return RTL8139_RX_ROK | RTL8139_RX_PAM;
	if ((r->rcr & RTL8139_RCR_AAP) || (r->core.faults & NIC_FAULT_FILTER_BUG))
		return RTL8139_RX_ROK;
	return 0;
}

/* Whether a record that reaches the end goes on at RBSTART (WRAP=0, or a 64 KiB ring). */
static int ring_wraps(const struct rtl8139 *r)
{
	return !(r->rcr & RTL8139_RCR_WRAP) || rtl8139_ring_size(r) == 65536;
}

/*
 * Copy len bytes to the ring at offset off: past the end into the slack with WRAP=1 (not
 * valid with 64 KiB), else around to RBSTART. 0, or -EFAULT outside RAM (counted).
 */
static int ring_write(struct rtl8139 *r, uint32_t off, const uint8_t *data, uint32_t len)
{
	uint32_t size = rtl8139_ring_size(r);
	uint32_t first = len;
	uint8_t *dst;

	if (ring_wraps(r))
		first = off + len > size ? size - off : len;
	dst = nic_dma(&r->core, (uint64_t)r->rbstart + off, first);
	if (!dst)
		return -EFAULT;
	memcpy(dst, data, first);
	if (first == len)
		return 0;
	dst = nic_dma(&r->core, r->rbstart, len - first);
	if (!dst)
		return -EFAULT;
	memcpy(dst, data + first, len - first);
	return 0;
}

static int rtl8139_rx_frame(struct nic_core *core, const uint8_t *data, size_t len)
{
	struct rtl8139 *r = (struct rtl8139 *)core;
	const uint8_t *frame = data + core->vnet_hdr_size;
	uint32_t size = rtl8139_ring_size(r), used, record, status, wr;
	uint8_t header[RX_HEADER];
	size_t out_len;

	if (len < core->vnet_hdr_size + ETH_HLEN || !(r->cr & RTL8139_CR_RE)) {
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	len -= core->vnet_hdr_size;
	if (len >= RTL8139_RX_MAX) {
		core->counters.rx_dropped++;
		return NIC_RX_DONE;
	}
	status = rtl8139_rx_accept(r, frame, len);
	if (!status) {
		core->counters.rx_filtered++;
		return NIC_RX_DONE;
	}
	out_len = (len < ETH_MIN ? ETH_MIN : len) + CRC_LEN;
	record = (RX_HEADER + out_len + 3) & ~3u;
	wr = r->cbr % size;
	used = (wr + size - (uint16_t)(r->capr + 16) % size) % size;
	r->rx_full = 0;
	if (record >= size - used) { /* never fill it up: a full ring would read as empty */
		if (record >= size) {
			core->counters.rx_dropped++;
			return NIC_RX_DONE;
		}
		r->rx_full = 1;
		if (!core->rx_reoffer) {
			r->isr |= RTL8139_ISR_RXOVW;
			rtl8139_update_irq(r);
		}
		return NIC_RX_RETRY;
	}

	memcpy(r->rx_frame, frame, len);
	memset(r->rx_frame + len, 0, out_len - CRC_LEN - len);
	nic_fcs(r->rx_frame, out_len - CRC_LEN, r->rx_frame + out_len - CRC_LEN);
	nic_fault_corrupt(core, r->rx_frame, out_len - CRC_LEN);
	header[0] = status;
	header[1] = status >> 8;
	header[2] = out_len;
	header[3] = out_len >> 8;
	/* The frame first, then its header: the driver never sees a record half written.
	   With WRAP a header in the ring's last four bytes has its frame past the end too. */
	if (ring_write(r, ring_wraps(r) ? (wr + RX_HEADER) % size : wr + RX_HEADER,
		       r->rx_frame, out_len) ||
	    ring_write(r, wr, header, RX_HEADER)) {
		core->counters.rx_dropped++;
		r->isr |= RTL8139_ISR_RER;
		rtl8139_update_irq(r);
		return NIC_RX_DONE;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->cbr = (wr + record) % size;
	r->isr |= RTL8139_ISR_ROK;
	rtl8139_update_irq(r);
	core->counters.rx_frames++;
	core->counters.rx_bytes += len;
	return NIC_RX_DONE;
}

void rtl8139_isr_write(struct rtl8139 *r, uint16_t value)
{
	r->isr &= ~value; /* write 1 to clear */
	if (r->rx_full)
		r->isr |= RTL8139_ISR_RXOVW;
}

void rtl8139_tsd_written(struct rtl8139 *r, unsigned slot)
{
	unsigned i;

	if (slot > 3 || (r->tsd[slot] & RTL8139_TSD_OWN))
		return;
	for (i = 0; i < r->tx_queued; i++)
		if (r->tx_queue[i] == slot)
			return; /* already the device's */
	r->tx_queue[r->tx_queued++] = slot;
	rtl8139_tx(r);
}

/* Send one slot: 0 (done: sent, lost or failed, all counted) or -EAGAIN (backend full). */
static int tx_slot(struct rtl8139 *r, unsigned slot)
{
	static const uint8_t zeros[ETH_MIN + 64];
	struct nic_core *core = &r->core;
	uint32_t size = r->tsd[slot] & RTL8139_TSD_SIZE;
	struct iovec iov[3];
	int n = 0, ret;
	uint8_t *buf;

	buf = size <= RTL8139_TX_MAX && size >= ETH_HLEN ? nic_dma(core, r->tsad[slot], size) : NULL;
	if (!buf || core->vnet_hdr_size > 64) {
		core->counters.tx_errors++;
		r->tsd[slot] |= RTL8139_TSD_OWN | RTL8139_TSD_TABT;
		r->isr |= RTL8139_ISR_TER;
		return 0;
	}
	if (!nic_fault_lose(core)) {
		if (core->vnet_hdr_size)
			iov[n++] = (struct iovec){ (void *)zeros, core->vnet_hdr_size };
		iov[n++] = (struct iovec){ buf, size };
		if (size < ETH_MIN && (core->faults & NIC_FAULT_PAD_GARBAGE) &&
		    nic_dma(core, r->tsad[slot], ETH_MIN))
			iov[n - 1].iov_len = ETH_MIN; /* the bytes after the frame in guest RAM */
		else if (size < ETH_MIN) /* the chip pads short frames */
			iov[n++] = (struct iovec){ (void *)zeros, ETH_MIN - size };
		ret = nic_send(core, iov, n);
		if (ret == -EAGAIN)
			return ret;
		if (ret < 0) {
			r->tsd[slot] |= RTL8139_TSD_OWN | RTL8139_TSD_TABT;
			r->isr |= RTL8139_ISR_TER;
			return 0;
		}
	}
	r->tsd[slot] |= RTL8139_TSD_OWN | RTL8139_TSD_TOK;
	r->isr |= RTL8139_ISR_TOK;
	return 0;
}

void rtl8139_tx(struct rtl8139 *r)
{
	while (r->tx_queued && (r->cr & RTL8139_CR_TE) && !r->core.tx_blocked) {
		if (tx_slot(r, r->tx_queue[0]) == -EAGAIN)
			break; /* nic_run calls us again when there is room */
		memmove(r->tx_queue, r->tx_queue + 1, --r->tx_queued);
	}
	rtl8139_update_irq(r);
}

static void rtl8139_tx_resume(struct nic_core *core)
{
	rtl8139_tx((struct rtl8139 *)core);
}

static const struct nic_ops rtl8139_ops = {
	.rx_frame = rtl8139_rx_frame,
	.tx_resume = rtl8139_tx_resume,
};

int rtl8139_init(struct rtl8139 *r, int backend_fd, uint32_t vnet_hdr_size)
{
	return nic_core_init(&r->core, &rtl8139_ops, backend_fd, vnet_hdr_size);
}

uint16_t rtl8139_tx_summary(const struct rtl8139 *r)
{
	uint16_t summary = 0;
	unsigned i;

	for (i = 0; i < 4; i++) {
		uint32_t tsd = r->tsd[i];

		summary |= !!(tsd & RTL8139_TSD_TOK) << (12 + i) | !!(tsd & RTL8139_TSD_TUN) << (8 + i) |
			   !!(tsd & RTL8139_TSD_TABT) << (4 + i) | !!(tsd & RTL8139_TSD_OWN) << i;
	}
	return summary;
}

/* The fast registers (see rtl8139.h) under the lock: 1 if served, 0 if Python's. */
static int fast_register(struct rtl8139 *r, unsigned reg, unsigned size, uint32_t *value,
			 int is_write)
{
	if (size == 4 && reg >= RTL8139_TSD0 && reg < RTL8139_TSD0 + 16 && !(reg & 3)) {
		unsigned slot = (reg - RTL8139_TSD0) / 4;

		if (!is_write) {
			*value = r->tsd[slot];
			return 1;
		}
		r->tsd[slot] = *value & RTL8139_TSD_WRITABLE;
		rtl8139_tsd_written(r, slot);
	} else if (size == 2 && reg == RTL8139_CAPR) {
		if (!is_write) {
			*value = r->capr;
			return 1;
		}
		r->capr = *value;
		nic_rx_room(&r->core); /* the driver made room */
	} else if (size == 2 && reg == RTL8139_ISR) {
		if (!is_write) {
			*value = r->isr;
			return 1;
		}
		rtl8139_isr_write(r, *value);
	} else if (size == 2 && reg == RTL8139_IMR) {
		if (!is_write) {
			*value = r->imr;
			return 1;
		}
		r->imr = *value & RTL8139_ISR_ALL;
	} else if (size == 2 && reg == RTL8139_CBR && !is_write) {
		*value = r->cbr;
		return 1;
	} else if (size == 2 && reg == RTL8139_TSAD && !is_write) {
		*value = rtl8139_tx_summary(r);
		return 1;
	} else if (size == 1 && reg == RTL8139_CR && !is_write) {
		*value = r->cr | (rtl8139_buffer_empty(r) ? RTL8139_CR_BUFE : 0);
		return 1;
	} else {
		return 0;
	}
	rtl8139_update_irq(r); /* after every write, as rtl8139.py does */
	return 1;
}

int rtl8139_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
			unsigned int size, int is_write)
{
	struct rtl8139 *r = opaque;
	uint32_t value = 0;
	unsigned i;
	int ret = KVMNET_FAST_DONE;

	/* Closed (priv gone) only after the machine stopped its vCPUs: then Python says so. */
	if (offset > 0xff || size > 4 || !r->core.priv)
		return KVMNET_FAST_PYTHON;
	for (i = 0; is_write && i < size; i++)
		value |= (uint32_t)data[i] << 8 * i;
	nic_lock(&r->core);
	if (!fast_register(r, offset, size, &value, is_write))
		ret = KVMNET_FAST_PYTHON;
	else if (r->core.irq_level != r->core.irq_line)
		ret = KVMNET_FAST_ATTEND; /* Python drives the line (kvmnet/vmm/irq.py) */
	nic_unlock(&r->core);
	for (i = 0; ret != KVMNET_FAST_PYTHON && !is_write && i < size; i++)
		data[i] = value >> 8 * i;
	return ret;
}
