/*
 * multiboot.h - the parts of the multiboot v1 boot information the guest
 * reads (flags, mem_lower/mem_upper, the memory map).  boot.S saves EAX
 * and EBX at entry; RAM is user-mapped, so ring 3 reads the info in place.
 */
#ifndef MULTIBOOT_H
#define MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_LOADER_MAGIC	0x2BADB002	/* EAX at entry */
#define MBI_FLAG_MEM		(1u << 0)	/* mem_lower/mem_upper valid */
#define MBI_FLAG_MMAP		(1u << 6)	/* mmap_length/mmap_addr valid */

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;	/* KiB from 0 */
	uint32_t mem_upper;	/* KiB from 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count;
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;	/* bytes */
	uint32_t mmap_addr;
};

/* One memory-map entry; the next starts size + 4 bytes further on. */
struct multiboot_mmap_entry {
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;		/* 1 = usable RAM */
} __attribute__((packed));

extern uint32_t mb_magic;	/* boot.S: EAX at entry */
extern uint32_t mb_info;	/* boot.S: EBX at entry */

#endif
