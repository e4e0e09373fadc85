/* Unit tests: dw_rules as pure functions of a dossier's facts (timeline,
 * intervals and their visibility convention), on the real 2025 calendar,
 * with hand-computed instants; and the dossier's order-independent merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_calendar.h"
#include "dw_dossier.h"
#include "dw_rules.h"
#include "dw_time.h"

static int64_t T(const char *s) {
  int64_t ms;
  char err[128];
  if (dw_time_parse_rfc3339(s, &ms, err, sizeof err)) fail_msg("bad literal %s", s);
  return ms;
}

static const char *const names[] = {"", "AG1", "00001", "1.001612", "AG2"};
static dw_calendar *cal;
static dw_rules_cfg cfg;
static int seq;

static int setup(void **state) {
  (void)state;
  char err[256];
  cal = dw_calendar_new(dw_calendar_default_dir(), "07:30-11:30,13:30-17:00", 420, err, sizeof err);
  if (!cal) return -1;
  int64_t day = dw_calendar_day_ms(cal);
  cfg = (dw_rules_cfg){cal, day, day, day};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  dw_calendar_destroy(cal);
  return 0;
}

static void put(dw_dossier *d, dw_event_type t, const char *at, int64_t due, int flag) {
  dw_event e;
  dw_event_init(&e);
  snprintf(e.event_id, sizeof e.event_id, "ev%d", seq++);
  strcpy(e.dossier_id, d->id);
  e.type = t;
  e.occurred_at = T(at);
  e.channel = DW_CH_IN_PERSON;
  e.due_at = (t == DW_EV_SUPPLEMENT_RECEIVED) ? due : DW_TIME_NONE;
  e.new_due_at = due;
  e.digitized = flag;
  e.in_warehouse = flag;
  int64_t base = DW_TIME_NONE;
  if (t == DW_EV_RECEIVED) base = due;
  dw_dossier_ids ids = {2, 1, 3, 4};
  assert_int_equal(dw_dossier_apply(NULL, d, &e, dw_hash_stable(e.event_id), &ids, base, names), 0);
}

static void derive(const dw_dossier *d, dw_timeline *tl, dw_rule_out *o) {
  dw_rules_timeline(&cfg, d, tl);
  dw_rules_derive(&cfg, d, tl, o);
}

static void assert_t(int64_t got, const char *want) {
  if (want == NULL) {
    assert_int_equal(got, DW_TIME_NONE);
    return;
  }
  if (got != T(want)) {
    char b[40];
    dw_time_format(got, 420, b, sizeof b);
    fail_msg("got %s want %s", got == DW_TIME_NONE ? "none" : b, want);
  }
}

/* Two pauses: due moves by each paused working time; stretches and the due
 * in force at any instant follow. */
static void test_timeline(void **state) {
  (void)state;
  dw_dossier *d = dw_dossier_new(NULL, "R1", 0);
  put(d, DW_EV_RECEIVED, "2025-05-05T08:00:00+07:00", T("2025-05-08T08:00:00+07:00"), 0);
  put(d, DW_EV_SUPPLEMENT_RECEIVED, "2025-05-05T10:00:00+07:00", DW_TIME_NONE, 0); /* before any request: ignored */
  put(d, DW_EV_SUPPLEMENT_REQUESTED, "2025-05-05T09:00:00+07:00", DW_TIME_NONE, 0);
  put(d, DW_EV_SUPPLEMENT_REQUESTED, "2025-05-06T09:00:00+07:00", DW_TIME_NONE, 0);
  put(d, DW_EV_SUPPLEMENT_RECEIVED, "2025-05-06T16:00:00+07:00", DW_TIME_NONE, 0);
  /* pairs by time: [Mon 09:00, Mon 10:00) 1 h, [Tue 09:00, Tue 16:00) 5 h */
  dw_timeline tl;
  dw_rule_out o;
  derive(d, &tl, &o);
  assert_int_equal(tl.n, 3);
  assert_t(tl.s[0].due, "2025-05-08T08:00:00+07:00");
  assert_t(tl.s[1].due, "2025-05-08T09:00:00+07:00");
  /* +5 h from Thu 09:00: 2.5 h to 11:30, 2.5 h from 13:30 -> 16:00 */
  assert_t(tl.s[2].due, "2025-05-08T16:00:00+07:00");
  assert_t(dw_rules_due_at(d, &tl, T("2025-05-06T12:00:00+07:00")), "2025-05-08T09:00:00+07:00");
  assert_int_equal(o.n[DW_RULE_OVERDUE], 1);
  assert_t(o.iv[DW_RULE_OVERDUE][0].r, "2025-05-08T16:00:00+07:00");
  assert_true(o.iv[DW_RULE_OVERDUE][0].strict);
  /* DUE_SOON from Wed 16:00 (stretch start is later than due - 1 day) */
  assert_int_equal(o.n[DW_RULE_DUE_SOON], 1);
  assert_t(o.iv[DW_RULE_DUE_SOON][0].r, "2025-05-07T16:00:00+07:00");
  assert_t(o.iv[DW_RULE_DUE_SOON][0].c, "2025-05-08T16:00:00+07:00");
  dw_dossier_free(NULL, d);
}

