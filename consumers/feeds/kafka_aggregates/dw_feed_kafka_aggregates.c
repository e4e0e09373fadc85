/* dw_feed_kafka_aggregates: aggregate rows to the compacted topic
 * topic.aggregates (CONTRACT §5: key = unit_type|unit|period_kind|period,
 * value = Avro single-object of schemas/compliance_aggregate.avsc with the
 * totals, rates and score), every period kind:
 * - day, month, quarter and year rows as the outbox delivers them;
 * - rolling30 rows (the 30 days ending on the feed's day; not stored,
 *   summed from the day rows): for every unit whose day rows in the window
 *   changed this round, and for every unit when the day changes;
 * - the open_overdue gauge on the rows of the current periods: a unit whose
 *   open OVERDUE count changed has its current rows published again;
 * - once after an upgrade (legacy_keys, migration 007): a tombstone for each
 *   three-part key (unit_type|unit|period) an earlier release published. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_aggregates.h"
#include "dw_codec.h"
#include "dw_feed.h"
#include "dw_log.h"
#include "dw_pg.h"
#include "dw_producer.h"
#include "dw_time.h"

#define DELIVERY_TIMEOUT_MS 30000
#define TOMBSTONE_PAGE 5000

typedef struct unit_ent {
  int64_t gauge;
  bool seen; /* in this round's v_open_overdue */
  UT_hash_handle hh;
  char key[]; /* "unit_type|unit" */
} unit_ent;

typedef struct st {
  dw_producer *p;
  dw_avro *av;
  dw_aggregates *agg; /* rates and score only (never fed events) */
  char topic[256];
  int utc;
  char names[DW_PERIOD__COUNT][16]; /* the current periods of this round */
  char first_day[16];               /* the rolling window's first day */
  char last_day[16];                /* the day rolling30 was last published for */
  unit_ent *gauges;                 /* open OVERDUE per unit, as published */
  unit_ent *touched;                /* units whose rolling30 changed this round (day rows in the window, gauge) */
  unit_ent *regauged;               /* units whose gauge changed: their current rows go again */
  bool gauges_loaded;
  dw_outbox_page extra;
} st;

static void free_units(unit_ent **h) {
  unit_ent *e, *t;
  HASH_ITER(hh, *h, e, t) {
    HASH_DEL(*h, e);
    free(e);
  }
}

static unit_ent *unit_get(unit_ent **h, const char *type, const char *unit, bool create) {
  char key[256];
  snprintf(key, sizeof key, "%s|%s", type, unit);
  unit_ent *e;
  HASH_FIND_STR(*h, key, e);
  if (e || !create) return e;
  size_t len = strlen(key) + 1;
  if (!(e = calloc(1, sizeof *e + len))) return NULL;
  memcpy(e->key, key, len);
  HASH_ADD_KEYPTR(hh, *h, e->key, len - 1, e);
  return e;
}

static void close_feed(void *s) {
  st *f = s;
  dw_producer_destroy(f->p);
  if (f->av) dw_avro_destroy(f->av);
  dw_aggregates_destroy(f->agg);
  free_units(&f->gauges);
  free_units(&f->touched);
  free_units(&f->regauged);
  dw_outbox_page_free(&f->extra);
  free(f);
}

static void *open_feed(const dw_config *cfg, char *err, size_t n) {
  st *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  snprintf(f->topic, sizeof f->topic, "%s", dw_config_get(cfg, "topic.aggregates"));
  f->utc = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  /* aggregates may wait a little to share requests (many, not urgent) */
  static const char *const props[] = {"linger.ms", "5", NULL};
  if (!(f->p = dw_producer_new(cfg, "feed kafka_aggregates", props, err, n)) || !(f->av = dw_avro_new(err, n)) ||
      !(f->agg = dw_aggregates_new(cfg, f->utc))) {
    if (!err[0]) snprintf(err, n, "out of memory");
    close_feed(f);
    return NULL;
  }
  return f;
}

/* ---- this round's clock and gauges ---- */

static void set_periods(st *f, int64_t now) {
  dw_aggregates_period_names(now, f->utc, f->names);
  int64_t day = dw_local_day(now, f->utc) - 29;
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  snprintf(f->first_day, sizeof f->first_day, "%04d-%02d-%02d", y, m, d);
}

static void on_gauge(const char *type, const char *unit, int64_t n, void *opaque) {
  st *f = opaque;
  unit_ent *e = unit_get(&f->gauges, type, unit, true);
  if (!e) return;
  if (e->gauge != n) unit_get(&f->regauged, type, unit, true);
  e->gauge = n;
  e->seen = true;
}

