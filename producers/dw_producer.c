/* dw_producer: idempotent, loss-checking Kafka producer (see dw_producer.h). */
#include "dw_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_kafka.h"

struct dw_producer {
  rd_kafka_t *rk;
  uint64_t queued, delivered, failed;
  char first_error[512];
};

static void note_error(dw_producer *p, const char *fmt, const char *a, const char *b) {
  if (p->first_error[0]) return;
  snprintf(p->first_error, sizeof p->first_error, fmt, a, b);
}

/* Runs on the thread that polls: counts every report. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  dw_producer *p = opaque;
  if (m->err) {
    p->failed++;
    note_error(p, "delivery to %s failed: %s", m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
               rd_kafka_err2str(m->err));
  } else {
    p->delivered++;
  }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  dw_producer *p = opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512];
    rd_kafka_fatal_error(rk, why, sizeof why);
    note_error(p, "fatal producer error: %s%s", why, "");
    fprintf(stderr, "dossierwatch: kafka: fatal: %s\n", why);
  } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    /* transient: librdkafka keeps retrying until message.timeout.ms */
    fprintf(stderr, "dossierwatch: kafka: %s (retrying)\n", reason);
  }
}

dw_producer *dw_producer_new(const dw_config *cfg, char *errstr, size_t n) {
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, errstr, n);
  if (!conf) return NULL;
  dw_producer *p = calloc(1, sizeof *p);
  if (!p) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, n, "out of memory");
    return NULL;
  }
  char why[512];
  if (rd_kafka_conf_set(conf, "enable.idempotence", "true", why, sizeof why) != RD_KAFKA_CONF_OK) {
    snprintf(errstr, n, "enable.idempotence: %s", why);
    rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
  }
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_error);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
  if (!p->rk) {
    snprintf(errstr, n, "cannot create the Kafka producer: %s", why);
    rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
  }
  return p;
}

static int fatal(dw_producer *p, char *errstr, size_t n) {
  char why[512];
  if (rd_kafka_fatal_error(p->rk, why, sizeof why) == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
  note_error(p, "fatal producer error: %s%s", why, "");
  snprintf(errstr, n, "fatal producer error: %s", why);
  return 1;
}

int dw_producer_send(dw_producer *p, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t value_len, int64_t ts, char *errstr, size_t n) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      p->queued++;
      rd_kafka_poll(p->rk, 0);
      return 0;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      /* the message was not queued: make room by serving delivery reports,
       * then offer the same message again */
      if (fatal(p, errstr, n)) return -1;
      rd_kafka_poll(p->rk, 100);
      continue;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) fatal(p, errstr, n);
    else snprintf(errstr, n, "cannot queue a message for %s: %s", topic, rd_kafka_err2str(err));
    note_error(p, "%s%s", errstr, "");
    return -1;
  }
}

void dw_producer_poll(dw_producer *p, int timeout_ms) { rd_kafka_poll(p->rk, timeout_ms); }

int dw_producer_flush(dw_producer *p, char *errstr, size_t n) {
  /* rd_kafka_flush gives up after its timeout but the messages stay queued;
   * loop until nothing is left so that a slow broker costs time, not data.
   * Messages that never make it are failed by librdkafka (message.timeout.ms)
   * and reported through on_delivery, so the loop ends. */
  while (rd_kafka_outq_len(p->rk) > 0) {
    rd_kafka_flush(p->rk, 1000);
    if (fatal(p, errstr, n)) {
      rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(p->rk, 0);
      rd_kafka_flush(p->rk, 1000);
      break;
    }
  }
  rd_kafka_poll(p->rk, 0);
  /* anything accepted but not reported (purged without a report) is lost */
  uint64_t reported = p->delivered + p->failed;
  if (reported < p->queued) {
    p->failed += p->queued - reported;
    note_error(p, "%s%s", "messages left without a delivery report", "");
  }
  if (p->failed) {
    snprintf(errstr, n, "%llu of %llu messages not delivered: %s", (unsigned long long)p->failed,
             (unsigned long long)p->queued, p->first_error);
    return -1;
  }
  return 0;
}

uint64_t dw_producer_queued(const dw_producer *p) { return p->queued; }
uint64_t dw_producer_delivered(const dw_producer *p) { return p->delivered; }
uint64_t dw_producer_failed(const dw_producer *p) { return p->failed; }
const char *dw_producer_first_error(const dw_producer *p) { return p->first_error; }
rd_kafka_t *dw_producer_handle(dw_producer *p) { return p->rk; }

void dw_producer_destroy(dw_producer *p) {
  if (!p) return;
  rd_kafka_destroy(p->rk);
  free(p);
}
