/* dw_timer: indexed binary min-heap of deadlines (see dw_timer.h). Ties are
 * broken by nothing in particular; the engine emits what changed at one
 * instant per dossier, so ordering within an instant is per-dossier only. */
#include "dw_timer.h"

#include <stdlib.h>

void dw_timer_init(dw_timer *t, void (*set_index)(void *item, uint32_t idx)) {
  t->v = NULL;
  t->n = t->cap = 0;
  t->set_index = set_index;
}

void dw_timer_free(dw_timer *t) {
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}

static void place(dw_timer *t, uint32_t i, dw_timer_entry e) {
  t->v[i] = e;
  t->set_index(e.item, i);
}

static void sift_up(dw_timer *t, uint32_t i) {
  dw_timer_entry e = t->v[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (t->v[p].at <= e.at) break;
    place(t, i, t->v[p]);
    i = p;
  }
  place(t, i, e);
}

static void sift_down(dw_timer *t, uint32_t i) {
  dw_timer_entry e = t->v[i];
  for (;;) {
    uint32_t l = 2 * i + 1, m = i;
    int64_t best = e.at;
    if (l < t->n && t->v[l].at < best) {
      m = l;
      best = t->v[l].at;
    }
    if (l + 1 < t->n && t->v[l + 1].at < best) m = l + 1;
    if (m == i) break;
    place(t, i, t->v[m]);
    i = m;
  }
  place(t, i, e);
}

int dw_timer_set(dw_timer *t, void *item, uint32_t idx, int64_t at) {
  if (idx == DW_TIMER_NO_INDEX) {
    if (t->n == t->cap) {
      uint32_t nc = t->cap ? t->cap + t->cap / 2 : 64;
      dw_timer_entry *nv = realloc(t->v, (size_t)nc * sizeof *nv);
      if (!nv) return -1;
      t->v = nv;
      t->cap = nc;
    }
    idx = t->n++;
    t->v[idx] = (dw_timer_entry){at, item};
    sift_up(t, idx);
    return 0;
  }
  int64_t old = t->v[idx].at;
  if (at == old) return 0; /* the common case: the deadline did not move */
  t->v[idx].at = at;
  if (at < old)
    sift_up(t, idx);
  else
    sift_down(t, idx);
  return 0;
}

void dw_timer_remove(dw_timer *t, uint32_t idx) {
  void *gone = t->v[idx].item;
  t->n--;
  if (idx != t->n) {
    dw_timer_entry last = t->v[t->n];
    int64_t old = t->v[idx].at;
    t->v[idx] = last;
    if (last.at < old)
      sift_up(t, idx);
    else
      sift_down(t, idx);
  }
  t->set_index(gone, DW_TIMER_NO_INDEX);
}

const dw_timer_entry *dw_timer_peek(const dw_timer *t) { return t->n ? &t->v[0] : NULL; }

size_t dw_timer_bytes(const dw_timer *t) { return (size_t)t->cap * sizeof(dw_timer_entry); }
