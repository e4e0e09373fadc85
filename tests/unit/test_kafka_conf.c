/* Unit tests: dw_kafka_conf_new turns kafka.* configuration keys into
 * librdkafka properties, names the offending key when librdkafka refuses
 * one, and insists on bootstrap servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dw_kafka.h"

static dw_config *config_with(const char *const *kv) {
  char err[512];
  dw_config *cfg = dw_config_new();
  assert_non_null(cfg);
  for (; kv && kv[0]; kv += 2) assert_int_equal(dw_config_set(cfg, kv[0], kv[1], err, sizeof err), 0);
  return cfg;
}

static void assert_conf_value(rd_kafka_conf_t *conf, const char *name, const char *want) {
  char buf[256];
  size_t n = sizeof buf;
  assert_int_equal(rd_kafka_conf_get(conf, name, buf, &n), RD_KAFKA_CONF_OK);
  assert_string_equal(buf, want);
}

static void test_passes_kafka_keys_through(void **state) {
  (void)state;
  static const char *const kv[] = {"kafka.bootstrap.servers", "127.0.0.1:9092,127.0.0.1:9093",
                                   "kafka.linger.ms", "7",
                                   "kafka.client.id", "dw-test",
                                   "topic.events", "not-a-kafka-key",
                                   NULL};
  dw_config *cfg = config_with(kv);
  char err[512] = "";
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, err, sizeof err);
  assert_non_null(conf);
  assert_conf_value(conf, "bootstrap.servers", "127.0.0.1:9092,127.0.0.1:9093");
  assert_conf_value(conf, "linger.ms", "7");
  assert_conf_value(conf, "client.id", "dw-test");
  rd_kafka_conf_destroy(conf);
  dw_config_destroy(cfg);
}

static void test_rejects_unknown_property_naming_key(void **state) {
  (void)state;
  static const char *const kv[] = {"kafka.bootstrap.servers", "127.0.0.1:9092", "kafka.no.such.property", "1", NULL};
  dw_config *cfg = config_with(kv);
  char err[512] = "";
  assert_null(dw_kafka_conf_new(cfg, err, sizeof err));
  assert_non_null(strstr(err, "kafka.no.such.property"));
  dw_config_destroy(cfg);
}

static void test_rejects_bad_value_naming_key(void **state) {
  (void)state;
  static const char *const kv[] = {"kafka.bootstrap.servers", "127.0.0.1:9092", "kafka.linger.ms", "soon", NULL};
  dw_config *cfg = config_with(kv);
  char err[512] = "";
  assert_null(dw_kafka_conf_new(cfg, err, sizeof err));
  assert_non_null(strstr(err, "kafka.linger.ms"));
  dw_config_destroy(cfg);

  static const char *const kv2[] = {"kafka.bootstrap.servers", "127.0.0.1:9092", "kafka.acks", "some", NULL};
  cfg = config_with(kv2);
  assert_null(dw_kafka_conf_new(cfg, err, sizeof err));
  assert_non_null(strstr(err, "kafka.acks"));
  dw_config_destroy(cfg);
}

static void test_requires_bootstrap(void **state) {
  (void)state;
  static const char *const kv[] = {"kafka.linger.ms", "5", NULL};
  dw_config *cfg = config_with(kv);
  char err[512] = "";
  assert_null(dw_kafka_conf_new(cfg, err, sizeof err));
  assert_non_null(strstr(err, "bootstrap"));
  dw_config_destroy(cfg);
  cfg = config_with(NULL);
  assert_null(dw_kafka_conf_new(cfg, err, sizeof err));
  assert_non_null(strstr(err, "bootstrap"));
  dw_config_destroy(cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_passes_kafka_keys_through),
    cmocka_unit_test(test_rejects_unknown_property_naming_key),
    cmocka_unit_test(test_rejects_bad_value_naming_key),
    cmocka_unit_test(test_requires_bootstrap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
