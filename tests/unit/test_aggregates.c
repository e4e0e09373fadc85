/* Unit tests: dw_aggregates (period attribution in local time, rolling30,
 * open_overdue gauge, rates rounding, score, per-reader change tracking) and
 * the JSON rendering of aggregate rows and alerts (dw_out_json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_aggregates.h"
#include "dw_event.h"
#include "dw_out_json.h"
#include "dw_time.h"

/* ---- helpers ---- */

static int64_t T(const char *s) {
  int64_t ms;
  char err[128];
  assert_int_equal(dw_time_parse_rfc3339(s, &ms, err, sizeof err), 0);
  return ms;
}

typedef struct got_row {
  dw_agg_row row;
  dw_agg_row delta;
  char unit[64];
} got_row;

typedef struct got {
  got_row rows[2048];
  int n;
} got;

static void collect(const dw_agg_row *row, void *opaque) {
  got *g = opaque;
  assert_true(g->n < 2048);
  got_row *r = &g->rows[g->n++];
  r->row = *row;
  snprintf(r->unit, sizeof r->unit, "%s", row->unit);
  r->row.unit = r->unit;
}

static void collect_delta(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  got *g = opaque;
  collect(row, opaque);
  g->rows[g->n - 1].delta = *delta;
  g->rows[g->n - 1].delta.unit = g->rows[g->n - 1].unit;
}

static const got_row *find(const got *g, dw_unit_type ut, const char *unit, dw_period_kind pk, const char *period) {
  for (int i = 0; i < g->n; i++)
    if (g->rows[i].row.unit_type == ut && strcmp(g->rows[i].unit, unit) == 0 && g->rows[i].row.period_kind == pk &&
        strcmp(g->rows[i].row.period, period) == 0)
      return &g->rows[i];
  return NULL;
}

static const dw_agg_source SRC = {"26734", "UBND-26734", "1.001612"};

/* ---- periods ---- */

/* Read out before any clock exists (replay with nothing to read): no
 * overflow, nothing current (UBSan found dw_local_day(DW_TIME_NONE)). */
static void test_no_clock_yet(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  got *g = calloc(1, sizeof *g);
  dw_aggregates_foreach(agg, DW_TIME_NONE, collect, g);
  dw_aggregates_drain_changes(agg, 1, DW_TIME_NONE, collect_delta, g);
  assert_int_equal(g->n, 0);
  free(g);
  dw_aggregates_destroy(agg);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(dw_counter_name(DW_C_RECEIVED), "received");
  assert_string_equal(dw_counter_name(DW_C_PAPER_REQUESTS_FROM_WAREHOUSE), "paper_requests_from_warehouse");
  assert_string_equal(dw_counter_name(DW_C_RATING_SUM), "rating_sum");
  assert_string_equal(dw_unit_type_name(DW_UNIT_PROVINCE), "province");
  assert_string_equal(dw_period_kind_name(DW_PERIOD_ROLLING30), "rolling30");
  assert_string_equal(dw_period_kind_name(DW_PERIOD_QUARTER), "quarter");
  /* 2025-06-30T17:30Z is already 1 July locally (+07:00) */
  char names[DW_PERIOD__COUNT][16];
  dw_aggregates_period_names(T("2025-06-30T17:30:00Z"), 420, names);
  assert_string_equal(names[DW_PERIOD_DAY], "2025-07-01");
  assert_string_equal(names[DW_PERIOD_MONTH], "2025-07");
  assert_string_equal(names[DW_PERIOD_QUARTER], "2025-Q3");
  assert_string_equal(names[DW_PERIOD_YEAR], "2025");
  assert_string_equal(names[DW_PERIOD_ROLLING30], "2025-07-01");
}

