/* dw_kafka: builds librdkafka configuration from dw_config. */
#include "dw_kafka.h"

#include <stdio.h>

typedef struct conf_ctx {
  rd_kafka_conf_t *conf;
  char *errstr;
  size_t errstr_size;
} conf_ctx;

static int apply(const char *key, const char *value, void *opaque) {
  conf_ctx *ctx = opaque;
  char why[512];
  if (rd_kafka_conf_set(ctx->conf, key, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
    snprintf(ctx->errstr, ctx->errstr_size, "key 'kafka.%s': %s", key, why);
    return -1;
  }
  return 0;
}

rd_kafka_conf_t *dw_kafka_conf_new(const dw_config *cfg, char *errstr, size_t n) {
  if (!dw_config_get(cfg, "kafka.bootstrap.servers")) {
    snprintf(errstr, n, "no Kafka bootstrap servers: give --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    return NULL;
  }
  conf_ctx ctx = {rd_kafka_conf_new(), errstr, n};
  if (dw_config_foreach_prefix(cfg, "kafka.", apply, &ctx)) {
    rd_kafka_conf_destroy(ctx.conf);
    return NULL;
  }
  return ctx.conf;
}
