/* Unit tests: configuration parsing and RFC 3339 time handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_config.h"
#include "dw_time.h"

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_config_file_and_errors(void **state) {
  (void)state;
  char path[] = "/tmp/dwcfgXXXXXX", err[512];
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  write_file(path, "# comment\n kafka.bootstrap.servers = 127.0.0.1:9092 \n\nrules.due_soon_days=2 # two\n");
  dw_config *cfg = dw_config_new();
  assert_int_equal(dw_config_load_file(cfg, path, err, sizeof err), 0);
  assert_string_equal(dw_config_get(cfg, "kafka.bootstrap.servers"), "127.0.0.1:9092");
  assert_true(dw_config_get_double(cfg, "rules.due_soon_days") == 2.0);
  assert_string_equal(dw_config_get(cfg, "topic.events"), "dossier.events");

  write_file(path, "topic.events = x\nno.such.key = 1\n");
  assert_int_equal(dw_config_load_file(cfg, path, err, sizeof err), -1);
  assert_non_null(strstr(err, ":2:"));
  assert_non_null(strstr(err, "no.such.key"));

  write_file(path, "broker.partitions = many\n");
  assert_int_equal(dw_config_load_file(cfg, path, err, sizeof err), -1);
  assert_non_null(strstr(err, "broker.partitions"));
  assert_int_equal(dw_config_set(cfg, "broker.partitions", "0", err, sizeof err), -1);
  dw_config_destroy(cfg);
  unlink(path);
}

static void test_rfc3339(void **state) {
  (void)state;
  int64_t ms;
  char err[256], buf[40];
  assert_int_equal(dw_time_parse_rfc3339("2025-04-29T08:00:00+07:00", &ms, err, sizeof err), 0);
  assert_int_equal(ms, 1745888400000LL);
  dw_time_format(ms, 420, buf, sizeof buf);
  assert_string_equal(buf, "2025-04-29T08:00:00+07:00");
  assert_int_equal(dw_time_parse_rfc3339("2025-04-29T01:00:00.5Z", &ms, err, sizeof err), 0);
  assert_int_equal(ms, 1745888400500LL);
  dw_time_format(ms, 420, buf, sizeof buf);
  assert_string_equal(buf, "2025-04-29T08:00:00.500+07:00");
  assert_int_equal(dw_time_parse_rfc3339("2025-04-29T08:00:00", &ms, err, sizeof err), -1);
  assert_int_equal(dw_time_parse_rfc3339("2025-02-29T08:00:00Z", &ms, err, sizeof err), -1);
  assert_int_equal(dw_time_parse_rfc3339("garbage", &ms, err, sizeof err), -1);
  assert_int_equal(dw_weekday(dw_days_from_civil(2025, 4, 26)), 5); /* Saturday */
  /* local days before 1970 and at the extremes (DW_TIME_NONE) without overflow */
  assert_int_equal(dw_local_day(-1, 0), -1);
  assert_int_equal(dw_local_day(-DW_MS_PER_DAY, 0), -1);
  assert_int_equal(dw_local_day(-DW_MS_PER_DAY - 1, 0), -2);
  assert_true(dw_local_day(INT64_MIN, 420) < 0);
  dw_time_format(-1, 0, buf, sizeof buf);
  assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_config_file_and_errors),
    cmocka_unit_test(test_rfc3339),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
