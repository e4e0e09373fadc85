/* dw_aggregates: compliance counters per unit x period (CONTRACT §5), rates
 * and score, and per-reader change tracking (see dw_aggregates.h).
 *
 * Storage: units (unit_type, code) are interned in one hash table that also
 * holds the open_overdue gauge and the per-reader rolling30 bookkeeping; rows
 * (unit, period_kind, period_id) live in a second hash table keyed by a
 * fixed-size struct. period_id is an integer that sorts like the period name:
 * local day number (day), y*12+m-1 (month), y*4+q-1 (quarter), y (year).
 * Names are made only when a row is read out.
 *
 * Change tracking keeps, per reader, a list of rows touched since that
 * reader's last drain with the accumulated delta (kept beside each counter,
 * so that one update touches one cache line), plus the open_overdue value last
 * reported on each row, so that a row whose period stops being current is
 * reported again with open_overdue back at 0. */
#include "dw_aggregates.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_event.h"
#include "dw_time.h"

#define DW_AGG_READERS 2
#define DW_ROLLING_DAYS 30

/* ---- structures ---- */

typedef struct agg_unit {
  /* What a count touches, in the first three cache lines (UNIT_HOT_BYTES,
   * loaded ahead by dw_aggregates_prefetch). */
  struct agg_row *last[DW_PERIOD_YEAR + 1]; /* the row last used per kind (events come roughly in time order) */
  int64_t roll_sum_day;
  bool roll_sum_valid;
  bool roll_dirty[DW_AGG_READERS]; /* rolling30: a day row or the gauge changed since reader r last saw it */
  /* The rolling30 sums for the window ending on roll_sum_day, kept up to
   * date by every count (drains ask for them per batch; summing 30 day rows
   * per unit each time was most of a drain's cost). */
  int64_t roll_sum[DW_C__COUNT];

  char *key; /* "<type>|<code>", the hash key */
  dw_unit_type type;
  const char *code; /* points into key */
  int64_t gauge;    /* open OVERDUE alerts now */
  /* rolling30 as last reported to each reader */
  int64_t roll_day[DW_AGG_READERS];
  int64_t roll_sent[DW_AGG_READERS][DW_C__COUNT];
  int64_t roll_oo_sent[DW_AGG_READERS];
  uint32_t hash; /* of (type, code), for the lookup index */
  UT_hash_handle hh;
} agg_unit;
#define UNIT_HOT_BYTES (offsetof(agg_unit, roll_sum) + sizeof(int64_t) * DW_C__COUNT)

typedef struct row_key {
  const agg_unit *unit;
  int32_t kind;
  int32_t id;
} row_key;

typedef struct agg_row {
  /* what every update reads or writes first, together in the first cache line */
  row_key key;
  unsigned has_pending;                       /* bit r: a delta since reader r's last drain (even if it sums to 0) */
  unsigned stamp;                             /* dedup within one drain */
  bool has_unprop; /* listed in unprop */
  int64_t oo_sent[DW_AGG_READERS];            /* open_overdue last reported to the reader */
  /* Counters. A count writes one cell of value and nothing else (three
   * lines with the key, loaded ahead by dw_aggregates_prefetch): what a
   * reader has not seen is value - sent, what the coarser rows lack is
   * value - propagated. */
  int64_t value[DW_C__COUNT];
  int64_t sent[DW_AGG_READERS][DW_C__COUNT]; /* value at reader r's last drain */
  int64_t propagated[DW_C__COUNT];           /* day rows: value when last added to the month, quarter and year rows */
  UT_hash_handle hh;
} agg_row;

typedef struct score_item {
  double max, threshold; /* threshold <= 0: none (timeliness) */
} score_item;

enum { S_TIMELINESS, S_RESULT_DIG, S_INTAKE_DIG, S_REUSE, S_ONLINE, S_PAID_ONLINE, S_SATISFACTION, S__COUNT };

typedef struct row_vec {
  struct agg_row **v;
  size_t n, cap;
} row_vec;

static int vec_push(row_vec *x, struct agg_row *r) {
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    struct agg_row **v = realloc(x->v, cap * sizeof *v);
    if (!v) return -1;
    x->v = v;
    x->cap = cap;
  }
  x->v[x->n++] = r;
  return 0;
}

