/*
 * e1000: the per-frame work of the Intel 82540EM model (kvmnet/devices/e1000.py).
 *
 * Names and bits follow the Intel 8254x Software Developer's Manual (SDM) and Linux's
 * e1000_hw.h. The C side owns what frames touch: the descriptor rings, the address filters,
 * the interrupt cause register and the statistics; Python owns the register interface and
 * calls e1000_tx() when the guest moves TDT. Everything here runs under the core's lock.
 */
#ifndef KVMNET_E1000_H
#define KVMNET_E1000_H

#include "nic_io.h"

/* cffi: begin */
/* Register offsets (SDM 13.4). */
#define E1000_CTRL 0x00000
#define E1000_STATUS 0x00008
#define E1000_EECD 0x00010
#define E1000_EERD 0x00014
#define E1000_CTRL_EXT 0x00018
#define E1000_FLA 0x0001C
#define E1000_MDIC 0x00020
#define E1000_FCAL 0x00028
#define E1000_FCAH 0x0002C
#define E1000_FCT 0x00030
#define E1000_VET 0x00038
#define E1000_ICR 0x000C0
#define E1000_ITR 0x000C4
#define E1000_ICS 0x000C8
#define E1000_IMS 0x000D0
#define E1000_IMC 0x000D8
#define E1000_RCTL 0x00100
#define E1000_FCTTV 0x00170
#define E1000_TXCW 0x00178
#define E1000_RXCW 0x00180
#define E1000_TCTL 0x00400
#define E1000_TIPG 0x00410
#define E1000_LEDCTL 0x00E00
#define E1000_PBA 0x01000
#define E1000_FCRTL 0x02160
#define E1000_FCRTH 0x02168
#define E1000_RDBAL 0x02800
#define E1000_RDBAH 0x02804
#define E1000_RDLEN 0x02808
#define E1000_RDH 0x02810
#define E1000_RDT 0x02818
#define E1000_RDTR 0x02820
#define E1000_RXDCTL 0x02828
#define E1000_RADV 0x0282C
#define E1000_RSRPD 0x02C00
#define E1000_TXDMAC 0x03000
#define E1000_TDBAL 0x03800
#define E1000_TDBAH 0x03804
#define E1000_TDLEN 0x03808
#define E1000_TDH 0x03810
#define E1000_TDT 0x03818
#define E1000_TIDV 0x03820
#define E1000_TXDCTL 0x03828
#define E1000_TADV 0x0382C
#define E1000_TSPMT 0x03830
#define E1000_STATS 0x04000   /* 0x04000-0x040FC: statistics, cleared on read */
#define E1000_RXCSUM 0x05000
#define E1000_MTA 0x05200     /* 128 x 32 bits */
#define E1000_RA 0x05400      /* 16 x (RAL, RAH) */
#define E1000_VFTA 0x05600    /* 128 x 32 bits */
#define E1000_WUC 0x05800
#define E1000_WUFC 0x05808
#define E1000_WUS 0x05810
#define E1000_MANC 0x05820

/* Statistics (offsets into the block at E1000_STATS). */
#define E1000_MPC 0x04010
#define E1000_PRC64 0x0405C
#define E1000_GPRC 0x04074
#define E1000_BPRC 0x04078
#define E1000_MPRC 0x0407C
#define E1000_GPTC 0x04080
#define E1000_GORCL 0x04088
#define E1000_GORCH 0x0408C
#define E1000_GOTCL 0x04090
#define E1000_GOTCH 0x04094
#define E1000_RNBC 0x040A0
#define E1000_ROC 0x040AC
#define E1000_TORL 0x040C0
#define E1000_TORH 0x040C4
#define E1000_TOTL 0x040C8
#define E1000_TOTH 0x040CC
#define E1000_TPR 0x040D0
#define E1000_TPT 0x040D4
#define E1000_PTC64 0x040D8
#define E1000_MPTC 0x040F0
#define E1000_BPTC 0x040F4

#define E1000_CTRL_FD 0x00000001
#define E1000_CTRL_LRST 0x00000008
#define E1000_CTRL_ASDE 0x00000020
#define E1000_CTRL_SLU 0x00000040
#define E1000_CTRL_SPD_1000 0x00000200
#define E1000_CTRL_RST 0x04000000
#define E1000_CTRL_VME 0x40000000
#define E1000_CTRL_PHY_RST 0x80000000

