/* dw_timer: an indexed 8-ary min-heap of (deadline, item) used by the engine
 * to find the next dossier whose rules can change, without scanning all
 * dossiers. Each item holds at most one entry; the item remembers its slot
 * (through set_index) so that a deadline can be moved or removed in
 * O(log n) instead of leaving stale entries behind (items are freed on
 * eviction, so lazy deletion would keep dangling pointers). */
#ifndef DW_TIMER_H
#define DW_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define DW_TIMER_NO_INDEX UINT32_MAX

typedef struct dw_timer_entry {
  int64_t at;
  void *item;
} dw_timer_entry;

typedef struct dw_timer {
  dw_timer_entry *v; /* the heap, inside base (placed for cache lines) */
  dw_timer_entry *base;
  uint32_t n, cap;
  void (*set_index)(void *item, uint32_t idx); /* told every move; DW_TIMER_NO_INDEX on removal */
} dw_timer;

void dw_timer_init(dw_timer *t, void (*set_index)(void *item, uint32_t idx));
void dw_timer_free(dw_timer *t);
/* Inserts the item (idx == DW_TIMER_NO_INDEX) or moves its entry (idx = its
 * slot). Returns 0, or -1 when out of memory. */
int dw_timer_set(dw_timer *t, void *item, uint32_t idx, int64_t at);
void dw_timer_remove(dw_timer *t, uint32_t idx);
/* The earliest entry, or NULL when empty. */
const dw_timer_entry *dw_timer_peek(const dw_timer *t);
size_t dw_timer_bytes(const dw_timer *t);

#endif
