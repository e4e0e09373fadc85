/* Unit tests: the simulator's PRNG and quota, profile loading errors, and
 * the generator's determinism, ordering and exact rates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_calendar.h"
#include "dw_sim_gen.h"
#include "dw_sim_profile.h"
#include "dw_sim_prng.h"
#include "dw_time.h"

static void test_splitmix_known_answer(void **state) {
  (void)state;
  /* reference values of splitmix64 from state 0 */
  uint64_t s = 0;
  assert_true(dw_sim_splitmix64(&s) == 0xE220A8397B1DCDAFULL);
  assert_true(dw_sim_splitmix64(&s) == 0x6E789E6AA1B965F4ULL);
}

static void test_prng_determinism(void **state) {
  (void)state;
  dw_sim_rng a, b, c;
  dw_sim_rng_seed(&a, 42);
  dw_sim_rng_seed(&b, 42);
  dw_sim_rng_seed(&c, 43);
  int differ = 0;
  for (int i = 0; i < 1000; i++) {
    uint64_t x = dw_sim_rng_next(&a), y = dw_sim_rng_next(&b), z = dw_sim_rng_next(&c);
    assert_true(x == y);
    differ += x != z;
  }
  assert_true(differ > 990);
  /* derived streams: deterministic, independent of each other */
  dw_sim_rng_derive(&a, 42, 7);
  dw_sim_rng_derive(&b, 42, 7);
  dw_sim_rng_derive(&c, 42, 8);
  assert_true(dw_sim_rng_next(&a) == dw_sim_rng_next(&b));
  assert_true(dw_sim_rng_next(&a) != dw_sim_rng_next(&c));
  /* ranges */
  dw_sim_rng_seed(&a, 1);
  double sum = 0;
  int hist[6] = {0};
  for (int i = 0; i < 60000; i++) {
    double d = dw_sim_rng_double(&a);
    assert_true(d >= 0 && d < 1);
    sum += d;
    int64_t r = dw_sim_rng_range(&a, 1, 6);
    assert_true(r >= 1 && r <= 6);
    hist[r - 1]++;
  }
  assert_true(fabs(sum / 60000 - 0.5) < 0.01);
  for (int i = 0; i < 6; i++) assert_true(hist[i] > 9500 && hist[i] < 10500);
  double psum = 0;
  for (int i = 0; i < 20000; i++) psum += dw_sim_rng_poisson(&a, 12.5);
  assert_true(fabs(psum / 20000 - 12.5) < 0.2);
}

static void test_quota_exact(void **state) {
  (void)state;
  const double rates[] = {0.5456, 0.2237, 0.999, 0.0, 1.0};
  for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
    dw_sim_quota q;
    dw_sim_quota_init(&q, rates[k]);
    uint64_t yes = 0;
    for (int n = 1; n <= 10000; n++) {
      yes += dw_sim_quota_draw(&q);
      /* at every prefix the count is the rounded expectation */
      assert_true(fabs((double)yes - n * rates[k]) <= 0.5 + 1e-9);
    }
    assert_int_equal(yes, (uint64_t)llround(10000 * rates[k]));
  }
  dw_sim_quota q;
  dw_sim_quota_init(&q, 0.5456);
  uint64_t yes = 0;
  for (int n = 0; n < 10000; n++) yes += dw_sim_quota_draw(&q);
  assert_int_equal(yes, 5456); /* 54.56 % exactly */
  dw_sim_quota_init(&q, 0.2237);
  yes = 0;
  for (int n = 0; n < 10000; n++) yes += dw_sim_quota_draw(&q);
  assert_int_equal(yes, 2237); /* 22.37 % exactly */
}

static void expect_error(const char *json, const char *needle) {
  char err[512] = "";
  dw_sim_profile *p = dw_sim_profile_parse(json, err, sizeof err);
  if (p || !strstr(err, needle)) {
    fprintf(stderr, "profile %s\n  error '%s' should name '%s'\n", json, err, needle);
    dw_sim_profile_destroy(p);
    fail();
  }
}