/* Apology between the due and a later resume: APOLOGY_MISSING would be
 * cleared before it is ever observed, so it is not raised; a second apology
 * with a later promise supersedes the first one before it was missed. */
static void test_apologies(void **state) {
  (void)state;
  dw_dossier *d = dw_dossier_new(NULL, "R2", 0);
  put(d, DW_EV_RECEIVED, "2025-05-05T08:00:00+07:00", T("2025-05-06T08:00:00+07:00"), 0);
  put(d, DW_EV_SUPPLEMENT_REQUESTED, "2025-05-05T09:00:00+07:00", DW_TIME_NONE, 0);
  put(d, DW_EV_SUPPLEMENT_RECEIVED, "2025-05-08T09:00:00+07:00", T("2025-05-07T08:00:00+07:00"), 0);
  put(d, DW_EV_APOLOGY_ISSUED, "2025-05-07T10:00:00+07:00", T("2025-05-08T10:00:00+07:00"), 0);
  put(d, DW_EV_APOLOGY_ISSUED, "2025-05-08T09:30:00+07:00", T("2025-05-09T10:00:00+07:00"), 0);
  dw_timeline tl;
  dw_rule_out o;
  derive(d, &tl, &o);
  assert_int_equal(o.n[DW_RULE_OVERDUE], 1);
  assert_t(o.iv[DW_RULE_OVERDUE][0].r, "2025-05-08T09:00:00+07:00"); /* resume past due */
  assert_false(o.iv[DW_RULE_OVERDUE][0].strict);
  assert_int_equal(o.n[DW_RULE_APOLOGY_MISSING], 0);
  assert_int_equal(o.n[DW_RULE_PROMISE_MISSED], 1);
  assert_t(o.iv[DW_RULE_PROMISE_MISSED][0].r, "2025-05-09T10:00:00+07:00");
  assert_t(o.iv[DW_RULE_PROMISE_MISSED][0].ref, "2025-05-09T10:00:00+07:00");
  assert_t(o.iv[DW_RULE_PROMISE_MISSED][0].c, NULL);
  /* an apology whose promise is already past is missed at once */
  put(d, DW_EV_APOLOGY_ISSUED, "2025-05-12T09:00:00+07:00", T("2025-05-09T10:00:00+07:00"), 0);
  put(d, DW_EV_WITHDRAWN, "2025-05-13T09:00:00+07:00", DW_TIME_NONE, 0);
  derive(d, &tl, &o);
  assert_t(o.iv[DW_RULE_PROMISE_MISSED][0].r, "2025-05-09T10:00:00+07:00");
  assert_t(o.iv[DW_RULE_PROMISE_MISSED][0].c, "2025-05-13T09:00:00+07:00");
  assert_t(o.iv[DW_RULE_OVERDUE][0].c, "2025-05-13T09:00:00+07:00");
  assert_int_equal(tl.close_kind, DW_CLOSE_WITHDRAWN);
  dw_dossier_free(NULL, d);
}

/* RESULT_NOT_DIGITIZED: one interval whose severity becomes critical at the
 * return; visibility convention at its edges. */
