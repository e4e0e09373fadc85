/* dw_http_api: the queries behind serve's routes (see dw_http_api.h).
 * Every statement is parameterized (PQexecParams, text parameters): no
 * value from a request is ever spliced into SQL text. Aggregate rows are
 * read as counters and turned into rates and scores here, by the engine's
 * arithmetic, so the API, `audit` and the Kafka topic agree to the cent. */
#include "dw_http_api.h"

#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_aggregates.h"
#include "dw_archive.h"
#include "dw_calendar.h"
#include "dw_codec.h"
#include "dw_dossier.h"
#include "dw_out_json.h"
#include "dw_pg.h"
#include "dw_rules.h"
#include "dw_silences.h"
#include "dw_time.h"

struct dw_api {
  const dw_units *units;
  dw_aggregates *agg; /* score configuration; only dw_aggregates_rates is used (read-only) */
  dw_calendar *cal;
  int off;
  char counters_sql[1024], sums_sql[2048];
  dw_avro *av; /* decodes a dossier's archived events; not thread-safe: av_mu */
  pthread_mutex_t av_mu;
};

dw_api *dw_api_new(const dw_config *cfg, const dw_units *units, char *err, size_t n) {
  dw_api *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  a->units = units;
  a->off = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  if (!(a->cal = dw_calendar_from_config(cfg, err, n))) {
    free(a);
    return NULL;
  }
  if (!(a->agg = dw_aggregates_new(cfg, a->off))) {
    dw_calendar_destroy(a->cal);
    free(a);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  size_t u1 = 0, u2 = 0;
  for (int c = 0; c < DW_C__COUNT; c++) {
    const char *name = dw_counter_name((dw_counter)c);
    u1 += (size_t)snprintf(a->counters_sql + u1, sizeof a->counters_sql - u1, ", %s", name);
    u2 += (size_t)snprintf(a->sums_sql + u2, sizeof a->sums_sql - u2, ", sum(%s)::bigint", name);
  }
  if (!(a->av = dw_avro_new(err, n))) {
    dw_aggregates_destroy(a->agg);
    dw_calendar_destroy(a->cal);
    free(a);
    return NULL;
  }
  pthread_mutex_init(&a->av_mu, NULL);
  return a;
}

void dw_api_destroy(dw_api *a) {
  if (!a) return;
  dw_avro_destroy(a->av);
  pthread_mutex_destroy(&a->av_mu);
  dw_aggregates_destroy(a->agg);
  dw_calendar_destroy(a->cal);
  free(a);
}

int dw_api_utc_offset(const dw_api *a) { return a->off; }

/* ------------------------------------------------------------- helpers -- */

static void put_2dp(dw_buf *b, double v) {
  if (isnan(v) || isinf(v))
    dw_buf_puts(b, "null");
  else
    dw_buf_printf(b, "%.2f", v == 0 ? 0.0 : v);
}

static void put_time(dw_buf *b, const dw_api *a, const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) {
    dw_buf_puts(b, "null");
    return;
  }
  char t[40];
  dw_time_format(strtoll(PQgetvalue(r, row, col), NULL, 10), a->off, t, sizeof t);
  dw_buf_json_string(b, t);
}

static void put_ms(dw_buf *b, const dw_api *a, int64_t ms) {
  if (ms == DW_TIME_NONE) {
    dw_buf_puts(b, "null");
    return;
  }
  char t[40];
  dw_time_format(ms, a->off, t, sizeof t);
  dw_buf_json_string(b, t);
}

/* A text[] literal of codes, or NULL for none (the SQL treats NULL as "no
 * filter"). Codes passed dw_http_is_code, but are escaped all the same. */
static char *array_literal(const char v[][64], int n) {
  if (n == 0) return NULL;
  dw_buf b = DW_BUF_INIT;
  dw_buf_putc(&b, '{');
  for (int i = 0; i < n; i++) {
    if (i) dw_buf_putc(&b, ',');
    dw_pg_array_elem(&b, v[i]);
  }
  dw_buf_putc(&b, '}');
  return dw_buf_take(&b);
}

/* ------------------------------------------------------------- periods -- */