static void test_periods_local_time(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  assert_non_null(agg);
  /* 2025-03-31T23:30+07:00 = 16:30Z: still March / Q1 locally */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-03-31T16:30:00Z"), 1);
  /* 2024-12-31T17:30Z = 2025-01-01T00:30+07:00: year 2025 */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2024-12-31T17:30:00Z"), 1);
  /* 2025-06-30T17:00Z = 2025-07-01T00:00+07:00: Q3 */
  dw_aggregates_add(agg, &SRC, DW_C_ONLINE, T("2025-06-30T17:00:00Z"), 1);
  static got g;
  memset(&g, 0, sizeof g);
  dw_aggregates_foreach(agg, T("2025-09-15T12:00:00+07:00"), collect, &g);

  const got_row *r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-03-31");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 1);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-01"));
  assert_non_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-03"));
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_QUARTER, "2025-Q1");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 2);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_QUARTER, "2025-Q2"));
  assert_non_null(find(&g, DW_UNIT_AGENCY, "UBND-26734", DW_PERIOD_DAY, "2025-01-01"));
  assert_null(find(&g, DW_UNIT_AGENCY, "UBND-26734", DW_PERIOD_YEAR, "2024"));
  r = find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_YEAR, "2025");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 2);
  assert_int_equal(r->row.counters[DW_C_ONLINE], 1);
  r = find(&g, DW_UNIT_PROCEDURE, "1.001612", DW_PERIOD_QUARTER, "2025-Q3");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_ONLINE], 1);
  assert_non_null(find(&g, DW_UNIT_PROCEDURE, "1.001612", DW_PERIOD_MONTH, "2025-07"));
  assert_non_null(find(&g, DW_UNIT_PROCEDURE, "1.001612", DW_PERIOD_DAY, "2025-07-01"));
  /* nothing in the 30 days up to 2025-09-15: no rolling30 rows */
  for (int i = 0; i < g.n; i++) assert_int_not_equal(g.rows[i].row.period_kind, DW_PERIOD_ROLLING30);

  /* sorted by unit_type, unit, period_kind, period */
  for (int i = 1; i < g.n; i++) {
    const dw_agg_row *a = &g.rows[i - 1].row, *b = &g.rows[i].row;
    int c = (int)a->unit_type - (int)b->unit_type;
    if (!c) c = strcmp(a->unit, b->unit);
    if (!c) c = (int)a->period_kind - (int)b->period_kind;
    if (!c) c = strcmp(a->period, b->period);
    assert_true(c < 0);
  }
  /* 4 units x (3 days + 3 months + 2 quarters + 1 year) */
  assert_int_equal(g.n, 4 * 9);
  dw_aggregates_destroy(agg);
}

static void test_other_offset(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 0);
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-03-31T23:30:00+07:00"), 1); /* 16:30Z */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-04-01T06:30:00+07:00"), 1); /* 2025-03-31T23:30Z */
  static got g;
  memset(&g, 0, sizeof g);
  dw_aggregates_foreach(agg, T("2025-12-01T00:00:00Z"), collect, &g);
  const got_row *r = find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_DAY, "2025-03-31");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 2);
  dw_aggregates_destroy(agg);
}

/* ---- rolling30 and the gauge ---- */

