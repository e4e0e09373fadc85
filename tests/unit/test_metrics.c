/* Unit tests: dw_metrics, the registry behind /metrics: the exact text
 * format (HELP, TYPE, labels, escaping, histogram buckets cumulative with
 * +Inf, _sum, _count), counters never going down, gauges set and cleared,
 * re-registration, invalid names refused, the series limit, NULL families
 * as no-ops, and exact totals under concurrent updates from many threads.
 * (tests/integration/watch_metrics.sh parses the output of a live watch and
 * serve with python3-prometheus-client.) */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dw_metrics.h"

static char *render(dw_metrics *m) {
  static char out[1 << 20];
  dw_buf b = DW_BUF_INIT;
  dw_metrics_render(m, &b);
  snprintf(out, sizeof out, "%s", b.data ? b.data : "");
  dw_buf_free(&b);
  return out;
}

static void test_counter_gauge_text(void **state) {
  (void)state;
  dw_metrics *m = dw_metrics_new();
  dw_metric *c = dw_metrics_counter(m, "dw_test_events_total", "Events seen", NULL);
  dw_metric *g = dw_metrics_gauge(m, "dw_test_lag", "Lag per partition", "partition");
  dw_metric *a = dw_metrics_counter(m, "dw_test_alerts_total", "Alerts\nby rule \\ severity", "rule,severity");
  assert_non_null(c);
  assert_non_null(g);
  assert_non_null(a);
  dw_metric_add(c, 41);
  dw_metric_inc(c);
  dw_metric_add(c, -5); /* a counter never goes down */
  dw_metric_set_l(g, DW_LABELS("0"), 12);
  dw_metric_set_l(g, DW_LABELS("1"), 3.5);
  dw_metric_set_l(g, DW_LABELS("0"), 7);
  dw_metric_inc_l(a, DW_LABELS("OVERDUE", "critical"));
  dw_metric_inc_l(a, DW_LABELS("OVERDUE", "critical"));
  dw_metric_inc_l(a, DW_LABELS("say \"hi\"\n", "a\\b"));
  const char *want =
    "# HELP dw_test_events_total Events seen\n"
    "# TYPE dw_test_events_total counter\n"
    "dw_test_events_total 42\n"
    "# HELP dw_test_lag Lag per partition\n"
    "# TYPE dw_test_lag gauge\n"
    "dw_test_lag{partition=\"0\"} 7\n"
    "dw_test_lag{partition=\"1\"} 3.5\n"
    "# HELP dw_test_alerts_total Alerts\\nby rule \\\\ severity\n"
    "# TYPE dw_test_alerts_total counter\n"
    "dw_test_alerts_total{rule=\"OVERDUE\",severity=\"critical\"} 2\n"
    "dw_test_alerts_total{rule=\"say \\\"hi\\\"\\n\",severity=\"a\\\\b\"} 1\n"
    "# HELP dossierwatch_metrics_series_dropped_total Updates dropped because a family reached its series limit\n"
    "# TYPE dossierwatch_metrics_series_dropped_total counter\n"
    "dossierwatch_metrics_series_dropped_total 0\n";
  assert_string_equal(render(m), want);
  assert_true(dw_metric_value_l(g, DW_LABELS("0")) == 7);
  assert_true(dw_metric_value_l(a, DW_LABELS("OVERDUE", "critical")) == 2);
  dw_metric_clear(g);
  assert_null(strstr(render(m), "dw_test_lag{"));
  assert_non_null(strstr(render(m), "# TYPE dw_test_lag gauge\n"));
  dw_metrics_destroy(m);
}

static void test_histogram_text(void **state) {
  (void)state;
  dw_metrics *m = dw_metrics_new();
  const double bounds[] = {0.005, 0.1, 1};
  dw_metric *h = dw_metrics_histogram(m, "dw_test_seconds", "Latency", "route", bounds, 3);
  assert_non_null(h);
  /* values exact in binary, so the sum prints exactly */
  dw_metric_observe_l(h, DW_LABELS("/a"), 0.00390625);
  dw_metric_observe_l(h, DW_LABELS("/a"), 0.0625);
  dw_metric_observe_l(h, DW_LABELS("/a"), 0.0625);
  dw_metric_observe_l(h, DW_LABELS("/a"), 3);
  const char *want = "dw_test_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"
                     "dw_test_seconds_bucket{route=\"/a\",le=\"0.1\"} 3\n"
                     "dw_test_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
                     "dw_test_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
                     "dw_test_seconds_sum{route=\"/a\"} 3.12890625\n"
                     "dw_test_seconds_count{route=\"/a\"} 4\n";
  assert_non_null(strstr(render(m), want));
  /* an unlabeled histogram with no observation yet is still shown */
  dw_metric *e = dw_metrics_histogram(m, "dw_test_empty_seconds", "Empty", NULL, bounds, 3);
  assert_non_null(e);
  assert_non_null(strstr(render(m), "dw_test_empty_seconds_bucket{le=\"+Inf\"} 0\ndw_test_empty_seconds_sum 0\n"
                                    "dw_test_empty_seconds_count 0\n"));
  dw_metrics_destroy(m);
}

