/* dw_driver: the clock discipline and the collection of what the engine
 * changed (see dw_driver.h). */
#include "dw_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_hash.h"
/* XXH3 instead of uthash's default (Jenkins): the alert index is looked up
 * for every event or alert change (replay, audit, watch) */
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = dw_hash_fold32(dw_hash_fast((keyptr), (keylen))))
#include <uthash.h>

typedef struct alert_slot {
  size_t index;
  UT_hash_handle hh;
  char id[]; /* alert_id */
} alert_slot;


struct dw_driver {
  dw_clock clock;
  dw_aggregates *agg;
  dw_engine *eng;
  /* alerts since the last clear: latest versions, by alert_id */
  dw_alert *alerts;
  dw_alert_counts *alert_counts; /* raised and cleared per alert since the last clear */
  size_t nalerts, cap_alerts;
  alert_slot *alert_index;
  /* each dossier's tag, by dossier_id: looked up for every applied event,
   * so a flat table (one slot to load, prefetched) rather than uthash */
  dw_keymap tags;
  dw_driver_stats st;
  /* set: alert changes go there instead of being collected */
  void (*sink)(const dw_alert *a, dw_alert_change change, void *opaque);
  void *sink_opaque;
};

void dw_driver_set_alert_sink(dw_driver *d, void (*fn)(const dw_alert *a, dw_alert_change change, void *opaque),
                              void *opaque) {
  d->sink = fn, d->sink_opaque = opaque;
}

static void on_alert(void *opaque, const dw_alert *a, dw_alert_change change) {
  dw_driver *d = opaque;
  d->st.alert_changes++;
  if (d->sink) {
    d->sink(a, change, d->sink_opaque);
    return;
  }
  const dw_alert_counts one = {change == DW_ALERT_RAISED, change == DW_ALERT_CLEARED};
  alert_slot *s;
  HASH_FIND_STR(d->alert_index, a->alert_id, s);
  if (s) {
    d->alerts[s->index] = *a;
    d->alert_counts[s->index].raised += one.raised;
    d->alert_counts[s->index].cleared += one.cleared;
    return;
  }
  if (d->nalerts == d->cap_alerts) {
    size_t cap = d->cap_alerts ? d->cap_alerts * 2 : 256;
    dw_alert *p = realloc(d->alerts, cap * sizeof *p);
    /* cannot record an alert change: losing it silently would be worse */
    if (!p) abort();
    d->alerts = p;
    dw_alert_counts *f = realloc(d->alert_counts, cap * sizeof *f);
    if (!f) abort();
    d->alert_counts = f;
    d->cap_alerts = cap;
  }
  d->alert_counts[d->nalerts] = one;
  size_t idl = strlen(a->alert_id) + 1;
  s = malloc(sizeof *s + idl);
  if (!s) abort();
  memcpy(s->id, a->alert_id, idl);
  s->index = d->nalerts;
  HASH_ADD_KEYPTR(hh, d->alert_index, s->id, idl - 1, s);
  d->alerts[d->nalerts++] = *a;
}

dw_driver *dw_driver_new(const dw_config *cfg, const dw_calendar *cal, dw_clock clock, char *err, size_t n) {
  dw_driver *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  d->clock = clock;
  d->agg = dw_aggregates_new(cfg, dw_calendar_utc_offset_min(cal));
  if (!d->agg) {
    snprintf(err, n, "out of memory");
    free(d);
    return NULL;
  }
  d->eng = dw_engine_new(cfg, cal, d->agg, (dw_engine_sink){on_alert, d}, err, n);
  if (!d->eng) {
    dw_aggregates_destroy(d->agg);
    free(d);
    return NULL;
  }
  return d;
}

void dw_driver_clear_alerts(dw_driver *d) {
  alert_slot *s, *t;
  HASH_ITER(hh, d->alert_index, s, t) {
    HASH_DEL(d->alert_index, s);
    free(s);
  }
  d->nalerts = 0;
}

void dw_driver_destroy(dw_driver *d) {
  if (!d) return;
  dw_engine_destroy(d->eng);
  dw_aggregates_destroy(d->agg);
  dw_driver_clear_alerts(d);
  free(d->alerts);
  free(d->alert_counts);
  dw_keymap_free(&d->tags);
  free(d);
}

/* Sets the dossier's tag (tag >= 0; -1 keeps it) and says whether it was
 * new; -1 only when out of memory. */
static int note(dw_driver *d, const char *id, int32_t tag, int *created) {
  int32_t *v = dw_keymap_put(&d->tags, dw_mapkey_of(id, strlen(id)), -1, created);
  if (!v) return -1;
  if (tag >= 0) *v = tag;
  return 0;
}

dw_apply_status dw_driver_apply(dw_driver *d, const dw_event *ev, int32_t tag, char *err, size_t n) {
  /* events at an instant before that instant's timers: the clock goes to
   * just before the event (the engine never moves it back) */
  if (d->clock == DW_CLOCK_EVENT && ev->occurred_at != DW_TIME_NONE && ev->occurred_at > INT64_MIN + 1)
    dw_engine_advance(d->eng, ev->occurred_at - 1);
  dw_apply_status st = dw_engine_apply(d->eng, ev, err, n);
  switch (st) {
  case DW_APPLY_OK: {
    d->st.applied++;
    int created;
    if (note(d, ev->dossier_id, tag, &created)) abort(); /* a state without its partition would be lost */
    d->st.dossiers += created;
    break;
  }
  case DW_APPLY_SETTLED: d->st.applied++, d->st.settled++; break;
  case DW_APPLY_DUPLICATE: d->st.duplicates++; break;
  case DW_APPLY_ERROR: d->st.errors++; break;
  }
  return st;
}