static void test_rolling30_and_gauge(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  int64_t now = T("2025-04-30T10:00:00+07:00");
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-04-30T08:00:00+07:00"), 1);  /* today */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-04-01T00:00:00+07:00"), 2);  /* today-29: in */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-03-31T23:59:59+07:00"), 4);  /* today-30: out */
  dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, T("2025-05-01T00:00:00+07:00"), 8);  /* after today: out */
  dw_aggregates_add(agg, &SRC, DW_C_RATINGS, T("2025-04-15T09:00:00+07:00"), 1);
  dw_aggregates_add(agg, &SRC, DW_C_RATINGS, T("2025-04-15T09:00:00+07:00"), -1); /* moved away */
  dw_aggregates_open_overdue(agg, &SRC, 1);
  dw_aggregates_open_overdue(agg, &SRC, 1);
  dw_aggregates_open_overdue(agg, &(dw_agg_source){"26735", NULL, NULL}, 1);

  static got g;
  memset(&g, 0, sizeof g);
  dw_aggregates_foreach(agg, now, collect, &g);
  const got_row *r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 3);
  assert_int_equal(r->row.open_overdue, 2);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-05-01"));
  /* the all-zero day row (count moved away) is left out */
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-15"));
  /* gauge on rows of the periods containing now only */
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-30")->row.open_overdue, 2);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-04")->row.open_overdue, 2);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_QUARTER, "2025-Q2")->row.open_overdue, 2);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_YEAR, "2025")->row.open_overdue, 2);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-01")->row.open_overdue, 0);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-05")->row.open_overdue, 0);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-03")->row.open_overdue, 0);
  assert_int_equal(find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_ROLLING30, "2025-04-30")->row.open_overdue, 3);
  /* a unit with only the gauge gets current rows with zero counters */
  r = find(&g, DW_UNIT_COMMUNE, "26735", DW_PERIOD_DAY, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->row.open_overdue, 1);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 0);
  assert_non_null(find(&g, DW_UNIT_COMMUNE, "26735", DW_PERIOD_ROLLING30, "2025-04-30"));
  assert_non_null(find(&g, DW_UNIT_COMMUNE, "26735", DW_PERIOD_YEAR, "2025"));

  /* rolling30 follows the day of now */
  memset(&g, 0, sizeof g);
  dw_aggregates_foreach(agg, T("2025-05-01T12:00:00+07:00"), collect, &g);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-05-01");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 1 + 8); /* 04-01 left the window */
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-30")->row.open_overdue, 0);
  assert_int_equal(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_QUARTER, "2025-Q2")->row.open_overdue, 2);

  dw_aggregates_open_overdue(agg, &SRC, -2);
  dw_aggregates_open_overdue(agg, &(dw_agg_source){"26735", NULL, NULL}, -1);
  memset(&g, 0, sizeof g);
  dw_aggregates_foreach(agg, now, collect, &g);
  for (int i = 0; i < g.n; i++) assert_int_equal(g.rows[i].row.open_overdue, 0);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26735", DW_PERIOD_DAY, "2025-04-30"));
  dw_aggregates_destroy(agg);
}

/* ---- rates ---- */

static dw_agg_row row_with(int64_t on_time, int64_t late) {
  dw_agg_row r;
  memset(&r, 0, sizeof r);
  r.unit = "x";
  r.counters[DW_C_ON_TIME] = on_time;
  r.counters[DW_C_LATE] = late;
  return r;
}

static double on_time_rate(const dw_aggregates *agg, int64_t num, int64_t den) {
  dw_agg_row r = row_with(num, den - num);
  dw_agg_rates out;
  dw_aggregates_rates(agg, &r, &out);
  return out.on_time_rate;
}

