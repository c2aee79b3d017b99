/* dma.c - the bump allocator for rings and buffers; see dma.h. */
#include "dma.h"
#include "lib.h"
#include "multiboot.h"

#define DEFAULT_RAM_TOP	0x2000000	/* 32 MiB if the loader did not say */
#define WB_RAM_END	0xC0000000	/* boot.S maps 3-4 GiB uncached */

static uintptr_t heap_next, heap_end;

void dma_init(void)
{
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)mb_info;
	uint64_t top = DEFAULT_RAM_TOP;

	if (mb_magic == MULTIBOOT_LOADER_MAGIC && (mbi->flags & MBI_FLAG_MEM))
		top = 0x100000 + (uint64_t)mbi->mem_upper * 1024;
	if (top > WB_RAM_END)
		top = WB_RAM_END;
	heap_next = DMA_HEAP_BASE;
	heap_end = top > DMA_HEAP_BASE ? top : DMA_HEAP_BASE;
}

void *dma_alloc(size_t size, size_t align)
{
	uintptr_t p = (heap_next + align - 1) & ~(uintptr_t)(align - 1);

	if (p > heap_end || size > heap_end - p)
		return NULL;
	heap_next = p + size;
	memset((void *)p, 0, size);
	return (void *)p;
}
