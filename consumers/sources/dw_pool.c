/* dw_pool: partitions, watermark, reorder pool, chunk choice, offsets and
 * flow control of a consumer-group source (see dw_pool.h). */
#include "dw_pool.h"

#include <stdlib.h>
#include <string.h>

#include "dw_time.h"

dw_part dw_part_unknown(void) { return (dw_part){false, false, -1, -1, -1, DW_TIME_NONE, -1, -1, false}; }

/* Received everything up to end? (recv -1: nothing received, from the
 * beginning: only an empty partition is.) */
static bool received_up_to(const dw_part *pi, int64_t end) {
  if (pi->recv >= 0) return pi->recv >= end;
  return end <= (pi->low >= 0 ? pi->low : 0);
}

bool dw_part_at_cached_end(const dw_part *pi) {
  return pi->high >= 0 && received_up_to(pi, pi->high); /* high -1: not fetched yet, assume more */
}

void dw_part_confirm_end(dw_part *pi, int64_t end) {
  if (end > pi->high) pi->high = end;
  pi->end_confirmed = received_up_to(pi, pi->high);
}

/* May the partition still deliver messages? */
static bool pending(const dw_part *pi) { return !dw_part_at_cached_end(pi) || !pi->end_confirmed; }

int64_t dw_parts_watermark(const dw_part *parts, int nparts, bool *inclusive) {
  int64_t lo = DW_TIME_NONE, hi = DW_TIME_NONE;
  bool any_pending = false;
  *inclusive = false;
  for (int p = 0; p < nparts; p++) {
    const dw_part *pi = &parts[p];
    if (!pi->assigned) continue;
    if (pi->maxp != DW_TIME_NONE && (hi == DW_TIME_NONE || pi->maxp > hi)) hi = pi->maxp;
    if (!pending(pi)) continue;
    if (pi->maxp == DW_TIME_NONE) return DW_TIME_NONE;
    any_pending = true;
    if (lo == DW_TIME_NONE || pi->maxp < lo) lo = pi->maxp;
  }
  *inclusive = !any_pending;
  return any_pending ? lo : hi;
}

int dw_pool_init(dw_pool *p, size_t max) {
  memset(p, 0, sizeof *p);
  p->max = max ? max : 1;
  p->cap = p->max;
  p->v = calloc(p->cap, sizeof *p->v);
  p->cand = calloc(p->cap, sizeof *p->cand);
  return p->v && p->cand ? 0 : -1;
}

void dw_pool_clear(dw_pool *p, void (*free_msg)(void *msg)) {
  for (size_t i = 0; i < p->n; i++) {
    if (free_msg) free_msg(p->v[i].msg);
    free(p->v[i].bad);
  }
  p->n = 0;
}

void dw_pool_free(dw_pool *p, void (*free_msg)(void *msg)) {
  if (p->v) dw_pool_clear(p, free_msg);
  free(p->v);
  free(p->cand);
  memset(p, 0, sizeof *p);
}

void dw_pool_add(dw_pool *p, void *msg, int32_t partition, int64_t offset) {
  if (p->n == p->cap) {
    /* past max only while flow control has paused all but the partitions
     * holding the watermark back (dw_pool_flow): a few batches at most */
    size_t cap = p->cap * 2;
    dw_held *v = realloc(p->v, cap * sizeof *v);
    if (v) p->v = v;
    size_t *cand = v ? realloc(p->cand, cap * sizeof *cand) : NULL;
    if (!v || !cand) abort(); /* a received message must not be lost */
    p->cand = cand;
    p->cap = cap;
  }
  p->v[p->n++] = (dw_held){msg, partition, offset, DW_TIME_NONE, p->seq++, NULL, false, false};
}

/* qsort has no context argument in C11: the pool being sorted */
static const dw_pool *g_sorting;