static void test_rates_rounding(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  /* exact equality: the result must be the double nearest the decimal */
  assert_true(on_time_rate(agg, 1, 3) == 33.33);
  assert_true(on_time_rate(agg, 2, 3) == 66.67);
  assert_true(on_time_rate(agg, 5456, 10000) == 54.56);
  assert_true(on_time_rate(agg, 2237, 10000) == 22.37);
  assert_true(on_time_rate(agg, 1, 8) == 12.5);
  assert_true(on_time_rate(agg, 1, 4000) == 0.03);  /* 0.025 -> 0.03, half away from zero */
  assert_true(on_time_rate(agg, 3, 4000) == 0.08);  /* 0.075 -> 0.08 */
  assert_true(on_time_rate(agg, 7, 1600) == 0.44);  /* 0.4375 */
  assert_true(on_time_rate(agg, 1, 1) == 100.0);
  assert_true(on_time_rate(agg, 0, 5) == 0.0);
  assert_true(on_time_rate(agg, 1, 7) == 14.29);    /* 14.2857 */
  assert_true(on_time_rate(agg, 1001, 2000) == 50.05);

  dw_agg_row r;
  memset(&r, 0, sizeof r);
  r.counters[DW_C_RECEIVED] = 10;
  r.counters[DW_C_ONLINE] = 3;
  r.counters[DW_C_ONLINE_FULL] = 2;
  r.counters[DW_C_INTAKE_DIGITIZED] = 1;
  r.counters[DW_C_RESULTS_ISSUED] = 3;
  r.counters[DW_C_RESULTS_DIGITIZED] = 1;
  r.counters[DW_C_RATINGS] = 3;
  r.counters[DW_C_RATING_SUM] = 14;
  r.counters[DW_C_DOSSIERS_WITH_REUSE] = 1;
  r.counters[DW_C_PAID] = 6;
  r.counters[DW_C_PAID_ONLINE] = 4;
  dw_agg_rates out;
  dw_aggregates_rates(agg, &r, &out);
  assert_true(isnan(out.on_time_rate));
  assert_true(out.intake_digitized_rate == 12.5); /* 1 / (10 - 2) */
  assert_true(out.result_digitized_rate == 33.33);
  assert_true(out.online_rate == 30.0);
  assert_true(out.rating_avg == 4.67); /* plain average */
  assert_true(out.reuse_rate == 10.0);
  assert_true(out.paid_online_rate == 66.67);

  /* zero (or negative) denominators give NAN, which earns no points */
  memset(&r, 0, sizeof r);
  dw_aggregates_rates(agg, &r, &out);
  assert_true(isnan(out.on_time_rate) && isnan(out.intake_digitized_rate) && isnan(out.result_digitized_rate));
  assert_true(isnan(out.online_rate) && isnan(out.rating_avg) && isnan(out.reuse_rate) &&
              isnan(out.paid_online_rate));
  assert_true(out.score == 0.0);
  assert_true(out.score_100 == 0.0);
  r.counters[DW_C_RECEIVED] = 2;
  r.counters[DW_C_ONLINE_FULL] = 2;
  dw_aggregates_rates(agg, &r, &out);
  assert_true(isnan(out.intake_digitized_rate));
  assert_true(out.online_rate == 0.0);
  dw_aggregates_destroy(agg);
}

/* ---- score ---- */

static dw_agg_row score_row(void) {
  dw_agg_row r;
  memset(&r, 0, sizeof r);
  r.counters[DW_C_ON_TIME] = 9; /* 90 % -> 20 x 0.9 = 18 */
  r.counters[DW_C_LATE] = 1;
  r.counters[DW_C_RESULTS_ISSUED] = 10; /* 80 % of threshold 80 -> 8 */
  r.counters[DW_C_RESULTS_DIGITIZED] = 8;
  r.counters[DW_C_RECEIVED] = 10;
  r.counters[DW_C_ONLINE_FULL] = 2;
  r.counters[DW_C_INTAKE_DIGITIZED] = 4;   /* 4/8 = 50 % -> 8 x 50/80 = 5 */
  r.counters[DW_C_DOSSIERS_WITH_REUSE] = 2; /* 20 % -> 6 x 20/80 = 1.5 */
  r.counters[DW_C_ONLINE] = 5;              /* 50 % -> 12 */
  r.counters[DW_C_PAID] = 4;
  r.counters[DW_C_PAID_ONLINE] = 1; /* 25 % -> 10 x 25/50 = 5 */
  r.counters[DW_C_RATINGS] = 2;
  r.counters[DW_C_RATING_SUM] = 9; /* 4.5 -> 90 -> 18 */
  return r;
}

