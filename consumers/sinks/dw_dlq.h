/* dw_dlq: the dead-letter path of watch. A Kafka message that is not a
 * readable dossier event (bad magic, unknown schema fingerprint, truncated,
 * invalid field) is produced to topic.dlq with its original key and value
 * and headers dw.error (the reason), dw.topic, dw.partition, dw.offset,
 * logged, and counted; watch waits for dw_dlq_flush (every DLQ message
 * confirmed by the broker) before it commits the offsets past them, so a
 * bad message is never lost. Events the engine refuses (e.g. a date outside
 * the loaded calendars) go the same way after the commit. */
#ifndef DW_DLQ_H
#define DW_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "dw_producer.h"

typedef struct dw_dlq dw_dlq;

/* producer: borrowed. */
dw_dlq *dw_dlq_new(dw_producer *producer, const char *dlq_topic);
void dw_dlq_destroy(dw_dlq *q);

/* Produces the message to the DLQ with the reason; logs it. 0 or -1. */
int dw_dlq_send(dw_dlq *q, const char *topic, int32_t partition, int64_t offset, const void *key, size_t key_len,
                const void *value, size_t value_len, const char *reason, char *errstr, size_t errstr_size);

/* Waits until every message sent since the last flush is confirmed.
 * Returns 0, or -1 if any failed or timed out (the caller must not commit
 * past them; the counters are reset either way). */
int dw_dlq_flush(dw_dlq *q, int timeout_ms, char *errstr, size_t errstr_size);

/* Messages confirmed on the DLQ since start. */
uint64_t dw_dlq_count(const dw_dlq *q);

#endif
