/* dw_slab: size-class pool allocator (see dw_slab.h). Under AddressSanitizer
 * a free block is poisoned, so that a use after free is still caught
 * although the memory stays in the pool. */
#include "dw_slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define PAGE_BYTES (64 * 1024)
#define CLASSES (DW_SLAB_MAX / 8)

typedef struct page {
  struct page *next;
  max_align_t align[]; /* blocks start here */
} page;

typedef struct class_pool {
  void *free;       /* free blocks, linked through their first 8 bytes */
  char *bump, *end; /* the unused rest of the newest page */
} class_pool;

struct dw_slab {
  class_pool cls[CLASSES];
  page *pages;
};

size_t dw_slab_block_size(size_t size) { return size <= DW_SLAB_MAX ? ((size ? size : 1) + 7) & ~(size_t)7 : size; }

dw_slab *dw_slab_new(void) { return calloc(1, sizeof(dw_slab)); }

void dw_slab_destroy(dw_slab *s) {
  if (!s) return;
  for (page *p = s->pages, *next; p; p = next) {
    next = p->next;
    UNPOISON(p, PAGE_BYTES);
    free(p);
  }
  free(s);
}

void *dw_slab_alloc(dw_slab *s, size_t size) {
  if (size > DW_SLAB_MAX) return calloc(1, size);
  const size_t bs = dw_slab_block_size(size);
  class_pool *c = &s->cls[bs / 8 - 1];
  void *b = c->free;
  if (b) {
    UNPOISON(b, bs);
    memcpy(&c->free, b, sizeof(void *));
  } else {
    if (c->bump == NULL || (size_t)(c->end - c->bump) < bs) {
      page *p = malloc(PAGE_BYTES);
      if (!p) return NULL;
      p->next = s->pages;
      s->pages = p;
      c->bump = (char *)p->align;
      c->end = (char *)p + PAGE_BYTES;
      POISON(c->bump, (size_t)(c->end - c->bump));
    }
    b = c->bump;
    c->bump += bs;
    UNPOISON(b, bs);
  }
  memset(b, 0, bs);
  return b;
}

void dw_slab_free(dw_slab *s, void *p, size_t size) {
  if (!p) return;
  if (size > DW_SLAB_MAX) {
    free(p);
    return;
  }
  const size_t bs = dw_slab_block_size(size);
  class_pool *c = &s->cls[bs / 8 - 1];
  memcpy(p, &c->free, sizeof(void *));
  c->free = p;
  POISON((char *)p + sizeof(void *), bs - sizeof(void *));
}
