/* Unit tests: dw_driver, the one clock discipline (CONTRACT §4): at one
 * instant events apply before timers fire, no alert is raised and cleared
 * at the same instant, and the alert history does not depend on how the
 * events are cut into batches or how same-instant events are ordered. The
 * cases (tests/data/equal_instants, README there) cover every time rule at
 * the instant it would fire; the expected history is hand-computed. They
 * run as audit and replay drive the driver (everything, then the clock to
 * the end) and as watch --clock watermark does (chunks, the clock just
 * before the next chunk's first instant while events at it may come).
 * Also dw_keymap, the flat table of the driver's tags: against a plain
 * array through growth, deletes (backward shifts across the wrap) and a
 * retain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_calendar.h"
#include "dw_config.h"
#include "dw_driver.h"
#include "dw_hash.h"
#include "dw_reader.h"
#include "dw_time.h"

#define MAX_EVENTS 64
#define MAX_ALERTS 64

static char data_dir[1024];
static dw_event events[MAX_EVENTS];
static size_t nevents;

typedef struct row {
  char dossier[32], rule[40];
  int64_t raised, cleared;
} row;
static row expected[MAX_ALERTS];
static size_t nexpected;

static int64_t T(const char *s) {
  int64_t ms;
  char err[128];
  if (dw_time_parse_rfc3339(s, &ms, err, sizeof err)) fail_msg("bad time %s: %s", s, err);
  return ms;
}

static int setup(void **state) {
  (void)state;
  const char *src = getenv("DW_SOURCE_DIR");
  snprintf(data_dir, sizeof data_dir, "%s/tests/data/equal_instants", src && *src ? src : DW_SOURCE_DIR);
  char path[1200], err[512];
  snprintf(path, sizeof path, "%s/events.jsonl", data_dir);
  dw_reader *r = dw_reader_open(NULL, path, NULL, err, sizeof err);
  if (!r) fail_msg("%s", err);
  dw_reject rej;
  dw_read_result res;
  nevents = 0;
  while ((res = dw_reader_next(r, &events[nevents], &rej, err, sizeof err)) == DW_READ_EVENT) nevents++;
  if (res != DW_READ_END) fail_msg("%s: %s %s", path, rej.reason, err);
  dw_reader_close(r);
  snprintf(path, sizeof path, "%s/expected_history.tsv", data_dir);
  FILE *f = fopen(path, "r");
  if (!f) fail_msg("%s: cannot open", path);
  char line[512], raised[64], cleared[64];
  nexpected = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    row *x = &expected[nexpected];
    if (sscanf(line, "%31s %39s %63s %63s", x->dossier, x->rule, raised, cleared) != 4) fail_msg("bad line %s", line);
    x->raised = T(raised);
    x->cleared = strcmp(cleared, "null") == 0 ? DW_TIME_NONE : T(cleared);
    nexpected++;
  }
  fclose(f);
  return 0;
}

static int cmp_row(const void *a, const void *b) {
  const row *x = a, *y = b;
  int c = strcmp(x->dossier, y->dossier);
  if (c) return c;
  if ((c = strcmp(x->rule, y->rule))) return c;
  return x->raised < y->raised ? -1 : x->raised > y->raised;
}

/* The driver's collected alerts as sorted rows. */
static size_t history(dw_driver *d, row *out) {
  size_t n;
  const dw_alert *a = dw_driver_alerts(d, &n);
  assert_true(n <= MAX_ALERTS);
  for (size_t i = 0; i < n; i++) {
    snprintf(out[i].dossier, sizeof out[i].dossier, "%s", a[i].dossier_id);
    snprintf(out[i].rule, sizeof out[i].rule, "%s", dw_rule_name(a[i].rule));
    out[i].raised = a[i].raised_at;
    out[i].cleared = a[i].cleared_at;
    /* never raised and cleared at one instant */
    if (a[i].cleared_at != DW_TIME_NONE) assert_true(a[i].cleared_at > a[i].raised_at);
  }
  qsort(out, n, sizeof *out, cmp_row);
  return n;
}

static void assert_history(dw_driver *d, const char *how) {
  row got[MAX_ALERTS], want[MAX_ALERTS];
  size_t n = history(d, got);
  memcpy(want, expected, nexpected * sizeof *want);
  qsort(want, nexpected, sizeof *want, cmp_row);
  char a[40], b[40];
  for (size_t i = 0; i < n || i < nexpected; i++) {
    if (i >= n || i >= nexpected || cmp_row(&got[i], &want[i]) || got[i].cleared != want[i].cleared) {
      const row *x = i < n ? &got[i] : &want[i];
      dw_time_format(x->raised, 420, a, sizeof a);
      dw_time_format(x->cleared, 420, b, sizeof b);
      fail_msg("%s: alert %zu differs (%s %s %s %s; %zu got, %zu expected)", how, i, i < n ? "got" : "missing",
               x->dossier, x->rule, a, n, nexpected);
    }
  }
}

