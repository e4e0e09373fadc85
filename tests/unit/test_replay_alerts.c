/* Unit tests: dw_replay_alerts, a replay job's compact alert collection:
 * the latest version of each alert wins (in place when its size is the
 * same, appended and the old one skipped when not), the spill takes exactly
 * the alerts of settled dossiers, the index keeps finding alerts across its
 * growth and a spill, and every alert of several collections comes back
 * once in alert_id order; dw_keyset, the set of 64-bit keys it relies on
 * for the spilled dossiers; and dw_runs, the sorted spill under it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_hash.h"
#include "dw_replay_alerts.h"
#include "dw_runs.h"
#include "dw_time.h"

static dw_alert make(int dossier, int k, int64_t cleared, const char *detail) {
  dw_alert a;
  memset(&a, 0, sizeof a);
  snprintf(a.dossier_id, sizeof a.dossier_id, "D%05d", dossier);
  snprintf(a.alert_id, sizeof a.alert_id, "D%05d:OVERDUE:%d", dossier, k);
  snprintf(a.commune, sizeof a.commune, "00001");
  snprintf(a.agency, sizeof a.agency, "AG%d", dossier % 7);
  snprintf(a.procedure, sizeof a.procedure, "1.001612");
  snprintf(a.detail, sizeof a.detail, "%s", detail);
  a.rule = DW_RULE_OVERDUE;
  a.severity = DW_SEV_CRITICAL;
  a.raised_at = 1000 + k;
  a.due_at = 900 + k;
  a.cleared_at = cleared;
  return a;
}

typedef struct seen {
  int n, spilled_first_ok, last_dossier_settled;
  int64_t cleared[4000];
  char detail[4000][32];
  int order[4000];
} seen;

static void collect(const dw_alert *a, void *opaque) {
  seen *s = opaque;
  int d = atoi(a->dossier_id + 1);
  assert_true(d >= 0 && d < 4000);
  s->cleared[d] = a->cleared_at;
  snprintf(s->detail[d], sizeof s->detail[d], "%s", a->detail);
  s->order[s->n++] = d;
}

static int odd_settled(const char *dossier_id, void *opaque) {
  (void)opaque;
  return atoi(dossier_id + 1) % 2 == 1;
}

static void test_versions_and_spill(void **state) {
  (void)state;
  dw_ralerts *r = dw_ralerts_new();
  assert_non_null(r);
  char err[256];
  /* 3000 alerts, one per dossier (the index grows several times) */
  for (int d = 0; d < 3000; d++) {
    dw_alert a = make(d, d, DW_TIME_NONE, "due 2025-05-12");
    assert_int_equal(dw_ralerts_put(r, &a), 0);
  }
  assert_int_equal(dw_ralerts_held(r), 3000);
  /* new versions: cleared (same size: in place), and for every third one a
   * longer detail (appended, the old one superseded) */
  for (int d = 0; d < 3000; d++) {
    dw_alert a = make(d, d, 5000 + d, d % 3 ? "due 2025-05-12" : "due 2025-05-12 (withdrawn)");
    assert_int_equal(dw_ralerts_put(r, &a), 0);
  }
  assert_int_equal(dw_ralerts_held(r), 3000);
  /* the odd dossiers are settled: to the spill */
  assert_int_equal(dw_ralerts_spill(r, odd_settled, NULL, err, sizeof err), 0);
  assert_int_equal(dw_ralerts_held(r), 1500);
  assert_int_equal(dw_ralerts_spilled(r), 1500);
  /* a version after the spill, for a held one, still finds it */
  dw_alert again = make(10, 10, 7777, "due 2025-05-12");
  assert_int_equal(dw_ralerts_put(r, &again), 0);
  assert_int_equal(dw_ralerts_held(r), 1500);
  /* one of a spilled alert (its dossier made anew): held again, and the
   * later version is the one given */
  dw_alert anew = make(11, 11, 8888, "due 2025-05-12 (anew)");
  assert_int_equal(dw_ralerts_put(r, &anew), 0);
  assert_int_equal(dw_ralerts_held(r), 1501);

  seen *s = calloc(1, sizeof *s);
  assert_int_equal(dw_ralerts_each(&r, 1, collect, s, err, sizeof err), 0);
  assert_int_equal(s->n, 3000);
  for (int i = 0; i < 3000; i++) assert_int_equal(s->order[i], i); /* alert_id order, spilled and held merged */
  for (int d = 0; d < 3000; d++) {
    assert_int_equal(s->cleared[d], d == 10 ? 7777 : d == 11 ? 8888 : 5000 + d);
    assert_string_equal(s->detail[d], d == 11  ? "due 2025-05-12 (anew)"
                                      : d % 3 ? "due 2025-05-12"
                                              : "due 2025-05-12 (withdrawn)");
  }
  /* read twice: the same */
  memset(s, 0, sizeof *s);
  assert_int_equal(dw_ralerts_each(&r, 1, collect, s, err, sizeof err), 0);
  assert_int_equal(s->n, 3000);
  for (int i = 0; i < 3000; i++) assert_int_equal(s->order[i], i);
  free(s);
  dw_ralerts_destroy(r);
}