/* Checks one period name of a kind; fills out (16 bytes). */
static int period_name(const char *kind_name, dw_period_kind kind, const char *cur, const char *period, char *out,
                       char *why, size_t n) {
  if (strcmp(period, "current") == 0) {
    snprintf(out, 16, "%s", cur);
    return 0;
  }
  int y = 0, m = 0, d = 0, q = 0;
  char tail;
  bool ok = false;
  switch (kind) {
  case DW_PERIOD_DAY:
  case DW_PERIOD_ROLLING30:
    ok = strlen(period) == 10 && sscanf(period, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
         d >= 1 && d <= 31;
    if (ok) {
      int y2, m2, d2; /* a real date: 2025-02-30 is not */
      dw_civil_from_days(dw_days_from_civil(y, m, d), &y2, &m2, &d2);
      ok = y2 == y && m2 == m && d2 == d;
    }
    break;
  case DW_PERIOD_MONTH: ok = strlen(period) == 7 && sscanf(period, "%4d-%2d%c", &y, &m, &tail) == 2 && m >= 1 && m <= 12; break;
  case DW_PERIOD_QUARTER: ok = strlen(period) == 7 && sscanf(period, "%4d-Q%1d%c", &y, &q, &tail) == 2 && q >= 1 && q <= 4; break;
  case DW_PERIOD_YEAR: ok = strlen(period) == 4 && sscanf(period, "%4d%c", &y, &tail) == 1; break;
  default: break;
  }
  if (!ok || y < 1970 || y > 9999 || strspn(period, "0123456789-Q") != strlen(period)) {
    static const char *const syntax[] = {"2025-04-29", "2025-04", "2025-Q2", "2025", "2025-04-29 (its last day)"};
    snprintf(why, n, "must be 'current' or look like %s for period_kind %s", syntax[kind], kind_name);
    return -1;
  }
  snprintf(out, 16, "%s", period);
  return 0;
}

static int period_kinds(const dw_api *a, const char *unit_type, const char *kind, int64_t now, dw_api_period *out,
                        char *why, size_t n) {
  memset(out, 0, sizeof *out);
  if (dw_unit_type_parse(unit_type, &out->unit_type)) {
    snprintf(why, n, "unit_type must be commune, agency, procedure or province");
    return -1;
  }
  if (dw_period_kind_parse(kind, &out->kind)) {
    snprintf(why, n, "period_kind must be day, month, quarter, year or rolling30");
    return -1;
  }
  char names[DW_PERIOD__COUNT][16];
  dw_aggregates_period_names(now, a->off, names);
  snprintf(out->cur, sizeof out->cur, "%s", names[out->kind]);
  return 0;
}

int dw_api_period_resolve(const dw_api *a, const char *unit_type, const char *kind, const char *period, int64_t now,
                          dw_api_period *out, char *why, size_t n) {
  if (period_kinds(a, unit_type, kind, now, out, why, n) ||
      period_name(kind, out->kind, out->cur, period, out->from, why, n))
    return -1;
  memcpy(out->to, out->from, sizeof out->to);
  return 0;
}

int dw_api_period_range(const dw_api *a, const char *unit_type, const char *kind, const char *from, const char *to,
                        int64_t now, dw_api_period *out, char *why, size_t n) {
  if (period_kinds(a, unit_type, kind, now, out, why, n)) return -1;
  if (out->kind == DW_PERIOD_ROLLING30) {
    snprintf(why, n, "a range of rolling30 periods is not offered (ask for day rows)");
    return -1;
  }
  char w[200];
  if (period_name(kind, out->kind, out->cur, from, out->from, w, sizeof w)) {
    snprintf(why, n, "from: %s", w);
    return -1;
  }
  if (period_name(kind, out->kind, out->cur, to, out->to, w, sizeof w)) {
    snprintf(why, n, "to: %s", w);
    return -1;
  }
  if (strcmp(out->from, out->to) > 0) {
    snprintf(why, n, "from (%s) is after to (%s)", out->from, out->to);
    return -1;
  }
  out->range = true;
  return 0;
}

/* ------------------------------------------------------- aggregate rows -- */

typedef struct rowset {
  dw_agg_row *v;
  char (*units)[64];
  size_t n;
} rowset;

static void rowset_free(rowset *rs) {
  free(rs->v);
  free(rs->units);
  memset(rs, 0, sizeof *rs);
}

/* The rows of a period (rolling30: the sums of its 30 day rows), with
 * open_overdue when the period is current. */
static int fetch_rows(dw_api *a, PGconn *c, const dw_api_period *p, const char units[][64], int nunits, rowset *rs,
                      char *err, size_t n) {
  memset(rs, 0, sizeof *rs);
  char sql[4096];
  char *arr = array_literal(units, nunits);
  const char *ut = dw_unit_type_name(p->unit_type);
  PGresult *r;
  if (p->kind == DW_PERIOD_ROLLING30) {
    int y, m, d;
    sscanf(p->from, "%d-%d-%d", &y, &m, &d);
    int64_t last = dw_days_from_civil(y, m, d);
    char first[16];
    dw_civil_from_days(last - 29, &y, &m, &d);
    snprintf(first, sizeof first, "%04d-%02d-%02d", y, m, d);
    snprintf(sql, sizeof sql,
             "SELECT unit, $3::text%s FROM aggregates WHERE unit_type = $1 AND period_kind = 'day' "
             "AND period BETWEEN $2 AND $3 AND ($4::text[] IS NULL OR unit = ANY ($4::text[])) "
             "GROUP BY unit ORDER BY unit",
             a->sums_sql);
    const char *params[4] = {ut, first, p->from, arr};
    r = dw_pg_query(c, sql, 4, params, err, n);
  } else {
    snprintf(sql, sizeof sql,
             "SELECT unit, period%s FROM aggregates WHERE unit_type = $1 AND period_kind = $2 "
             "AND period BETWEEN $3 AND $5 AND ($4::text[] IS NULL OR unit = ANY ($4::text[])) ORDER BY unit, period",
             a->counters_sql);
    const char *params[5] = {ut, dw_period_kind_name(p->kind), p->from, arr, p->to};
    r = dw_pg_query(c, sql, 5, params, err, n);
  }
  if (!r) {
    free(arr);
    return -1;
  }
  size_t rows = (size_t)PQntuples(r);
  rs->v = calloc(rows ? rows : 1, sizeof *rs->v);
  rs->units = calloc(rows ? rows : 1, sizeof *rs->units);
  if (!rs->v || !rs->units) {
    PQclear(r);
    free(arr);
    rowset_free(rs);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < rows; i++) {
    dw_agg_row *row = &rs->v[i];
    snprintf(rs->units[i], 64, "%s", PQgetvalue(r, (int)i, 0));
    row->unit = rs->units[i];
    row->unit_type = p->unit_type;
    row->period_kind = p->kind;
    snprintf(row->period, sizeof row->period, "%s", PQgetvalue(r, (int)i, 1));
    for (int k = 0; k < DW_C__COUNT; k++) row->counters[k] = strtoll(PQgetvalue(r, (int)i, k + 2), NULL, 10);
  }
  rs->n = rows;
  PQclear(r);
  bool cur_in = strcmp(p->from, p->cur) <= 0 && strcmp(p->cur, p->to) <= 0;
  if (cur_in && rows) {
    static const char *const cols[] = {"commune", "agency", "procedure", "'all'"};
    snprintf(sql, sizeof sql,
             "SELECT %s, count(*) FROM alerts WHERE cleared_at IS NULL AND rule = 'OVERDUE' "
             "AND ($1::text[] IS NULL OR %s = ANY ($1::text[])) GROUP BY 1",
             cols[p->unit_type], cols[p->unit_type]);
    const char *params[1] = {arr};
    r = dw_pg_query(c, sql, 1, params, err, n);
    if (!r) {
      free(arr);
      rowset_free(rs);
      return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
      const char *u = PQgetvalue(r, i, 0);
      for (size_t k = 0; k < rs->n; k++) /* rows are sorted by unit: a bsearch would do; n is small */
        if (strcmp(rs->units[k], u) == 0 && strcmp(rs->v[k].period, p->cur) == 0) {
          rs->v[k].open_overdue = strtoll(PQgetvalue(r, i, 1), NULL, 10);
          break;
        }
    }
    PQclear(r);
  }
  free(arr);
  return 0;
}

static void put_header(dw_buf *out, const dw_api_period *p) {
  dw_buf_puts(out, "{\"unit_type\":");
  dw_buf_json_string(out, dw_unit_type_name(p->unit_type));
  dw_buf_puts(out, ",\"period_kind\":");
  dw_buf_json_string(out, dw_period_kind_name(p->kind));
  if (p->range) {
    dw_buf_puts(out, ",\"from\":");
    dw_buf_json_string(out, p->from);
    dw_buf_puts(out, ",\"to\":");
    dw_buf_json_string(out, p->to);
  } else {
    dw_buf_puts(out, ",\"period\":");
    dw_buf_json_string(out, p->from);
  }
  dw_buf_printf(out, ",\"current\":%s", !p->range && strcmp(p->from, p->cur) == 0 ? "true" : "false");
}

int dw_api_aggregates(dw_api *a, PGconn *c, const dw_api_period *p, char units[][64], int nunits, dw_buf *out,
                      char *err, size_t n) {
  rowset rs;
  if (fetch_rows(a, c, p, units, nunits, &rs, err, n)) return -1;
  put_header(out, p);
  dw_buf_puts(out, ",\"rows\":[");
  for (size_t i = 0; i < rs.n; i++) {
    char *j = dw_out_json_aggregate(a->agg, &rs.v[i]);
    if (!j) {
      out->oom = true;
      break;
    }
    size_t jl = strlen(j);
    if (i) dw_buf_putc(out, ',');
    dw_buf_put(out, j, jl - 1); /* without its closing brace: the name follows */
    dw_buf_puts(out, ",\"name\":");
    dw_buf_json_string(out, dw_units_name(a->units, dw_unit_type_name(p->unit_type), rs.v[i].unit));
    dw_buf_putc(out, '}');
    free(j);
  }
  dw_buf_puts(out, "]}");
  rowset_free(&rs);
  return 0;
}

/* --------------------------------------------------------------- ranking -- */

static const char *const rank_keys[] = {"result_digitized_rate", "intake_digitized_rate", "on_time_rate", "online_rate",
                                        "reuse_rate", "paid_online_rate", "rating_avg", "open_overdue", "score",
                                        "score_100", NULL};

int dw_api_ranking_key_valid(const char *by) {
  for (int i = 0; rank_keys[i]; i++)
    if (strcmp(rank_keys[i], by) == 0) return 1;
  return 0;
}

typedef struct ranked {
  const dw_agg_row *row;
  dw_agg_rates r;
  double key; /* NAN: no value */
} ranked;

static double key_of(const ranked *x, const char *by) {
  const dw_agg_rates *r = &x->r;
  if (!strcmp(by, "result_digitized_rate")) return r->result_digitized_rate;
  if (!strcmp(by, "intake_digitized_rate")) return r->intake_digitized_rate;
  if (!strcmp(by, "on_time_rate")) return r->on_time_rate;
  if (!strcmp(by, "online_rate")) return r->online_rate;
  if (!strcmp(by, "reuse_rate")) return r->reuse_rate;
  if (!strcmp(by, "paid_online_rate")) return r->paid_online_rate;
  if (!strcmp(by, "rating_avg")) return r->rating_avg;
  if (!strcmp(by, "score")) return r->score;
  if (!strcmp(by, "score_100")) return r->score_100;
  return -(double)x->row->open_overdue; /* more open overdue is worse: negate so "lower is worse" holds */
}

static int cmp_ranked(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  bool na = isnan(a->key), nb = isnan(b->key);
  if (na != nb) return na ? 1 : -1; /* no value: last */
  if (!na && a->key != b->key) return a->key < b->key ? -1 : 1;
  return strcmp(a->row->unit, b->row->unit);
}

int dw_api_ranking(dw_api *a, PGconn *c, const dw_api_period *p, const char *by, bool best_first, dw_buf *out,
                   char *err, size_t n) {
  rowset rs;
  if (fetch_rows(a, c, p, NULL, 0, &rs, err, n)) return -1;
  ranked *v = calloc(rs.n ? rs.n : 1, sizeof *v);
  if (!v) {
    rowset_free(&rs);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < rs.n; i++) {
    v[i].row = &rs.v[i];
    dw_aggregates_rates(a->agg, &rs.v[i], &v[i].r);
    v[i].key = key_of(&v[i], by);
    if (best_first && !isnan(v[i].key)) v[i].key = -v[i].key;
  }
  qsort(v, rs.n, sizeof *v, cmp_ranked);
  put_header(out, p);
  dw_buf_puts(out, ",\"by\":");
  dw_buf_json_string(out, by);
  dw_buf_printf(out, ",\"order\":\"%s\",\"rows\":[", best_first ? "best_first" : "worst_first");
  size_t rank = 1;
  for (size_t i = 0; i < rs.n; i++) {
    /* competition ranking: equal values share a rank */
    if (i && !(v[i].key == v[i - 1].key || (isnan(v[i].key) && isnan(v[i - 1].key)))) rank = i + 1;
    const dw_agg_row *row = v[i].row;
    const dw_agg_rates *r = &v[i].r;
    if (i) dw_buf_putc(out, ',');
    dw_buf_printf(out, "{\"rank\":%zu,\"unit\":", rank);
    dw_buf_json_string(out, row->unit);
    dw_buf_puts(out, ",\"name\":");
    dw_buf_json_string(out, dw_units_name(a->units, dw_unit_type_name(p->unit_type), row->unit));
    dw_buf_printf(out, ",\"received\":%" PRId64 ",\"results_issued\":%" PRId64, row->counters[DW_C_RECEIVED],
                  row->counters[DW_C_RESULTS_ISSUED]);
    const char *names[] = {"result_digitized_rate", "intake_digitized_rate", "on_time_rate", "online_rate",
                           "reuse_rate", "paid_online_rate", "rating_avg"};
    const double vals[] = {r->result_digitized_rate, r->intake_digitized_rate, r->on_time_rate, r->online_rate,
                           r->reuse_rate, r->paid_online_rate, r->rating_avg};
    for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
      dw_buf_printf(out, ",\"%s\":", names[k]);
      put_2dp(out, vals[k]);
    }
    dw_buf_printf(out, ",\"open_overdue\":%" PRId64 ",\"score\":", row->open_overdue);
    put_2dp(out, r->score);
    dw_buf_puts(out, ",\"score_100\":");
    put_2dp(out, r->score_100);
    dw_buf_putc(out, '}');
  }
  dw_buf_puts(out, "]}");
  free(v);
  rowset_free(&rs);
  return 0;
}

