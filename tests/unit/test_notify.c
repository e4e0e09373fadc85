/* Unit tests: notify's pure core (consumers/notify/core): the routes file
 * parser (errors naming FILE:LINE and key), matchers, the routing tree,
 * time intervals and office hours on the real working calendar (Friday
 * evening, Tết), and the grouping/notification state machine on a clock
 * passed in: 600 alerts -> one message per group, repeat_interval,
 * resolved notices, inhibition, silences, a receiver with an undelivered
 * message, escalation after 2 working days, digests once a working day,
 * restore after a restart, and the messages (RFC 2047 subject, webhook v4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_calendar.h"
#include "dw_notify_config.h"
#include "dw_notify_msg.h"
#include "dw_notify_state.h"
#include "dw_time.h"

#define OFF 420
#define MIN DW_MS_PER_MIN
#define HOUR (60 * MIN)

static dw_calendar *cal;

static int64_t T(int y, int mo, int d, int h, int mi) {
  return dw_days_from_civil(y, mo, d) * DW_MS_PER_DAY + (int64_t)(h * 60 + mi) * MIN - OFF * MIN;
}

static int setup(void **state) {
  (void)state;
  char dir[1024], err[512];
  const char *src = getenv("DW_SOURCE_DIR");
  snprintf(dir, sizeof dir, "%s/deploy/calendars", src && *src ? src : DW_SOURCE_DIR);
  cal = dw_calendar_new(dir, "07:30-11:30,13:30-17:00", OFF, err, sizeof err);
  return cal ? 0 : -1;
}
static int teardown(void **state) {
  (void)state;
  dw_calendar_destroy(cal);
  return 0;
}

static dw_notify_config *parse(const char *yaml) {
  char err[512] = "";
  dw_notify_config *c = dw_notify_config_parse(yaml, strlen(yaml), "routes.yaml", err, sizeof err);
  if (!c) fail_msg("parse: %s", err);
  return c;
}

static void parse_fails(const char *yaml, const char *want) {
  char err[512] = "";
  dw_notify_config *c = dw_notify_config_parse(yaml, strlen(yaml), "routes.yaml", err, sizeof err);
  if (c) {
    dw_notify_config_destroy(c);
    fail_msg("expected an error containing '%s'", want);
  }
  if (!strstr(err, want)) fail_msg("error '%s' does not contain '%s'", err, want);
}

static dw_alert A(const char *dossier, dw_rule rule, const char *commune, int64_t raised, int64_t due) {
  dw_alert a;
  memset(&a, 0, sizeof a);
  snprintf(a.dossier_id, sizeof a.dossier_id, "%s", dossier);
  a.rule = rule;
  a.severity = rule == DW_RULE_DUE_SOON ? DW_SEV_WARNING : DW_SEV_CRITICAL;
  snprintf(a.commune, sizeof a.commune, "%s", commune);
  snprintf(a.agency, sizeof a.agency, "UBND-%s", commune);
  snprintf(a.procedure, sizeof a.procedure, "1.001612");
  a.raised_at = raised;
  a.due_at = due;
  a.cleared_at = DW_TIME_NONE;
  snprintf(a.alert_id, sizeof a.alert_id, "%s:%s:%lld", dossier, dw_rule_name(rule), (long long)raised);
  snprintf(a.detail, sizeof a.detail, "due at x");
  return a;
}

static const char BASE[] =
  "global:\n"
  "  external_url: https://dash.example.vn/\n"
  "  smtp_from: dossierwatch@tinh.example.vn\n"
  "  smtp_smarthost: 127.0.0.1:2525\n"
  "  smtp_require_tls: false\n"
  "receivers:\n"
  "  - name: office\n"
  "    email_configs:\n"
  "      - to: vanphong@tinh.example.vn\n"
  "        send_resolved: true\n"
  "  - name: chairman-30412\n"
  "    email_configs:\n"
  "      - to: chutich.30412@xa.example.vn\n"
  "    webhook_configs:\n"
  "      - url: http://127.0.0.1:9/hook\n"
  "route:\n"
  "  receiver: office\n"
  "  group_by: [commune, rule]\n"
  "  group_wait: 30s\n"
  "  group_interval: 5m\n"
  "  repeat_interval: 4h\n"
  "  routes:\n"
  "    - matchers: ['commune=\"30412\"']\n"
  "      receiver: chairman-30412\n"
  "      continue: true\n"
  "    - matchers: ['severity=~\"crit.*\"']\n";

/* ---- config ---- */

static void test_config_ok(void **state) {
  (void)state;
  dw_notify_config *c = parse(BASE);
  assert_int_equal(c->nreceivers, 2);
  assert_string_equal(c->external_url, "https://dash.example.vn");
  assert_int_equal(c->route.group_by, (1u << DW_NL_COMMUNE) | (1u << DW_NL_RULE));
  assert_int_equal(c->route.nchildren, 2);
  assert_int_equal(c->route.children[0].group_wait_ms, 30000); /* inherited */
  assert_true(c->route.children[0].cont);
  assert_int_equal(c->receivers[1].ninteg, 2);
  assert_false(c->receivers[1].integ[0].send_resolved); /* email: false by default */
  assert_true(c->receivers[1].integ[1].send_resolved);  /* webhook: true */
  assert_false(c->receivers[1].integ[0].require_tls);   /* from global */
  assert_string_equal(c->receivers[1].integ[0].smarthost, "127.0.0.1:2525");
  assert_string_equal(c->receivers[0].language, "vi");
  dw_notify_config_destroy(c);
}