static void test_registration(void **state) {
  (void)state;
  dw_metrics *m = dw_metrics_new();
  dw_metric *a = dw_metrics_counter(m, "dw_x_total", "x", "a,b");
  assert_ptr_equal(dw_metrics_counter(m, "dw_x_total", "again", "a,b"), a); /* same shape: the same family */
  assert_null(dw_metrics_gauge(m, "dw_x_total", "x", "a,b"));              /* another type */
  assert_null(dw_metrics_counter(m, "dw_x_total", "x", "a"));              /* other labels */
  assert_ptr_equal(dw_metrics_find(m, "dw_x_total"), a);
  assert_null(dw_metrics_find(m, "dw_nope"));
  assert_null(dw_metrics_counter(m, "9bad", "x", NULL));
  assert_null(dw_metrics_counter(m, "bad-name", "x", NULL));
  assert_null(dw_metrics_counter(m, "dw_ok", "x", "le"));      /* reserved for buckets */
  assert_null(dw_metrics_counter(m, "dw_ok2", "x", "a,"));     /* trailing comma */
  assert_null(dw_metrics_counter(m, "dw_ok3", "x", "a,b,c,d,e")); /* too many labels */
  const double bad[] = {1, 0.5};
  assert_null(dw_metrics_histogram(m, "dw_h", "x", NULL, bad, 2)); /* bounds must increase */
  /* NULL families: every update is a no-op */
  dw_metric_inc(NULL);
  dw_metric_set_l(NULL, DW_LABELS("x"), 1);
  dw_metric_observe(NULL, 1);
  dw_metric_clear(NULL);
  /* type-checked updates: a counter cannot be set, a gauge cannot observe */
  dw_metric_set_l(a, DW_LABELS("1", "2"), 5);
  assert_true(dw_metric_value_l(a, DW_LABELS("1", "2")) == 0);
  dw_metrics_destroy(m);
}

static void test_series_limit(void **state) {
  (void)state;
  dw_metrics *m = dw_metrics_new();
  dw_metric *g = dw_metrics_gauge(m, "dw_many", "x", "id");
  char id[16];
  for (int i = 0; i < DW_METRICS_MAX_SERIES + 10; i++) {
    snprintf(id, sizeof id, "%d", i);
    dw_metric_set_l(g, DW_LABELS(id), i);
  }
  assert_non_null(strstr(render(m), "dossierwatch_metrics_series_dropped_total 10\n"));
  snprintf(id, sizeof id, "%d", DW_METRICS_MAX_SERIES + 5);
  assert_true(dw_metric_value_l(g, DW_LABELS(id)) == 0);
  dw_metrics_destroy(m);
}

typedef struct worker {
  dw_metric *c, *h;
  int n;
} worker;

static void *hammer(void *p) {
  worker *w = p;
  for (int i = 0; i < w->n; i++) {
    dw_metric_inc_l(w->c, DW_LABELS(i % 2 ? "odd" : "even"));
    dw_metric_observe(w->h, (double)(i % 10));
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  dw_metrics *m = dw_metrics_new();
  const double b[] = {4.5};
  worker w = {dw_metrics_counter(m, "dw_t_total", "x", "kind"), dw_metrics_histogram(m, "dw_t_h", "x", NULL, b, 1),
              20000};
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, hammer, &w);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  assert_true(dw_metric_value_l(w.c, DW_LABELS("odd")) == 80000);
  assert_true(dw_metric_value_l(w.c, DW_LABELS("even")) == 80000);
  assert_true(dw_metric_value_l(w.h, NULL) == 160000);
  assert_non_null(strstr(render(m), "dw_t_h_bucket{le=\"4.5\"} 80000\n"));
  dw_metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_counter_gauge_text), cmocka_unit_test(test_histogram_text),
    cmocka_unit_test(test_registration),       cmocka_unit_test(test_series_limit),
    cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