#define E1000_STATUS_FD 0x00000001
#define E1000_STATUS_LU 0x00000002
#define E1000_STATUS_SPEED_1000 0x00000080
#define E1000_STATUS_ASDV_1000 0x00000200
#define E1000_STATUS_LINK_UP 0x00000283 /* what STATUS reads: FD, LU, SPEED_1000, ASDV_1000 */

#define E1000_EECD_SK 0x00000001
#define E1000_EECD_CS 0x00000002
#define E1000_EECD_DI 0x00000004
#define E1000_EECD_DO 0x00000008
#define E1000_EECD_FWE_MASK 0x00000030
#define E1000_EECD_REQ 0x00000040
#define E1000_EECD_GNT 0x00000080
#define E1000_EECD_PRES 0x00000100

#define E1000_EERD_START 0x00000001
#define E1000_EERD_DONE 0x00000010
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

#define E1000_MDIC_DATA_MASK 0x0000FFFF
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE 0x04000000
#define E1000_MDIC_OP_READ 0x08000000
#define E1000_MDIC_READY 0x10000000
#define E1000_MDIC_INT_EN 0x20000000
#define E1000_MDIC_ERROR 0x40000000

#define E1000_ICR_TXDW 0x00000001
#define E1000_ICR_TXQE 0x00000002
#define E1000_ICR_LSC 0x00000004
#define E1000_ICR_RXSEQ 0x00000008
#define E1000_ICR_RXDMT0 0x00000010
#define E1000_ICR_RXO 0x00000040
#define E1000_ICR_RXT0 0x00000080
#define E1000_ICR_MDAC 0x00000200
#define E1000_ICR_RXCFG 0x00000400
#define E1000_ICR_GPI_EN0 0x00000800
#define E1000_ICR_TXD_LOW 0x00008000
#define E1000_ICR_SRPD 0x00010000
#define E1000_ICR_ALL 0x0001FEDF /* the causes the 82540EM has */

#define E1000_RCTL_EN 0x00000002
#define E1000_RCTL_SBP 0x00000004
#define E1000_RCTL_UPE 0x00000008
#define E1000_RCTL_MPE 0x00000010
#define E1000_RCTL_LPE 0x00000020
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT 12
#define E1000_RCTL_BAM 0x00008000
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_VFE 0x00040000
#define E1000_RCTL_BSEX 0x02000000
#define E1000_RCTL_SECRC 0x04000000

#define E1000_TCTL_EN 0x00000002
#define E1000_TCTL_PSP 0x00000008

#define E1000_RAH_AV 0x80000000

/* Descriptors (SDM 3.2.3, 3.3.3): the byte at offset 11 is the command, 12 the status. */
#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_IC 0x04     /* legacy: insert checksum; extended data: TSE */
#define E1000_TXD_CMD_TSE 0x04
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_CMD_RPS 0x10
#define E1000_TXD_CMD_DEXT 0x20
#define E1000_TXD_CMD_VLE 0x40
#define E1000_TXD_CMD_IDE 0x80
#define E1000_TXD_STAT_DD 0x01
#define E1000_TXD_DTYP_C 0x0      /* extended context descriptor */
#define E1000_TXD_DTYP_D 0x1      /* extended data descriptor */
#define E1000_TXD_TUCMD_TCP 0x01   /* context: TCP (else UDP) */
#define E1000_TXD_TUCMD_IP 0x02    /* context: IPv4 (else IPv6) */
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02

#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP 0x08
#define E1000_RXD_STAT_TCPCS 0x20
#define E1000_RXD_ERR_RXE 0x80

#define E1000_TX_MAX 16384  /* the largest frame the TX FIFO takes (SDM: 16288 + slack) */
#define E1000_TSO_MAX 65536 /* the largest TCP segmentation payload and header */
#define E1000_RX_MAX 16384  /* the largest frame received with RCTL.LPE */