static void test_score(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  dw_agg_row r = score_row();
  dw_agg_rates out;
  dw_aggregates_rates(agg, &r, &out);
  assert_true(out.score == 67.5);
  assert_true(out.score_100 == 82.32); /* 67.5 x 100 / 82 = 82.317 */
  dw_aggregates_destroy(agg);

  /* points and thresholds from the configuration */
  dw_config *cfg = dw_config_new();
  char err[256];
  assert_int_equal(dw_config_set(cfg, "score.timeliness.max", "0", err, sizeof err), 0);
  assert_int_equal(dw_config_set(cfg, "score.satisfaction.threshold", "100", err, sizeof err), 0);
  agg = dw_aggregates_new(cfg, 420);
  dw_aggregates_rates(agg, &r, &out);
  /* 8 + 5 + 1.5 + 12 + 5 + 18 x 0.9 = 47.7 out of 62 */
  assert_true(out.score == 47.7);
  assert_true(out.score_100 == 76.94); /* 76.935 */
  dw_aggregates_destroy(agg);

  assert_int_equal(dw_config_set(cfg, "score.online.threshold", "25", err, sizeof err), 0);
  assert_int_equal(dw_config_set(cfg, "score.reuse.max", "0", err, sizeof err), 0);
  agg = dw_aggregates_new(cfg, 420);
  dw_aggregates_rates(agg, &r, &out);
  /* 8 + 5 + 12 + 5 + 16.2 = 46.2 out of 56 */
  assert_true(out.score == 46.2);
  assert_true(out.score_100 == 82.5);
  dw_aggregates_destroy(agg);
  dw_config_destroy(cfg);

  /* perfect row: full marks, and over-threshold rates are capped */
  agg = dw_aggregates_new(NULL, 420);
  memset(&r, 0, sizeof r);
  r.counters[DW_C_ON_TIME] = 1;
  r.counters[DW_C_RESULTS_ISSUED] = r.counters[DW_C_RESULTS_DIGITIZED] = 1;
  r.counters[DW_C_RECEIVED] = r.counters[DW_C_INTAKE_DIGITIZED] = r.counters[DW_C_DOSSIERS_WITH_REUSE] = 1;
  r.counters[DW_C_ONLINE] = 1;
  r.counters[DW_C_PAID] = r.counters[DW_C_PAID_ONLINE] = 1;
  r.counters[DW_C_RATINGS] = 1;
  r.counters[DW_C_RATING_SUM] = 5;
  dw_aggregates_rates(agg, &r, &out);
  assert_true(out.score == 82.0);
  assert_true(out.score_100 == 100.0);
  dw_aggregates_destroy(agg);
}

/* ---- change tracking ---- */