typedef struct fx {
  dw_config *cfg;
  dw_calendar *cal;
} fx;

static dw_driver *driver(fx *f) {
  char err[512];
  if (!f->cal) {
    f->cfg = dw_config_new();
    f->cal = dw_calendar_new(dw_calendar_default_dir(), "07:30-11:30,13:30-17:00", 420, err, sizeof err);
    if (!f->cal) fail_msg("calendar: %s", err);
  }
  dw_driver *d = dw_driver_new(f->cfg, f->cal, DW_CLOCK_EVENT, err, sizeof err);
  assert_non_null(d);
  return d;
}

static void fx_free(fx *f) {
  dw_calendar_destroy(f->cal);
  dw_config_destroy(f->cfg);
}

static void apply(dw_driver *d, const dw_event *e) {
  char err[256];
  dw_apply_status st = dw_driver_apply(d, e, 0, err, sizeof err);
  if (st != DW_APPLY_OK) fail_msg("apply %s: %d %s", e->event_id, st, err);
}

/* audit and replay: every event in time order, then the clock to the end. */
static void test_as_audit(void **state) {
  (void)state;
  fx f = {0};
  dw_driver *d = driver(&f);
  for (size_t i = 0; i < nevents; i++) apply(d, &events[i]);
  dw_driver_advance(d, events[nevents - 1].occurred_at);
  assert_history(d, "audit");
  dw_driver_destroy(d);
  fx_free(&f);
}

/* watch --clock watermark: chunks of k events; between chunks the clock
 * goes to just before the next chunk's first instant (events at it may
 * still come); at the end (caught up) to the last instant. */
static void test_as_watch_chunks(void **state) {
  (void)state;
  for (size_t k = 1; k <= 7; k++) {
    fx f = {0};
    dw_driver *d = driver(&f);
    for (size_t i = 0; i < nevents; i++) {
      apply(d, &events[i]);
      if ((i + 1) % k == 0 && i + 1 < nevents) dw_driver_advance_before(d, events[i + 1].occurred_at);
    }
    dw_driver_advance(d, events[nevents - 1].occurred_at);
    char how[64];
    snprintf(how, sizeof how, "watch, chunks of %zu", k);
    assert_history(d, how);
    dw_driver_destroy(d);
    fx_free(&f);
  }
}

/* Same-instant events in any order (partitions interleave): reversed
 * within each instant. */
static void test_same_instant_order(void **state) {
  (void)state;
  dw_event *rev = malloc(nevents * sizeof *rev);
  assert_non_null(rev);
  size_t i = 0;
  while (i < nevents) {
    size_t j = i;
    while (j < nevents && events[j].occurred_at == events[i].occurred_at) j++;
    for (size_t k = 0; k < j - i; k++) rev[i + k] = events[j - 1 - k];
    i = j;
  }
  fx f = {0};
  dw_driver *d = driver(&f);
  for (size_t k = 0; k < nevents; k++) apply(d, &rev[k]);
  dw_driver_advance(d, rev[nevents - 1].occurred_at);
  assert_history(d, "same-instant events reversed");
  dw_driver_destroy(d);
  fx_free(&f);
  free(rev);
}

/* The old discipline (clock to an event's instant before applying it)
 * records a DUE_SOON raised and withdrawn at one instant for EQ-A: the
 * case really is on the boundary. */
static void test_boundary_is_real(void **state) {
  (void)state;
  fx f = {0};
  dw_driver *d = driver(&f);
  for (size_t i = 0; i < nevents; i++) {
    dw_driver_advance(d, events[i].occurred_at);
    apply(d, &events[i]);
  }
  size_t n;
  const dw_alert *a = dw_driver_alerts(d, &n);
  int found = 0;
  for (size_t i = 0; i < n; i++)
    found |= strcmp(a[i].dossier_id, "EQ-A") == 0 && a[i].rule == DW_RULE_DUE_SOON && a[i].cleared_at == a[i].raised_at;
  assert_true(found);
  dw_driver_destroy(d);
  fx_free(&f);
}

/* Tags follow the dossiers into their states; a tombstone's tag is
 * forgotten after it is drained; forget drops by tag. */
static void on_row(const dw_state_row *r, void *opaque) {
  int *tags = opaque;
  if (strcmp(r->dossier_id, "EQ-A") == 0) tags[0] = r->tag;
  if (strcmp(r->dossier_id, "EQ-B") == 0) tags[1] = r->tag;
}

static int keep_tag_3(int32_t tag, void *opaque) {
  (void)opaque;
  return tag == 3;
}

