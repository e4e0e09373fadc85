/* Unit tests: dw_replay_alerts, a replay job's compact alert collection:
 * the latest version of each alert wins (in place when its size is the
 * same, appended and the old one skipped when not), the spill takes exactly
 * the alerts of settled dossiers and gives them back first, the index keeps
 * finding alerts across its growth and a spill; and dw_keyset, the set of
 * 64-bit keys it relies on for the spilled dossiers. */
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

  seen *s = calloc(1, sizeof *s);
  assert_int_equal(dw_ralerts_each(r, collect, s, err, sizeof err), 0);
  assert_int_equal(s->n, 3000);
  for (int i = 0; i < 1500; i++) assert_int_equal(s->order[i] % 2, 1); /* spilled first */
  for (int i = 1500; i < 3000; i++) assert_int_equal(s->order[i] % 2, 0);
  for (int d = 0; d < 3000; d++) {
    assert_int_equal(s->cleared[d], d == 10 ? 7777 : 5000 + d);
    assert_string_equal(s->detail[d], d % 3 ? "due 2025-05-12" : "due 2025-05-12 (withdrawn)");
  }
  /* read twice: the same */
  memset(s, 0, sizeof *s);
  assert_int_equal(dw_ralerts_each(r, collect, s, err, sizeof err), 0);
  assert_int_equal(s->n, 3000);
  free(s);
  dw_ralerts_destroy(r);
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
    cmocka_unit_test(test_keyset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