static void test_result_interval(void **state) {
  (void)state;
  dw_dossier *d = dw_dossier_new(NULL, "R3", 0);
  put(d, DW_EV_RECEIVED, "2025-05-05T08:00:00+07:00", T("2025-05-09T08:00:00+07:00"), 0);
  put(d, DW_EV_RESULT_ISSUED, "2025-05-06T14:00:00+07:00", DW_TIME_NONE, 0);
  put(d, DW_EV_RETURNED, "2025-05-08T08:00:00+07:00", DW_TIME_NONE, 0);
  dw_timeline tl;
  dw_rule_out o;
  derive(d, &tl, &o);
  assert_int_equal(o.n[DW_RULE_RESULT_NOT_DIGITIZED], 1);
  const dw_ival *iv = &o.iv[DW_RULE_RESULT_NOT_DIGITIZED][0];
  assert_t(iv->r, "2025-05-07T14:00:00+07:00");
  assert_t(iv->sev_at, "2025-05-08T08:00:00+07:00");
  assert_false(dw_ival_raised(iv, T("2025-05-07T14:00:00+07:00")));
  assert_true(dw_ival_raised(iv, T("2025-05-07T14:00:00.001+07:00")));
  assert_int_equal(dw_ival_sev(iv, T("2025-05-08T07:59:59+07:00")), DW_SEV_WARNING);
  assert_int_equal(dw_ival_sev(iv, T("2025-05-08T08:00:00+07:00")), DW_SEV_CRITICAL);
  assert_int_equal(o.n[DW_RULE_OVERDUE], 0); /* closed before due */
  /* digitized exactly at the return: warning only, cleared then */
  put(d, DW_EV_RESULT_DIGITIZED, "2025-05-08T08:00:00+07:00", DW_TIME_NONE, 0);
  derive(d, &tl, &o);
  iv = &o.iv[DW_RULE_RESULT_NOT_DIGITIZED][0];
  assert_t(iv->sev_at, NULL);
  assert_t(iv->c, "2025-05-08T08:00:00+07:00");
  dw_dossier_free(NULL, d);
}

/* The same events in any order give the same facts. */
static void test_merge_order_independent(void **state) {
  (void)state;
  dw_dossier *a = dw_dossier_new(NULL, "M", 0), *b = dw_dossier_new(NULL, "M", 0);
  seq = 100;
  put(a, DW_EV_RECEIVED, "2025-05-05T08:00:00+07:00", T("2025-05-09T08:00:00+07:00"), 0);
  put(a, DW_EV_DIGITIZED, "2025-05-05T09:00:00+07:00", DW_TIME_NONE, 0);
  put(a, DW_EV_DIGITIZED, "2025-05-05T08:30:00+07:00", DW_TIME_NONE, 0);
  put(a, DW_EV_RESULT_ISSUED, "2025-05-06T09:00:00+07:00", DW_TIME_NONE, 1);
  put(a, DW_EV_REJECTED, "2025-05-06T08:00:00+07:00", DW_TIME_NONE, 0);
  seq = 100;
  int order[] = {4, 2, 0, 3, 1};
  const dw_event_type ty[] = {DW_EV_RECEIVED, DW_EV_DIGITIZED, DW_EV_DIGITIZED, DW_EV_RESULT_ISSUED, DW_EV_REJECTED};
  const char *at[] = {"2025-05-05T08:00:00+07:00", "2025-05-05T09:00:00+07:00", "2025-05-05T08:30:00+07:00",
                      "2025-05-06T09:00:00+07:00", "2025-05-06T08:00:00+07:00"};
  const int64_t due[] = {T("2025-05-09T08:00:00+07:00"), DW_TIME_NONE, DW_TIME_NONE, DW_TIME_NONE, DW_TIME_NONE};
  for (int k = 0; k < 5; k++) {
    seq = 100 + order[k];
    put(b, ty[order[k]], at[order[k]], due[order[k]], order[k] == 3);
  }
  assert_int_equal(a->digitized_at, b->digitized_at);
  assert_t(a->digitized_at, "2025-05-05T08:30:00+07:00");
  assert_int_equal(a->end_at, b->end_at);
  assert_int_equal(a->issued_at, b->issued_at);
  assert_int_equal(a->flags, b->flags);
  assert_int_equal(a->n_seen, 5);
  assert_memory_equal(dw_dossier_seen(a), dw_dossier_seen(b), 5 * 8);
  dw_timeline tl;
  dw_rules_timeline(&cfg, a, &tl);
  assert_int_equal(tl.close_kind, DW_CLOSE_REJECTED);
  assert_t(tl.close_at, "2025-05-06T08:00:00+07:00");
  dw_dossier_free(NULL, a);
  dw_dossier_free(NULL, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_timeline),
    cmocka_unit_test(test_apologies),
    cmocka_unit_test(test_result_interval),
    cmocka_unit_test(test_merge_order_independent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