static void test_tags(void **state) {
  (void)state;
  fx f = {0};
  dw_driver *d = driver(&f);
  char err[256];
  for (size_t i = 0; i < nevents; i++)
    dw_driver_apply(d, &events[i], strcmp(events[i].dossier_id, "EQ-A") == 0 ? 3 : 5, err, sizeof err);
  int tags[2] = {-9, -9};
  dw_driver_drain_states(d, on_row, tags);
  assert_int_equal(tags[0], 3);
  assert_int_equal(tags[1], 5);
  dw_driver_forget(d, keep_tag_3, NULL);
  dw_engine_stats st;
  dw_engine_stats_get(dw_driver_engine(d), &st);
  assert_int_equal(st.dossiers_in_memory, 1);
  dw_driver_stats ds;
  dw_driver_stats_get(d, &ds);
  assert_int_equal(ds.dossiers, 9);
  assert_int_equal(ds.applied, nevents);
  dw_driver_destroy(d);
  fx_free(&f);
}

static int keep_even(int32_t v, void *opaque) {
  (void)opaque;
  return v % 2 == 0;
}

static dw_mapkey key_of(int i) {
  char id[32];
  int n = snprintf(id, sizeof id, "00001-20250512-%04d", i);
  return dw_mapkey_of(id, (size_t)n);
}

static void test_keymap(void **state) {
  (void)state;
  enum { N = 20000 };
  static int32_t want[N]; /* -1: absent */
  dw_keymap m = {0};
  assert_null(dw_keymap_find(&m, key_of(1)));
  assert_int_equal(dw_keymap_del(&m, key_of(1)), 0);
  for (int i = 0; i < N; i++) {
    int created;
    int32_t *v = dw_keymap_put(&m, key_of(i), -1, &created);
    assert_non_null(v);
    assert_int_equal(created, 1);
    assert_int_equal(*v, -1);
    *v = want[i] = i;
  }
  assert_int_equal(m.n, N);
  /* every third goes; a small table would also wrap its runs, this one
   * is checked whole after each phase */
  for (int i = 0; i < N; i += 3) {
    assert_int_equal(dw_keymap_del(&m, key_of(i)), 1);
    want[i] = -1;
  }
  for (int i = 0; i < N; i++) {
    const int32_t *v = dw_keymap_find(&m, key_of(i));
    if (want[i] < 0) assert_null(v);
    else assert_true(v && *v == want[i]);
  }
  int created;
  int32_t *again = dw_keymap_put(&m, key_of(4), 0, &created); /* there: not created, value kept */
  assert_int_equal(created, 0);
  assert_int_equal(*again, 4);
  assert_int_equal(dw_keymap_retain(&m, keep_even, NULL), 0);
  for (int i = 0; i < N; i++) {
    const int32_t *v = dw_keymap_find(&m, key_of(i));
    if (want[i] < 0 || want[i] % 2) assert_null(v);
    else assert_true(v && *v == want[i]);
  }
  dw_keymap_free(&m);
  /* the shift across the wrap: in a table of 1024 slots three keys whose
   * home is the last slot (they lie at 1023, 0, 1) and one whose home is
   * slot 0 (at 2); taking the first out moves each of the others back one */
  int homed[4], nh = 0, nz = 0;
  for (int i = 0; nh < 3 || nz < 1; i++) {
    const size_t home = (size_t)key_of(i).lo & 1023;
    if (home == 1023 && nh < 3) homed[nh++] = i;
    else if (home == 0 && nz < 1) homed[3] = i, nz++;
  }
  for (int k = 0; k < 4; k++) assert_non_null(dw_keymap_put(&m, key_of(homed[k]), k, &created));
  assert_int_equal(m.cap, 1024);
  assert_true(m.v[2].lo == key_of(homed[3]).lo);
  assert_int_equal(dw_keymap_del(&m, key_of(homed[0])), 1);
  assert_true(m.v[1023].lo == key_of(homed[1]).lo && m.v[0].lo == key_of(homed[2]).lo);
  assert_true(m.v[1].lo == key_of(homed[3]).lo && m.v[2].lo == 0);
  for (int k = 1; k < 4; k++) assert_true(*dw_keymap_find(&m, key_of(homed[k])) == k);
  dw_keymap_free(&m);
  /* a table filled to half and emptied in another order */
  for (int i = 0; i < 500; i++) assert_non_null(dw_keymap_put(&m, key_of(i), i, &created));
  for (int i = 499; i >= 0; i -= 2) assert_int_equal(dw_keymap_del(&m, key_of(i)), 1);
  for (int i = 0; i < 500; i++) {
    const int32_t *v = dw_keymap_find(&m, key_of(i));
    if (i % 2) assert_null(v);
    else assert_true(v && *v == i);
  }
  for (int i = 0; i < 500; i += 2) assert_int_equal(dw_keymap_del(&m, key_of(i)), 1);
  assert_int_equal(m.n, 0);
  for (size_t i = 0; i < m.cap; i++) assert_true(m.v[i].lo == 0 && m.v[i].hi == 0);
  dw_keymap_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_as_audit),           cmocka_unit_test(test_as_watch_chunks),
    cmocka_unit_test(test_same_instant_order), cmocka_unit_test(test_boundary_is_real),
    cmocka_unit_test(test_tags),               cmocka_unit_test(test_keymap),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
