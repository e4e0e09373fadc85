/* dw_producer: idempotent, loss-checking Kafka producer (see dw_producer.h). */
#include "dw_producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_kafka.h"
#include "dw_log.h"
#include "dw_time.h"

#define QUEUE_FULL_WAIT_MS 100

struct dw_producer {
  rd_kafka_t *rk;
  char name[64];
  uint64_t queued, delivered, failed;
  char first_error[512];
};

static void note_error(dw_producer *p, const char *msg) {
  if (!p->first_error[0]) snprintf(p->first_error, sizeof p->first_error, "%s", msg);
}

/* Runs on the thread that polls: counts every report, in the producer's
 * totals and in the caller's dw_delivery if it gave one. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  dw_producer *p = opaque;
  dw_delivery *d = m->_private;
  if (m->err) {
    char why[300];
    snprintf(why, sizeof why, "delivery to %s [%d] failed: %s", m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
             (int)m->partition, rd_kafka_err2str(m->err));
    p->failed++;
    note_error(p, why);
    if (d) {
      d->failed++;
      snprintf(d->error, sizeof d->error, "%s", why);
    }
  } else {
    p->delivered++;
    if (d) d->delivered++;
  }
  if (d) d->pending--;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  dw_producer *p = opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char why[512], msg[600];
    rd_kafka_fatal_error(rk, why, sizeof why);
    snprintf(msg, sizeof msg, "fatal producer error: %s", why);
    note_error(p, msg);
    DW_LOG_ERR("kafka (%s): fatal: %s", p->name, why);
  } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    /* transient: librdkafka keeps retrying until message.timeout.ms */
    DW_LOG_WARNING("kafka (%s): %s (retrying)", p->name, reason);
  }
}

/* The kafka.* keys are shared by consumers and producers; librdkafka warns
 * (CONFWARN) about consumer-only ones on a producer. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "consumer property")) return;
  dw_log(level <= 3 ? DW_LOG_ERROR : level <= 5 ? DW_LOG_WARN : level == 6 ? DW_LOG_INFO : DW_LOG_DEBUG,
         "kafka: %s: %s", fac, buf);
}

dw_producer *dw_producer_new(const dw_config *cfg, const char *name, const char *const *props, char *errstr,
                             size_t n) {
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, errstr, n);
  if (!conf) return NULL;
  dw_producer *p = calloc(1, sizeof *p);
  if (!p) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, n, "out of memory");
    return NULL;
  }
  snprintf(p->name, sizeof p->name, "%s", name ? name : "producer");
  char why[512];
  static const char *const base[] = {"enable.idempotence", "true", "acks", "all", NULL};
  const char *const *lists[2] = {base, props};
  for (int l = 0; l < 2; l++)
    for (const char *const *kv = lists[l]; kv && kv[0] && kv[1]; kv += 2)
      if (rd_kafka_conf_set(conf, kv[0], kv[1], why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, n, "%s: %s", kv[0], why);
        rd_kafka_conf_destroy(conf);
        free(p);
        return NULL;
      }
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);
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
  snprintf(errstr, n, "fatal producer error: %s", why);
  note_error(p, errstr);
  return 1;
}

int dw_producer_send(dw_producer *p, const dw_message *m, dw_delivery *d, char *errstr, size_t n) {
  for (;;) {
    rd_kafka_headers_t *hdrs = NULL;
    if (m->headers && m->headers[0]) {
      hdrs = rd_kafka_headers_new(8);
      for (const char *const *h = m->headers; h[0] && h[1]; h += 2) rd_kafka_header_add(hdrs, h[0], -1, h[1], -1);
    }
    rd_kafka_resp_err_t err;
    if (hdrs)
      err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY((void *)m->key, m->key_len),
                              RD_KAFKA_V_VALUE((void *)m->value, m->value_len), RD_KAFKA_V_TIMESTAMP(m->timestamp_ms),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    else
      err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY((void *)m->key, m->key_len),
                              RD_KAFKA_V_VALUE((void *)m->value, m->value_len), RD_KAFKA_V_TIMESTAMP(m->timestamp_ms),
                              RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      p->queued++;
      if (d) d->pending++;
      rd_kafka_poll(p->rk, 0);
      return 0;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs); /* not queued: still ours */
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      /* make room by serving delivery reports, then offer the same message
       * again: a slow broker costs time, never the message */
      if (fatal(p, errstr, n)) return -1;
      rd_kafka_poll(p->rk, QUEUE_FULL_WAIT_MS);
      continue;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL)
      fatal(p, errstr, n);
    else
      snprintf(errstr, n, "cannot queue a message for %s: %s", m->topic, rd_kafka_err2str(err));
    note_error(p, errstr);
    return -1;
  }
}

void dw_producer_poll(dw_producer *p, int timeout_ms) { rd_kafka_poll(p->rk, timeout_ms); }

int dw_producer_wait(dw_producer *p, dw_delivery *d, int timeout_ms, char *errstr, size_t n) {
  int64_t end = dw_now_ms() + timeout_ms;
  while (d->pending > 0 && dw_now_ms() < end) rd_kafka_poll(p->rk, 50);
  if (d->pending > 0) {
    snprintf(errstr, n, "%ld messages not confirmed after %d ms", d->pending, timeout_ms);
    return -1;
  }
  if (d->failed > 0) {
    snprintf(errstr, n, "%ld messages failed, last: %s", d->failed, d->error);
    return -1;
  }
  return 0;
}

int dw_producer_flush(dw_producer *p, char *errstr, size_t n) {
  /* rd_kafka_flush gives up after its timeout but the messages stay queued;
   * loop until nothing is left. Messages that never make it are failed by
   * librdkafka (message.timeout.ms) and reported through on_delivery, so
   * the loop ends. */
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
    note_error(p, "messages left without a delivery report");
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
  if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    DW_LOG_WARNING("%s: %d messages still undelivered after 10 s at shutdown", p->name, rd_kafka_outq_len(p->rk));
  rd_kafka_destroy(p->rk);
  free(p);
}