/* ---------------------------------------------------------------- alerts -- */

int dw_api_cursor_parse(const char *s, int64_t *ms, char *id, size_t idn) {
  const char *colon = strchr(s, ':');
  if (!colon || colon == s || colon - s > 15 || strspn(s, "0123456789") != (size_t)(colon - s)) return -1;
  size_t il = strlen(colon + 1);
  if (il == 0 || il >= idn) return -1;
  for (const char *p = colon + 1; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return -1;
  *ms = strtoll(s, NULL, 10);
  memcpy(id, colon + 1, il + 1);
  return 0;
}

#define ALERT_COLS                                                                                               \
  "alert_id, rule, severity, dossier_id, commune, agency, procedure, "                                          \
  "(extract(epoch FROM raised_at) * 1000)::bigint, (extract(epoch FROM due_at) * 1000)::bigint, "               \
  "(extract(epoch FROM cleared_at) * 1000)::bigint, detail"

/* The silences in force now, to mark the alerts of a reply: loaded once per
 * request and matched in C by notify's own functions, so "silenced" here
 * means exactly "notify sends nothing for it". */
typedef struct silences {
  dw_silence *v;
  size_t n;
  int64_t now;
} silences;

static int silences_load(PGconn *c, silences *s, char *err, size_t n) {
  s->now = dw_now_ms();
  return dw_silence_load_current(c, s->now, &s->v, &s->n, err, n);
}

static void silences_free(silences *s) { dw_silences_free(s->v, s->n); }

static void put_alert(dw_buf *out, const dw_api *a, const PGresult *r, int i, const silences *sil) {
  static const char *const names[] = {"alert_id", "rule", "severity", "dossier_id", "commune", "agency", "procedure"};
  dw_buf_putc(out, '{');
  for (int k = 0; k < 7; k++) {
    dw_buf_printf(out, "%s\"%s\":", k ? "," : "", names[k]);
    dw_buf_json_string(out, PQgetvalue(r, i, k));
  }
  dw_buf_puts(out, ",\"raised_at\":");
  put_time(out, a, r, i, 7);
  dw_buf_puts(out, ",\"due_at\":");
  put_time(out, a, r, i, 8);
  dw_buf_puts(out, ",\"cleared_at\":");
  put_time(out, a, r, i, 9);
  dw_buf_puts(out, ",\"detail\":");
  dw_buf_json_string(out, PQgetvalue(r, i, 10));
  /* an open alert muted by silences in force: notify sends nothing for
   * it, the dashboard marks it */
  dw_alert probe;
  memset(&probe, 0, sizeof probe);
  bool open = PQgetisnull(r, i, 9), known = dw_rule_parse(PQgetvalue(r, i, 1), &probe.rule) == 0;
  probe.severity = strcmp(PQgetvalue(r, i, 2), "critical") == 0 ? DW_SEV_CRITICAL : DW_SEV_WARNING;
  snprintf(probe.dossier_id, sizeof probe.dossier_id, "%s", PQgetvalue(r, i, 3));
  snprintf(probe.commune, sizeof probe.commune, "%s", PQgetvalue(r, i, 4));
  snprintf(probe.agency, sizeof probe.agency, "%s", PQgetvalue(r, i, 5));
  snprintf(probe.procedure, sizeof probe.procedure, "%s", PQgetvalue(r, i, 6));
  size_t k = 0;
  dw_buf_puts(out, ",\"silenced_by\":[");
  for (size_t j = 0; open && known && j < sil->n; j++) {
    const dw_notify_silence *x = &sil->v[j].s;
    if (!dw_notify_silence_active(x, sil->now) || !dw_notify_silence_matches(x, &probe)) continue;
    if (k++) dw_buf_putc(out, ',');
    dw_buf_json_string(out, x->id);
  }
  dw_buf_printf(out, "],\"silenced\":%s}", k ? "true" : "false");
}

int dw_api_alerts(dw_api *a, PGconn *c, const dw_api_alert_query *q, dw_buf *out, char *err, size_t n) {
  char *ag = array_literal(q->agencies, q->nagencies);
  char *co = array_literal(q->communes, q->ncommunes);
  char *ru = array_literal(q->rules, q->nrules);
  char after_ms[24], limit[16];
  snprintf(after_ms, sizeof after_ms, "%lld", (long long)q->after_ms);
  snprintf(limit, sizeof limit, "%d", q->limit + 1); /* one more: is there a next page? */
  /* the state and the cursor choose fixed fragments of the statement (so
   * that the partial index of open alerts and the keyset condition are
   * visible to the planner); every value is a parameter */
  const char *state_sql = strcmp(q->state, "open") == 0      ? "cleared_at IS NULL"
                          : strcmp(q->state, "cleared") == 0 ? "cleared_at IS NOT NULL"
                                                             : "true";
  char sql[2048];
  snprintf(sql, sizeof sql,
           "SELECT " ALERT_COLS " FROM alerts WHERE %s "
           "AND ($1::text[] IS NULL OR agency = ANY ($1::text[])) "
           "AND ($2::text[] IS NULL OR commune = ANY ($2::text[])) "
           "AND ($3::text[] IS NULL OR rule = ANY ($3::text[])) "
           "AND ($4::text IS NULL OR severity = $4) %s "
           "ORDER BY raised_at DESC, alert_id DESC LIMIT $5::int",
           state_sql,
           q->has_after ? "AND (raised_at, alert_id) < ('epoch'::timestamptz + $6::bigint * interval '1 millisecond', $7::text)"
                        : "");
  const char *params[7] = {ag, co, ru, q->severity, limit, after_ms, q->after_id};
  PGresult *r = dw_pg_query(c, sql, q->has_after ? 7 : 5, params, err, n);
  free(ag);
  free(co);
  free(ru);
  if (!r) return -1;
  silences sil;
  if (silences_load(c, &sil, err, n)) {
    PQclear(r);
    return -1;
  }
  int rows = PQntuples(r), shown = rows > q->limit ? q->limit : rows;
  dw_buf_puts(out, "{\"alerts\":[");
  for (int i = 0; i < shown; i++) {
    if (i) dw_buf_putc(out, ',');
    put_alert(out, a, r, i, &sil);
  }
  silences_free(&sil);
  dw_buf_puts(out, "],\"next\":");
  if (rows > q->limit && shown > 0) {
    char cur[200];
    snprintf(cur, sizeof cur, "%s:%s", PQgetvalue(r, shown - 1, 7), PQgetvalue(r, shown - 1, 0));
    dw_buf_json_string(out, cur);
  } else {
    dw_buf_puts(out, "null");
  }
  dw_buf_putc(out, '}');
  PQclear(r);
  return 0;
}

/* --------------------------------------------------------------- dossier -- */

/* Interned names of a decoded state blob: a few strings, looked up linearly. */
typedef struct names {
  char v[16][DW_ID_MAX];
  const char *p[16];
  uint32_t n;
} names;

static uint32_t intern(void *opaque, const char *s) {
  names *nm = opaque;
  for (uint32_t i = 0; i < nm->n; i++)
    if (strcmp(nm->v[i], s) == 0) return i;
  if (nm->n == 16) return 0;
  snprintf(nm->v[nm->n], DW_ID_MAX, "%s", s);
  nm->p[nm->n] = nm->v[nm->n];
  return nm->n++;
}

/* The engine's facts of a stored state, as the timeline a reader needs. */
static void put_state(dw_buf *out, dw_api *a, const PGresult *r, char *err, size_t n) {
  size_t blen = 0;
  unsigned char *blob = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 1), &blen);
  bool tomb = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
  dw_buf_printf(out, "{\"kafka_partition\":%s,\"in_memory\":%s,\"updated_at\":", PQgetvalue(r, 0, 0),
                tomb ? "false" : "true");
  put_time(out, a, r, 0, 4);
  names nm = {.n = 0};
  intern(&nm, ""); /* id 0: the empty name */
  dw_dossier *d = (blob && !tomb) ? dw_dossier_deserialize(NULL, blob, blen, intern, &nm, err, n) : NULL;
  PQfreemem(blob);
  if (!d) {
    dw_buf_puts(out, tomb ? ",\"note\":\"left memory after closing; its events and alerts are below\"}"
                          : ",\"note\":\"stored state not readable by this version\"}");
    return;
  }
  dw_rules_cfg rc = {.cal = a->cal};
  dw_timeline *tl = malloc(sizeof *tl);
  if (!tl) {
    dw_dossier_free(NULL, d);
    dw_buf_puts(out, "}");
    return;
  }
  dw_rules_timeline(&rc, d, tl);
  int64_t now = dw_now_ms();
  bool open = d->received_at != DW_TIME_NONE && tl->close_at == DW_TIME_NONE;
  const dw_pause_ev *pv = dw_dossier_pauses(d);
  bool paused = d->n_pause > 0 && pv[d->n_pause - 1].due == DW_PAUSE_REQ && open;
  static const char *const closes[] = {NULL, "result_issued", "rejected", "withdrawn"};
  dw_buf_printf(out, ",\"open\":%s,\"paused\":%s,\"commune\":", open ? "true" : "false", paused ? "true" : "false");
  dw_buf_json_string(out, nm.v[d->commune < nm.n ? d->commune : 0]);
  dw_buf_puts(out, ",\"agency\":");
  dw_buf_json_string(out, nm.v[d->agency < nm.n ? d->agency : 0]);
  dw_buf_puts(out, ",\"procedure\":");
  dw_buf_json_string(out, nm.v[d->procedure < nm.n ? d->procedure : 0]);
  dw_buf_puts(out, ",\"channel\":");
  dw_buf_json_string(out, d->channel >= 0 ? dw_channel_name((dw_channel)d->channel) : NULL);
  const struct {
    const char *k;
    int64_t v;
  } times[] = {{"received_at", d->received_at},
               {"due_at", dw_rules_due_at(d, tl, open ? now : tl->close_at)},
               {"initial_due_at", d->base_due},
               {"digitized_at", d->digitized_at},
               {"result_issued_at", d->issued_at},
               {"result_digitized_at", d->resdig_at},
               {"returned_at", d->returned_at},
               {"closed_at", tl->close_at}};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
    dw_buf_printf(out, ",\"%s\":", times[i].k);
    put_ms(out, a, times[i].v);
  }
  dw_buf_puts(out, ",\"close\":");
  dw_buf_json_string(out, tl->close_kind > 0 && tl->close_kind < 4 ? closes[tl->close_kind] : NULL);
  /* pauses: each request with the receipt that ended it */
  dw_buf_puts(out, ",\"pauses\":[");
  int np = 0;
  for (int i = 0; i < d->n_pause; i++) {
    if (pv[i].due != DW_PAUSE_REQ) continue;
    int64_t end = DW_TIME_NONE, new_due = DW_TIME_NONE;
    if (i + 1 < d->n_pause && pv[i + 1].due != DW_PAUSE_REQ) {
      end = pv[i + 1].at;
      new_due = pv[i + 1].due;
    }
    dw_buf_printf(out, "%s{\"requested_at\":", np++ ? "," : "");
    put_ms(out, a, pv[i].at);
    dw_buf_puts(out, ",\"resumed_at\":");
    put_ms(out, a, end);
    dw_buf_puts(out, ",\"new_due_at\":");
    put_ms(out, a, new_due);
    dw_buf_putc(out, '}');
  }
  dw_buf_puts(out, "],\"apologies\":[");
  const dw_apology *ap = dw_dossier_apologies(d);
  for (int i = 0; i < d->n_apol; i++) {
    dw_buf_printf(out, "%s{\"issued_at\":", i ? "," : "");
    put_ms(out, a, ap[i].at);
    dw_buf_puts(out, ",\"promised_at\":");
    put_ms(out, a, ap[i].promised);
    dw_buf_putc(out, '}');
  }
  dw_buf_puts(out, "]}");
  free(tl);
  dw_dossier_free(NULL, d);
}