static void test_profile_errors(void **state) {
  (void)state;
  expect_error("{\"communes\": [{\"code\": \"12345\"}, {\"code\": \"1234\"}]}", "communes[1].code");
  expect_error("{\"communes\": [{\"name\": \"X\"}]}", "communes[0].code");
  expect_error("{\"communes\": [{\"code\": \"12345\"}, {\"code\": \"12345\"}]}", "duplicate");
  expect_error("{\"defaults\": {\"late\": 1.5}}", "defaults.late");
  expect_error("{\"defaults\": {\"lateness\": 0.1}}", "defaults.lateness");
  expect_error("{\"defaults\": {\"channels\": {\"FAX\": 0.1}}}", "defaults.channels.FAX");
  expect_error("{\"defaults\": {\"rating_weights\": [1, 2]}}", "defaults.rating_weights");
  expect_error("{\"defaults\": {\"procedures\": [{\"code\": \"1.001612\"}]}}", "defaults.procedures[0]");
  expect_error("{\"communes\": [{\"code\": \"12345\", \"procedures\": [{\"code\": \"1.1\", "
               "\"processing_days\": 0}]}]}",
               "communes[0].procedures[0].processing_days");
  expect_error("{\"communes\": [{\"code\": \"12345\", \"result_digitization\": \"high\"}]}",
               "communes[0].result_digitization");
  expect_error("{\"province\": {\"code\": 86}}", "province.code");
  expect_error("{\"colour\": 1}", "colour");
  expect_error("{\"defaults\": {", "line 1");

  char err[512];
  dw_sim_profile *p = dw_sim_profile_parse(
      "{\"defaults\": {\"late\": 0.2}, \"communes\": [{\"code\": \"29221\", \"name\": \"Xã A\","
      " \"late\": 0.3}, {\"code\": \"29233\"}]}",
      err, sizeof err);
  assert_non_null(p);
  assert_int_equal(p->n_communes, 2);
  assert_true(p->communes[0].p.late == 0.3);
  assert_true(p->communes[1].p.late == 0.2); /* defaults apply */
  assert_string_equal(p->communes[1].name, "29233");
  dw_sim_profile_destroy(p);
}

static void test_preset_seed_letter(void **state) {
  (void)state;
  char err[512];
  dw_sim_profile *p = dw_sim_profile_preset("seed-letter", err, sizeof err);
  if (!p) fprintf(stderr, "%s\n", err);
  assert_non_null(p);
  int found = 0;
  for (int i = 0; i < p->n_communes; i++) {
    if (strcmp(p->communes[i].name, "Xã Long Hiệp") == 0) {
      assert_true(fabs(p->communes[i].p.result_digitization - 0.5456) < 1e-12);
      found++;
    }
    if (strcmp(p->communes[i].name, "Xã Thanh An") == 0) {
      assert_true(fabs(p->communes[i].p.result_digitization - 0.2237) < 1e-12);
      found++;
    }
  }
  assert_int_equal(found, 2);
  dw_sim_profile_destroy(p);
  assert_null(dw_sim_profile_preset("no-such-preset", err, sizeof err));
  assert_non_null(strstr(err, "no-such-preset"));
  assert_null(dw_sim_profile_preset("../etc", err, sizeof err));
}

typedef struct collect {
  uint64_t hash;
  uint64_t n;
  int64_t last;
  int unordered;
} collect;

static int on_event(const dw_event *ev, void *opaque) {
  collect *c = opaque;
  char err[256];
  if (dw_event_validate(ev, err, sizeof err)) {
    fprintf(stderr, "invalid event %s: %s\n", ev->event_id, err);
    return -1;
  }
  if (ev->occurred_at < c->last) c->unordered++;
  c->last = ev->occurred_at;
  /* FNV over the fields that identify the event */
  const char *parts[] = {ev->event_id, ev->dossier_id, ev->agency, ev->procedure};
  for (int i = 0; i < 4; i++)
    for (const char *s = parts[i]; *s; s++) c->hash = (c->hash ^ (unsigned char)*s) * 1099511628211ULL;
  c->hash = (c->hash ^ (uint64_t)ev->occurred_at ^ ((uint64_t)ev->type << 56) ^ (uint64_t)ev->digitized) *
            1099511628211ULL;
  c->n++;
  return 0;
}