/* Loads v_open_overdue once per round; a unit whose count changed (or went
 * back to 0) is touched. */
static int load_gauges(st *f, dw_feed_round *r, char *err, size_t n) {
  if (f->gauges_loaded) return 0;
  set_periods(f, r->now);
  unit_ent *e, *t;
  HASH_ITER(hh, f->gauges, e, t) e->seen = false;
  if (dw_outbox_open_overdue(r->pg, on_gauge, f, err, n)) return -1;
  HASH_ITER(hh, f->gauges, e, t) {
    if (e->seen) continue;
    /* no open OVERDUE any more: back to 0 on its current rows */
    char type[32], *bar = strchr(e->key, '|');
    snprintf(type, sizeof type, "%.*s", bar ? (int)(bar - e->key) : 0, e->key);
    if (e->gauge != 0) unit_get(&f->regauged, type, bar ? bar + 1 : "", true);
    HASH_DEL(f->gauges, e);
    free(e);
  }
  f->gauges_loaded = true;
  return 0;
}

static int64_t gauge_of(st *f, const dw_agg_row *row) {
  if (row->period_kind != DW_PERIOD_ROLLING30 && strcmp(row->period, f->names[row->period_kind]) != 0) return 0;
  unit_ent *e = unit_get(&f->gauges, dw_unit_type_name(row->unit_type), row->unit, false);
  return e ? e->gauge : 0;
}

/* ---- producing ---- */

/* One row, with its gauge, rates and score, under its four-part key. */
static int produce_row(st *f, dw_agg_row *row, dw_delivery *d, long *skipped, char *err, size_t n) {
  char key[256];
  int klen = snprintf(key, sizeof key, "%s|%s|%s|%s", dw_unit_type_name(row->unit_type), row->unit,
                      dw_period_kind_name(row->period_kind), row->period);
  row->open_overdue = gauge_of(f, row);
  dw_agg_rates rates;
  dw_aggregates_rates(f->agg, row, &rates);
  const void *out;
  size_t len;
  char why[256];
  if (dw_avro_encode_aggregate(f->av, row, &rates, &out, &len, why, sizeof why)) {
    DW_LOG_ERR("feed kafka_aggregates: aggregate %s not publishable: %s", key, why);
    (*skipped)++;
    return 0;
  }
  const dw_message m = {f->topic, key, (size_t)klen, out, len, 0, NULL};
  return dw_producer_send(f->p, &m, d, err, n);
}

static int deliver(void *s, const dw_outbox_page *page, dw_feed_round *r, long *skipped, char *err, size_t n) {
  st *f = s;
  if (load_gauges(f, r, err, n)) return -1;
  dw_delivery d = {0};
  for (size_t i = 0; i < page->n; i++) {
    dw_agg_row row = page->rows[i];
    if (row.period_kind == DW_PERIOD_DAY && strcmp(row.period, f->first_day) >= 0 &&
        strcmp(row.period, f->names[DW_PERIOD_DAY]) <= 0)
      unit_get(&f->touched, dw_unit_type_name(row.unit_type), row.unit, true);
    if (produce_row(f, &row, &d, skipped, err, n)) return -1;
  }
  return dw_producer_wait(f->p, &d, DELIVERY_TIMEOUT_MS, err, n);
}

/* A set of units as two parallel arrays (pointers into *store). */
static size_t unit_arrays(unit_ent *set, const char ***types, const char ***units, char **store) {
  size_t n = HASH_COUNT(set), i = 0, bytes = 0;
  unit_ent *e, *t;
  HASH_ITER(hh, set, e, t) bytes += strlen(e->key) + 1;
  *types = calloc(n + 1, sizeof **types);
  *units = calloc(n + 1, sizeof **units);
  *store = malloc(bytes + 1);
  if (!*types || !*units || !*store) return (size_t)-1;
  char *p = *store;
  HASH_ITER(hh, set, e, t) {
    size_t len = strlen(e->key) + 1;
    memcpy(p, e->key, len);
    char *bar = strchr(p, '|');
    if (bar) *bar = '\0';
    (*types)[i] = p;
    (*units)[i] = bar ? bar + 1 : "";
    if ((*types)[i][0]) i++;
    p += len;
  }
  return i;
}

/* rolling30 of the day for the touched units (every unit when the day
 * changed), and the current rows of the units whose gauge changed. */