struct dw_aggregates {
  int utc_offset_min;
  score_item score[S__COUNT];
  agg_unit *units;
  agg_row *rows;
  /* Row lists as arrays, not linked through the rows: a drain walks
   * thousands of rows, and an array lets it load them ahead. */
  row_vec dirty[DW_AGG_READERS]; /* rows with has_pending bit r */
  row_vec unprop;                /* day rows whose counts the coarser rows lack (see propagate) */
  /* Names of recent periods: a drain names thousands of rows of a few periods */
  struct {
    int32_t kind, id;
    char name[16];
  } pname[64];
  row_vec oo_rows[DW_AGG_READERS]; /* rows whose oo_sent[r] != 0 */
  unsigned stamp;
  /* Lookup indexes beside the uthash lists (which keep insertion order for
   * iteration): open addressing, no key formatting or allocation per call. */
  agg_unit **uidx;
  size_t uidx_cap, uidx_n;
  agg_row **ridx;
  size_t ridx_cap, ridx_n;
};

/* ---- periods ---- */

typedef struct period_ids {
  int32_t id[DW_PERIOD__COUNT];
} period_ids;

static void periods_of_day(int64_t day, period_ids *p) {
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  p->id[DW_PERIOD_DAY] = (int32_t)day;
  p->id[DW_PERIOD_MONTH] = y * 12 + (m - 1);
  p->id[DW_PERIOD_QUARTER] = y * 4 + (m - 1) / 3;
  p->id[DW_PERIOD_YEAR] = y;
  p->id[DW_PERIOD_ROLLING30] = (int32_t)day;
}

static void period_name(dw_period_kind kind, int32_t id, char *buf, size_t n) {
  int y, m, d;
  switch (kind) {
  case DW_PERIOD_DAY:
  case DW_PERIOD_ROLLING30:
    dw_civil_from_days(id, &y, &m, &d);
    snprintf(buf, n, "%04d-%02d-%02d", y, m, d);
    break;
  case DW_PERIOD_MONTH:
    snprintf(buf, n, "%04d-%02d", id / 12, id % 12 + 1);
    break;
  case DW_PERIOD_QUARTER:
    snprintf(buf, n, "%04d-Q%d", id / 4, id % 4 + 1);
    break;
  default:
    snprintf(buf, n, "%04d", id);
    break;
  }
}

/* ---- lifecycle ---- */

void dw_aggregates_period_names(int64_t at, int utc_offset_min, char names[DW_PERIOD__COUNT][16]) {
  period_ids p;
  periods_of_day(dw_local_day(at, utc_offset_min), &p);
  for (int k = 0; k < DW_PERIOD__COUNT; k++) period_name((dw_period_kind)k, p.id[k], names[k], 16);
}

static double cfg_double(const dw_config *cfg, const char *key) {
  const char *v = dw_config_get(cfg, key);
  return v ? strtod(v, NULL) : 0.0;
}

dw_aggregates *dw_aggregates_new(const dw_config *cfg, int utc_offset_min) {
  dw_aggregates *agg = calloc(1, sizeof *agg);
  if (!agg) return NULL;
  agg->utc_offset_min = utc_offset_min;
  dw_config *tmp = NULL;
  if (!cfg) { /* defaults of the key table */
    tmp = dw_config_new();
    if (!tmp) {
      free(agg);
      return NULL;
    }
    cfg = tmp;
  }
  static const struct {
    int item;
    const char *max, *threshold;
  } keys[S__COUNT] = {
    {S_TIMELINESS, "score.timeliness.max", NULL},
    {S_RESULT_DIG, "score.result_digitized.max", "score.result_digitized.threshold"},
    {S_INTAKE_DIG, "score.intake_digitized.max", "score.intake_digitized.threshold"},
    {S_REUSE, "score.reuse.max", "score.reuse.threshold"},
    {S_ONLINE, "score.online.max", "score.online.threshold"},
    {S_PAID_ONLINE, "score.paid_online.max", "score.paid_online.threshold"},
    {S_SATISFACTION, "score.satisfaction.max", "score.satisfaction.threshold"},
  };
  for (int i = 0; i < S__COUNT; i++) {
    agg->score[keys[i].item].max = cfg_double(cfg, keys[i].max);
    agg->score[keys[i].item].threshold = keys[i].threshold ? cfg_double(cfg, keys[i].threshold) : 0.0;
  }
  dw_config_destroy(tmp);
  return agg;
}

