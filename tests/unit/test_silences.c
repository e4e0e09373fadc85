/* Unit tests: the silences API's pure parts (consumers/notify/silences),
 * what serve's /api/v1/silences relies on: a POST body in Alertmanager's
 * shape and in ours, its errors naming the field, the JSON it answers
 * (Alertmanager API v2's silence object), the state at an instant, and the
 * token scope check; plus notify's metrics text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dw_notify_metrics.h"
#include "dw_silences.h"
#include "dw_time.h"

static int64_t T(const char *s) {
  int64_t ms;
  char err[128];
  if (dw_time_parse_rfc3339(s, &ms, err, sizeof err)) fail_msg("%s: %s", s, err);
  return ms;
}

static void test_from_json_alertmanager(void **state) {
  (void)state;
  const char *body = "{\"matchers\":[{\"name\":\"agency\",\"value\":\"UBND-30412\",\"isRegex\":false,\"isEqual\":true},"
                     "{\"name\":\"rule\",\"value\":\"DUE_SOON|OVERDUE\",\"isRegex\":true}],"
                     "\"startsAt\":\"2026-03-04T09:00:00+07:00\",\"endsAt\":\"2026-03-04T17:00:00+07:00\","
                     "\"createdBy\":\"Nguyễn Văn A\",\"comment\":\"bảo trì\"}";
  dw_silence s;
  char err[256];
  assert_int_equal(dw_silence_from_json(body, strlen(body), T("2026-03-04T08:00:00+07:00"), &s, err, sizeof err), 0);
  assert_int_equal(s.s.nmatchers, 2);
  assert_int_equal(s.m[0].op, DW_NOP_EQ);
  assert_int_equal(s.m[1].op, DW_NOP_RE);
  assert_int_equal(s.s.starts_at, T("2026-03-04T09:00:00+07:00"));
  assert_int_equal(s.s.ends_at, T("2026-03-04T17:00:00+07:00"));
  assert_string_equal(s.created_by, "Nguyễn Văn A");
  assert_string_equal(dw_silence_state(&s, T("2026-03-04T08:59:00+07:00")), "pending");
  assert_string_equal(dw_silence_state(&s, T("2026-03-04T09:00:00+07:00")), "active");
  assert_string_equal(dw_silence_state(&s, T("2026-03-04T17:00:00+07:00")), "expired");
  /* it silences what it says */
  dw_alert a;
  memset(&a, 0, sizeof a);
  a.rule = DW_RULE_OVERDUE;
  snprintf(a.agency, sizeof a.agency, "UBND-30412");
  assert_true(dw_notify_silence_matches(&s.s, &a));
  a.rule = DW_RULE_RESULT_NOT_DIGITIZED;
  assert_false(dw_notify_silence_matches(&s.s, &a));
  /* back to JSON */
  snprintf(s.s.id, sizeof s.s.id, "0b0e7a44-2a52-4a8e-9a57-3f5b1e6d8c01");
  dw_buf b = DW_BUF_INIT;
  dw_silence_to_json(&s, T("2026-03-04T10:00:00+07:00"), 420, &b);
  const char *want[] = {"\"id\":\"0b0e7a44-2a52-4a8e-9a57-3f5b1e6d8c01\"",
                        "{\"name\":\"agency\",\"value\":\"UBND-30412\",\"isRegex\":false,\"isEqual\":true}",
                        "{\"name\":\"rule\",\"value\":\"DUE_SOON|OVERDUE\",\"isRegex\":true,\"isEqual\":true}",
                        "\"startsAt\":\"2026-03-04T09:00:00+07:00\"", "\"endsAt\":\"2026-03-04T17:00:00+07:00\"",
                        "\"createdBy\":\"Nguyễn Văn A\"", "\"status\":{\"state\":\"active\"}"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(b.data, want[i])) fail_msg("%s lacks %s", b.data, want[i]);
  dw_buf_free(&b);
  dw_silence_free(&s);
}