static int by_time(const void *a, const void *b) {
  const dw_held *x = &g_sorting->v[*(const size_t *)a], *y = &g_sorting->v[*(const size_t *)b];
  int64_t tx = x->bad ? INT64_MIN : x->at, ty = y->bad ? INT64_MIN : y->at;
  if (tx != ty) return tx < ty ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int by_seq(const void *a, const void *b) {
  const dw_held *x = &g_sorting->v[*(const size_t *)a], *y = &g_sorting->v[*(const size_t *)b];
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t dw_pool_choose(dw_pool *p, bool event_clock, int64_t wm, size_t batch_max, bool *more) {
  size_t nc = 0;
  for (size_t i = 0; i < p->n; i++) {
    const dw_held *h = &p->v[i];
    if (!event_clock || h->bad || (wm != DW_TIME_NONE && h->at <= wm)) p->cand[nc++] = i;
  }
  g_sorting = p;
  if (nc) qsort(p->cand, nc, sizeof *p->cand, event_clock ? by_time : by_seq);
  size_t n = nc < batch_max ? nc : batch_max;
  *more = nc > n;
  for (size_t i = 0; i < p->n; i++) p->v[i].in_chunk = false;
  for (size_t k = 0; k < n; k++) p->v[p->cand[k]].in_chunk = true;
  return n;
}

void dw_pool_next_offsets(const dw_pool *p, const dw_part *parts, int nparts, int64_t *next) {
  for (int q = 0; q < nparts; q++) next[q] = parts[q].assigned ? parts[q].recv : -1;
  for (size_t i = 0; i < p->n; i++) {
    const dw_held *h = &p->v[i];
    if (h->partition < 0 || h->partition >= nparts || h->in_chunk) continue;
    if (next[h->partition] < 0 || h->offset < next[h->partition]) next[h->partition] = h->offset;
  }
}

void dw_pool_drop_chunk(dw_pool *p, void (*free_msg)(void *msg)) {
  size_t keep = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (p->v[i].in_chunk) {
      if (free_msg) free_msg(p->v[i].msg);
      free(p->v[i].bad);
    } else {
      p->v[keep++] = p->v[i];
    }
  }
  p->n = keep;
}

/* pi holds the watermark wm back (see dw_part_holds_watermark) */
static bool holds(const dw_part *pi, int64_t wm) {
  return pi->assigned && pending(pi) && (pi->maxp == DW_TIME_NONE || (wm != DW_TIME_NONE && pi->maxp <= wm));
}

bool dw_part_holds_watermark(const dw_part *parts, int nparts, int32_t q) {
  if (q < 0 || q >= nparts) return false;
  bool inclusive;
  return holds(&parts[q], dw_parts_watermark(parts, nparts, &inclusive));
}

void dw_pool_flow(const dw_pool *p, const dw_part *parts, int nparts, bool event_clock, int32_t *pause, int *np,
                  int32_t *resume, int *nr) {
  *np = *nr = 0;
  size_t nassigned = 0;
  for (int q = 0; q < nparts; q++) nassigned += parts[q].assigned;
  if (!nassigned || !event_clock) return;
  size_t *held_by = calloc((size_t)nparts, sizeof *held_by);
  if (!held_by) return;
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].partition >= 0 && p->v[i].partition < nparts) held_by[p->v[i].partition]++;
  size_t share = p->max / (2 * nassigned);
  if (share < 1) share = 1;
  const bool full = p->n >= p->max;
  bool inclusive;
  const int64_t wm = dw_parts_watermark(parts, nparts, &inclusive);
  for (int q = 0; q < nparts; q++) {
    const dw_part *pi = &parts[q];
    if (!pi->assigned) continue;
    /* the watermark waits for this one: never stop it */
    const bool waited_for = holds(pi, wm);
    if (!pi->paused && !waited_for && (full || held_by[q] >= share))
      pause[(*np)++] = q;
    else if (pi->paused && (waited_for || (!full && held_by[q] < share / 2)))
      resume[(*nr)++] = q;
  }
  free(held_by);
}