static void test_config_errors(void **state) {
  (void)state;
  parse_fails("route:\n  receiver: x\n", "routes.yaml:0: receivers: required");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  group_wiat: 30s\n",
              "routes.yaml:5: route.group_wiat: unknown key");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  routes:\n    - group_wait: 3 days\n",
              "routes.yaml:6: route.routes[0].group_wait: bad duration '3 days'");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: b\n", "routes.yaml:4: route.receiver: no receiver named 'b'");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  routes:\n    - matchers: ['color=red']\n",
              "routes.yaml:6: route.routes[0].matchers[0]: matcher 'color=red': unknown label 'color'");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  routes:\n    - matchers: ['rule=~\"(\"']\n",
              "route.routes[0].matchers[0]: matcher 'rule=~\"(\"': bad regular expression");
  parse_fails("receivers:\n  - name: a\n    email_configs:\n      - to: nobody\n        from: a@b\n"
              "        smarthost: h:25\nroute:\n  receiver: a\n",
              "routes.yaml:4: receivers[0].email_configs[0].to: 'nobody' is not an address");
  parse_fails("receivers: [\n", "routes.yaml:2:");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\nescalations:\n  - name: e\n    receiver: a\n    after: 2x\n",
              "routes.yaml:8: escalations[0].after: working time like 2d");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\ndigests:\n  - receiver: a\n    at: '25:00'\n",
              "routes.yaml:7: digests[0].at: a local time HH:MM is required");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  mute_time_intervals: [nights]\n",
              "route.mute_time_intervals[0]: no time interval named 'nights'");
  parse_fails("receivers:\n  - name: a\n  - name: a\nroute:\n  receiver: a\n", "routes.yaml:3: receivers[1]: a second receiver 'a'");
  parse_fails("receivers:\n  - name: a\nroute:\n  receiver: a\n  receiver: a\n", "route.receiver: given twice (first at line 4)");
}