/* Two jobs' collections (their dossiers disjoint, as replay splits them)
 * come back as one sequence in alert_id order. */
static void test_each_merges_jobs(void **state) {
  (void)state;
  dw_ralerts *v[2] = {dw_ralerts_new(), dw_ralerts_new()};
  char err[256];
  for (int d = 3999; d >= 0; d--) { /* put in descending order */
    dw_alert a = make(d, d, DW_TIME_NONE, "x");
    assert_int_equal(dw_ralerts_put(v[d % 3 == 0], &a), 0);
  }
  assert_int_equal(dw_ralerts_spill(v[0], odd_settled, NULL, err, sizeof err), 0);
  seen *s = calloc(1, sizeof *s);
  assert_int_equal(dw_ralerts_each(v, 2, collect, s, err, sizeof err), 0);
  assert_int_equal(s->n, 4000);
  for (int i = 0; i < 4000; i++) assert_int_equal(s->order[i], i);
  free(s);
  dw_ralerts_destroy(v[0]);
  dw_ralerts_destroy(v[1]);
}

/* ---- dw_runs ---- */

typedef struct got {
  size_t n;
  char prev[32];
  size_t prev_len;
  uint64_t sum;
  int sorted, values_ok;
} got;

static void check_rec(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  got *g = opaque;
  size_t m = klen < g->prev_len ? klen : g->prev_len;
  int c = memcmp(g->prev, key, m);
  if (g->n && (c > 0 || (c == 0 && g->prev_len > klen))) g->sorted = 0;
  memcpy(g->prev, key, klen), g->prev_len = klen;
  /* the value repeats the key's number, then the key's length in bytes */
  char want[48];
  int wl = snprintf(want, sizeof want, "%.*s/%zu", (int)klen, (const char *)key, klen);
  if ((size_t)wl != vlen || memcmp(want, val, vlen)) g->values_ok = 0;
  g->sum += (uint64_t)strtoull((const char *)key + 1, NULL, 10);
  g->n++;
}

static void put_key(dw_runs *r, uint64_t x) {
  char key[32], val[48];
  int kl = snprintf(key, sizeof key, "k%llu", (unsigned long long)x); /* keys of several lengths */
  int vl = snprintf(val, sizeof val, "%s/%d", key, kl);
  char err[256];
  assert_int_equal(dw_runs_put(r, key, (size_t)kl, val, (size_t)vl, err, sizeof err), 0);
}

/* Many runs (a budget of 4 KiB), two sets, read twice, records put in
 * between: every record once, in byte order of the keys. */