void dw_aggregates_destroy(dw_aggregates *agg) {
  if (!agg) return;
  agg_row *r, *rt;
  HASH_ITER(hh, agg->rows, r, rt) {
    HASH_DEL(agg->rows, r);
    free(r);
  }
  agg_unit *u, *ut;
  HASH_ITER(hh, agg->units, u, ut) {
    HASH_DEL(agg->units, u);
    free(u->key);
    free(u);
  }
  for (int i = 0; i < DW_AGG_READERS; i++) {
    free(agg->oo_rows[i].v);
    free(agg->dirty[i].v);
  }
  free(agg->unprop.v);
  free(agg->uidx);
  free(agg->ridx);
  free(agg);
}

/* ---- lookups ---- */

static uint32_t unit_hash(dw_unit_type type, const char *code) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
  for (; *code; code++) {
    h ^= (uint8_t)*code;
    h *= 1099511628211ULL;
  }
  return (uint32_t)(h ^ (h >> 32));
}

static uint32_t row_hash(const agg_unit *u, int kind, int32_t id) {
  uint64_t h = (uint64_t)(uintptr_t)u * 0x9E3779B97F4A7C15ULL;
  h ^= ((uint64_t)(uint32_t)id << 3 | (uint64_t)kind) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return (uint32_t)(h ^ (h >> 32));
}

static uint32_t row_hash_of(const agg_row *r) { return row_hash(r->key.unit, r->key.kind, r->key.id); }