static int run_gen(const dw_sim_profile *prof, const dw_calendar *cal, uint64_t seed, int days, collect *c,
                   dw_sim_stats *out_stats, dw_sim_commune_stats *communes) {
  char err[512];
  memset(c, 0, sizeof *c);
  c->hash = 1469598103934665603ULL;
  c->last = INT64_MIN;
  dw_sim_gen *g = dw_sim_gen_new(prof, cal, seed, dw_days_from_civil(2025, 1, 2), days, err, sizeof err);
  if (!g) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  int rc = dw_sim_gen_run(g, on_event, c, err, sizeof err);
  if (out_stats) *out_stats = *dw_sim_gen_stats(g);
  if (communes)
    memcpy(communes, dw_sim_gen_stats(g)->communes, sizeof *communes * (size_t)prof->n_communes);
  dw_sim_gen_destroy(g);
  return rc;
}

static void test_generator(void **state) {
  (void)state;
  char err[512];
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/deploy/calendars", getenv("DW_SOURCE_DIR") ? getenv("DW_SOURCE_DIR") : DW_SOURCE_DIR);
  dw_calendar *cal = dw_calendar_new(dir, "07:30-11:30,13:30-17:00", 420, err, sizeof err);
  if (!cal) fprintf(stderr, "%s\n", err);
  assert_non_null(cal);

  dw_sim_profile *gen = dw_sim_profile_generated(5);
  collect a, b, c;
  assert_int_equal(run_gen(gen, cal, 9, 10, &a, NULL, NULL), 0);
  assert_int_equal(run_gen(gen, cal, 9, 10, &b, NULL, NULL), 0);
  assert_int_equal(run_gen(gen, cal, 10, 10, &c, NULL, NULL), 0);
  assert_true(a.n > 1000);
  assert_int_equal(a.unordered, 0);
  assert_true(a.n == b.n && a.hash == b.hash);
  assert_true(a.hash != c.hash);
  dw_sim_profile_destroy(gen);

  /* the seed letter's rates, exact on a long run */
  dw_sim_profile *sl = dw_sim_profile_preset("seed-letter", err, sizeof err);
  assert_non_null(sl);
  dw_sim_stats st;
  dw_sim_commune_stats cs[64];
  assert_true(sl->n_communes <= 64);
  assert_int_equal(run_gen(sl, cal, 1, 90, &a, &st, cs), 0);
  assert_int_equal(a.unordered, 0);
  assert_true(st.by_type[DW_EV_RESULT_DIGITIZED] > 0);
  for (int i = 0; i < sl->n_communes; i++) {
    assert_true(cs[i].results_issued > 500);
    double got = 100.0 * (double)cs[i].results_digitized / (double)cs[i].results_issued;
    double want = 100.0 * sl->communes[i].p.result_digitization;
    if (fabs(got - want) >= 0.1) fprintf(stderr, "%s: %.3f vs %.3f\n", sl->communes[i].name, got, want);
    assert_true(fabs(got - want) < 0.1);
  }
  dw_sim_profile_destroy(sl);

  /* outside the calendar's years: an error, not a guess */
  gen = dw_sim_profile_generated(1);
  assert_null(dw_sim_gen_new(gen, cal, 1, dw_days_from_civil(2031, 1, 1), 5, err, sizeof err));
  assert_non_null(strstr(err, "calendar"));
  dw_sim_profile_destroy(gen);
  dw_calendar_destroy(cal);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_splitmix_known_answer),
    cmocka_unit_test(test_prng_determinism),
    cmocka_unit_test(test_quota_exact),
    cmocka_unit_test(test_profile_errors),
    cmocka_unit_test(test_preset_seed_letter),
    cmocka_unit_test(test_generator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
