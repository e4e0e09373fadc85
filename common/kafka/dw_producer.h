/* dw_producer: the one Kafka producer of dossierwatch, for everything that
 * produces (simulate, import, watch's dead letters, the outbox feeds).
 * Idempotent (enable.idempotence=true, acks=all) and loss-checking: every
 * delivery report is counted, a full local queue is waited out rather than
 * failed, and flush/destroy say how many messages never got a report.
 *
 * A caller that must know when *its* messages are confirmed (a feed marks
 * rows delivered only then; the DLQ is confirmed before offsets pass a bad
 * message) passes a dw_delivery with each message and waits on it; the
 * producer's own totals count every message whatever was passed.
 * Delivery reports are served by whichever thread calls into the producer
 * (send, poll, wait, flush): use one producer per thread. */
#ifndef DW_PRODUCER_H
#define DW_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_config.h"

typedef struct dw_producer dw_producer;

/* Reports of a group of messages (one page of a feed, one DLQ flush). */
typedef struct dw_delivery {
  long pending;   /* sent, no report yet */
  long delivered; /* positive reports */
  long failed;    /* negative reports */
  char error[256]; /* the last failure */
} dw_delivery;

/* One message. headers: name, value, name, value, ..., NULL (may be NULL).
 * timestamp_ms 0: the producer's clock. */
typedef struct dw_message {
  const char *topic;
  const void *key;
  size_t key_len;
  const void *value;
  size_t value_len;
  int64_t timestamp_ms;
  const char *const *headers;
} dw_message;

/* cfg: kafka.* keys pass to librdkafka; props: extra librdkafka properties
 * as key, value, ..., NULL (e.g. "linger.ms", "0"), applied over cfg; name
 * names the producer in its messages ("import", "feed alerts.kafka"). */
dw_producer *dw_producer_new(const dw_config *cfg, const char *name, const char *const *props, char *errstr,
                             size_t errstr_size);
/* Flushes (10 s at most), says on stderr how many messages stayed
 * undelivered, destroys. */
void dw_producer_destroy(dw_producer *p);

/* Queues one message (copied), waiting while the local queue is full.
 * d: counts this message's report too (may be NULL). 0, or -1 with errstr. */
int dw_producer_send(dw_producer *p, const dw_message *m, dw_delivery *d, char *errstr, size_t errstr_size);
/* Serves delivery reports for up to timeout_ms. */
void dw_producer_poll(dw_producer *p, int timeout_ms);
/* Waits until d has no pending message (timeout_ms at most). 0 when all
 * were delivered; -1 with errstr when some failed or are still pending. */
int dw_producer_wait(dw_producer *p, dw_delivery *d, int timeout_ms, char *errstr, size_t errstr_size);
/* Waits for every message ever sent (however long a slow broker takes:
 * librdkafka fails what exceeds message.timeout.ms). 0 when every one was
 * delivered; -1 with "N of M messages not delivered: first error". */
int dw_producer_flush(dw_producer *p, char *errstr, size_t errstr_size);

uint64_t dw_producer_queued(const dw_producer *p);    /* accepted by send */
uint64_t dw_producer_delivered(const dw_producer *p); /* positive delivery reports */
uint64_t dw_producer_failed(const dw_producer *p);    /* negative delivery reports */
const char *dw_producer_first_error(const dw_producer *p);
/* The librdkafka handle, for metadata requests. */
rd_kafka_t *dw_producer_handle(dw_producer *p);

#endif