struct e1000 {
	struct nic_core core;
	uint32_t ioaddr;     /* BAR1's IOADDR: the register IODATA reaches (a reset keeps it) */
	/* The registers frames touch (the rest are Python's). */
	uint32_t ctrl, rctl, tctl, vet;
	uint32_t rdbal, rdbah, rdlen, rdh, rdt;
	uint32_t rx_returned;   /* buffers the driver's last RDT write gave back (RX deferral) */
	uint32_t tdbal, tdbah, tdlen, tdh, tdt;
	uint32_t icr, ims;
	uint32_t ra[32];     /* RAL0, RAH0, RAL1, RAH1, ... */
	uint32_t mta[128];
	uint32_t vfta[128];
	uint32_t stats[64];  /* by (offset - E1000_STATS) / 4 */
	/* The frame being gathered from TX descriptors. */
	uint32_t tx_len;
	uint32_t tx_bad;     /* a descriptor of it pointed outside RAM, or it ran too long */
	uint32_t tx_ready;   /* gathered to EOP; the backend was full */
	uint32_t tx_tso_done; /* TCP segmentation: payload bytes already sent */
	uint8_t tx_tse;      /* the frame in progress is one for TCP segmentation */
	uint8_t tx_popts;    /* of the first data descriptor */
	uint8_t tx_vle;      /* insert special as an 802.1Q tag */
	uint16_t tx_special;
	uint8_t tx_ctx[16];  /* the last context descriptor, as the guest wrote it */
	uint8_t tx_legacy_cso, tx_legacy_css, tx_legacy_ic;
	uint8_t tx_frame[65536 + 4];   /* E1000_TSO_MAX, or a frame and a VLAN tag */
	uint8_t tx_segment[16384 + 4]; /* one TCP segment as it goes out, and a VLAN tag */
	uint8_t rx_frame[16384 + 4]; /* E1000_RX_MAX and the FCS, as the guest gets it */
	uint8_t rx_short[60];        /* a runt from the backend, padded */
};

int e1000_init(struct e1000 *e, int backend_fd, uint32_t vnet_hdr_size);

/*
 * The registers above to their values after a reset (13.4): CTRL with SLU, VET 0x8100,
 * RAL0/RAH0 the permanent address (loaded from the EEPROM) with AV, all else zero; the
 * frame in progress is dropped.
 */
void e1000_reset(struct e1000 *e);

/* Send what the guest queued between TDH and TDT (TCTL.EN on); sets ICR causes. */
void e1000_tx(struct e1000 *e);

/* The guest moved RDT: buffers given back (counted for RX deferral); 0 or -errno. */
int e1000_write_rdt(struct e1000 *e, uint32_t value);

/* Set core.irq_level from ICR & IMS. */
void e1000_update_irq(struct e1000 *e);

/* Does the receive filter take this frame (RCTL, RAL/RAH, MTA, VFTA)? */
int e1000_rx_accept(struct e1000 *e, const uint8_t *frame, size_t len);

/*
 * One access to a register a driver touches per frame or per batch (STATUS, ICR, IMS,
 * RDH, RDT, TDH, TDT as below), with its effects, under the core's lock: 1, or 0 for a
 * register (or direction) this does not serve. The fast handlers and e1000.py both go
 * through it, so the registers have one implementation.
 */
int e1000_hot_register(struct e1000 *e, uint32_t reg, uint32_t *value, int is_write);

/*
 * The registers a driver touches per frame or per batch, answered in the vCPU's run loop
 * (kvmnet_native.h, kvmnet_fast_handler; opaque is the struct e1000): 32-bit reads of
 * STATUS, ICR (cleared on read), IMS, RDH, RDT, TDH, TDT and writes of RDT (wakes the device
 * thread; narrower ones too, merged, since RDT may be a coalesced zone) and TDT (transmits),
 * with the same effects as e1000.py's; every other access goes to Python. e1000_fast_mmio serves BAR0, e1000_fast_io BAR1's IODATA. Under the core's
 * lock, as Python's register accesses are: the device thread holds it while it delivers.
 */
int e1000_fast_mmio(void *opaque, unsigned long long offset, unsigned char *data,
		    unsigned int size, int is_write);
int e1000_fast_io(void *opaque, unsigned long long offset, unsigned char *data,
		  unsigned int size, int is_write);
/* cffi: end */

#endif
