/* Unit tests: dw_engine (rules raised/cleared at hand-computed instants on
 * the real 2025 calendar, out-of-order and duplicate delivery, timers,
 * aggregates, persistence, eviction) plus a memory measurement for 100k open
 * dossiers and an events/s micro-benchmark (printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_aggregates.h"
#include "dw_calendar.h"
#include "dw_config.h"
#include "dw_engine.h"
#include "dw_time.h"

/* ---- helpers ---- */

static int64_t T(const char *s) {
  int64_t ms;
  char err[128];
  if (dw_time_parse_rfc3339(s, &ms, err, sizeof err)) fail_msg("bad time literal %s: %s", s, err);
  return ms;
}

typedef struct got_alert {
  dw_alert a;
  dw_alert_change ch;
} got_alert;

typedef struct sinkbuf {
  got_alert *v;
  int n, cap;
  int count_only; /* the benchmark only counts */
} sinkbuf;

static void sink_fn(void *opaque, const dw_alert *a, dw_alert_change ch) {
  sinkbuf *s = opaque;
  if (s->count_only) {
    s->n++;
    return;
  }
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    assert_non_null(s->v);
  }
  s->v[s->n].a = *a;
  s->v[s->n].ch = ch;
  s->n++;
}

typedef struct fx {
  dw_config *cfg;
  dw_calendar *cal;
  dw_aggregates *agg;
  dw_engine *eng;
  sinkbuf sb;
} fx;

static fx *fx_new(int with_agg) {
  fx *f = calloc(1, sizeof *f);
  char err[512];
  f->cfg = dw_config_new();
  f->cal = dw_calendar_new(dw_calendar_default_dir(), "07:30-11:30,13:30-17:00", 420, err, sizeof err);
  if (!f->cal) fail_msg("calendar: %s", err);
  if (with_agg) f->agg = dw_aggregates_new(f->cfg, 420);
  f->eng = dw_engine_new(f->cfg, f->cal, f->agg, (dw_engine_sink){sink_fn, &f->sb}, err, sizeof err);
  assert_non_null(f->eng);
  return f;
}

static void fx_free(fx *f) {
  dw_engine_destroy(f->eng);
  if (f->agg) dw_aggregates_destroy(f->agg);
  dw_calendar_destroy(f->cal);
  dw_config_destroy(f->cfg);
  free(f->sb.v);
  free(f);
}

static dw_event *ev(dw_event_type t, const char *eid, const char *did, const char *at) {
  static dw_event e;
  dw_event_init(&e);
  snprintf(e.event_id, sizeof e.event_id, "%s", eid);
  snprintf(e.dossier_id, sizeof e.dossier_id, "%s", did);
  e.type = t;
  e.occurred_at = T(at);
  strcpy(e.commune, "00001");
  strcpy(e.agency, "AG1");
  strcpy(e.procedure, "1.001612");
  if (t == DW_EV_SUPPLEMENT_REQUESTED || t == DW_EV_REJECTED) strcpy(e.reason, "x");
  if (t == DW_EV_DOC_REUSED || t == DW_EV_PAPER_REQUESTED) strcpy(e.document, "doc");
  if (t == DW_EV_RATED) e.score = 4;
  return &e;
}

static dw_event *received(const char *eid, const char *did, const char *at, dw_channel ch, int pdays) {
  dw_event *e = ev(DW_EV_RECEIVED, eid, did, at);
  e->channel = ch;
  e->processing_days = pdays;
  return e;
}

static void apply_ok(fx *f, const dw_event *e) {
  char err[256];
  dw_apply_status st = dw_engine_apply(f->eng, e, err, sizeof err);
  if (st != DW_APPLY_OK && st != DW_APPLY_SETTLED) fail_msg("apply %s: status %d %s", e->event_id, st, err);
}

/* Index of the only alert change matching (dossier, rule, change) after
 * position `from`, asserting there is exactly one. */
static const dw_alert *one(fx *f, int from, const char *did, dw_rule rule, dw_alert_change ch) {
  int found = -1, count = 0;
  for (int i = from; i < f->sb.n; i++)
    if (f->sb.v[i].ch == ch && f->sb.v[i].a.rule == rule && strcmp(f->sb.v[i].a.dossier_id, did) == 0) {
      found = i;
      count++;
    }
  if (count != 1) fail_msg("%s %s change %d: %d matches, want 1", did, dw_rule_name(rule), ch, count);
  return &f->sb.v[found].a;
}

static int count_rule(fx *f, int from, const char *did, dw_rule rule) {
  int c = 0;
  for (int i = from; i < f->sb.n; i++)
    if (f->sb.v[i].a.rule == rule && strcmp(f->sb.v[i].a.dossier_id, did) == 0) c++;
  return c;
}

static void assert_time(int64_t got, const char *want) {
  if (got != T(want)) {
    char buf[40];
    dw_time_format(got, 420, buf, sizeof buf);
    fail_msg("time %s, want %s", got == DW_TIME_NONE ? "none" : buf, want);
  }
}

typedef struct aggsum {
  int64_t c[DW_C__COUNT];
  int64_t open_overdue;
} aggsum;

static void sum_row(const dw_agg_row *row, void *opaque) {
  aggsum *s = opaque;
  if (row->unit_type != DW_UNIT_PROVINCE || row->period_kind != DW_PERIOD_YEAR) return;
  for (int i = 0; i < DW_C__COUNT; i++) s->c[i] += row->counters[i];
  s->open_overdue += row->open_overdue;
}

static aggsum totals(fx *f, int64_t now) {
  aggsum s;
  memset(&s, 0, sizeof s);
  dw_aggregates_foreach(f->agg, now, sum_row, &s);
  return s;
}

/* Replays the sink: never two open alerts for one (dossier, rule), every
 * UPDATED/CLEARED refers to the open one. Returns the number still open. */
static int check_sink_consistent(fx *f) {
  char open_ids[64][DW_ALERT_ID_MAX];
  int n = 0;
  for (int i = 0; i < f->sb.n; i++) {
    const dw_alert *a = &f->sb.v[i].a;
    int at = -1, same_rule = 0;
    for (int k = 0; k < n; k++) {
      if (strcmp(open_ids[k], a->alert_id) == 0) at = k;
      const char *p = strrchr(open_ids[k], ':');
      size_t plen = (size_t)(p - open_ids[k]);
      const char *q = strrchr(a->alert_id, ':');
      if (plen == (size_t)(q - a->alert_id) && strncmp(open_ids[k], a->alert_id, plen) == 0) same_rule++;
    }
    if (f->sb.v[i].ch == DW_ALERT_RAISED) {
      if (same_rule) fail_msg("change %d: %s raised while one is open for that dossier and rule", i, a->alert_id);
      assert_true(n < 64);
      snprintf(open_ids[n++], DW_ALERT_ID_MAX, "%s", a->alert_id);
    } else {
      if (at < 0) fail_msg("change %d: %s updated/cleared but not open", i, a->alert_id);
      if (f->sb.v[i].ch == DW_ALERT_CLEARED) {
        assert_true(a->cleared_at != DW_TIME_NONE && a->cleared_at >= a->raised_at);
        memmove(open_ids[at], open_ids[n - 1], DW_ALERT_ID_MAX);
        n--;
      }
    }
  }
  return n;
}

/* ---- rules at hand-computed instants ---- */

/* RECEIVED Mon 28 Apr 08:00 with 1 processing day: due Tue 29 Apr 08:00.
 * DUE_SOON from receipt, cleared at the due; OVERDUE and APOLOGY_MISSING
 * raised at the due (seen once now > due); an apology clears
 * APOLOGY_MISSING; PROMISE_MISSED after its promised time; the result clears
 * the rest, and counts as late. */