static void test_change_tracking(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  int64_t day1 = T("2025-04-29T09:00:00+07:00"), day2 = T("2025-04-30T09:00:00+07:00");
  static got g;
  dw_agg_source commune_only = {"26734", NULL, NULL};

  dw_aggregates_add(agg, &commune_only, DW_C_RECEIVED, day1, 1);
  dw_aggregates_add(agg, &commune_only, DW_C_RECEIVED, day1, 1);
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day1, collect_delta, &g);
  /* 2 units x (day, month, quarter, year, rolling30) */
  assert_int_equal(g.n, 10);
  const got_row *r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-29");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 2);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 2);
  r = find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_ROLLING30, "2025-04-29");
  assert_non_null(r);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 2);

  /* nothing new for reader 0 */
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day1, collect_delta, &g);
  assert_int_equal(g.n, 0);

  /* a count moved from day1 to day2 (late event) */
  dw_aggregates_add(agg, &commune_only, DW_C_RECEIVED, day1, -1);
  dw_aggregates_add(agg, &commune_only, DW_C_RECEIVED, day2, 1);
  dw_aggregates_add(agg, &commune_only, DW_C_PAID, day2, 1);
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day2, collect_delta, &g);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-29");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 1);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], -1);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 1);
  assert_int_equal(r->delta.counters[DW_C_PAID], 1);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-04");
  assert_non_null(r);
  assert_int_equal(r->row.counters[DW_C_RECEIVED], 2);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 0);
  assert_int_equal(r->delta.counters[DW_C_PAID], 1);
  /* rolling30 of a new day: reported whole */
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 2);
  assert_int_equal(r->delta.counters[DW_C_PAID], 1);

  /* reader 1 sees everything since the start, accumulated */
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 1, day2, collect_delta, &g);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-29");
  assert_non_null(r);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 1);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-04");
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 2);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-04-29"));
  assert_non_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-04-30"));

  /* the gauge: current rows reported with open_overdue, then back to 0
   * when the period stops being current */
  dw_aggregates_open_overdue(agg, &commune_only, 1);
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day2, collect_delta, &g);
  assert_int_equal(g.n, 10);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->row.open_overdue, 1);
  assert_int_equal(r->delta.open_overdue, 1);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 0);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->delta.open_overdue, 1);
  assert_int_equal(r->delta.counters[DW_C_RECEIVED], 0);

  int64_t day3 = T("2025-05-01T09:00:00+07:00");
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day3, collect_delta, &g);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-04-30");
  assert_non_null(r);
  assert_int_equal(r->row.open_overdue, 0);
  assert_int_equal(r->delta.open_overdue, -1);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_MONTH, "2025-04");
  assert_non_null(r);
  assert_int_equal(r->delta.open_overdue, -1);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_DAY, "2025-05-01");
  assert_non_null(r);
  assert_int_equal(r->row.open_overdue, 1);
  assert_int_equal(r->delta.open_overdue, 1);
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_QUARTER, "2025-Q2")); /* unchanged */
  assert_null(find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_YEAR, "2025"));

  dw_aggregates_open_overdue(agg, &commune_only, -1);
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day3, collect_delta, &g);
  r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_YEAR, "2025");
  assert_non_null(r);
  assert_int_equal(r->delta.open_overdue, -1);
  assert_int_equal(r->row.open_overdue, 0);
  memset(&g, 0, sizeof g);
  dw_aggregates_drain_changes(agg, 0, day3, collect_delta, &g);
  assert_int_equal(g.n, 0);
  dw_aggregates_destroy(agg);
}

/* ---- JSON rendering ---- */

/* Several counters in one dw_aggregates_add_units call (the engine's
 * grouped counts) give the rows and the deltas of one call per counter;
 * zero deltas and unknown counters count nothing and create no row. */
static void test_add_units_several(void **state) {
  (void)state;
  dw_aggregates *one = dw_aggregates_new(NULL, 420), *each = dw_aggregates_new(NULL, 420);
  int64_t at = T("2025-04-29T09:00:00+07:00");
  dw_agg_units u = {{dw_aggregates_unit(one, DW_UNIT_COMMUNE, SRC.commune),
                     dw_aggregates_unit(one, DW_UNIT_AGENCY, SRC.agency),
                     dw_aggregates_unit(one, DW_UNIT_PROCEDURE, SRC.procedure),
                     dw_aggregates_unit(one, DW_UNIT_PROVINCE, "all")}};
  const dw_counter none_c[2] = {DW_C_PAID, DW_C__COUNT};
  const int64_t none_d[2] = {0, 5};
  dw_aggregates_add_units(one, &u, at, none_c, none_d, 2);
  static got a, b;
  memset(&a, 0, sizeof a);
  dw_aggregates_foreach(one, at, collect, &a);
  assert_int_equal(a.n, 0);

  const dw_counter c[4] = {DW_C_RECEIVED, DW_C_ONLINE, DW_C_PAID, DW_C_ONLINE_FULL};
  const int64_t d[4] = {1, 1, 0, -1};
  dw_aggregates_add_units(one, &u, at, c, d, 4);
  for (int k = 0; k < 4; k++) dw_aggregates_add(each, &SRC, c[k], at, d[k]);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  dw_aggregates_drain_changes(one, 0, at, collect_delta, &a);
  dw_aggregates_drain_changes(each, 0, at, collect_delta, &b);
  assert_int_equal(a.n, 4 * 5); /* 4 units x (day, month, quarter, year, rolling30) */
  assert_int_equal(a.n, b.n);
  for (int i = 0; i < a.n; i++) {
    const got_row *x = &a.rows[i];
    const got_row *y = find(&b, x->row.unit_type, x->unit, x->row.period_kind, x->row.period);
    assert_non_null(y);
    assert_memory_equal(x->row.counters, y->row.counters, sizeof x->row.counters);
    assert_memory_equal(x->delta.counters, y->delta.counters, sizeof x->delta.counters);
    assert_int_equal(x->row.counters[DW_C_RECEIVED], 1);
    assert_int_equal(x->row.counters[DW_C_ONLINE_FULL], -1);
    assert_int_equal(x->row.counters[DW_C_PAID], 0);
  }
  dw_aggregates_destroy(one);
  dw_aggregates_destroy(each);
}