static void test_from_json_ours_and_errors(void **state) {
  (void)state;
  const char *body = "{\"matchers\":[\"commune=30412\",\"severity!=warning\"],\"duration\":\"8h\",\"comment\":\"x\"}";
  dw_silence s;
  char err[256];
  int64_t now = T("2026-03-04T08:00:00+07:00");
  assert_int_equal(dw_silence_from_json(body, strlen(body), now, &s, err, sizeof err), 0);
  assert_int_equal(s.s.starts_at, now);
  assert_int_equal(s.s.ends_at, now + 8 * 3600000LL);
  assert_int_equal(s.m[1].op, DW_NOP_NE);
  dw_silence_free(&s);
  struct {
    const char *body, *want;
  } bad[] = {
    {"[1]", "body: expected a JSON object"},
    {"{", "body: line 1"},
    {"{\"matchers\":[]}", "matchers: a non-empty list is required"},
    {"{\"matchers\":[\"colour=red\"]}", "matchers[0]: matcher 'colour=red': unknown label 'colour'"},
    {"{\"matchers\":[{\"name\":\"rule\"}]}", "matchers[0]: name and value (strings) are required"},
    {"{\"matchers\":[\"rule=OVERDUE\"],\"endsAt\":\"tomorrow\"}", "endsAt:"},
    {"{\"matchers\":[\"rule=OVERDUE\"],\"duration\":\"soon\"}", "duration: expected a duration"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (dw_silence_from_json(bad[i].body, strlen(bad[i].body), now, &s, err, sizeof err) == 0)
      fail_msg("%s accepted", bad[i].body);
    if (!strstr(err, bad[i].want)) fail_msg("%s: error '%s' lacks '%s'", bad[i].body, err, bad[i].want);
  }
}

static void test_scope(void **state) {
  (void)state;
  dw_notify_matcher scope[2];
  char err[256];
  assert_int_equal(dw_notify_matcher_parse("agency=\"UBND-30412\"", &scope[0], err, sizeof err), 0);
  assert_int_equal(dw_notify_matcher_parse("commune=~\"304.*\"", &scope[1], err, sizeof err), 0);
  dw_silence s;
  dw_silence_init(&s);
  assert_int_equal(dw_silence_add_matcher(&s, "agency=UBND-30412", err, sizeof err), 0);
  assert_true(dw_silence_within_scope(&s, scope, 1));
  assert_false(dw_silence_within_scope(&s, scope, 2)); /* no commune matcher: could cover other communes */
  assert_int_equal(dw_silence_add_matcher(&s, "commune=30415", err, sizeof err), 0);
  assert_true(dw_silence_within_scope(&s, scope, 2));
  dw_silence_free(&s);
  /* a regular expression or a != never stays inside an equality scope */
  dw_silence_init(&s);
  assert_int_equal(dw_silence_add_matcher(&s, "agency=~\"UBND-.*\"", err, sizeof err), 0);
  assert_false(dw_silence_within_scope(&s, scope, 1));
  dw_silence_free(&s);
  dw_silence_init(&s);
  assert_int_equal(dw_silence_add_matcher(&s, "agency=UBND-99999", err, sizeof err), 0);
  assert_false(dw_silence_within_scope(&s, scope, 1));
  assert_true(dw_silence_within_scope(&s, NULL, 0)); /* an unscoped token */
  dw_silence_free(&s);
  dw_notify_matcher_free(&scope[0]);
  dw_notify_matcher_free(&scope[1]);
}

static void test_metrics_text(void **state) {
  (void)state;
  dw_notify_metrics m = {0};
  m.sent[0] = 3;
  m.failed[1] = 2;
  m.suppressed_mute = 5;
  m.groups = 7;
  dw_buf b = DW_BUF_INIT;
  dw_notify_metrics_render(&m, &b);
  const char *want[] = {"# TYPE dossierwatch_notify_sent_total counter\n",
                        "dossierwatch_notify_sent_total{integration=\"email\"} 3\n",
                        "dossierwatch_notify_failed_total{integration=\"webhook\"} 2\n",
                        "dossierwatch_notify_suppressed_total{reason=\"mute\"} 5\n",
                        "dossierwatch_notify_suppressed_total{reason=\"silence\"} 0\n",
                        "# TYPE dossierwatch_notify_groups gauge\ndossierwatch_notify_groups 7\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(b.data, want[i])) fail_msg("metrics text lacks %s:\n%s", want[i], b.data);
  /* one HELP/TYPE per family */
  const char *p = b.data;
  int types = 0;
  while ((p = strstr(p, "# TYPE dossierwatch_notify_suppressed_total"))) types++, p++;
  assert_int_equal(types, 1);
  dw_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_from_json_alertmanager),
    cmocka_unit_test(test_from_json_ours_and_errors),
    cmocka_unit_test(test_scope),
    cmocka_unit_test(test_metrics_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
