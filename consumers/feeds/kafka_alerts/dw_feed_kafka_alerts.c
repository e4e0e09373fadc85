/* dw_feed_kafka_alerts: every alert change to topic.alerts (CONTRACT §4:
 * key = agency, value = Avro single-object of schemas/alert.avsc); a
 * clearing is the alert again with cleared_at. Woken by every commit that
 * wrote alerts, so an alert is on the topic within milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec.h"
#include "dw_feed.h"
#include "dw_log.h"
#include "dw_producer.h"

#define DELIVERY_TIMEOUT_MS 30000
#define WARMUP_TIMEOUT_MS 5000

typedef struct st {
  dw_producer *p;
  dw_avro *av;
  char topic[256];
} st;

static void close_feed(void *s) {
  st *f = s;
  dw_producer_destroy(f->p);
  if (f->av) dw_avro_destroy(f->av);
  free(f);
}

/* The first message to a topic would otherwise wait for its metadata
 * (leaders): ask for it up front. Best effort. */
static void warm_up(st *f) {
  rd_kafka_t *rk = dw_producer_handle(f->p);
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, f->topic, NULL);
  if (!t) return;
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 0, t, &md, WARMUP_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
}

static void *open_feed(const dw_config *cfg, char *err, size_t n) {
  st *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  snprintf(f->topic, sizeof f->topic, "%s", dw_config_get(cfg, "topic.alerts"));
  /* alerts leave at once (latency) */
  static const char *const props[] = {"linger.ms", "0", NULL};
  if (!(f->p = dw_producer_new(cfg, "feed kafka_alerts", props, err, n)) || !(f->av = dw_avro_new(err, n))) {
    close_feed(f);
    return NULL;
  }
  warm_up(f);
  return f;
}

static int deliver(void *s, const dw_outbox_page *page, dw_feed_round *r, long *skipped, char *err, size_t n) {
  (void)r;
  st *f = s;
  dw_delivery d = {0};
  for (size_t i = 0; i < page->n; i++) {
    const dw_alert *a = &page->alerts[i];
    const void *out;
    size_t len;
    char why[256];
    if (dw_avro_encode_alert(f->av, a, &out, &len, why, sizeof why)) {
      DW_LOG_ERR("feed kafka_alerts: alert %s not publishable: %s", a->alert_id, why);
      (*skipped)++;
      continue;
    }
    const dw_message m = {f->topic, a->agency, strlen(a->agency), out, len, 0, NULL};
    if (dw_producer_send(f->p, &m, &d, err, n)) return -1;
  }
  return dw_producer_wait(f->p, &d, DELIVERY_TIMEOUT_MS, err, n);
}

const dw_feed dw_feed_kafka_alerts = {
  "kafka_alerts", DW_OUTBOX_ALERTS, "alerts to topic.alerts (key agency)", NULL, 1000, true,
  open_feed,      deliver,          NULL,                                     close_feed,
};