static void test_json_row(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  dw_agg_row r;
  memset(&r, 0, sizeof r);
  r.unit_type = DW_UNIT_COMMUNE;
  r.unit = "26734";
  r.period_kind = DW_PERIOD_MONTH;
  snprintf(r.period, sizeof r.period, "2025-04");
  r.counters[DW_C_ON_TIME] = 5456;
  r.counters[DW_C_LATE] = 10000 - 5456;
  r.counters[DW_C_RECEIVED] = 10000;
  r.counters[DW_C_ONLINE] = 2237;
  r.counters[DW_C_RESULTS_ISSUED] = 8;
  r.counters[DW_C_RESULTS_DIGITIZED] = 1;
  r.open_overdue = 3;
  char *line = dw_out_json_aggregate(agg, &r);
  assert_non_null(line);
  assert_non_null(strstr(line, "{\"kind\":\"aggregate\",\"unit_type\":\"commune\",\"unit\":\"26734\","
                               "\"period_kind\":\"month\",\"period\":\"2025-04\",\"received\":10000,"));
  assert_non_null(strstr(line, "\"on_time_rate\":54.56,"));
  assert_non_null(strstr(line, "\"online_rate\":22.37,"));
  assert_non_null(strstr(line, "\"result_digitized_rate\":12.50,"));
  assert_non_null(strstr(line, "\"rating_avg\":null"));
  assert_non_null(strstr(line, "\"open_overdue\":3"));
  assert_non_null(strstr(line, "\"intake_digitized_rate\":0.00"));
  assert_null(strchr(line, '\n'));
  free(line);
  dw_aggregates_destroy(agg);
}

static void test_json_alert(void **state) {
  (void)state;
  dw_alert a;
  memset(&a, 0, sizeof a);
  snprintf(a.alert_id, sizeof a.alert_id, "D1:OVERDUE:1745888400000");
  a.rule = DW_RULE_OVERDUE;
  snprintf(a.dossier_id, sizeof a.dossier_id, "D\"1");
  snprintf(a.commune, sizeof a.commune, "26734");
  snprintf(a.agency, sizeof a.agency, "UBND");
  snprintf(a.procedure, sizeof a.procedure, "1.001612");
  a.severity = DW_SEV_CRITICAL;
  a.raised_at = T("2025-04-29T08:00:00+07:00");
  a.due_at = DW_TIME_NONE;
  a.cleared_at = DW_TIME_NONE;
  char *line = dw_out_json_alert(&a, 420);
  assert_non_null(line);
  assert_non_null(strstr(line, "{\"kind\":\"alert\",\"rule\":\"OVERDUE\",\"dossier_id\":\"D\\\"1\",\"commune\":\"26734\","
                               "\"agency\":\"UBND\",\"procedure\":\"1.001612\",\"severity\":\"critical\","
                               "\"raised_at\":\"2025-04-29T08:00:00+07:00\",\"due_at\":null,\"cleared_at\":null"));
  free(line);
  a.due_at = a.raised_at;
  a.cleared_at = a.raised_at + 3600000;
  line = dw_out_json_alert(&a, 420);
  assert_non_null(strstr(line, "\"due_at\":\"2025-04-29T08:00:00+07:00\",\"cleared_at\":\"2025-04-29T09:00:00+07:00\""));
  free(line);
}