void dw_driver_prefetch(dw_driver *d, const char *dossier_id) {
  dw_engine_prefetch(d->eng, dossier_id);
  dw_keymap_prefetch(&d->tags, dw_mapkey_of(dossier_id, strlen(dossier_id)));
}

void dw_driver_advance(dw_driver *d, int64_t t) {
  if (t != DW_TIME_NONE) dw_engine_advance(d->eng, t);
}

void dw_driver_advance_before(dw_driver *d, int64_t t) {
  if (t != DW_TIME_NONE && t > INT64_MIN + 1) dw_engine_advance(d->eng, t - 1);
}

int64_t dw_driver_now(const dw_driver *d) { return dw_engine_now(d->eng); }
int64_t dw_driver_next_deadline(const dw_driver *d) { return dw_engine_next_deadline(d->eng); }
dw_clock dw_driver_clock(const dw_driver *d) { return d->clock; }

const dw_alert *dw_driver_alerts(const dw_driver *d, size_t *n) {
  *n = d->nalerts;
  return d->alerts;
}

const dw_alert_counts *dw_driver_alert_changes(const dw_driver *d) { return d->alert_counts; }

typedef struct state_ctx {
  dw_driver *d;
  void (*fn)(const dw_state_row *row, void *opaque);
  void *opaque;
} state_ctx;

/* The dossier's tag (-1: none), its entry dropped when forget: a dossier
 * that left memory leaves the tag map too, or it would grow with every
 * dossier ever seen. */
static int32_t tag_of(dw_driver *d, const char *id, int forget) {
  const dw_mapkey k = dw_mapkey_of(id, strlen(id));
  const int32_t *v = dw_keymap_find(&d->tags, k);
  if (!v) return -1;
  const int32_t tag = *v;
  if (forget) dw_keymap_del(&d->tags, k);
  return tag;
}

static void on_state(const char *id, const void *blob, size_t len, int open, void *opaque) {
  state_ctx *c = opaque;
  const int tomb = dw_engine_blob_is_tombstone(blob, len);
  const dw_state_row row = {id, tag_of(c->d, id, tomb), blob, len, open, tomb};
  c->fn(&row, c->opaque);
}

void dw_driver_drain_states(dw_driver *d, void (*fn)(const dw_state_row *row, void *opaque), void *opaque) {
  state_ctx c = {d, fn, opaque};
  dw_engine_drain_dirty(d->eng, on_state, &c);
}

typedef struct gone_ctx {
  dw_driver *d;
  void (*fn)(const char *dossier_id, int32_t tag, void *opaque);
  void *opaque;
} gone_ctx;

static void gone_one(const char *id, void *opaque) {
  gone_ctx *c = opaque;
  c->fn(id, tag_of(c->d, id, 1), c->opaque);
}

void dw_driver_drain_gone(dw_driver *d, void (*fn)(const char *dossier_id, int32_t tag, void *opaque), void *opaque) {
  dw_engine_drain_gone(d->eng, gone_one, &(gone_ctx){d, fn, opaque});
}

typedef struct agg_ctx {
  void (*fn)(const dw_agg_row *delta, void *opaque);
  void *opaque;
} agg_ctx;

static void on_delta(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  agg_ctx *c = opaque;
  if (delta->period_kind == DW_PERIOD_ROLLING30) return; /* derived from day rows, never stored */
  int any = 0;
  for (int k = 0; k < DW_C__COUNT; k++) any |= delta->counters[k] != 0;
  if (!any) return;
  dw_agg_row r = *delta;
  if (!r.unit) r.unit = row->unit;
  c->fn(&r, c->opaque);
}

void dw_driver_drain_aggregates(dw_driver *d, void (*fn)(const dw_agg_row *delta, void *opaque), void *opaque) {
  agg_ctx c = {fn, opaque};
  /* `now` only marks the current periods (the gauge, not stored): any
   * valid instant will do before the clock has started */
  int64_t now = dw_engine_now(d->eng);
  dw_aggregates_drain_changes(d->agg, 1, now == DW_TIME_NONE ? 0 : now, on_delta, &c);
}

int dw_driver_restore(dw_driver *d, const char *dossier_id, const void *blob, size_t len, int32_t tag, int64_t as_of,
                      char *err, size_t n) {
  if (dw_engine_restore(d->eng, blob, len, as_of, err, n)) return -1;
  if (dw_engine_blob_is_tombstone(blob, len)) return 0; /* not in memory: nothing to tag */
  int created;
  if (note(d, dossier_id, tag, &created)) abort();
  return 0;
}

typedef struct keep_ctx {
  dw_driver *d;
  int (*keep)(int32_t tag, void *opaque);
  void *opaque;
} keep_ctx;

static int keep_dossier(const char *id, void *opaque) {
  keep_ctx *k = opaque;
  const int32_t *v = dw_keymap_find(&k->d->tags, dw_mapkey_of(id, strlen(id)));
  return v && k->keep(*v, k->opaque);
}

void dw_driver_forget(dw_driver *d, int (*keep)(int32_t tag, void *opaque), void *opaque) {
  keep_ctx k = {d, keep, opaque};
  dw_engine_forget(d->eng, keep_dossier, &k);
  /* out of memory, the forgotten dossiers' tags stay: a dossier back later
   * has its tag set again by its events or its restore */
  (void)dw_keymap_retain(&d->tags, keep, opaque);
}

void dw_driver_stats_get(const dw_driver *d, dw_driver_stats *out) { *out = d->st; }
dw_engine *dw_driver_engine(dw_driver *d) { return d->eng; }
dw_aggregates *dw_driver_aggregates(dw_driver *d) { return d->agg; }
