/* dw_slab: a pool allocator for many small blocks of a few sizes (the
 * engine's dossiers). Blocks are carved from 64 KiB pages in size classes
 * of 8 bytes, with no per-block header: a million dossiers of 160 bytes
 * take 160 MB here instead of malloc's 176 (its 8-byte header and 16-byte
 * rounding), and allocation is a free-list pop. Freed blocks go back to
 * their class's free list; pages are released only by dw_slab_destroy.
 * Not thread-safe (one per engine). Blocks above DW_SLAB_MAX come from
 * malloc. */
#ifndef DW_SLAB_H
#define DW_SLAB_H

#include <stddef.h>

#define DW_SLAB_MAX 512

typedef struct dw_slab dw_slab;

dw_slab *dw_slab_new(void);
/* Releases every page (blocks still allocated included). */
void dw_slab_destroy(dw_slab *s);
/* A zeroed block of at least size bytes, 8-byte aligned, or NULL. */
void *dw_slab_alloc(dw_slab *s, size_t size);
/* size: the same as given to dw_slab_alloc. */
void dw_slab_free(dw_slab *s, void *p, size_t size);
/* Bytes a block of that size really takes. */
size_t dw_slab_block_size(size_t size);

#endif
