/*
 * dma.h - memory that NICs reach by DMA: descriptor rings and frame
 * buffers.  RAM is identity-mapped, so a pointer is its bus address.
 * dma_alloc() hands out zeroed blocks upwards from DMA_HEAP_BASE, above
 * the image, up to the top of RAM the multiboot info reports; nothing is
 * ever freed (drivers allocate once, at boot or on first need).
 */
#ifndef DMA_H
#define DMA_H

#include <stddef.h>
#include <stdint.h>

#define DMA_HEAP_BASE	0x200000	/* kvmnet.ld checks the image ends below */

void dma_init(void);
/* size bytes aligned to align (a power of two), zeroed; NULL when RAM
 * runs out. */
void *dma_alloc(size_t size, size_t align);

static inline uint64_t dma_addr(const volatile void *p)
{
	return (uint64_t)(uintptr_t)p;
}

#endif