static void test_runs_merge(void **state) {
  (void)state;
  dw_runs *v[2] = {dw_runs_new("test-runs", 4096), dw_runs_new("test-runs", 4096)};
  uint64_t x = 12345, sum = 0;
  for (int i = 0; i < 20000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t k = (x >> 33) % 1000000;
    put_key(v[i % 2], k);
    sum += k;
  }
  assert_true(dw_runs_on_disk(v[0]) > 9000 && dw_runs_on_disk(v[0]) < 10000); /* most went to runs */
  char err[256];
  for (int pass = 0; pass < 2; pass++) {
    got g = {.sorted = 1, .values_ok = 1};
    assert_int_equal(dw_runs_each(v, 2, check_rec, &g, err, sizeof err), 0);
    assert_int_equal(g.n, 20000);
    assert_true(g.sorted);
    assert_true(g.values_ok);
    assert_true(g.sum == sum);
  }
  put_key(v[1], 7);
  got g = {.sorted = 1, .values_ok = 1};
  assert_int_equal(dw_runs_each(v, 2, check_rec, &g, err, sizeof err), 0);
  assert_int_equal(g.n, 20001);
  assert_true(g.sorted);
  assert_int_equal(dw_runs_count(v[0]) + dw_runs_count(v[1]), 20001);
  dw_runs_destroy(v[0]);
  dw_runs_destroy(v[1]);
  /* nothing put: nothing given */
  dw_runs *e = dw_runs_new("test-runs", 4096);
  got none = {.sorted = 1, .values_ok = 1};
  assert_int_equal(dw_runs_each(&e, 1, check_rec, &none, err, sizeof err), 0);
  assert_int_equal(none.n, 0);
  dw_runs_destroy(e);
}

typedef struct dups {
  int n, last, in_order;
} dups;

static void check_dup(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  dups *d = opaque;
  if (klen != 3 || memcmp(key, "dup", 3)) return;
  char v[16];
  snprintf(v, sizeof v, "%.*s", (int)vlen, (const char *)val);
  int x = atoi(v);
  if (x != d->last + 1) d->in_order = 0;
  d->last = x, d->n++;
}

/* Records of one key, put across several runs and the held ones, come
 * back in the order they were put. */
static void test_runs_equal_keys(void **state) {
  (void)state;
  dw_runs *r = dw_runs_new("test-runs", 512);
  char err[256], v[16];
  for (int i = 1; i <= 50; i++) {
    int n = snprintf(v, sizeof v, "%d", i);
    assert_int_equal(dw_runs_put(r, "dup", 3, v, (size_t)n, err, sizeof err), 0);
    for (int k = 0; k < 5; k++) put_key(r, (uint64_t)(i * 7 + k));
  }
  assert_true(dw_runs_on_disk(r) > 0);
  dups d = {.in_order = 1};
  assert_int_equal(dw_runs_each(&r, 1, check_dup, &d, err, sizeof err), 0);
  assert_int_equal(d.n, 50);
  assert_true(d.in_order);
  dw_runs_destroy(r);
}

/* A run that cannot be written fails the put, naming TMPDIR and why. */
static void test_runs_unwritable(void **state) {
  (void)state;
  const char *old = getenv("TMPDIR");
  char *saved = old ? strdup(old) : NULL;
  setenv("TMPDIR", "/nonexistent-dir-dw", 1);
  dw_runs *r = dw_runs_new("test-runs", 256);
  char err[256] = "";
  int rc = 0;
  for (int i = 0; i < 100 && rc == 0; i++) rc = dw_runs_put(r, "key", 3, "value", 5, err, sizeof err);
  assert_int_equal(rc, -1);
  assert_non_null(strstr(err, "TMPDIR /nonexistent-dir-dw"));
  assert_non_null(strstr(err, "No such file"));
  dw_runs_destroy(r);
  if (saved) setenv("TMPDIR", saved, 1), free(saved);
  else unsetenv("TMPDIR");
}

static void test_keyset(void **state) {
  (void)state;
  dw_keyset k = {0};
  assert_false(dw_keyset_has(&k, 7));
  for (uint64_t i = 1; i <= 5000; i++) assert_int_equal(dw_keyset_add(&k, i * 0x9e3779b97f4a7c15ULL), 1);
  for (uint64_t i = 1; i <= 5000; i++) {
    assert_true(dw_keyset_has(&k, i * 0x9e3779b97f4a7c15ULL));
    assert_int_equal(dw_keyset_add(&k, i * 0x9e3779b97f4a7c15ULL), 0);
  }
  assert_false(dw_keyset_has(&k, 5001 * 0x9e3779b97f4a7c15ULL));
  assert_int_equal(k.n, 5000);
  dw_keyset_free(&k);
  assert_false(dw_keyset_has(&k, 0x9e3779b97f4a7c15ULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_versions_and_spill),
    cmocka_unit_test(test_each_merges_jobs),
    cmocka_unit_test(test_runs_merge),
    cmocka_unit_test(test_runs_equal_keys),
    cmocka_unit_test(test_runs_unwritable),
    cmocka_unit_test(test_keyset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