static void test_durations(void **state) {
  (void)state;
  int64_t ms;
  assert_int_equal(dw_notify_duration_parse("30s", &ms), 0);
  assert_int_equal(ms, 30000);
  assert_int_equal(dw_notify_duration_parse("1h30m", &ms), 0);
  assert_int_equal(ms, 5400000);
  assert_int_equal(dw_notify_duration_parse("500ms", &ms), 0);
  assert_int_equal(ms, 500);
  assert_int_equal(dw_notify_duration_parse("1d", &ms), 0);
  assert_int_equal(ms, DW_MS_PER_DAY);
  assert_int_equal(dw_notify_duration_parse("0", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(dw_notify_duration_parse("5m1h", &ms), -1);
  assert_int_equal(dw_notify_duration_parse("5", &ms), -1);
  assert_int_equal(dw_notify_duration_parse("", &ms), -1);
}

/* ---- matchers ---- */

static void test_matchers(void **state) {
  (void)state;
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", T(2026, 3, 6, 9, 0), T(2026, 3, 6, 10, 0));
  struct {
    const char *m;
    bool want;
  } cases[] = {
    {"commune=\"30412\"", true},     {"commune=30412", true},        {" commune = 30412 ", true},
    {"commune!=30412", false},       {"agency=~\"UBND-304.*\"", true}, {"agency=~\"304.*\"", false}, /* anchored */
    {"severity!~\"warn.*\"", true},  {"rule=~\"OVERDUE|DUE_SOON\"", true}, {"procedure=\"1.001612\"", true},
    {"dossier_id!=\"H30.2\"", true}, {"rule=\"\"", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dw_notify_matcher m;
    char err[256];
    if (dw_notify_matcher_parse(cases[i].m, &m, err, sizeof err)) fail_msg("%s: %s", cases[i].m, err);
    if (dw_notify_matcher_matches(&m, &a) != cases[i].want) fail_msg("%s: expected %d", cases[i].m, cases[i].want);
    dw_notify_matcher_free(&m);
  }
  dw_notify_matcher m;
  char err[256];
  assert_int_equal(dw_notify_matcher_parse("commune", &m, err, sizeof err), -1);
  assert_int_equal(dw_notify_matcher_parse("commune=\"x", &m, err, sizeof err), -1);
  assert_int_equal(dw_notify_matcher_parse("=x", &m, err, sizeof err), -1);
  /* canonical form */
  assert_int_equal(dw_notify_matcher_parse("agency =~ UBND.*", &m, err, sizeof err), 0);
  dw_buf b = DW_BUF_INIT;
  dw_notify_matcher_format(&m, &b);
  assert_string_equal(b.data, "agency=~\"UBND.*\"");
  dw_buf_free(&b);
  dw_notify_matcher_free(&m);
}

/* Regular expressions that glibc's regcomp could not compile in bounded
 * time, memory or stack are refused with the reason; what label values need
 * is kept. The costly ones below stalled regcomp or blew up its memory or
 * stack when tried (see dw_notify_match.c). */
static void test_matcher_regex_bounds(void **state) {
  (void)state;
  static const char *const ok[] = {
    "290(12|26)", "OVERDUE|DUE_SOON", "UBND-.*", "[[:alpha:]]{3}-[0-9]+", "(CA|UBND)-2901[0-9]", "(a*)*",
    "([a-z]{1,20}-)*[0-9]{4}", "x{0,100}", "1\\.00[0-9]+", "[])]+",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    char text[128], err[256];
    snprintf(text, sizeof text, "agency=~\"%s\"", ok[i]);
    dw_notify_matcher m;
    if (dw_notify_matcher_parse(text, &m, err, sizeof err)) fail_msg("%s refused: %s", text, err);
    dw_notify_matcher_free(&m);
  }
  static const struct {
    const char *re, *why;
  } bad[] = {
    {"((a*)*)*", "*, + or ? nested three deep"},
    {"((a|b)*){50}", "a count over a quantifier"},
    {"e{0,3}{0,3}{3}{42}", "a count over a quantifier"},
    {"((a{10}){10}){10}", "a count over a quantifier"},
    {"a{101}", "a count above 100"},
    {"(a|b|c|d|e|f|g|h){0,100}(a|b|c|d){0,100}", "more than 2048 bytes once its counts are written out"},
    {"(a)\\\\1", "back-references are not supported"},
    {"a{0,3}{,}{,33}", "a count over a quantifier"},
    {"a{x}", "a '{' that does not open a count"},
    {"(a|||b){20,}", "a count over a quantifier"}, /* empty branches: 6 s */
    {"(|a){5}", "a count over a quantifier"},
    {"((a|)*)*", "*, + or ? nested three deep"},
    {"((x{2,})*)*", "*, + or ? nested three deep"},
    {"a{0,3\\\\0\\\\03}", "a '{' that does not open a count"}, /* glibc read {0,30003}: 20 GB */
    {"x)|(.*", "a ')' without its '('"},
    {"(abc", "a '(' without its ')'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[128], err[256];
    snprintf(text, sizeof text, "agency=~\"%s\"", bad[i].re);
    dw_notify_matcher m;
    if (dw_notify_matcher_parse(text, &m, err, sizeof err) != -1) fail_msg("%s accepted", bad[i].re);
    if (!strstr(err, "regular expression") || !strstr(err, bad[i].why))
      fail_msg("%s: expected '%s', got: %s", bad[i].re, bad[i].why, err);
  }
  /* depth and length, built */
  static char deep[256], lng[1100], text[1200], err[256];
  memset(deep, '(', 40);
  deep[40] = 'a';
  memset(deep + 41, ')', 40);
  memset(lng, 'a', 1025);
  const char *const built[][2] = {{deep, "groups nested more than 32 deep"}, {lng, "longer than 1024 bytes"}};
  for (size_t i = 0; i < 2; i++) {
    snprintf(text, sizeof text, "commune=~\"%s\"", built[i][0]);
    dw_notify_matcher m;
    assert_int_equal(-1, dw_notify_matcher_parse(text, &m, err, sizeof err));
    if (!strstr(err, built[i][1])) fail_msg("expected '%s', got: %s", built[i][1], err);
  }
}

/* ---- routing ---- */

static void test_routing(void **state) {
  (void)state;
  dw_notify_config *c = parse(BASE);
  const dw_notify_route *out[8];
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", 0, 0);
  /* 30412 (continue) and critical */
  size_t n = dw_notify_route_match(&c->route, &a, out, 8);
  assert_int_equal(n, 2);
  assert_ptr_equal(out[0], &c->route.children[0]);
  assert_ptr_equal(out[1], &c->route.children[1]);
  /* another commune, warning: the root */
  dw_alert b = A("H31.1", DW_RULE_DUE_SOON, "31000", 0, 0);
  n = dw_notify_route_match(&c->route, &b, out, 8);
  assert_int_equal(n, 1);
  assert_ptr_equal(out[0], &c->route);
  /* 30412 warning: only the chairman (critical does not match; the root is not used) */
  dw_alert w = A("H30.2", DW_RULE_DUE_SOON, "30412", 0, 0);
  n = dw_notify_route_match(&c->route, &w, out, 8);
  assert_int_equal(n, 1);
  assert_ptr_equal(out[0], &c->route.children[0]);
  dw_notify_config_destroy(c);
}

/* ---- time intervals and office hours ---- */

static void test_intervals(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: a\n"
    "time_intervals:\n"
    "  - name: nights\n"
    "    time_intervals:\n"
    "      - times: [{start_time: '17:00', end_time: '24:00'}, {start_time: '00:00', end_time: '07:30'}]\n"
    "      - weekdays: [saturday, sunday]\n"
    "  - name: end-of-month\n"
    "    time_intervals:\n"
    "      - days_of_month: ['-1']\n        months: [march]\n        years: ['2026']\n"
    "route:\n  receiver: a\n  routes:\n"
    "    - matchers: [rule=OVERDUE]\n      mute_time_intervals: [nights]\n"
    "    - matchers: [rule=DUE_SOON]\n      office_hours: true\n"
    "    - matchers: [rule=PROMISE_MISSED]\n      active_time_intervals: [end-of-month]\n");
  const dw_notify_route *nights = &c->route.children[0], *office = &c->route.children[1],
                        *eom = &c->route.children[2];
  /* Friday 6 March 2026 */
  assert_false(dw_notify_route_muted(c, nights, cal, T(2026, 3, 6, 16, 55)));
  assert_true(dw_notify_route_muted(c, nights, cal, T(2026, 3, 6, 17, 0)));
  assert_true(dw_notify_route_muted(c, nights, cal, T(2026, 3, 7, 10, 0))); /* Saturday */
  assert_int_equal(dw_notify_route_next_unmuted(c, nights, cal, T(2026, 3, 6, 17, 5)), T(2026, 3, 9, 7, 30));
  /* office hours: lunch, evening, weekend, Tết (13-22 Feb 2026 off: Mon 16 - Fri 20) */
  assert_false(dw_notify_route_muted(c, office, cal, T(2026, 3, 6, 16, 59)));
  assert_true(dw_notify_route_muted(c, office, cal, T(2026, 3, 6, 12, 0)));
  assert_int_equal(dw_notify_route_next_unmuted(c, office, cal, T(2026, 3, 6, 12, 0)), T(2026, 3, 6, 13, 30));
  assert_int_equal(dw_notify_route_next_unmuted(c, office, cal, T(2026, 3, 6, 17, 5)), T(2026, 3, 9, 7, 30));
  assert_int_equal(dw_notify_route_next_unmuted(c, office, cal, T(2026, 2, 13, 17, 5)), T(2026, 2, 23, 7, 30));
  /* a make-up Saturday (10 Jan 2026) is working time */
  assert_false(dw_notify_route_muted(c, office, cal, T(2026, 1, 10, 9, 0)));
  /* active only on 31 March 2026 */
  assert_true(dw_notify_route_muted(c, eom, cal, T(2026, 3, 30, 9, 0)));
  assert_false(dw_notify_route_muted(c, eom, cal, T(2026, 3, 31, 9, 0)));
  assert_int_equal(dw_notify_route_next_unmuted(c, eom, cal, T(2026, 3, 30, 9, 0)), T(2026, 3, 31, 0, 0));
  dw_notify_config_destroy(c);
}

/* ---- the state machine ---- */

static long tick(dw_notify_state *st, int64_t now, const dw_notify_req **q) {
  long n = dw_notify_state_tick(st, now, q);
  assert_true(n >= 0);
  return n;
}

/* Everything delivered at once (a healthy receiver). */
static void deliver_all(dw_notify_state *st, const dw_notify_req *q, long n) {
  for (long i = 0; i < n; i++) dw_notify_state_set_pending(st, q[i].group_key, q[i].integ_index, false);
}

static const char SIMPLE[] =
  "receivers:\n"
  "  - name: office\n"
  "    webhook_configs:\n"
  "      - url: http://127.0.0.1:9/hook\n"
  "route:\n"
  "  receiver: office\n"
  "  group_by: [commune, rule]\n"
  "  group_wait: 30s\n"
  "  group_interval: 5m\n"
  "  repeat_interval: 4h\n";

static void test_grouping_repeat_resolved(void **state) {
  (void)state;
  dw_notify_config *c = parse(SIMPLE);
  dw_notify_metrics m = {0};
  dw_notify_state *st = dw_notify_state_new(c, cal, &m);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert as[600];
  for (int i = 0; i < 600; i++) {
    char id[32];
    snprintf(id, sizeof id, "H30.%04d", i);
    as[i] = A(id, i < 400 ? DW_RULE_RESULT_NOT_DIGITIZED : DW_RULE_OVERDUE, "30412", t0 - i * MIN, t0 - HOUR);
    assert_int_equal(dw_notify_state_apply(st, &as[i], t0), 0);
  }
  const dw_notify_req *q;
  assert_int_equal(tick(st, t0 + 29 * 1000, &q), 0); /* group_wait */
  long n = tick(st, t0 + 30 * 1000, &q);
  assert_int_equal(n, 2); /* one per (commune, rule) */
  size_t total = 0;
  for (long i = 0; i < n; i++) {
    total += q[i].nfiring;
    assert_string_equal(q[i].labels[DW_NL_COMMUNE], "30412");
    assert_null(q[i].labels[DW_NL_AGENCY]);
  }
  assert_int_equal(total, 600);
  deliver_all(st, q, n);
  /* nothing new: nothing at the next intervals */
  assert_int_equal(tick(st, t0 + 30 * 1000 + 5 * MIN, &q), 0);
  /* a new alert: at the next group_interval, the group's full list again */
  dw_alert extra = A("H30.9999", DW_RULE_OVERDUE, "30412", t0 + 6 * MIN, t0);
  dw_notify_state_apply(st, &extra, t0 + 6 * MIN);
  assert_int_equal(tick(st, t0 + 7 * MIN, &q), 0);
  n = tick(st, t0 + 30 * 1000 + 10 * MIN, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 201);
  deliver_all(st, q, n);
  /* repeat after 4 h (the RESULT group was last sent at t0+30s) */
  n = tick(st, t0 + 30 * 1000 + 4 * HOUR - 5 * MIN, &q);
  assert_int_equal(n, 0);
  n = tick(st, t0 + 30 * 1000 + 4 * HOUR, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 400);
  deliver_all(st, q, n);
  /* resolved: one OVERDUE clears: webhook send_resolved -> a notice */
  int64_t t1 = t0 + 5 * HOUR;
  dw_alert cl = as[599];
  cl.cleared_at = t1;
  dw_notify_state_apply(st, &cl, t1);
  n = 0;
  for (int64_t t = t1; t <= t1 + 5 * MIN && n == 0; t += MIN) n = tick(st, t, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nresolved, 1);
  assert_string_equal(q[0].resolved[0]->dossier_id, "H30.0599");
  assert_int_equal(q[0].nfiring, 200);
  deliver_all(st, q, n);
  /* then it is forgotten */
  tick(st, t1 + 20 * MIN, &q);
  assert_int_equal(dw_notify_state_tracked(st), 600);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

static void test_pending_blocks_and_nothing_lost(void **state) {
  (void)state;
  dw_notify_config *c = parse(SIMPLE);
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", t0, t0 - HOUR);
  dw_notify_state_apply(st, &a, t0);
  const dw_notify_req *q;
  assert_int_equal(tick(st, t0 + 30 * 1000, &q), 1);
  /* the receiver is down: the message stays pending; more alerts come */
  dw_alert b = A("H30.2", DW_RULE_OVERDUE, "30412", t0 + MIN, t0 - HOUR);
  dw_notify_state_apply(st, &b, t0 + MIN);
  for (int i = 1; i <= 60; i++) assert_int_equal(tick(st, t0 + 30 * 1000 + i * 5 * MIN, &q), 0);
  /* back: the next flush says what changed */
  dw_notify_state_set_pending(st, "{}:{rule=\"OVERDUE\",commune=\"30412\"}", 0, false);
  long n = tick(st, t0 + 30 * 1000 + 61 * 5 * MIN, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 2);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

static void test_inhibition_and_silence(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: office\n    webhook_configs:\n      - url: http://127.0.0.1:9/hook\n"
    "route:\n  receiver: office\n  group_by: [commune]\n  group_wait: 0s\n  group_interval: 1m\n"
    "inhibit_rules:\n  - source_matchers: [rule=OVERDUE]\n    target_matchers: [rule=DUE_SOON]\n    equal: [dossier_id]\n");
  dw_notify_metrics m = {0};
  dw_notify_state *st = dw_notify_state_new(c, cal, &m);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert soon1 = A("H30.1", DW_RULE_DUE_SOON, "30412", t0, t0 + HOUR);
  dw_alert over1 = A("H30.1", DW_RULE_OVERDUE, "30412", t0, t0 - HOUR);
  dw_alert soon2 = A("H30.2", DW_RULE_DUE_SOON, "30412", t0, t0 + HOUR);
  dw_notify_state_apply(st, &soon1, t0);
  dw_notify_state_apply(st, &over1, t0);
  dw_notify_state_apply(st, &soon2, t0);
  /* a silence on H30.2 */
  dw_notify_silence s = {.starts_at = t0 - HOUR, .ends_at = t0 + 10 * MIN};
  snprintf(s.id, sizeof s.id, "s1");
  dw_notify_matcher mm;
  char err[128];
  assert_int_equal(dw_notify_matcher_parse("dossier_id=H30.2", &mm, err, sizeof err), 0);
  s.matchers = &mm;
  s.nmatchers = 1;
  dw_notify_state_set_silences(st, &s, 1);
  const dw_notify_req *q;
  long n = tick(st, t0, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 1); /* DUE_SOON of H30.1 inhibited, H30.2 silenced */
  assert_int_equal(q[0].firing[0]->rule, DW_RULE_OVERDUE);
  assert_int_equal(m.suppressed_inhibition, 1);
  assert_int_equal(m.suppressed_silence, 1);
  deliver_all(st, q, n);
  assert_int_equal(tick(st, t0 + MIN, &q), 0);
  /* the silence expires: H30.2 is new to the receiver */
  n = tick(st, t0 + 10 * MIN, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 2);
  assert_int_equal(m.suppressed_silence, 1); /* counted once */
  dw_notify_state_destroy(st);
  dw_notify_matcher_free(&mm);
  dw_notify_config_destroy(c);
}

static void test_office_hours_friday_and_tet(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: office\n    webhook_configs:\n      - url: http://127.0.0.1:9/hook\n"
    "route:\n  receiver: office\n  group_wait: 10m\n  office_hours: true\n");
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  const dw_notify_req *q;
  int64_t fri = T(2026, 3, 6, 16, 55);
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", fri, fri);
  dw_notify_state_apply(st, &a, fri);
  for (int64_t t = fri; t < T(2026, 3, 9, 7, 30); t += 30 * MIN) assert_int_equal(tick(st, t, &q), 0);
  assert_int_equal(tick(st, T(2026, 3, 9, 7, 30), &q), 1);
  dw_notify_state_destroy(st);
  /* the last working day before Tết 2026: Friday 13 Feb -> Monday 23 Feb */
  st = dw_notify_state_new(c, cal, NULL);
  int64_t tet = T(2026, 2, 13, 16, 55);
  dw_alert b = A("H30.2", DW_RULE_OVERDUE, "30412", tet, tet);
  dw_notify_state_apply(st, &b, tet);
  for (int64_t t = tet; t < T(2026, 2, 23, 7, 30); t += HOUR) assert_int_equal(tick(st, t, &q), 0);
  assert_int_equal(tick(st, T(2026, 2, 23, 7, 30), &q), 1);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

static void test_escalation(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: chairman\n    webhook_configs:\n      - url: http://127.0.0.1:9/a\n"
    "  - name: province\n    webhook_configs:\n      - url: http://127.0.0.1:9/b\n"
    "route:\n  receiver: chairman\n  group_wait: 0s\n  group_interval: 5m\n  repeat_interval: 100d\n"
    "escalations:\n  - name: overdue-2d\n    matchers: [rule=OVERDUE]\n    after: 2d\n    receiver: province\n"
    "    group_by: [commune]\n");
  dw_notify_metrics m = {0};
  dw_notify_state *st = dw_notify_state_new(c, cal, &m);
  const dw_notify_req *q;
  /* raised Thursday 5 March 2026 10:00: 2 working days later is Monday 9 March 10:00 */
  int64_t t0 = T(2026, 3, 5, 10, 0);
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", t0, t0);
  dw_notify_state_apply(st, &a, t0);
  long n = tick(st, t0, &q);
  assert_int_equal(n, 1);
  assert_string_equal(q[0].receiver->name, "chairman");
  deliver_all(st, q, n);
  for (int64_t t = t0 + 5 * MIN; t < T(2026, 3, 9, 10, 0); t += 30 * MIN) assert_int_equal(tick(st, t, &q), 0);
  n = tick(st, T(2026, 3, 9, 10, 0), &q);
  assert_int_equal(n, 1);
  assert_string_equal(q[0].receiver->name, "province");
  assert_true(q[0].route->escalation);
  assert_string_equal(q[0].labels[DW_NL_COMMUNE], "30412");
  assert_int_equal(m.escalated, 1);
  /* an alert cleared before its escalation never escalates */
  dw_alert b = A("H30.2", DW_RULE_OVERDUE, "30412", t0, t0);
  dw_notify_state_apply(st, &b, t0);
  b.cleared_at = T(2026, 3, 6, 9, 0);
  dw_notify_state_apply(st, &b, T(2026, 3, 6, 9, 0));
  deliver_all(st, q, n);
  for (int64_t t = T(2026, 3, 9, 10, 5); t < T(2026, 3, 12, 10, 0); t += 30 * MIN) {
    n = tick(st, t, &q);
    for (long i = 0; i < n; i++) assert_string_not_equal(q[i].receiver->name, "province");
    deliver_all(st, q, n);
  }
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

static void test_digest_schedule(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: chairman\n    email_configs:\n      - to: a@b.vn\n        from: c@d.vn\n"
    "        smarthost: 127.0.0.1:25\n"
    "route:\n  receiver: chairman\n"
    "digests:\n  - name: daily\n    receiver: chairman\n    at: '07:30'\n    matchers: ['commune=\"30412\"']\n");
  assert_int_equal(c->digests[0].unit_type, DW_UNIT_COMMUNE);
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  const dw_notify_req *q;
  /* Friday 13 Feb 2026 07:29: not yet; 07:30: once; then not again that day */
  assert_int_equal(tick(st, T(2026, 2, 13, 7, 29), &q), 0);
  long n = tick(st, T(2026, 2, 13, 7, 30), &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].kind, DW_NREQ_DIGEST);
  assert_string_equal(q[0].group_key, "digest/daily/2026-02-13");
  int sent = 1;
  /* through Tết: the next digest is Monday 23 Feb */
  for (int64_t t = T(2026, 2, 13, 8, 0); t <= T(2026, 2, 23, 12, 0); t += 30 * MIN) {
    n = tick(st, t, &q);
    if (n) {
      assert_true(t >= T(2026, 2, 23, 7, 30));
      assert_string_equal(q[0].group_key, "digest/daily/2026-02-23");
    }
    sent += (int)n;
  }
  assert_int_equal(sent, 2);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

/* A restart: the drained state restored into a new machine sends nothing
 * again within repeat_interval. */
typedef struct saved {
  dw_alert alerts[8];
  int nalerts;
  char key[8][256];
  int64_t next[8];
  dw_notify_nflog log[8];
  int ngroups;
} saved;

static void s_alert(const dw_alert *a, void *o) {
  saved *s = o;
  for (int i = 0; i < s->nalerts; i++)
    if (strcmp(s->alerts[i].alert_id, a->alert_id) == 0) {
      s->alerts[i] = *a;
      return;
    }
  s->alerts[s->nalerts++] = *a;
}
static void s_group(const char *key, const char *recv, int64_t next, bool flushed, const dw_notify_nflog *l, size_t nl,
                    void *o) {
  (void)recv;
  (void)flushed;
  saved *s = o;
  if (!l) return; /* only the timers moved */
  assert_int_equal(nl, 1);
  int i = 0;
  while (i < s->ngroups && strcmp(s->key[i], key)) i++;
  if (i == s->ngroups) s->ngroups++;
  else dw_notify_nflog_free(&s->log[i]);
  snprintf(s->key[i], sizeof s->key[i], "%s", key);
  s->next[i] = next;
  /* a deep copy */
  s->log[i] = (dw_notify_nflog){0};
  s->log[i].at = l->at;
  s->log[i].pending = l->pending;
  s->log[i].firing = calloc(l->nfiring + 1, sizeof(char *));
  for (size_t k = 0; k < l->nfiring; k++) s->log[i].firing[k] = strdup(l->firing[k]);
  s->log[i].nfiring = l->nfiring;
}

static void test_restore(void **state) {
  (void)state;
  dw_notify_config *c = parse(SIMPLE);
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", t0, t0 - HOUR);
  dw_notify_state_apply(st, &a, t0);
  const dw_notify_req *q;
  long n = tick(st, t0 + 30 * 1000, &q);
  assert_int_equal(n, 1);
  deliver_all(st, q, n);
  saved s;
  memset(&s, 0, sizeof s);
  dw_notify_sink sink = {s_alert, NULL, s_group, NULL, NULL};
  dw_notify_state_drain(st, &sink, &s);
  dw_notify_state_destroy(st);
  assert_int_equal(s.nalerts, 1);
  assert_int_equal(s.ngroups, 1);
  s.log[0].pending = false;
  /* restart */
  st = dw_notify_state_new(c, cal, NULL);
  assert_int_equal(dw_notify_state_restore_group(st, s.key[0], s.next[0], true, &s.log[0], 1), 0);
  dw_notify_state_apply(st, &s.alerts[0], t0 + HOUR);
  for (int64_t t = t0 + HOUR; t < t0 + 30 * 1000 + 4 * HOUR; t += 5 * MIN) assert_int_equal(tick(st, t, &q), 0);
  n = 0;
  for (int64_t t = t0 + 30 * 1000 + 4 * HOUR; t <= t0 + 30 * 1000 + 4 * HOUR + 5 * MIN && !n; t += MIN) n = tick(st, t, &q);
  assert_int_equal(n, 1); /* the repeat, on time */
  dw_notify_state_destroy(st);
  dw_notify_nflog_free(&s.log[0]);
  dw_notify_config_destroy(c);
}

/* A reload (SIGHUP): groups whose key remains keep their log (nothing sent
 * again); a new route re-keys the alerts into new groups. */
static void test_reload(void **state) {
  (void)state;
  dw_notify_config *c = parse(SIMPLE);
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert a = A("H30.1", DW_RULE_OVERDUE, "30412", t0, t0 - HOUR);
  dw_notify_state_apply(st, &a, t0);
  const dw_notify_req *q;
  long n = tick(st, t0 + 30 * 1000, &q);
  assert_int_equal(n, 1);
  deliver_all(st, q, n);
  dw_notify_config *same = parse(SIMPLE);
  dw_notify_state_set_config(st, same, t0 + MIN);
  dw_notify_config_destroy(c);
  for (int64_t t = t0 + MIN; t < t0 + HOUR; t += 5 * MIN) assert_int_equal(tick(st, t, &q), 0);
  /* group_by changes: a new group, a message at its group_wait */
  char other[sizeof SIMPLE + 16];
  snprintf(other, sizeof other, "%s", SIMPLE);
  char *gb = strstr(other, "[commune, rule]");
  memcpy(gb, "[agency, rule] ", 15);
  dw_notify_config *c2 = parse(other);
  dw_notify_state_set_config(st, c2, t0 + HOUR);
  dw_notify_config_destroy(same);
  assert_int_equal(tick(st, t0 + HOUR, &q), 0);
  n = tick(st, t0 + HOUR + 30 * 1000, &q);
  assert_int_equal(n, 1);
  assert_string_equal(q[0].labels[DW_NL_AGENCY], "UBND-30412");
  assert_null(q[0].labels[DW_NL_COMMUNE]);
  assert_int_equal(dw_notify_state_groups(st), 1); /* the old group went */
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c2);
}

static void test_english(void **state) {
  (void)state;
  dw_notify_config *c = parse(
    "receivers:\n  - name: office\n    language: en\n    email_configs:\n      - to: a@b.vn\n        from: c@d.vn\n"
    "        smarthost: 127.0.0.1:25\n        send_resolved: true\nroute:\n  receiver: office\n  group_by: [commune]\n"
    "  group_wait: 0s\n");
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert a = A("H30.1", DW_RULE_DUE_SOON, "30412", t0, t0 + 5 * HOUR);
  dw_notify_state_apply(st, &a, t0);
  const dw_notify_req *q;
  long n = tick(st, t0, &q);
  assert_int_equal(n, 1);
  dw_notify_message msg;
  char err[128];
  assert_int_equal(dw_notify_render(c, &q[0], NULL, OFF, &msg, err, sizeof err), 0);
  if (!strstr(msg.subject, "[dossierwatch] 1 open alerts - Commune 30412: Due soon 1")) fail_msg("subject: %s", msg.subject);
  if (!strstr(msg.text, "due 04/03/2026 14:00 - left 5 hours")) fail_msg("text: %s", msg.text);
  assert_null(strstr(msg.body, "Subject: =?UTF-8?B?")); /* plain ASCII stays as it is */
  dw_notify_message_free(&msg);
  deliver_all(st, q, n);
  /* resolved: the notice */
  a.cleared_at = t0 + HOUR;
  dw_notify_state_apply(st, &a, t0 + HOUR);
  n = tick(st, t0 + HOUR + 5 * MIN, &q);
  assert_int_equal(n, 1);
  assert_int_equal(q[0].nfiring, 0);
  assert_int_equal(q[0].nresolved, 1);
  assert_int_equal(dw_notify_render(c, &q[0], NULL, OFF, &msg, err, sizeof err), 0);
  if (!strstr(msg.subject, "1 resolved alerts - Commune 30412")) fail_msg("subject: %s", msg.subject);
  dw_notify_message_free(&msg);
  deliver_all(st, q, n);
  tick(st, t0 + 2 * HOUR, &q);
  tick(st, t0 + 2 * HOUR + MIN, &q);
  assert_int_equal(dw_notify_state_tracked(st), 0); /* told, then forgotten */
  assert_int_equal(dw_notify_state_groups(st), 0);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

/* ---- messages ---- */

static void test_messages(void **state) {
  (void)state;
  dw_notify_config *c = parse(BASE);
  dw_notify_state *st = dw_notify_state_new(c, cal, NULL);
  int64_t t0 = T(2026, 3, 4, 9, 0);
  dw_alert a = A("H30.01/2026 #7", DW_RULE_OVERDUE, "30412", t0, t0 - 50 * HOUR);
  dw_notify_state_apply(st, &a, t0);
  const dw_notify_req *q;
  long n = tick(st, t0 + 30 * 1000, &q);
  assert_true(n >= 2);
  int seen_email = 0, seen_hook = 0;
  for (long i = 0; i < n; i++) {
    dw_notify_message msg;
    char err[128];
    assert_int_equal(dw_notify_render(c, &q[i], NULL, OFF, &msg, err, sizeof err), 0);
    if (strcmp(q[i].receiver->name, "chairman-30412") == 0 && q[i].integ->kind == DW_NK_EMAIL) {
      seen_email++;
      if (!strstr(msg.subject, "1 cảnh báo đang mở - Xã 30412: Quá hạn 1")) fail_msg("subject: %s", msg.subject);
      assert_non_null(strstr(msg.body, "Subject: =?UTF-8?B?"));
      assert_non_null(strstr(msg.body, "Content-Type: multipart/alternative"));
      assert_non_null(strstr(msg.body, "text/html; charset=UTF-8"));
      assert_non_null(strstr(msg.text, "https://dash.example.vn/#dossier=H30.01%2F2026%20%237"));
      assert_non_null(strstr(msg.text, "trễ 2 ngày 2 giờ"));
      assert_non_null(strstr(msg.text, "hạn 02/03/2026 07:00"));
    }
    if (q[i].integ->kind == DW_NK_WEBHOOK) {
      seen_hook++;
      const char *want[] = {"\"version\":\"4\"", "\"status\":\"firing\"", "\"receiver\":\"chairman-30412\"",
                            "\"groupLabels\":{\"rule\":\"OVERDUE\",\"commune\":\"30412\"}", "\"truncatedAlerts\":0",
                            "\"externalURL\":\"https://dash.example.vn\"", "\"fingerprint\":\"", "\"endsAt\":\"0001-01-01T00:00:00Z\""};
      for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(msg.body, want[k])) fail_msg("webhook body lacks %s: %s", want[k], msg.body);
    }
    dw_notify_message_free(&msg);
  }
  assert_int_equal(seen_email, 1);
  assert_int_equal(seen_hook, 1);
  /* RFC 2047: words of at most 75 characters, a character never split */
  dw_buf b = DW_BUF_INIT;
  dw_notify_rfc2047("Báo cáo ngày 09/03/2026 - Xã Long Hiệp (30412): 618 cảnh báo đang mở", &b);
  for (char *line = b.data; line;) {
    char *nl = strstr(line, "\r\n");
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    assert_true(len <= 76);
    line = nl ? nl + 2 : NULL;
  }
  dw_buf_free(&b);
  dw_notify_state_destroy(st);
  dw_notify_config_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_ok),
    cmocka_unit_test(test_config_errors),
    cmocka_unit_test(test_durations),
    cmocka_unit_test(test_matchers),
    cmocka_unit_test(test_matcher_regex_bounds),
    cmocka_unit_test(test_routing),
    cmocka_unit_test(test_intervals),
    cmocka_unit_test(test_grouping_repeat_resolved),
    cmocka_unit_test(test_pending_blocks_and_nothing_lost),
    cmocka_unit_test(test_inhibition_and_silence),
    cmocka_unit_test(test_office_hours_friday_and_tet),
    cmocka_unit_test(test_escalation),
    cmocka_unit_test(test_digest_schedule),
    cmocka_unit_test(test_restore),
    cmocka_unit_test(test_reload),
    cmocka_unit_test(test_english),
    cmocka_unit_test(test_messages),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