/* A dossier's archived events as the contract's JSON objects, in event
 * time, into a buffer. */
typedef struct events_out {
  dw_buf b;
  int off;
  long n;
} events_out;

static int put_event(const dw_event *ev, int32_t partition, void *opaque) {
  (void)partition;
  events_out *o = opaque;
  char *json = dw_event_to_json(ev, o->off);
  if (!json) return -1;
  if (o->n++) dw_buf_putc(&o->b, ',');
  dw_buf_puts(&o->b, json);
  free(json);
  return 0;
}

int dw_api_dossier(dw_api *a, PGconn *c, const char *id, dw_buf *out, char *err, size_t n) {
  const char *params[1] = {id};
  PGresult *st = dw_pg_query(c,
                       "SELECT kafka_partition, state, open, tombstone, (extract(epoch FROM updated_at) * 1000)::bigint "
                       "FROM dossier_state WHERE dossier_id = $1",
                       1, params, err, n);
  if (!st) return -1;
  /* the events: only this dossier's records, and only when the scope may
   * see it, cut out of the archive blocks by PostgreSQL (migration 013) */
  events_out ev = {.b = DW_BUF_INIT, .off = a->off};
  pthread_mutex_lock(&a->av_mu);
  long got = dw_archive_read_dossier_records(c, a->av, "SELECT kafka_partition, kind, record FROM dw_http_dossier_records($1)",
                                             id, put_event, &ev, NULL, err, n);
  pthread_mutex_unlock(&a->av_mu);
  PGresult *al = got >= 0 ? dw_pg_query(c, "SELECT " ALERT_COLS " FROM alerts WHERE dossier_id = $1 ORDER BY raised_at, alert_id",
                                  1, params, err, n)
                          : NULL;
  silences sil = {0};
  if (got < 0 || !al || silences_load(c, &sil, err, n)) {
    PQclear(st);
    PQclear(al);
    dw_buf_free(&ev.b);
    return -1;
  }
  int rc = 1;
  if (PQntuples(st) || ev.n || PQntuples(al)) {
    rc = 0;
    dw_buf_puts(out, "{\"dossier_id\":");
    dw_buf_json_string(out, id);
    dw_buf_puts(out, ",\"state\":");
    char why[256] = "";
    if (PQntuples(st))
      put_state(out, a, st, why, sizeof why);
    else
      dw_buf_puts(out, "null");
    dw_buf_puts(out, ",\"events\":[");
    if (ev.n) dw_buf_put(out, ev.b.data, ev.b.len);
    dw_buf_puts(out, "],\"alerts\":[");
    for (int i = 0; i < PQntuples(al); i++) {
      if (i) dw_buf_putc(out, ',');
      put_alert(out, a, al, i, &sil);
    }
    dw_buf_puts(out, "]}");
  }
  silences_free(&sil);
  dw_buf_free(&ev.b);
  PQclear(st);
  PQclear(al);
  return rc;
}

/* ----------------------------------------------------------------- units -- */

void dw_api_units(const dw_api *a, const dw_scope *scope, const char *type, dw_buf *out) {
  dw_buf_puts(out, "{\"units\":[");
  int k = 0;
  for (size_t i = 0; i < dw_units_count(a->units); i++) {
    const dw_unit *u = dw_units_at(a->units, i);
    if (type && strcmp(u->type, type) != 0) continue;
    /* the province row is the aggregates' unit "all" */
    const char *code = strcmp(u->type, "province") == 0 ? "all" : u->code;
    if (!dw_scope_covers(scope, u->type, code)) continue;
    dw_buf_puts(out, k++ ? ",{\"code\":" : "{\"code\":");
    dw_buf_json_string(out, u->code);
    dw_buf_puts(out, ",\"name\":");
    dw_buf_json_string(out, u->name);
    dw_buf_puts(out, ",\"type\":");
    dw_buf_json_string(out, u->type);
    dw_buf_puts(out, ",\"parent\":");
    dw_buf_json_string(out, u->parent[0] ? u->parent : NULL);
    dw_buf_putc(out, '}');
  }
  dw_buf_puts(out, "]}");
}