/* rolling30 is kept incrementally (window slid day by day, counts added
 * inside the window, late counts before it, a jump back in time) and the
 * month/quarter/year rows are filled when read: both must equal sums
 * computed from scratch, read after read. */
static void test_incremental_sums(void **state) {
  (void)state;
  dw_aggregates *agg = dw_aggregates_new(NULL, 420);
  static got g;
  static int64_t per_day[80]; /* received per day from 2025-03-01 (local) */
  memset(per_day, 0, sizeof per_day);
  const int64_t d0 = T("2025-03-01T10:00:00+07:00"), day = 86400000;
  unsigned seed = 7;
  for (int step = 0; step < 70; step++) {
    /* a few counts today, one late (up to 40 days back), one retracted */
    for (int k = 0; k < 3; k++) {
      dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, d0 + step * day, 1);
      per_day[step]++;
    }
    seed = seed * 1103515245u + 12345u;
    int late = step - (int)((seed >> 16) % 41);
    if (late >= 0) {
      dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, d0 + late * day, 1);
      per_day[late]++;
    }
    if (step % 5 == 4 && per_day[step - 2] > 0) {
      dw_aggregates_add(agg, &SRC, DW_C_RECEIVED, d0 + (step - 2) * day, -1);
      per_day[step - 2]--;
    }
    /* read as of today, or now and then as of an earlier day */
    int as_of = step % 11 == 10 ? step - 15 : step;
    if (as_of < 0) as_of = 0;
    memset(&g, 0, sizeof g);
    if (step % 2)
      dw_aggregates_foreach(agg, d0 + as_of * day, collect, &g);
    else
      dw_aggregates_drain_changes(agg, 0, d0 + as_of * day, collect_delta, &g);
    char name[16];
    dw_time_format(d0 + as_of * day, 420, name, sizeof name);
    name[10] = 0;
    int64_t want = 0;
    for (int i = as_of - 29; i <= as_of; i++)
      if (i >= 0) want += per_day[i];
    const got_row *r = find(&g, DW_UNIT_COMMUNE, "26734", DW_PERIOD_ROLLING30, name);
    if (step % 2 || r) { /* a drain lists rolling30 only when it changed */
      assert_non_null(r);
      assert_int_equal(r->row.counters[DW_C_RECEIVED], want);
    }
    if (step % 2) { /* months: March = days 0..30, April = 31..60 */
      int64_t march = 0, april = 0;
      for (int i = 0; i < 80; i++) {
        if (i <= 30) march += per_day[i];
        else if (i <= 60) april += per_day[i];
      }
      const got_row *m = find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_MONTH, "2025-03");
      assert_non_null(m);
      assert_int_equal(m->row.counters[DW_C_RECEIVED], march);
      const got_row *a = find(&g, DW_UNIT_PROVINCE, "all", DW_PERIOD_MONTH, "2025-04");
      if (april) {
        assert_non_null(a);
        assert_int_equal(a->row.counters[DW_C_RECEIVED], april);
      }
    }
  }
  dw_aggregates_destroy(agg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_no_clock_yet),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_periods_local_time),
    cmocka_unit_test(test_other_offset),
    cmocka_unit_test(test_rolling30_and_gauge),
    cmocka_unit_test(test_incremental_sums),
    cmocka_unit_test(test_rates_rounding),
    cmocka_unit_test(test_score),
    cmocka_unit_test(test_change_tracking),
    cmocka_unit_test(test_add_units_several),
    cmocka_unit_test(test_json_row),
    cmocka_unit_test(test_json_alert),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