/* Grows an index of pointers (load <= 1/2) and re-places every entry. */
static int idx_grow(void ***tab, size_t *cap, size_t n, uint32_t (*hash)(const void *)) {
  if ((n + 1) * 2 <= *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 256;
  void **nt = calloc(nc, sizeof *nt);
  if (!nt) return -1;
  for (size_t i = 0; i < *cap; i++) {
    void *x = (*tab)[i];
    if (!x) continue;
    size_t j = hash(x) & (nc - 1);
    while (nt[j]) j = (j + 1) & (nc - 1);
    nt[j] = x;
  }
  free(*tab);
  *tab = nt;
  *cap = nc;
  return 0;
}

static uint32_t uhash_cb(const void *p) { return ((const agg_unit *)p)->hash; }
static uint32_t rhash_cb(const void *p) { return row_hash_of(p); }

static agg_unit *unit_get(dw_aggregates *agg, dw_unit_type type, const char *code, bool create) {
  const uint32_t h = unit_hash(type, code);
  if (agg->uidx_cap) {
    size_t m = agg->uidx_cap - 1;
    for (size_t j = h & m; agg->uidx[j]; j = (j + 1) & m) {
      agg_unit *u = agg->uidx[j];
      if (u->hash == h && u->type == type && strcmp(u->code, code) == 0) return u;
    }
  }
  if (!create) return NULL;
  if (idx_grow((void ***)&agg->uidx, &agg->uidx_cap, agg->uidx_n, uhash_cb)) return NULL;
  size_t klen = strlen(code) + 3;
  agg_unit *u = calloc(1, sizeof *u);
  char *k = u ? malloc(klen) : NULL;
  if (!k) {
    free(u);
    return NULL;
  }
  snprintf(k, klen, "%d|%s", (int)type, code);
  u->key = k;
  u->type = type;
  u->code = k + 2;
  u->hash = h;
  for (int i = 0; i < DW_AGG_READERS; i++) u->roll_day[i] = INT64_MIN;
  HASH_ADD_KEYPTR(hh, agg->units, u->key, strlen(u->key), u);
  size_t m = agg->uidx_cap - 1, j = h & m;
  while (agg->uidx[j]) j = (j + 1) & m;
  agg->uidx[j] = u;
  agg->uidx_n++;
  return u;
}

static agg_row *row_find(const dw_aggregates *agg, const agg_unit *u, int kind, int32_t id) {
  if (kind <= DW_PERIOD_YEAR && u->last[kind] && u->last[kind]->key.id == id) return u->last[kind];
  if (!agg->ridx_cap) return NULL;
  size_t m = agg->ridx_cap - 1;
  for (size_t j = row_hash(u, kind, id) & m; agg->ridx[j]; j = (j + 1) & m) {
    agg_row *r = agg->ridx[j];
    if (r->key.unit == u && r->key.kind == kind && r->key.id == id) return r;
  }
  return NULL;
}

static agg_row *row_get(dw_aggregates *agg, agg_unit *u, int kind, int32_t id) {
  agg_row *r = row_find(agg, u, kind, id);
  if (r) {
    if (kind <= DW_PERIOD_YEAR) u->last[kind] = r;
    return r;
  }
  if (idx_grow((void ***)&agg->ridx, &agg->ridx_cap, agg->ridx_n, rhash_cb)) return NULL;
  r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->key.unit = u;
  r->key.kind = kind;
  r->key.id = id;
  HASH_ADD(hh, agg->rows, key, sizeof r->key, r);
  size_t m = agg->ridx_cap - 1, j = row_hash(u, kind, id) & m;
  while (agg->ridx[j]) j = (j + 1) & m;
  agg->ridx[j] = r;
  agg->ridx_n++;
  if (kind <= DW_PERIOD_YEAR) u->last[kind] = r;
  return r;
}

/* The units a source lands in: commune, agency, procedure (when given) and
 * the province. Returns how many. */
static int source_units(dw_aggregates *agg, const dw_agg_source *src, agg_unit *out[DW_UNIT__COUNT]) {
  const char *codes[DW_UNIT__COUNT] = {src ? src->commune : NULL, src ? src->agency : NULL,
                                       src ? src->procedure : NULL, "all"};
  int n = 0;
  for (int t = 0; t < DW_UNIT__COUNT; t++) {
    if (!codes[t] || !codes[t][0]) continue;
    agg_unit *u = unit_get(agg, (dw_unit_type)t, codes[t], true);
    if (u) out[n++] = u;
  }
  return n;
}

/* The units of src, by type. */
static void units_of_source(dw_aggregates *agg, const dw_agg_source *src, dw_agg_units *units) {
  agg_unit *found[DW_UNIT__COUNT];
  int n = source_units(agg, src, found);
  memset(units, 0, sizeof *units);
  for (int i = 0; i < n; i++) units->u[found[i]->type] = found[i];
}

/* ---- updates ---- */

dw_agg_unit *dw_aggregates_unit(dw_aggregates *agg, dw_unit_type type, const char *code) {
  if (!agg || (unsigned)type >= DW_UNIT__COUNT || !code || !code[0]) return NULL;
  return unit_get(agg, type, code, true);
}

void dw_aggregates_prefetch(const dw_agg_unit *u, int step) {
  if (!u) return;
  if (step == 0) {
    for (size_t off = 0; off < UNIT_HOT_BYTES; off += 64) __builtin_prefetch((const char *)u + off, 1);
    return;
  }
  const agg_row *r = u->last[DW_PERIOD_DAY];
  if (!r) return;
  const char *end = (const char *)(r->value + DW_C__COUNT);
  for (const char *p = (const char *)r; p < end; p += 64) __builtin_prefetch(p, 1);
  __builtin_prefetch(end - 1, 1);
}

/* A delta to one cell, told to every reader. */
static void cell_add(dw_aggregates *agg, agg_row *r, dw_counter c, int64_t delta) {
  r->value[c] += delta;
  for (int rd = 0; rd < DW_AGG_READERS; rd++) {
    if (!(r->has_pending & (1u << rd))) {
      /* out of memory: left unlisted, listed again by its next change */
      if (vec_push(&agg->dirty[rd], r) == 0) r->has_pending |= 1u << rd;
    }
  }
}

/* Counts go to the day row only; the month, quarter and year rows receive
 * them when someone reads (propagate): an update per event touches one row
 * per unit instead of four, and the many events of one day and unit reach
 * the coarser rows as one sum per read (watch reads once per batch). */
void dw_aggregates_add_units(dw_aggregates *agg, const dw_agg_units *units, int64_t at, const dw_counter *c,
                             const int64_t *delta, int n) {
  if (!agg) return;
  bool any = false;
  for (int k = 0; k < n; k++) any |= (unsigned)c[k] < DW_C__COUNT && delta[k] != 0;
  if (!any) return;
  const int32_t day = (int32_t)dw_local_day(at, agg->utc_offset_min);
  for (int i = 0; i < DW_UNIT__COUNT; i++) {
    agg_unit *u = units->u[i];
    if (!u) continue;
    agg_row *r = row_get(agg, u, DW_PERIOD_DAY, day);
    if (!r) continue;
    const bool in_window = u->roll_sum_valid && day <= u->roll_sum_day && day > u->roll_sum_day - DW_ROLLING_DAYS;
    for (int k = 0; k < n; k++) {
      if ((unsigned)c[k] >= DW_C__COUNT || delta[k] == 0) continue;
      cell_add(agg, r, c[k], delta[k]);
      if (in_window) u->roll_sum[c[k]] += delta[k];
    }
    if (!r->has_unprop && vec_push(&agg->unprop, r) == 0) r->has_unprop = true;
    for (int rd = 0; rd < DW_AGG_READERS; rd++) u->roll_dirty[rd] = true;
  }
}

/* Adds what day rows counted since the last read to the month, quarter and
 * year rows containing them. Every reader calls it first. A row that cannot
 * be created (out of memory) keeps its counts for the next read. */
static void propagate(dw_aggregates *agg) {
  size_t kept = 0;
  for (size_t i = 0; i < agg->unprop.n; i++) {
    agg_row *r = agg->unprop.v[i];
    if (i + 8 < agg->unprop.n) __builtin_prefetch(agg->unprop.v[i + 8]);
    period_ids p;
    periods_of_day(r->key.id, &p);
    agg_row *coarser[3];
    bool ok = true;
    for (int kind = DW_PERIOD_MONTH; kind <= DW_PERIOD_YEAR; kind++)
      ok &= (coarser[kind - DW_PERIOD_MONTH] = row_get(agg, (agg_unit *)r->key.unit, kind, p.id[kind])) != NULL;
    if (!ok) {
      agg->unprop.v[kept++] = r;
      continue;
    }
    for (int c = 0; c < DW_C__COUNT; c++) {
      int64_t d = r->value[c] - r->propagated[c];
      if (!d) continue;
      for (int k = 0; k < 3; k++) cell_add(agg, coarser[k], (dw_counter)c, d);
      r->propagated[c] = r->value[c];
    }
    r->has_unprop = false;
  }
  agg->unprop.n = kept;
}

void dw_aggregates_add(dw_aggregates *agg, const dw_agg_source *src, dw_counter c, int64_t at, int64_t delta) {
  if (!agg || (unsigned)c >= DW_C__COUNT || delta == 0) return;
  dw_agg_units units;
  units_of_source(agg, src, &units);
  dw_aggregates_add_units(agg, &units, at, &c, &delta, 1);
}

void dw_aggregates_open_overdue_units(dw_aggregates *agg, const dw_agg_units *units, int delta) {
  if (!agg || delta == 0) return;
  for (int i = 0; i < DW_UNIT__COUNT; i++) {
    agg_unit *u = units->u[i];
    if (!u) continue;
    u->gauge += delta;
    for (int rd = 0; rd < DW_AGG_READERS; rd++) u->roll_dirty[rd] = true;
  }
}

void dw_aggregates_open_overdue(dw_aggregates *agg, const dw_agg_source *src, int delta) {
  if (!agg || delta == 0) return;
  dw_agg_units units;
  units_of_source(agg, src, &units);
  dw_aggregates_open_overdue_units(agg, &units, delta);
}

/* ---- rates and score ---- */

/* num/den as a percentage rounded to hundredths, half away from zero, in
 * integer arithmetic so that 5456/10000 is exactly the double nearest 54.56. */
static double pct(int64_t num, int64_t den, int64_t scale) {
  if (den <= 0) return NAN;
  __int128 n = (__int128)num * scale;
  bool neg = n < 0;
  if (neg) n = -n;
  __int128 q = (2 * n + den) / (2 * (__int128)den);
  return (double)(neg ? -q : q) / 100.0;
}

/* Rounds to 2 decimals, half away from zero; the nudge absorbs binary error
 * on values that are x.xx5 in decimal (sums of 2-decimal points). */
static double round2(double x) {
  if (isnan(x)) return x;
  double s = x * 100.0;
  s = s < 0 ? -floor(-s + 0.5 + 1e-7) : floor(s + 0.5 + 1e-7);
  return s / 100.0;
}

static double earn(const score_item *it, double rate) {
  if (isnan(rate) || it->max <= 0) return 0.0;
  double f = it->threshold > 0 ? rate / it->threshold : rate / 100.0;
  if (f > 1.0) f = 1.0;
  if (f < 0.0) f = 0.0;
  return it->max * f;
}

void dw_aggregates_rates(const dw_aggregates *agg, const dw_agg_row *row, dw_agg_rates *out) {
  const int64_t *c = row->counters;
  out->on_time_rate = pct(c[DW_C_ON_TIME], c[DW_C_ON_TIME] + c[DW_C_LATE], 10000);
  out->intake_digitized_rate = pct(c[DW_C_INTAKE_DIGITIZED], c[DW_C_RECEIVED] - c[DW_C_ONLINE_FULL], 10000);
  out->result_digitized_rate = pct(c[DW_C_RESULTS_DIGITIZED], c[DW_C_RESULTS_ISSUED], 10000);
  out->online_rate = pct(c[DW_C_ONLINE], c[DW_C_RECEIVED], 10000);
  out->rating_avg = pct(c[DW_C_RATING_SUM], c[DW_C_RATINGS], 100); /* plain average, 2 decimals */
  out->reuse_rate = pct(c[DW_C_DOSSIERS_WITH_REUSE], c[DW_C_RECEIVED], 10000);
  out->paid_online_rate = pct(c[DW_C_PAID_ONLINE], c[DW_C_PAID], 10000);

  const score_item *s = agg->score;
  double sat = isnan(out->rating_avg) ? NAN : out->rating_avg * 20.0;
  double pts = earn(&s[S_TIMELINESS], out->on_time_rate) + earn(&s[S_RESULT_DIG], out->result_digitized_rate) +
               earn(&s[S_INTAKE_DIG], out->intake_digitized_rate) + earn(&s[S_REUSE], out->reuse_rate) +
               earn(&s[S_ONLINE], out->online_rate) + earn(&s[S_PAID_ONLINE], out->paid_online_rate) +
               earn(&s[S_SATISFACTION], sat);
  double covered = 0;
  for (int i = 0; i < S__COUNT; i++) covered += s[i].max > 0 ? s[i].max : 0;
  out->score = round2(pts);
  out->score_100 = covered > 0 ? round2(pts * 100.0 / covered) : NAN;
}

/* ---- read-out ---- */

static bool is_current(const row_key *k, const period_ids *now) { return k->id == now->id[k->kind]; }

static bool all_zero(const int64_t *c) {
  for (int i = 0; i < DW_C__COUNT; i++)
    if (c[i]) return false;
  return true;
}

/* The rolling30 sums of u for the window ending on day. */
static const int64_t *rolling_sum(const dw_aggregates *agg, agg_unit *u, int64_t day) {
  if (u->roll_sum_valid && u->roll_sum_day == day) return u->roll_sum;
  if (u->roll_sum_valid && day > u->roll_sum_day && day - u->roll_sum_day < DW_ROLLING_DAYS) {
    /* the window slid forward by a few days: add the days entering it,
     * subtract those leaving it */
    for (int64_t d = u->roll_sum_day + 1; d <= day; d++) {
      const agg_row *in = row_find(agg, u, DW_PERIOD_DAY, (int32_t)d);
      const agg_row *out = row_find(agg, u, DW_PERIOD_DAY, (int32_t)(d - DW_ROLLING_DAYS));
      for (int c = 0; c < DW_C__COUNT; c++) u->roll_sum[c] += (in ? in->value[c] : 0) - (out ? out->value[c] : 0);
    }
    u->roll_sum_day = day;
    return u->roll_sum;
  }
  memset(u->roll_sum, 0, sizeof u->roll_sum);
  for (int i = 0; i < DW_ROLLING_DAYS; i++) {
    const agg_row *r = row_find(agg, u, DW_PERIOD_DAY, (int32_t)(day - i));
    if (!r)
      continue;
    for (int c = 0; c < DW_C__COUNT; c++) u->roll_sum[c] += r->value[c];
  }
  u->roll_sum_day = day;
  u->roll_sum_valid = true;
  return u->roll_sum;
}

typedef struct out_item {
  const agg_unit *unit;
  int kind;
  int32_t id;
  const int64_t *counters;
  int64_t open_overdue;
} out_item;

static int cmp_item(const void *a, const void *b) {
  const out_item *x = a, *y = b;
  if (x->unit->type != y->unit->type) return x->unit->type < y->unit->type ? -1 : 1;
  int c = strcmp(x->unit->code, y->unit->code);
  if (c) return c;
  if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return 0;
}

static void fill_row(dw_aggregates *agg, dw_agg_row *row, const agg_unit *u, int kind, int32_t id,
                     const int64_t *counters, int64_t oo) {
  row->unit_type = u->type;
  row->unit = u->code;
  row->period_kind = (dw_period_kind)kind;
  size_t slot = ((uint32_t)id * 8u + (uint32_t)kind) & 63;
  if (agg->pname[slot].kind != kind || agg->pname[slot].id != id || !agg->pname[slot].name[0]) {
    agg->pname[slot].kind = kind;
    agg->pname[slot].id = id;
    period_name((dw_period_kind)kind, id, agg->pname[slot].name, sizeof agg->pname[slot].name);
  }
  memcpy(row->period, agg->pname[slot].name, sizeof row->period);
  if (counters)
    memcpy(row->counters, counters, sizeof row->counters);
  else
    memset(row->counters, 0, sizeof row->counters);
  row->open_overdue = oo;
}

static const int64_t zero_counters[DW_C__COUNT];

static void row_values(const agg_row *r, int64_t *out) {
  memcpy(out, r->value, sizeof r->value);
}

/* Rows whose counters are all zero (a count moved away by a late event) and
 * that carry no gauge are left out, so the output equals in-order delivery.
 * A unit with open OVERDUE alerts gets rows for the current periods even if
 * nothing was counted in them. */
void dw_aggregates_foreach(dw_aggregates *agg, int64_t now, void (*fn)(const dw_agg_row *row, void *opaque),
                           void *opaque) {
  if (!agg || !fn) return;
  propagate(agg);
  /* no clock yet (no event seen): any valid day will do, nothing is current */
  int64_t today = dw_local_day(now == DW_TIME_NONE ? 0 : now, agg->utc_offset_min);
  period_ids cur;
  periods_of_day(today, &cur);
  size_t nunits = HASH_COUNT(agg->units), nrows = HASH_COUNT(agg->rows);
  size_t cap = nrows + nunits * DW_PERIOD__COUNT + 1;
  out_item *items = malloc(cap * sizeof *items);
  int64_t *vals = malloc((nrows + 1) * DW_C__COUNT * sizeof(int64_t)); /* the rows' counters, gathered */
  if (!items || !vals) {
    free(items);
    free(vals);
    return;
  }
  size_t n = 0;
  for (const agg_row *r = agg->rows; r; r = r->hh.next) {
    int64_t oo = is_current(&r->key, &cur) ? r->key.unit->gauge : 0;
    int64_t *v = vals + n * DW_C__COUNT;
    row_values(r, v);
    if (all_zero(v) && oo == 0) continue;
    items[n++] = (out_item){r->key.unit, r->key.kind, r->key.id, v, oo};
  }
  for (agg_unit *u = agg->units; u; u = u->hh.next) {
    if (u->gauge != 0)
      for (int kind = DW_PERIOD_DAY; kind <= DW_PERIOD_YEAR; kind++) {
        if (!row_find(agg, u, kind, cur.id[kind])) /* an existing row was listed above */
          items[n++] = (out_item){u, kind, cur.id[kind], zero_counters, u->gauge};
      }
    const int64_t *sum = rolling_sum(agg, u, today);
    if (!all_zero(sum) || u->gauge != 0) items[n++] = (out_item){u, DW_PERIOD_ROLLING30, cur.id[DW_PERIOD_ROLLING30], sum, u->gauge};
  }
  if (n) qsort(items, n, sizeof *items, cmp_item);
  dw_agg_row row;
  for (size_t i = 0; i < n; i++) {
    fill_row(agg, &row, items[i].unit, items[i].kind, items[i].id, items[i].counters, items[i].open_overdue);
    fn(&row, opaque);
  }
  free(items);
  free(vals);
}


void dw_aggregates_drain_changes(dw_aggregates *agg, int reader, int64_t now,
                                 void (*fn)(const dw_agg_row *row, const dw_agg_row *delta, void *opaque),
                                 void *opaque) {
  if (!agg || reader < 0 || reader >= DW_AGG_READERS || !fn) return;
  propagate(agg);
  const int rd = reader;
  /* no clock yet (no event seen): any valid day will do, nothing is current */
  int64_t today = dw_local_day(now == DW_TIME_NONE ? 0 : now, agg->utc_offset_min);
  period_ids cur;
  periods_of_day(today, &cur);
  unsigned stamp = ++agg->stamp;
  if (stamp == 0) { /* wrapped: reset so that no row looks already seen */
    for (agg_row *r = agg->rows; r; r = r->hh.next) r->stamp = 0;
    stamp = agg->stamp = 1;
  }

  /* Candidates: rows with a pending delta, rows that last reported a
   * non-zero gauge, and the current rows of units with a non-zero gauge. */
  size_t cap = 64, n = 0;
  agg_row **cand = malloc(cap * sizeof *cand);
  if (!cand) return;
#define ADD_CAND(rowp)                                         \
  do {                                                         \
    agg_row *r_ = (rowp);                                      \
    if (!r_ || r_->stamp == stamp) break;                      \
    if (n == cap) {                                            \
      agg_row **p_ = realloc(cand, 2 * cap * sizeof *cand);    \
      if (!p_) break;                                          \
      cand = p_;                                               \
      cap *= 2;                                                \
    }                                                          \
    r_->stamp = stamp;                                         \
    cand[n++] = r_;                                            \
  } while (0)
  for (size_t i = 0; i < agg->dirty[rd].n; i++) {
    if (i + 8 < agg->dirty[rd].n) __builtin_prefetch(agg->dirty[rd].v[i + 8]);
    ADD_CAND(agg->dirty[rd].v[i]);
  }
  for (size_t i = 0; i < agg->oo_rows[rd].n; i++) ADD_CAND(agg->oo_rows[rd].v[i]);
  for (agg_unit *u = agg->units; u; u = u->hh.next)
    if (u->gauge != 0)
      for (int kind = DW_PERIOD_DAY; kind <= DW_PERIOD_YEAR; kind++) ADD_CAND(row_get(agg, u, kind, cur.id[kind]));
#undef ADD_CAND
  agg->dirty[rd].n = 0;
  agg->oo_rows[rd].n = 0;

  dw_agg_row row, delta;
  for (size_t i = 0; i < n; i++) {
    agg_row *r = cand[i];
    if (i + 4 < n) { /* a row's values and this reader's sent values: four lines, loaded ahead */
      const agg_row *a = cand[i + 4];
      for (int k = 0; k < 2; k++) {
        __builtin_prefetch((const char *)a->value + 64 * k);
        __builtin_prefetch((const char *)a->sent[rd] + 64 * k, 1);
      }
    }
    int64_t oo = is_current(&r->key, &cur) ? r->key.unit->gauge : 0;
    int64_t d_oo = oo - r->oo_sent[rd];
    const bool pending = r->has_pending & (1u << rd);
    if (pending || d_oo != 0) {
      int64_t v[DW_C__COUNT], p[DW_C__COUNT];
      row_values(r, v);
      for (int c = 0; c < DW_C__COUNT; c++) p[c] = v[c] - r->sent[rd][c];
      fill_row(agg, &row, r->key.unit, r->key.kind, r->key.id, v, oo);
      fill_row(agg, &delta, r->key.unit, r->key.kind, r->key.id, pending ? p : NULL, d_oo);
      fn(&row, &delta, opaque);
    }
    if (pending)
      memcpy(r->sent[rd], r->value, sizeof r->sent[rd]);
    r->has_pending &= ~(1u << rd);
    r->oo_sent[rd] = oo;
    if (oo != 0) vec_push(&agg->oo_rows[rd], r);
  }
  free(cand);

  /* rolling30 of today, per unit, against what this reader last saw */
  int64_t sum[DW_C__COUNT];
  for (agg_unit *u = agg->units; u; u = u->hh.next) {
    bool same_day = u->roll_day[rd] == today;
    if (same_day && !u->roll_dirty[rd]) continue;
    memcpy(sum, rolling_sum(agg, u, today), sizeof sum);
    fill_row(agg, &row, u, DW_PERIOD_ROLLING30, cur.id[DW_PERIOD_ROLLING30], sum, u->gauge);
    fill_row(agg, &delta, u, DW_PERIOD_ROLLING30, cur.id[DW_PERIOD_ROLLING30], sum, u->gauge);
    bool emit;
    if (same_day) {
      for (int c = 0; c < DW_C__COUNT; c++) delta.counters[c] -= u->roll_sent[rd][c];
      delta.open_overdue -= u->roll_oo_sent[rd];
      emit = !all_zero(delta.counters) || delta.open_overdue != 0;
    } else {
      emit = !all_zero(sum) || u->gauge != 0;
    }
    if (emit) fn(&row, &delta, opaque);
    memcpy(u->roll_sent[rd], sum, sizeof sum);
    u->roll_oo_sent[rd] = u->gauge;
    u->roll_day[rd] = today;
    u->roll_dirty[rd] = false;
  }
}
