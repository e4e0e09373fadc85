/* dw_producer: the one Kafka producer wrapper used by simulate, import and
 * replay, built so that nothing accepted is ever lost silently:
 *  - idempotent (enable.idempotence=true: no duplicates or reordering from
 *    librdkafka's own retries);
 *  - a local-queue-full condition is handled by serving delivery reports
 *    (polling) and retrying the same message, never by dropping it;
 *  - every delivery report is checked and counted (delivered / failed), the
 *    first failure reason kept;
 *  - flush loops until the out queue is empty or a fatal error occurs (no
 *    timeout-based loss); after a fatal error what is still queued is purged
 *    and counted as failed.
 * A caller exits non-zero when dw_producer_failed() > 0. */
#ifndef DW_PRODUCER_H
#define DW_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_config.h"

typedef struct dw_producer dw_producer;

/* Producer from the kafka.* keys of cfg (bootstrap required). NULL on error
 * with the reason in errstr. */
dw_producer *dw_producer_new(const dw_config *cfg, char *errstr, size_t errstr_size);

/* Queues one message (key and value are copied). timestamp_ms 0 = now.
 * Blocks (polling) while the local queue is full. Returns 0, or -1 on a
 * permanent error (fatal producer error, message too large, ...). */
int dw_producer_send(dw_producer *p, const char *topic, const void *key, size_t key_len,
                     const void *value, size_t value_len, int64_t timestamp_ms,
                     char *errstr, size_t errstr_size);

/* Serves delivery reports (non-blocking with 0). */
void dw_producer_poll(dw_producer *p, int timeout_ms);

/* Waits until every queued message has a delivery report. Returns 0 when all
 * were delivered, -1 when any failed or a fatal error happened (reason in
 * errstr). */
int dw_producer_flush(dw_producer *p, char *errstr, size_t errstr_size);

uint64_t dw_producer_queued(const dw_producer *p);    /* accepted by send */
uint64_t dw_producer_delivered(const dw_producer *p); /* positive delivery reports */
uint64_t dw_producer_failed(const dw_producer *p);    /* negative delivery reports */
/* The first delivery failure or fatal error, "" if none. */
const char *dw_producer_first_error(const dw_producer *p);

rd_kafka_t *dw_producer_handle(dw_producer *p);

/* Destroys without flushing: call dw_producer_flush() first. */
void dw_producer_destroy(dw_producer *p);

#endif
