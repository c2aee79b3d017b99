/*
 * rtl8139: the per-frame work of the Realtek RTL8139C model (kvmnet/devices/rtl8139.py).
 *
 * Names follow the RTL8139C(L)+ datasheet and Linux's 8139too. The receive side is one
 * physically contiguous ring at RBSTART (8, 16, 32 or 64 KiB, RCR.RBLEN) holding
 * [status, length][frame][CRC] records, each 4-byte aligned; the transmit side is four
 * slots, each a buffer address (TSAD) and a status/size register (TSD). Python owns the
 * register interface; everything here runs under the core's lock.
 */
#ifndef KVMNET_RTL8139_H
#define KVMNET_RTL8139_H

#include "nic_io.h"

/* cffi: begin */
/* Register offsets (datasheet section 6). */
#define RTL8139_IDR0 0x00
#define RTL8139_MAR0 0x08
#define RTL8139_TSD0 0x10
#define RTL8139_TSAD0 0x20
#define RTL8139_RBSTART 0x30
#define RTL8139_ERBCR 0x34
#define RTL8139_ERSR 0x36
#define RTL8139_CR 0x37
#define RTL8139_CAPR 0x38
#define RTL8139_CBR 0x3A
#define RTL8139_IMR 0x3C
#define RTL8139_ISR 0x3E
#define RTL8139_TCR 0x40
#define RTL8139_RCR 0x44
#define RTL8139_TCTR 0x48
#define RTL8139_MPC 0x4C
#define RTL8139_9346CR 0x50
#define RTL8139_CONFIG0 0x51
#define RTL8139_CONFIG1 0x52
#define RTL8139_TIMERINT 0x54
#define RTL8139_MSR 0x58
#define RTL8139_CONFIG3 0x59
#define RTL8139_CONFIG4 0x5A
#define RTL8139_HLTCLK 0x5B
#define RTL8139_MULINT 0x5C
#define RTL8139_RERID 0x5E
#define RTL8139_TSAD 0x60
#define RTL8139_BMCR 0x62
#define RTL8139_BMSR 0x64
#define RTL8139_ANAR 0x66
#define RTL8139_ANLPAR 0x68
#define RTL8139_ANER 0x6A
#define RTL8139_DIS 0x6C
#define RTL8139_FCSC 0x6E
#define RTL8139_NWAYTR 0x70
#define RTL8139_REC 0x72
#define RTL8139_CSCR 0x74
#define RTL8139_PHY1_PARM 0x78
#define RTL8139_TW_PARM 0x7C
#define RTL8139_PHY2_PARM 0x80
#define RTL8139_CONFIG5 0xD8

#define RTL8139_CR_BUFE 0x01
#define RTL8139_CR_TE 0x04
#define RTL8139_CR_RE 0x08
#define RTL8139_CR_RST 0x10

#define RTL8139_ISR_ROK 0x0001
#define RTL8139_ISR_RER 0x0002
#define RTL8139_ISR_TOK 0x0004
#define RTL8139_ISR_TER 0x0008
#define RTL8139_ISR_RXOVW 0x0010
#define RTL8139_ISR_PUN 0x0020
#define RTL8139_ISR_FOVW 0x0040
#define RTL8139_ISR_LENCHG 0x2000
#define RTL8139_ISR_TIMEOUT 0x4000
#define RTL8139_ISR_SERR 0x8000
#define RTL8139_ISR_ALL 0xE07F

#define RTL8139_TSD_SIZE 0x00001FFF
#define RTL8139_TSD_OWN 0x00002000
#define RTL8139_TSD_TUN 0x00004000
#define RTL8139_TSD_TOK 0x00008000
#define RTL8139_TSD_TABT 0x40000000
#define RTL8139_TSD_WRITABLE 0x003F3FFF /* ERTXTH, OWN, SIZE; writing clears the status bits */