static int publish_derived(st *f, dw_feed_round *r, char *err, size_t n) {
  const bool new_day = strcmp(f->last_day, f->names[DW_PERIOD_DAY]) != 0;
  unit_ent *e, *t;
  HASH_ITER(hh, f->regauged, e, t) { /* a gauge is on rolling30 of today too */
    char type[32], *bar = strchr(e->key, '|');
    snprintf(type, sizeof type, "%.*s", bar ? (int)(bar - e->key) : 0, e->key);
    unit_get(&f->touched, type, bar ? bar + 1 : "", true);
  }
  const char **types = NULL, **units = NULL, **gtypes = NULL, **gunits = NULL;
  char *store = NULL, *gstore = NULL;
  size_t nt = unit_arrays(f->touched, &types, &units, &store);
  size_t ng = unit_arrays(f->regauged, &gtypes, &gunits, &gstore);
  int rc = -1;
  if (nt == (size_t)-1 || ng == (size_t)-1) {
    snprintf(err, n, "out of memory");
    goto out;
  }
  f->extra.n = 0;
  if ((new_day || nt) &&
      dw_outbox_rolling30(r->pg, f->first_day, f->names[DW_PERIOD_DAY], types, units, new_day ? 0 : nt, &f->extra, err,
                          n))
    goto out;
  if (dw_outbox_current_rows(r->pg, f->names, gtypes, gunits, ng, &f->extra, err, n)) goto out;
  dw_delivery d = {0};
  long skipped = 0;
  for (size_t i = 0; i < f->extra.n; i++)
    if (produce_row(f, &f->extra.rows[i], &d, &skipped, err, n)) goto out;
  if (dw_producer_wait(f->p, &d, DELIVERY_TIMEOUT_MS, err, n)) goto out;
  snprintf(f->last_day, sizeof f->last_day, "%s", f->names[DW_PERIOD_DAY]);
  rc = 0;
out:
  free(types);
  free(units);
  free(store);
  free(gtypes);
  free(gunits);
  free(gstore);
  return rc;
}

/* Tombstones for every three-part key an earlier release published
 * (unit_type|unit|period of the stored rows). */
static int legacy_tombstones(st *f, dw_feed_round *r, char *err, size_t n) {
  char last[3][96] = {"", "", ""};
  long total = 0;
  for (;;) {
    const char *params[3] = {last[0], last[1], last[2]};
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT DISTINCT unit_type, unit, period FROM aggregates WHERE (unit_type, unit, period) > ($1, $2, $3)"
             " ORDER BY 1, 2, 3 LIMIT %d", TOMBSTONE_PAGE);
    PGresult *res = dw_pg_query(r->pg, sql, 3, params, err, n);
    if (!res) return -1;
    int rows = PQntuples(res);
    dw_delivery d = {0};
    for (int i = 0; i < rows; i++) {
      char key[320];
      int klen = snprintf(key, sizeof key, "%s|%s|%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                          PQgetvalue(res, i, 2));
      const dw_message m = {f->topic, key, (size_t)klen, NULL, 0, 0, NULL};
      if (dw_producer_send(f->p, &m, &d, err, n)) {
        PQclear(res);
        return -1;
      }
    }
    if (rows)
      for (int c = 0; c < 3; c++) snprintf(last[c], sizeof last[c], "%s", PQgetvalue(res, rows - 1, c));
    PQclear(res);
    if (dw_producer_wait(f->p, &d, DELIVERY_TIMEOUT_MS, err, n)) return -1;
    total += rows;
    if (rows < TOMBSTONE_PAGE) break;
  }
  DW_LOG_INF("feed kafka_aggregates: %ld tombstones for the keys of the earlier format (unit_type|unit|period)", total);
  return 0;
}

static int round_end(void *s, dw_feed_round *r, char *err, size_t n) {
  st *f = s;
  int rc = load_gauges(f, r, err, n);
  if (rc == 0) rc = publish_derived(f, r, err, n);
  if (rc == 0 && r->legacy && (rc = legacy_tombstones(f, r, err, n)) == 0) r->legacy_done = true;
  if (rc == 0) { /* on failure they are tried again next round */
    free_units(&f->touched);
    free_units(&f->regauged);
  }
  f->gauges_loaded = false;
  return rc;
}

const dw_feed dw_feed_kafka_aggregates = {
  "kafka_aggregates", DW_OUTBOX_AGGREGATES,
  "aggregate rows to topic.aggregates (key unit_type|unit|period_kind|period), rolling30 included",
  "aggregates.publish_interval_ms", 0, false, open_feed, deliver, round_end, close_feed,
};