static void test_due_soon_overdue_apology(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("e1", "D1", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 1));
  assert_int_equal(f->sb.n, 0); /* the clock has not started */
  assert_int_equal(dw_engine_next_deadline(f->eng), T("2025-04-28T08:00:00+07:00"));

  dw_engine_advance(f->eng, T("2025-04-28T08:00:00+07:00"));
  assert_int_equal(f->sb.n, 1);
  const dw_alert *a = one(f, 0, "D1", DW_RULE_DUE_SOON, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-28T08:00:00+07:00");
  assert_time(a->due_at, "2025-04-29T08:00:00+07:00");
  assert_int_equal(a->severity, DW_SEV_WARNING);
  char id[64];
  snprintf(id, sizeof id, "D1:DUE_SOON:%lld", (long long)T("2025-04-28T08:00:00+07:00"));
  assert_string_equal(a->alert_id, id);
  assert_string_equal(a->commune, "00001");
  assert_string_equal(a->agency, "AG1");
  assert_string_equal(a->procedure, "1.001612");
  assert_int_equal(a->cleared_at, DW_TIME_NONE);

  /* at the due instant itself: no longer "soon", not yet "over" */
  dw_engine_advance(f->eng, T("2025-04-29T08:00:00+07:00"));
  assert_int_equal(f->sb.n, 2);
  assert_time(one(f, 0, "D1", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T08:00:00+07:00");

  dw_engine_advance(f->eng, T("2025-04-29T08:00:00.001+07:00"));
  assert_int_equal(f->sb.n, 4);
  a = one(f, 0, "D1", DW_RULE_OVERDUE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-29T08:00:00+07:00");
  assert_time(a->due_at, "2025-04-29T08:00:00+07:00");
  assert_int_equal(a->severity, DW_SEV_CRITICAL);
  assert_time(one(f, 0, "D1", DW_RULE_APOLOGY_MISSING, DW_ALERT_RAISED)->raised_at, "2025-04-29T08:00:00+07:00");
  assert_int_equal(totals(f, dw_engine_now(f->eng)).open_overdue, 1);

  dw_event *e = ev(DW_EV_APOLOGY_ISSUED, "e2", "D1", "2025-04-29T09:00:00+07:00");
  e->new_due_at = T("2025-04-29T15:00:00+07:00");
  apply_ok(f, e);
  assert_int_equal(f->sb.n, 4); /* it happens at 09:00, the clock is at 08:00 */
  dw_engine_advance(f->eng, T("2025-04-29T09:00:00+07:00"));
  assert_int_equal(f->sb.n, 5);
  assert_time(one(f, 0, "D1", DW_RULE_APOLOGY_MISSING, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T09:00:00+07:00");

  dw_engine_advance(f->eng, T("2025-04-29T15:00:00+07:00"));
  assert_int_equal(f->sb.n, 5);
  dw_engine_advance(f->eng, T("2025-04-29T15:00:01+07:00"));
  assert_int_equal(f->sb.n, 6);
  a = one(f, 0, "D1", DW_RULE_PROMISE_MISSED, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-29T15:00:00+07:00");

  e = ev(DW_EV_RESULT_ISSUED, "e3", "D1", "2025-04-29T16:00:00+07:00");
  e->digitized = true;
  apply_ok(f, e);
  dw_engine_advance(f->eng, T("2025-04-29T16:00:00+07:00"));
  assert_int_equal(f->sb.n, 8);
  assert_time(one(f, 0, "D1", DW_RULE_OVERDUE, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T16:00:00+07:00");
  assert_time(one(f, 0, "D1", DW_RULE_PROMISE_MISSED, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T16:00:00+07:00");

  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_RECEIVED], 1);
  assert_int_equal(s.c[DW_C_ONLINE], 1);
  assert_int_equal(s.c[DW_C_ONLINE_FULL], 1);
  assert_int_equal(s.c[DW_C_RESULTS_ISSUED], 1);
  assert_int_equal(s.c[DW_C_RESULTS_DIGITIZED], 1);
  assert_int_equal(s.c[DW_C_LATE], 1);
  assert_int_equal(s.c[DW_C_ON_TIME], 0);
  assert_int_equal(s.c[DW_C_APOLOGIES], 1);
  assert_int_equal(s.open_overdue, 0);
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.open_alerts, 0);
  assert_int_equal(st.applied, 3);
  assert_int_equal(st.dossiers_open, 0);
  fx_free(f);
}

/* 3 processing days from Tue 29 Apr 08:00: 30 Apr-2 May are off, then the
 * weekend, so Mon 5, Tue 6, Wed 7 -> due Wed 7 May 08:00. A pause Mon 5 May
 * 08:00-10:00 (2 working hours) moves it to Wed 7 May 10:00. */
static void test_due_holidays_and_pause(void **state) {
  (void)state;
  fx *f = fx_new(0);
  apply_ok(f, received("a1", "D2a", "2025-04-29T08:00:00+07:00", DW_CH_ONLINE_FULL, 3));
  apply_ok(f, received("b1", "D2b", "2025-04-29T08:00:00+07:00", DW_CH_ONLINE_FULL, 3));
  apply_ok(f, ev(DW_EV_SUPPLEMENT_REQUESTED, "b2", "D2b", "2025-05-05T08:00:00+07:00"));
  apply_ok(f, ev(DW_EV_SUPPLEMENT_RECEIVED, "b3", "D2b", "2025-05-05T10:00:00+07:00"));

  dw_engine_advance(f->eng, T("2025-05-06T09:59:59+07:00"));
  assert_time(one(f, 0, "D2a", DW_RULE_DUE_SOON, DW_ALERT_RAISED)->raised_at, "2025-05-06T08:00:00+07:00");
  assert_int_equal(count_rule(f, 0, "D2b", DW_RULE_DUE_SOON), 0);
  dw_engine_advance(f->eng, T("2025-05-06T10:00:00+07:00"));
  const dw_alert *a = one(f, 0, "D2b", DW_RULE_DUE_SOON, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-06T10:00:00+07:00");
  assert_time(a->due_at, "2025-05-07T10:00:00+07:00");

  dw_engine_advance(f->eng, T("2025-05-08T00:00:00+07:00"));
  a = one(f, 0, "D2a", DW_RULE_OVERDUE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-07T08:00:00+07:00");
  assert_time(a->due_at, "2025-05-07T08:00:00+07:00");
  a = one(f, 0, "D2b", DW_RULE_OVERDUE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-07T10:00:00+07:00");
  assert_time(a->due_at, "2025-05-07T10:00:00+07:00");
  assert_time(one(f, 0, "D2b", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-05-07T10:00:00+07:00");
  assert_time(one(f, 0, "D2b", DW_RULE_APOLOGY_MISSING, DW_ALERT_RAISED)->raised_at, "2025-05-07T10:00:00+07:00");
  fx_free(f);
}

/* DUE_SOON stays raised through a pause (no OVERDUE while paused, even past
 * the old due), is cleared at a resume whose new due_at is out of the window,
 * and raised again later; a resume with a due already past raises OVERDUE at
 * the resume. */
static void test_pause_window(void **state) {
  (void)state;
  fx *f = fx_new(0);
  apply_ok(f, received("a1", "D3", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 1));
  apply_ok(f, ev(DW_EV_SUPPLEMENT_REQUESTED, "a2", "D3", "2025-04-28T09:00:00+07:00"));
  dw_event *e = ev(DW_EV_SUPPLEMENT_RECEIVED, "a3", "D3", "2025-05-05T09:00:00+07:00");
  e->due_at = T("2025-05-09T17:00:00+07:00");
  apply_ok(f, e);
  apply_ok(f, received("b1", "D4", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 1));
  apply_ok(f, ev(DW_EV_SUPPLEMENT_REQUESTED, "b2", "D4", "2025-04-28T09:00:00+07:00"));
  e = ev(DW_EV_SUPPLEMENT_RECEIVED, "b3", "D4", "2025-05-05T09:00:00+07:00");
  e->due_at = T("2025-05-02T10:00:00+07:00");
  apply_ok(f, e);

  dw_engine_advance(f->eng, T("2025-04-29T12:00:00+07:00"));
  assert_int_equal(f->sb.n, 2); /* DUE_SOON of each, nothing else */
  assert_time(one(f, 0, "D3", DW_RULE_DUE_SOON, DW_ALERT_RAISED)->raised_at, "2025-04-28T08:00:00+07:00");

  dw_engine_advance(f->eng, T("2025-05-05T09:00:00+07:00"));
  assert_time(one(f, 0, "D3", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-05-05T09:00:00+07:00");
  assert_time(one(f, 0, "D4", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-05-05T09:00:00+07:00");
  const dw_alert *a = one(f, 0, "D4", DW_RULE_OVERDUE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-05T09:00:00+07:00");
  assert_time(a->due_at, "2025-05-02T10:00:00+07:00");
  assert_time(one(f, 0, "D4", DW_RULE_APOLOGY_MISSING, DW_ALERT_RAISED)->raised_at, "2025-05-05T09:00:00+07:00");
  int mark = f->sb.n;

  /* one working day before Fri 9 May 17:00 is Thu 8 May 17:00 */
  dw_engine_advance(f->eng, T("2025-05-08T16:59:59+07:00"));
  assert_int_equal(f->sb.n, mark);
  dw_engine_advance(f->eng, T("2025-05-08T17:00:00+07:00"));
  a = one(f, mark, "D3", DW_RULE_DUE_SOON, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-08T17:00:00+07:00");
  assert_time(a->due_at, "2025-05-09T17:00:00+07:00");
  dw_engine_advance(f->eng, T("2025-05-09T17:00:00.001+07:00"));
  assert_time(one(f, mark, "D3", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-05-09T17:00:00+07:00");
  assert_time(one(f, mark, "D3", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-05-09T17:00:00+07:00");
  fx_free(f);
}

/* An apology before the due: no APOLOGY_MISSING, but still OVERDUE (late
 * with an apology is late), and PROMISE_MISSED after new_due_at. */
static void test_apology_before_due(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("e1", "D5", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 1));
  dw_event *e = ev(DW_EV_APOLOGY_ISSUED, "e2", "D5", "2025-04-29T07:45:00+07:00");
  e->new_due_at = T("2025-04-29T16:00:00+07:00");
  apply_ok(f, e);
  dw_engine_advance(f->eng, T("2025-04-29T17:00:00+07:00"));
  assert_time(one(f, 0, "D5", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-04-29T08:00:00+07:00");
  assert_int_equal(count_rule(f, 0, "D5", DW_RULE_APOLOGY_MISSING), 0);
  assert_time(one(f, 0, "D5", DW_RULE_PROMISE_MISSED, DW_ALERT_RAISED)->raised_at, "2025-04-29T16:00:00+07:00");
  /* in time order */
  assert_int_equal(f->sb.v[0].a.rule, DW_RULE_DUE_SOON);
  assert_int_equal(f->sb.v[1].ch, DW_ALERT_CLEARED);
  assert_int_equal(f->sb.v[2].a.rule, DW_RULE_OVERDUE);
  assert_int_equal(f->sb.v[3].a.rule, DW_RULE_PROMISE_MISSED);
  e = ev(DW_EV_REJECTED, "e3", "D5", "2025-04-30T08:00:00+07:00");
  apply_ok(f, e);
  dw_engine_advance(f->eng, T("2025-04-30T08:00:00+07:00"));
  assert_time(one(f, 0, "D5", DW_RULE_OVERDUE, DW_ALERT_CLEARED)->cleared_at, "2025-04-30T08:00:00+07:00");
  assert_time(one(f, 0, "D5", DW_RULE_PROMISE_MISSED, DW_ALERT_CLEARED)->cleared_at, "2025-04-30T08:00:00+07:00");
  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_LATE], 1); /* rejected after the due */
  assert_int_equal(s.c[DW_C_RESULTS_ISSUED], 0);
  fx_free(f);
}

/* INTAKE_NOT_DIGITIZED: 1 working day after Mon 28 Apr 08:00 is Tue 29 Apr
 * 08:00; a DIGITIZED at exactly that instant is in time; ONLINE_FULL is
 * exempt. */
static void test_intake(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("a1", "D6", "2025-04-28T08:00:00+07:00", DW_CH_IN_PERSON, 10));
  apply_ok(f, received("b1", "D7", "2025-04-28T08:00:00+07:00", DW_CH_POSTAL, 10));
  apply_ok(f, ev(DW_EV_DIGITIZED, "b2", "D7", "2025-04-29T08:00:00+07:00"));
  apply_ok(f, received("c1", "D8", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 10));
  dw_engine_advance(f->eng, T("2025-04-29T08:00:00+07:00"));
  assert_int_equal(f->sb.n, 0);
  dw_engine_advance(f->eng, T("2025-04-29T08:00:00.001+07:00"));
  assert_int_equal(f->sb.n, 1);
  const dw_alert *a = one(f, 0, "D6", DW_RULE_INTAKE_NOT_DIGITIZED, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-29T08:00:00+07:00");
  assert_int_equal(a->severity, DW_SEV_WARNING);
  apply_ok(f, ev(DW_EV_DIGITIZED, "a2", "D6", "2025-04-29T10:00:00+07:00"));
  dw_engine_advance(f->eng, T("2025-04-29T10:00:00+07:00"));
  assert_time(one(f, 0, "D6", DW_RULE_INTAKE_NOT_DIGITIZED, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T10:00:00+07:00");
  assert_int_equal(count_rule(f, 0, "D7", DW_RULE_INTAKE_NOT_DIGITIZED), 0);
  assert_int_equal(count_rule(f, 0, "D8", DW_RULE_INTAKE_NOT_DIGITIZED), 0);
  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_RECEIVED], 3);
  assert_int_equal(s.c[DW_C_INTAKE_DIGITIZED], 2);
  assert_int_equal(s.c[DW_C_ONLINE_FULL], 1);
  fx_free(f);
}

/* RESULT_NOT_DIGITIZED: issued undigitized Mon 5 May 09:00 -> warning at Tue
 * 6 May 09:00, updated to critical when RETURNED Wed 7 May 10:00 (same
 * alert), cleared by RESULT_DIGITIZED Thu 8 May 08:00, after which the
 * returned dossier leaves memory. Returned before the warning: critical at
 * the return. */
static void test_result(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("a1", "D9", "2025-05-05T08:00:00+07:00", DW_CH_ONLINE_FULL, 5));
  dw_event *e = ev(DW_EV_RESULT_ISSUED, "a2", "D9", "2025-05-05T09:00:00+07:00");
  e->digitized = false;
  apply_ok(f, e);
  apply_ok(f, ev(DW_EV_RETURNED, "a3", "D9", "2025-05-07T10:00:00+07:00"));
  apply_ok(f, ev(DW_EV_RESULT_DIGITIZED, "a4", "D9", "2025-05-08T08:00:00+07:00"));
  apply_ok(f, received("b1", "D10", "2025-05-05T08:00:00+07:00", DW_CH_ONLINE_FULL, 5));
  e = ev(DW_EV_RESULT_ISSUED, "b2", "D10", "2025-05-05T09:00:00+07:00");
  apply_ok(f, e);
  apply_ok(f, ev(DW_EV_RETURNED, "b3", "D10", "2025-05-05T15:00:00+07:00"));

  dw_engine_advance(f->eng, T("2025-05-06T09:00:00+07:00"));
  const dw_alert *a = one(f, 0, "D10", DW_RULE_RESULT_NOT_DIGITIZED, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-05T15:00:00+07:00");
  assert_int_equal(a->severity, DW_SEV_CRITICAL);
  assert_int_equal(count_rule(f, 0, "D9", DW_RULE_RESULT_NOT_DIGITIZED), 0);
  dw_engine_advance(f->eng, T("2025-05-06T09:00:00.001+07:00"));
  a = one(f, 0, "D9", DW_RULE_RESULT_NOT_DIGITIZED, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-05-06T09:00:00+07:00");
  assert_int_equal(a->severity, DW_SEV_WARNING);
  char id[DW_ALERT_ID_MAX];
  snprintf(id, sizeof id, "%s", a->alert_id);
  dw_engine_advance(f->eng, T("2025-05-07T10:00:00+07:00"));
  a = one(f, 0, "D9", DW_RULE_RESULT_NOT_DIGITIZED, DW_ALERT_UPDATED);
  assert_int_equal(a->severity, DW_SEV_CRITICAL);
  assert_string_equal(a->alert_id, id);
  assert_time(a->raised_at, "2025-05-06T09:00:00+07:00");
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 2);
  dw_engine_advance(f->eng, T("2025-05-08T08:00:00+07:00"));
  a = one(f, 0, "D9", DW_RULE_RESULT_NOT_DIGITIZED, DW_ALERT_CLEARED);
  assert_time(a->cleared_at, "2025-05-08T08:00:00+07:00");
  assert_string_equal(a->alert_id, id);
  dw_engine_stats_get(f->eng, &st);
  /* returned and settled, D9 still stays for late events: both dossiers
   * stay until closed_grace_days (30) after close, then leave */
  assert_int_equal(st.dossiers_in_memory, 2);
  assert_int_equal(st.evicted, 0);
  dw_engine_advance(f->eng, T("2025-06-04T08:59:59+07:00"));
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 2);
  dw_engine_advance(f->eng, T("2025-06-04T09:00:00+07:00"));
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 0);
  assert_int_equal(st.evicted, 2);
  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_RESULTS_ISSUED], 2);
  assert_int_equal(s.c[DW_C_RESULTS_DIGITIZED], 1);
  assert_int_equal(s.c[DW_C_ON_TIME], 2);
  fx_free(f);
}

/* A late event for a dossier that already left memory (returned, result
 * rules settled) must not rebuild it: its per-dossier counters would count
 * twice (bug found by the fault suite with late events in watch). Event
 * counters still count. */
static void test_late_after_eviction(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("t1", "D20", "2025-05-05T08:00:00+07:00", DW_CH_ONLINE_FULL, 5));
  apply_ok(f, ev(DW_EV_DOC_REUSED, "t2", "D20", "2025-05-05T08:10:00+07:00"));
  dw_event *e = ev(DW_EV_RESULT_ISSUED, "t3", "D20", "2025-05-05T09:00:00+07:00");
  e->digitized = true;
  apply_ok(f, e);
  apply_ok(f, ev(DW_EV_RETURNED, "t4", "D20", "2025-05-05T10:00:00+07:00"));
  dw_engine_advance(f->eng, T("2025-06-05T10:00:00+07:00")); /* closed_grace_days after close */
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.evicted, 1);
  assert_int_equal(st.dossiers_in_memory, 0);
  /* late: an earlier DOC_REUSED and a DIGITIZED, after the eviction */
  apply_ok(f, ev(DW_EV_DOC_REUSED, "t5", "D20", "2025-05-05T08:05:00+07:00"));
  apply_ok(f, ev(DW_EV_DIGITIZED, "t6", "D20", "2025-05-05T08:20:00+07:00"));
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 0);
  assert_int_equal(st.late_after_eviction, 2);
  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_RECEIVED], 1);
  assert_int_equal(s.c[DW_C_DOSSIERS_WITH_REUSE], 1);
  assert_int_equal(s.c[DW_C_REUSED_DOCS], 2);
  assert_int_equal(s.c[DW_C_RESULTS_ISSUED], 1);
  assert_int_equal(s.c[DW_C_RESULTS_DIGITIZED], 1);
  assert_int_equal(s.c[DW_C_ON_TIME], 1);
  fx_free(f);
}

typedef struct drained {
  int rows, tombstones;
} drained;

static void count_drained(const char *id, const void *blob, size_t len, int open, void *opaque) {
  (void)open;
  drained *d = opaque;
  if (strcmp(id, "D21") != 0) return;
  d->rows++;
  d->tombstones += dw_engine_blob_is_tombstone(blob, len);
}

static dw_apply_status apply_at(fx *f, const char *eid, const char *at) {
  char err[256];
  dw_engine_advance(f->eng, T(at));
  return dw_engine_apply(f->eng, ev(DW_EV_RATED, eid, "D21", at), err, sizeof err);
}

/* A tombstone protects a dossier for closed_grace_days after it left
 * memory, by the clock, not until the tombstone table happens to grow (that
 * made the outcome of a late event depend on an engine's other dossiers:
 * replay --jobs N, watch). A dossier that left memory and came back since
 * the last drain drains once, as its state; one that left twice drains
 * once, as a tombstone (twice failed replay's primary key and watch's
 * upsert). */
static void test_tombstone_expiry(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("t1", "D21", "2025-05-05T08:00:00+07:00", DW_CH_ONLINE_FULL, 5));
  apply_ok(f, ev(DW_EV_RESULT_ISSUED, "t3", "D21", "2025-05-05T09:00:00+07:00"));
  apply_ok(f, ev(DW_EV_RETURNED, "t4", "D21", "2025-05-05T10:00:00+07:00"));
  dw_engine_advance(f->eng, T("2025-06-05T10:00:00+07:00")); /* leaves June 4, grace after close */
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.evicted, 1);
  assert_int_equal(apply_at(f, "t5", "2025-07-03T09:00:00+07:00"), DW_APPLY_SETTLED); /* within grace of leaving */
  assert_int_equal(apply_at(f, "t6", "2025-07-05T11:00:00+07:00"), DW_APPLY_OK);      /* after: made anew */
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 1);
  drained d = {0};
  dw_engine_drain_dirty(f->eng, count_drained, &d);
  assert_int_equal(d.rows, 1);
  assert_int_equal(d.tombstones, 0);
  /* the new one (no RECEIVED) leaves grace after its event, comes back
   * and leaves again, all before the next drain */
  dw_engine_advance(f->eng, T("2025-08-04T12:00:00+07:00"));
  assert_int_equal(apply_at(f, "t7", "2025-09-04T12:00:00+07:00"), DW_APPLY_OK);
  dw_engine_advance(f->eng, T("2025-10-05T12:00:00+07:00"));
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.evicted, 3);
  assert_int_equal(st.dossiers_in_memory, 0);
  d = (drained){0};
  dw_engine_drain_dirty(f->eng, count_drained, &d);
  assert_int_equal(d.rows, 1);
  assert_int_equal(d.tombstones, 1);
  fx_free(f);
}

static void test_paper_and_counters(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("a1", "D11", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_PARTIAL, 10));
  dw_event *e = ev(DW_EV_PAPER_REQUESTED, "a2", "D11", "2025-04-28T09:00:00+07:00");
  e->in_warehouse = false;
  apply_ok(f, e);
  e = ev(DW_EV_PAPER_REQUESTED, "a3", "D11", "2025-04-28T09:30:00+07:00");
  e->in_warehouse = true;
  apply_ok(f, e);
  e = ev(DW_EV_PAPER_REQUESTED, "a4", "D11", "2025-04-28T10:00:00+07:00");
  e->in_warehouse = true;
  apply_ok(f, e);
  apply_ok(f, ev(DW_EV_DOC_REUSED, "a5", "D11", "2025-04-28T08:10:00+07:00"));
  apply_ok(f, ev(DW_EV_DOC_REUSED, "a6", "D11", "2025-04-28T08:20:00+07:00"));
  e = ev(DW_EV_PAYMENT, "a7", "D11", "2025-04-28T08:30:00+07:00");
  e->online = true;
  apply_ok(f, e);
  apply_ok(f, ev(DW_EV_PAYMENT, "a8", "D11", "2025-04-28T08:31:00+07:00"));
  apply_ok(f, ev(DW_EV_RATED, "a9", "D11", "2025-04-28T08:32:00+07:00"));
  apply_ok(f, ev(DW_EV_DIGITIZED, "a10", "D11", "2025-04-28T08:05:00+07:00"));
  char err[256];
  assert_int_equal(dw_engine_apply(f->eng, ev(DW_EV_RATED, "a9", "D11", "2025-04-28T08:32:00+07:00"), err, sizeof err),
                   DW_APPLY_DUPLICATE);
  e = ev(DW_EV_RATED, "bad", "D11", "2025-04-28T08:32:00+07:00");
  e->score = 9;
  assert_int_equal(dw_engine_apply(f->eng, e, err, sizeof err), DW_APPLY_ERROR);
  assert_non_null(strstr(err, "score"));
  dw_engine_advance(f->eng, T("2025-04-28T09:30:00+07:00"));
  const dw_alert *a = one(f, 0, "D11", DW_RULE_PAPER_REQUESTED_FROM_WAREHOUSE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-28T09:30:00+07:00");
  assert_int_equal(a->severity, DW_SEV_CRITICAL);
  e = ev(DW_EV_RESULT_ISSUED, "a11", "D11", "2025-04-29T09:00:00+07:00");
  e->digitized = true;
  apply_ok(f, e);
  dw_engine_advance(f->eng, T("2025-12-31T00:00:00+07:00"));
  assert_int_equal(count_rule(f, 0, "D11", DW_RULE_PAPER_REQUESTED_FROM_WAREHOUSE), 1); /* never cleared */
  aggsum s = totals(f, dw_engine_now(f->eng));
  assert_int_equal(s.c[DW_C_PAPER_REQUESTS_FROM_WAREHOUSE], 2);
  assert_int_equal(s.c[DW_C_REUSED_DOCS], 2);
  assert_int_equal(s.c[DW_C_DOSSIERS_WITH_REUSE], 1);
  assert_int_equal(s.c[DW_C_PAID], 2);
  assert_int_equal(s.c[DW_C_PAID_ONLINE], 1);
  assert_int_equal(s.c[DW_C_RATINGS], 1);
  assert_int_equal(s.c[DW_C_RATING_SUM], 4);
  assert_int_equal(s.c[DW_C_ONLINE], 1);
  assert_int_equal(s.c[DW_C_ONLINE_FULL], 0);
  assert_int_equal(s.c[DW_C_INTAKE_DIGITIZED], 1);
  assert_int_equal(s.c[DW_C_ON_TIME], 1);
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.duplicates, 1);
  assert_int_equal(st.errors, 1);
  fx_free(f);
}

/* A late pause (Mon 28 Apr 09:00-10:00, one working hour) arrives after
 * OVERDUE was raised at the old due Tue 29 Apr 08:00: the alerts are
 * re-derived (withdrawn ones cleared now, first) and OVERDUE raised again at
 * the new due Tue 09:00. */
static void test_late_event_rederives(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("e1", "L1", "2025-04-28T08:00:00+07:00", DW_CH_ONLINE_FULL, 1));
  dw_engine_advance(f->eng, T("2025-04-29T12:00:00+07:00"));
  assert_time(one(f, 0, "L1", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-04-29T08:00:00+07:00");
  int mark = f->sb.n;
  apply_ok(f, ev(DW_EV_SUPPLEMENT_REQUESTED, "e2", "L1", "2025-04-28T09:00:00+07:00"));
  /* known so far: paused since Mon 09:00, so not overdue; DUE_SOON holds again */
  assert_int_equal(f->sb.n, mark + 3);
  const dw_alert *a = one(f, mark, "L1", DW_RULE_OVERDUE, DW_ALERT_CLEARED);
  assert_time(a->raised_at, "2025-04-29T08:00:00+07:00");
  assert_time(a->cleared_at, "2025-04-29T12:00:00+07:00");
  assert_time(one(f, mark, "L1", DW_RULE_APOLOGY_MISSING, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T12:00:00+07:00");
  assert_time(one(f, mark, "L1", DW_RULE_DUE_SOON, DW_ALERT_RAISED)->raised_at, "2025-04-28T08:00:00+07:00");
  assert_int_equal(totals(f, dw_engine_now(f->eng)).open_overdue, 0);
  mark = f->sb.n;
  apply_ok(f, ev(DW_EV_SUPPLEMENT_RECEIVED, "e3", "L1", "2025-04-28T10:00:00+07:00"));
  assert_time(one(f, mark, "L1", DW_RULE_DUE_SOON, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T09:00:00+07:00");
  a = one(f, mark, "L1", DW_RULE_OVERDUE, DW_ALERT_RAISED);
  assert_time(a->raised_at, "2025-04-29T09:00:00+07:00");
  assert_time(a->due_at, "2025-04-29T09:00:00+07:00");
  assert_time(one(f, mark, "L1", DW_RULE_APOLOGY_MISSING, DW_ALERT_RAISED)->raised_at, "2025-04-29T09:00:00+07:00");
  assert_int_equal(check_sink_consistent(f), 2);
  assert_int_equal(totals(f, dw_engine_now(f->eng)).open_overdue, 1);
  /* a late apology issued before the (new) due: APOLOGY_MISSING withdrawn */
  dw_event *e = ev(DW_EV_APOLOGY_ISSUED, "e4", "L1", "2025-04-29T08:30:00+07:00");
  e->new_due_at = T("2025-05-05T08:00:00+07:00");
  mark = f->sb.n;
  apply_ok(f, e);
  assert_time(one(f, mark, "L1", DW_RULE_APOLOGY_MISSING, DW_ALERT_CLEARED)->cleared_at, "2025-04-29T12:00:00+07:00");
  assert_int_equal(check_sink_consistent(f), 1);
  fx_free(f);
}

/* ---- out-of-order and duplicate delivery ---- */

#define NEV 20
static dw_event scen[NEV];
static int nscen;

static void scen_add(const dw_event *e) { scen[nscen++] = *e; }

static void build_scenario(void) {
  nscen = 0;
  dw_event *e;
  scen_add(received("s1", "X1", "2025-04-28T08:00:00+07:00", DW_CH_IN_PERSON, 2));
  scen_add(ev(DW_EV_DIGITIZED, "s2", "X1", "2025-04-29T09:00:00+07:00"));
  scen_add(ev(DW_EV_DOC_REUSED, "s3", "X1", "2025-04-28T08:30:00+07:00"));
  scen_add(ev(DW_EV_SUPPLEMENT_REQUESTED, "s4", "X1", "2025-04-28T10:00:00+07:00"));
  scen_add(ev(DW_EV_SUPPLEMENT_RECEIVED, "s5", "X1", "2025-04-29T10:00:00+07:00"));
  e = ev(DW_EV_TRANSFERRED, "s6", "X1", "2025-04-29T11:00:00+07:00");
  strcpy(e->to_agency, "AG2");
  scen_add(e);
  e = ev(DW_EV_APOLOGY_ISSUED, "s7", "X1", "2025-05-06T16:00:00+07:00");
  e->new_due_at = T("2025-05-08T10:00:00+07:00");
  strcpy(e->agency, "AG2"); /* after the transfer */
  scen_add(e);
  e = ev(DW_EV_PAYMENT, "s8", "X1", "2025-04-28T08:10:00+07:00");
  e->online = true;
  scen_add(e);
  e = ev(DW_EV_PAPER_REQUESTED, "s9", "X1", "2025-04-28T08:20:00+07:00");
  e->in_warehouse = true;
  scen_add(e);
  scen_add(received("t1", "X2", "2025-04-29T14:00:00+07:00", DW_CH_POSTAL, 1));
  e = ev(DW_EV_RESULT_ISSUED, "t2", "X2", "2025-05-06T09:00:00+07:00");
  scen_add(e);
  scen_add(ev(DW_EV_SUPPLEMENT_REQUESTED, "t3", "X2", "2025-05-05T08:00:00+07:00"));
  e = ev(DW_EV_SUPPLEMENT_RECEIVED, "t4", "X2", "2025-05-05T16:00:00+07:00");
  scen_add(e);
  scen_add(ev(DW_EV_RATED, "t5", "X2", "2025-05-06T10:00:00+07:00"));
  scen_add(ev(DW_EV_DIGITIZED, "t6", "X2", "2025-04-29T15:00:00+07:00"));
}

typedef struct strlist {
  char buf[8192];
  size_t len;
} strlist;

static void open_alert_line(const dw_alert *a, void *opaque) {
  strlist *s = opaque;
  s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "%s|%d|%lld|%s;", a->alert_id, a->severity,
                             (long long)a->due_at, a->agency);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Open alerts as a sorted, comparable string. */
static void open_alerts_key(fx *f, char *out, size_t n) {
  strlist s = {.len = 0};
  s.buf[0] = 0;
  dw_engine_foreach_open_alert(f->eng, open_alert_line, &s);
  char *parts[64];
  int np = 0;
  for (char *p = strtok(s.buf, ";"); p && np < 64; p = strtok(NULL, ";")) parts[np++] = p;
  qsort(parts, (size_t)np, sizeof *parts, cmp_str);
  out[0] = 0;
  for (int i = 0; i < np; i++) {
    strncat(out, parts[i], n - strlen(out) - 1);
    strncat(out, ";", n - strlen(out) - 1);
  }
}

static void agg_line(const dw_agg_row *row, void *opaque) {
  strlist *s = opaque;
  if (row->period_kind == DW_PERIOD_ROLLING30) return;
  s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "%d/%s/%d/%s:", row->unit_type, row->unit,
                             row->period_kind, row->period);
  for (int i = 0; i < DW_C__COUNT; i++)
    if (s->len < sizeof s->buf) s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "%lld,", (long long)row->counters[i]);
  if (s->len < sizeof s->buf) s->len += (size_t)snprintf(s->buf + s->len, sizeof s->buf - s->len, "oo%lld\n", (long long)row->open_overdue);
}

static unsigned rnd_state = 12345;
static unsigned rnd(void) {
  rnd_state = rnd_state * 1103515245u + 12345u;
  return (rnd_state >> 16) & 0x7fff;
}

/* mode 0: events first, then the clock; 1: the clock first (late events
 * re-derive alerts already raised); 2: mode 1 with every event twice. */
static void run_scenario(const int *order, int mode, int64_t as_of, char *alerts, size_t an, strlist *aggs) {
  fx *f = fx_new(1);
  if (mode) dw_engine_advance(f->eng, as_of);
  char err[256];
  for (int k = 0; k < nscen; k++) {
    dw_apply_status st = dw_engine_apply(f->eng, &scen[order[k]], err, sizeof err);
    assert_int_equal(st, DW_APPLY_OK);
    if (mode == 2) assert_int_equal(dw_engine_apply(f->eng, &scen[order[(k + 3) % (k + 1)]], err, sizeof err), DW_APPLY_DUPLICATE);
  }
  dw_engine_advance(f->eng, as_of);
  open_alerts_key(f, alerts, an);
  aggs->len = 0;
  aggs->buf[0] = 0;
  dw_aggregates_foreach(f->agg, as_of, agg_line, aggs);
  /* the sink saw a consistent story ending with the alerts still open */
  int open = check_sink_consistent(f);
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(open, (int)st.open_alerts);
  fx_free(f);
}

static void test_out_of_order(void **state) {
  (void)state;
  build_scenario();
  const int64_t as_ofs[] = {T("2025-04-29T12:00:00+07:00"), T("2025-05-06T12:00:00+07:00"), T("2025-05-09T12:00:00+07:00")};
  for (size_t w = 0; w < sizeof as_ofs / sizeof *as_ofs; w++) {
    int order[NEV];
    for (int i = 0; i < nscen; i++) order[i] = i;
    char want[4096], got[4096];
    static strlist wagg, gagg;
    run_scenario(order, 0, as_ofs[w], want, sizeof want, &wagg);
    assert_true(strlen(want) > 0);
    for (int perm = 0; perm < 12; perm++) {
      for (int i = nscen - 1; i > 0; i--) {
        int j = (int)(rnd() % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      run_scenario(order, perm % 3, as_ofs[w], got, sizeof got, &gagg);
      if (strcmp(want, got) != 0) fail_msg("perm %d mode %d: open alerts\n%s\nwant\n%s", perm, perm % 3, got, want);
      if (strcmp(wagg.buf, gagg.buf) != 0) fail_msg("perm %d: aggregates\n%s\nwant\n%s", perm, gagg.buf, wagg.buf);
    }
  }
  /* spot-check the final state at the last as_of: due of X1 = Mon 28 Apr
   * 08:00 + 2 days (Mon 5 May 08:00) shifted by the 1-day pause -> Tue 6 May
   * 08:00; apology after it; promise missed from Thu 8 May 10:00 */
  char got[4096];
  static strlist gagg;
  int order[NEV];
  for (int i = 0; i < nscen; i++) order[i] = i;
  run_scenario(order, 0, T("2025-05-09T12:00:00+07:00"), got, sizeof got, &gagg);
  char want[1024];
  /* X2: received Tue 29 Apr 14:00 + 1 day = Mon 5 May 14:00, paused Mon
   * 08:00-16:00 (6 working hours) -> Tue 6 May 10:30; result issued Tue
   * 09:00 undigitized -> warning from Wed 7 May 09:00. Open alerts carry the
   * dossier's current agency (AG2 after the transfer). */
  snprintf(want, sizeof want,
           "X1:OVERDUE:%lld|1|%lld|AG2;X1:PAPER_REQUESTED_FROM_WAREHOUSE:%lld|1|%lld|AG2;X1:PROMISE_MISSED:%lld|1|%lld|AG2;"
           "X2:RESULT_NOT_DIGITIZED:%lld|0|%lld|AG1;",
           (long long)T("2025-05-06T08:00:00+07:00"), (long long)T("2025-05-06T08:00:00+07:00"),
           (long long)T("2025-04-28T08:20:00+07:00"), (long long)T("2025-05-05T08:00:00+07:00"),
           (long long)T("2025-05-08T10:00:00+07:00"), (long long)T("2025-05-06T08:00:00+07:00"),
           (long long)T("2025-05-07T09:00:00+07:00"), (long long)T("2025-05-06T10:30:00+07:00"));
  assert_string_equal(got, want);
}

/* ---- timers ---- */

static void test_timers_in_order(void **state) {
  (void)state;
  fx *f = fx_new(0);
  const char *times[] = {"2025-04-28T15:00:00+07:00", "2025-04-28T08:00:00+07:00", "2025-04-29T10:00:00+07:00",
                         "2025-04-28T09:15:00+07:00", "2025-04-29T07:30:00+07:00"};
  for (int i = 0; i < 5; i++) {
    char id[16], eid[16];
    snprintf(id, sizeof id, "T%d", i);
    snprintf(eid, sizeof eid, "te%d", i);
    apply_ok(f, received(eid, id, times[i], DW_CH_ONLINE_FULL, 1));
  }
  assert_int_equal(dw_engine_next_deadline(f->eng), T("2025-04-28T08:00:00+07:00"));
  dw_engine_advance(f->eng, T("2025-05-30T00:00:00+07:00"));
  assert_int_equal(f->sb.n, 5 * 4); /* DUE_SOON raised+cleared, OVERDUE, APOLOGY_MISSING */
  int64_t last = INT64_MIN;
  for (int i = 0; i < f->sb.n; i++) {
    const dw_alert *a = &f->sb.v[i].a;
    int64_t k = f->sb.v[i].ch == DW_ALERT_CLEARED ? a->cleared_at : a->raised_at;
    assert_true(k >= last);
    last = k;
  }
  /* Mon 15:00 + 1 working day = Tue 15:00 */
  assert_time(one(f, 0, "T0", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-04-29T15:00:00+07:00");
  /* received Tue 07:30 -> the same time of day one working day later
   * (CONTRACT §3): 30 Apr-4 May off -> Mon 5 May 07:30 */
  assert_time(one(f, 0, "T4", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-05-05T07:30:00+07:00");
  /* received Tue 10:00 -> 30 Apr-4 May off -> Mon 5 May 10:00 */
  assert_time(one(f, 0, "T2", DW_RULE_OVERDUE, DW_ALERT_RAISED)->raised_at, "2025-05-05T10:00:00+07:00");
  assert_int_equal(dw_engine_next_deadline(f->eng), DW_TIME_NONE); /* open, overdue: nothing more can change */
  assert_int_equal(dw_engine_now(f->eng), T("2025-05-30T00:00:00+07:00"));
  dw_engine_advance(f->eng, T("2025-05-01T00:00:00+07:00")); /* never backwards */
  assert_int_equal(dw_engine_now(f->eng), T("2025-05-30T00:00:00+07:00"));
  fx_free(f);
}

/* ---- persistence ---- */

typedef struct blobs {
  int n, gone;
  void *b[16];
  size_t len[16];
} blobs;

static void keep_blob(const char *id, const void *blob, size_t len, int open, void *opaque) {
  (void)open;
  (void)id;
  blobs *bs = opaque;
  assert_non_null(blob);
  if (dw_engine_blob_is_tombstone(blob, len)) bs->gone++;
  bs->b[bs->n] = malloc(len);
  memcpy(bs->b[bs->n], blob, len);
  bs->len[bs->n++] = len;
}

static int keep_none(const char *id, void *opaque) {
  (void)id;
  (void)opaque;
  return 0;
}

/* A state restored as of clock T is not evaluated before T: the process
 * restoring it may start behind (its clock is the least of its partitions'
 * last commits), and the state already holds events up to T. Here: intake
 * not digitized (raised Tue 08:00, cleared by DIGITIZED Tue 09:00), then a
 * transfer to AG2 at 10:00, saved at Tue 12:00. */
static void test_restore_as_of(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("e1", "R1", "2025-04-28T08:00:00+07:00", DW_CH_IN_PERSON, 5));
  dw_engine_advance(f->eng, T("2025-04-29T08:30:00+07:00"));
  one(f, 0, "R1", DW_RULE_INTAKE_NOT_DIGITIZED, DW_ALERT_RAISED);
  apply_ok(f, ev(DW_EV_DIGITIZED, "e2", "R1", "2025-04-29T09:00:00+07:00"));
  dw_event *e = ev(DW_EV_TRANSFERRED, "e3", "R1", "2025-04-29T10:00:00+07:00");
  strcpy(e->to_agency, "AG2");
  apply_ok(f, e);
  const int64_t saved = T("2025-04-29T12:00:00+07:00");
  dw_engine_advance(f->eng, saved);
  blobs bs = {0};
  dw_engine_drain_dirty(f->eng, keep_blob, &bs);
  assert_int_equal(bs.n, 1);
  char err[256];
  /* restored as of 12:00 by a process whose clock starts at Mon 20:00:
   * nothing is told again while its clock passes 08:00 and 09:00, nor
   * after 12:00 */
  fx *g = fx_new(1);
  assert_int_equal(dw_engine_restore(g->eng, bs.b[0], bs.len[0], saved, err, sizeof err), 0);
  dw_engine_advance(g->eng, T("2025-04-28T20:00:00+07:00"));
  assert_int_equal(dw_engine_next_deadline(g->eng), saved);
  dw_engine_advance(g->eng, T("2025-04-29T08:30:00+07:00"));
  dw_engine_advance(g->eng, T("2025-04-29T12:00:00+07:00"));
  dw_engine_advance(g->eng, T("2025-04-30T12:00:00+07:00"));
  assert_int_equal(g->sb.n, 0);
  /* without as_of the same state, evaluated at 08:30, raised the alert
   * again (with the agency it has now): what watch did after a rebalance */
  fx *h = fx_new(1);
  assert_int_equal(dw_engine_restore(h->eng, bs.b[0], bs.len[0], DW_TIME_NONE, err, sizeof err), 0);
  dw_engine_advance(h->eng, T("2025-04-29T08:30:00+07:00"));
  assert_string_equal(one(h, 0, "R1", DW_RULE_INTAKE_NOT_DIGITIZED, DW_ALERT_RAISED)->agency, "AG2");
  /* as_of behind the clock: evaluated at the next advance, as before */
  fx *k = fx_new(1);
  dw_engine_advance(k->eng, T("2025-04-30T00:00:00+07:00"));
  assert_int_equal(dw_engine_restore(k->eng, bs.b[0], bs.len[0], saved, err, sizeof err), 0);
  assert_int_equal(dw_engine_next_deadline(k->eng), T("2025-04-30T00:00:00+07:00"));
  dw_engine_advance(k->eng, T("2025-04-30T01:00:00+07:00"));
  assert_int_equal(k->sb.n, 0);
  fx_free(f);
  fx_free(g);
  fx_free(h);
  fx_free(k);
  free(bs.b[0]);
}

static void test_persistence(void **state) {
  (void)state;
  fx *f = fx_new(1);
  apply_ok(f, received("e1", "P1", "2025-04-28T08:00:00+07:00", DW_CH_IN_PERSON, 1));
  dw_event *e = ev(DW_EV_SUPPLEMENT_REQUESTED, "e2", "P1", "2025-04-28T09:00:00+07:00");
  apply_ok(f, e);
  e = ev(DW_EV_SUPPLEMENT_RECEIVED, "e3", "P1", "2025-04-28T10:00:00+07:00");
  apply_ok(f, e);
  dw_engine_advance(f->eng, T("2025-04-30T08:00:00+07:00"));
  char before[4096];
  open_alerts_key(f, before, sizeof before);
  assert_non_null(strstr(before, "P1:OVERDUE:"));
  blobs bs = {0};
  dw_engine_drain_dirty(f->eng, keep_blob, &bs);
  assert_int_equal(bs.n, 1);
  blobs again = {0};
  dw_engine_drain_dirty(f->eng, keep_blob, &again);
  assert_int_equal(again.n, 0);

  fx *g = fx_new(1);
  char err[256];
  assert_int_equal(dw_engine_restore(g->eng, "D\x09", 2, DW_TIME_NONE, err, sizeof err), -1);
  assert_non_null(strstr(err, "version"));
  assert_int_equal(dw_engine_restore(g->eng, bs.b[0], bs.len[0] - 3, DW_TIME_NONE, err, sizeof err), -1);
  assert_int_equal(dw_engine_restore(g->eng, bs.b[0], bs.len[0], DW_TIME_NONE, err, sizeof err), 0);
  assert_int_equal(g->sb.n, 0);
  dw_engine_advance(g->eng, T("2025-04-30T09:00:00+07:00"));
  assert_int_equal(g->sb.n, 0); /* nothing re-raised */
  char after[4096];
  open_alerts_key(g, after, sizeof after);
  assert_string_equal(before, after);
  assert_int_equal(totals(g, dw_engine_now(g->eng)).open_overdue, 1);
  /* duplicates are still known after a restore */
  assert_int_equal(dw_engine_apply(g->eng, ev(DW_EV_SUPPLEMENT_REQUESTED, "e2", "P1", "2025-04-28T09:00:00+07:00"), err, sizeof err),
                   DW_APPLY_DUPLICATE);
  e = ev(DW_EV_WITHDRAWN, "e4", "P1", "2025-04-30T08:30:00+07:00");
  apply_ok(g, e);
  one(g, 0, "P1", DW_RULE_OVERDUE, DW_ALERT_CLEARED);
  assert_int_equal(totals(g, dw_engine_now(g->eng)).open_overdue, 0);
  dw_engine_forget(g->eng, keep_none, NULL);
  dw_engine_stats st;
  dw_engine_stats_get(g->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 0);
  assert_int_equal(st.open_alerts, 0);
  /* an evicted dossier drains as a tombstone; restored elsewhere, it still
   * stops a late event from rebuilding the dossier (and counting it again) */
  dw_engine_advance(f->eng, T("2025-04-30T08:30:00+07:00"));
  apply_ok(f, ev(DW_EV_WITHDRAWN, "e4", "P1", "2025-04-30T08:30:00+07:00"));
  dw_engine_advance(f->eng, T("2025-06-01T08:30:00+07:00"));
  int n_before = again.n;
  dw_engine_drain_dirty(f->eng, keep_blob, &again);
  assert_int_equal(again.gone, 1);
  assert_int_equal(again.n, n_before + 1);
  const void *tomb = again.b[again.n - 1];
  assert_true(dw_engine_blob_is_tombstone(tomb, again.len[again.n - 1]));
  fx *h = fx_new(1);
  assert_int_equal(dw_engine_restore(h->eng, tomb, again.len[again.n - 1] - 1, DW_TIME_NONE, err, sizeof err), -1);
  assert_int_equal(dw_engine_restore(h->eng, tomb, again.len[again.n - 1], DW_TIME_NONE, err, sizeof err), 0);
  dw_engine_advance(h->eng, T("2025-06-01T09:00:00+07:00"));
  e = ev(DW_EV_DIGITIZED, "e5", "P1", "2025-04-28T08:30:00+07:00");
  apply_ok(h, e);
  dw_engine_stats_get(h->eng, &st);
  assert_int_equal(st.dossiers_in_memory, 0);
  assert_int_equal(st.late_after_eviction, 1);
  assert_int_equal(totals(h, dw_engine_now(h->eng)).c[DW_C_INTAKE_DIGITIZED], 0);
  fx_free(h);
  for (int i = 0; i < bs.n; i++) free(bs.b[i]);
  for (int i = 0; i < again.n; i++) free(again.b[i]);
  fx_free(g);
  fx_free(f);
}

/* ---- memory and speed (printed) ---- */

static int under_valgrind(void) {
  const char *p = getenv("LD_PRELOAD");
  return p && (strstr(p, "vgpreload") || strstr(p, "valgrind"));
}

static double secs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_memory_per_dossier(void **state) {
  (void)state;
  fx *f = fx_new(0);
  const int n = under_valgrind() ? 5000 : 100000;
  int64_t t0 = T("2025-03-03T08:00:00+07:00");
  for (int i = 0; i < n; i++) {
    dw_event *e = received("", "", "2025-03-03T08:00:00+07:00", (dw_channel)(i % 4), 20);
    snprintf(e->event_id, sizeof e->event_id, "r-%08d", i);
    snprintf(e->dossier_id, sizeof e->dossier_id, "000.00.%02d.H%02d-250303-%04d", i % 97, i % 63, i % 10000);
    snprintf(e->agency, sizeof e->agency, "AG%d", i % 50);
    e->occurred_at = t0 + (int64_t)(i % 5000) * 60000;
    apply_ok(f, e);
    snprintf(e->event_id, sizeof e->event_id, "d-%08d", i);
    e->type = DW_EV_DIGITIZED;
    apply_ok(f, e);
    snprintf(e->event_id, sizeof e->event_id, "p-%08d", i);
    e->type = DW_EV_PAYMENT;
    apply_ok(f, e);
  }
  dw_engine_advance(f->eng, T("2025-03-04T12:00:00+07:00"));
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  assert_int_equal(st.dossiers_in_memory, (uint64_t)n);
  assert_int_equal(st.dossiers_open, (uint64_t)n);
  printf("engine state: %d open dossiers (3 events each), %.1f bytes/dossier (state_bytes %llu)\n", n,
         (double)st.state_bytes / n, (unsigned long long)st.state_bytes);
  assert_true(st.state_bytes / (uint64_t)n < 400);
  fx_free(f);
}

static void test_bench(void **state) {
  (void)state;
  fx *f = fx_new(1);
  f->sb.count_only = 1;
  const int nd = under_valgrind() ? 4000 : 100000; /* x 10 events */
  dw_event e;
  double s0 = secs();
  int64_t base = T("2025-03-03T08:00:00+07:00");
  long nev = 0;
  char err[256];
  for (int i = 0; i < nd; i++) {
    int64_t t = base + (int64_t)(i % 20000) * 90000;
    static const dw_event_type seq[10] = {DW_EV_RECEIVED,  DW_EV_DOC_REUSED,     DW_EV_PAYMENT,       DW_EV_DIGITIZED,
                                          DW_EV_TRANSFERRED, DW_EV_SUPPLEMENT_REQUESTED, DW_EV_SUPPLEMENT_RECEIVED,
                                          DW_EV_RESULT_ISSUED, DW_EV_RETURNED,      DW_EV_RATED};
    for (int k = 0; k < 10; k++) {
      dw_event_init(&e);
      snprintf(e.event_id, sizeof e.event_id, "b%d-%d", i, k);
      snprintf(e.dossier_id, sizeof e.dossier_id, "B%07d", i);
      e.type = seq[k];
      e.occurred_at = t + (int64_t)k * 3600000 * 5;
      snprintf(e.commune, sizeof e.commune, "%05d", 10000 + i % 300);
      snprintf(e.agency, sizeof e.agency, "AG%d", i % 40);
      strcpy(e.procedure, i % 2 ? "1.001612" : "2.000123");
      e.channel = (dw_channel)(i % 4);
      e.processing_days = 3;
      strcpy(e.document, "cccd");
      strcpy(e.reason, "missing");
      strcpy(e.to_agency, "AG99");
      e.score = 1 + i % 5;
      e.online = i % 2;
      e.digitized = i % 3 == 0;
      if (dw_engine_apply(f->eng, &e, err, sizeof err) != DW_APPLY_OK) fail_msg("bench apply: %s", err);
      nev++;
    }
    if (i % 1000 == 999) dw_engine_advance(f->eng, t);
  }
  dw_engine_advance(f->eng, T("2025-12-31T00:00:00+07:00"));
  double el = secs() - s0;
  dw_engine_stats st;
  dw_engine_stats_get(f->eng, &st);
  printf("engine bench: %ld events, %d dossiers, %.2f s, %.0f events/s (with aggregates, %llu alert changes seen, %llu evicted)\n",
         nev, nd, el, nev / el, (unsigned long long)f->sb.n, (unsigned long long)st.evicted);
  fx_free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_due_soon_overdue_apology),
    cmocka_unit_test(test_due_holidays_and_pause),
    cmocka_unit_test(test_pause_window),
    cmocka_unit_test(test_apology_before_due),
    cmocka_unit_test(test_intake),
    cmocka_unit_test(test_result),
    cmocka_unit_test(test_late_after_eviction),
    cmocka_unit_test(test_tombstone_expiry),
    cmocka_unit_test(test_paper_and_counters),
    cmocka_unit_test(test_late_event_rederives),
    cmocka_unit_test(test_out_of_order),
    cmocka_unit_test(test_timers_in_order),
    cmocka_unit_test(test_persistence), cmocka_unit_test(test_restore_as_of),
    cmocka_unit_test(test_memory_per_dossier),
    cmocka_unit_test(test_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