#define RTL8139_RCR_AAP 0x0001
#define RTL8139_RCR_APM 0x0002
#define RTL8139_RCR_AM 0x0004
#define RTL8139_RCR_AB 0x0008
#define RTL8139_RCR_AR 0x0010
#define RTL8139_RCR_AER 0x0020
#define RTL8139_RCR_WRAP 0x0080
#define RTL8139_RCR_RBLEN_SHIFT 11

/* The receive record's status word. */
#define RTL8139_RX_ROK 0x0001
#define RTL8139_RX_BAR 0x2000
#define RTL8139_RX_PAM 0x4000
#define RTL8139_RX_MAR 0x8000

#define RTL8139_TX_MAX 1792   /* the largest TSD size the datasheet allows */
#define RTL8139_RX_MAX 4096   /* frames this long or longer are dropped ("LONG") */
#define RTL8139_NOWRAP_SLACK 2048 /* bytes past the ring the WRAP=1 driver reserves, at most */

struct rtl8139 {
	struct nic_core core;
	uint8_t idr[6];
	uint8_t mar[8];
	uint8_t cr;          /* TE, RE (BUFE is computed, RST is Python's) */
	uint16_t capr, cbr;  /* read pointer - 16, write pointer (offsets into the ring) */
	uint16_t imr, isr;
	uint32_t rbstart, rcr, tcr;
	uint32_t tsd[4], tsad[4];
	uint8_t tx_queue[4]; /* slots given to the device (OWN cleared), oldest first */
	uint8_t tx_queued;
	uint8_t rx_full;     /* the last frame offered found the ring full and waits */
	uint8_t rx_frame[4096 + 4]; /* RTL8139_RX_MAX and the CRC */
};

int rtl8139_init(struct rtl8139 *r, int backend_fd, uint32_t vnet_hdr_size);

/* The guest wrote value to ISR (write 1 to clear). While a frame waits for room, RXOVW
   stays set: on the wire, frames that do not fit keep arriving and keep setting it, and
   a driver that reads its ring only while an RX bit is set (8139too's NAPI poll) would
   otherwise stop at a full ring for good. */
void rtl8139_isr_write(struct rtl8139 *r, uint16_t value);

/* The guest wrote TSD[slot]: with OWN clear the slot is queued, then sent when TE allows. */
void rtl8139_tsd_written(struct rtl8139 *r, unsigned slot);

/* Send queued slots while CR.TE is set and the backend has room. */
void rtl8139_tx(struct rtl8139 *r);

/* The ring size RCR.RBLEN selects: 8 KiB << RBLEN. */
uint32_t rtl8139_ring_size(const struct rtl8139 *r);

/* CR.BUFE: the driver has read everything the device wrote (CAPR + 16 == CBR). */
int rtl8139_buffer_empty(const struct rtl8139 *r);

/* Set core.irq_level from ISR & IMR. */
void rtl8139_update_irq(struct rtl8139 *r);

/* Does RCR's filter take this frame? The record's status bits (BAR/PAM/MAR) if so, else 0. */
int rtl8139_rx_accept(struct rtl8139 *r, const uint8_t *frame, size_t len);

/* TSAD (0x60): TOK (bits 15:12), TUN (11:8), TABT (7:4) and OWN (3:0) of the four slots. */
uint16_t rtl8139_tx_summary(const struct rtl8139 *r);

/*
 * The registers a driver touches per frame or per batch, answered in the vCPU's run loop
 * (kvmnet_native.h, kvmnet_fast_handler; opaque is the struct rtl8139), for both BARs:
 * TSD0-3 (dword reads and writes: a write hands the slot over and may transmit), CAPR
 * (word; a write wakes the device thread), CBR, TSAD (word reads), ISR (word; write 1 to
 * clear), IMR (word), CR (byte reads, with BUFE), with the same effects as rtl8139.py's;
 * every other access goes to Python. Under the core's lock, as Python's are.
 */
int rtl8139_fast_access(void *opaque, unsigned long long offset, unsigned char *data,
			unsigned int size, int is_write);
/* cffi: end */

#endif
