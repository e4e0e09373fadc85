/* dw_dlq: dead-letter messages with their reason (see dw_dlq.h). */
#include "dw_dlq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_log.h"

struct dw_dlq {
  dw_producer *p;
  char topic[256];
  dw_delivery d;
  uint64_t confirmed;
};

dw_dlq *dw_dlq_new(dw_producer *producer, const char *dlq_topic) {
  dw_dlq *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->p = producer;
  snprintf(q->topic, sizeof q->topic, "%s", dlq_topic);
  return q;
}

void dw_dlq_destroy(dw_dlq *q) { free(q); }

int dw_dlq_send(dw_dlq *q, const char *topic, int32_t partition, int64_t offset, const void *key, size_t key_len,
                const void *value, size_t value_len, const char *reason, char *errstr, size_t n) {
  DW_LOG_INF("%s [%d] @%lld -> %s: %s", topic, (int)partition, (long long)offset, q->topic, reason);
  char part[16], off[24];
  snprintf(part, sizeof part, "%d", (int)partition);
  snprintf(off, sizeof off, "%lld", (long long)offset);
  const char *const headers[] = {"dw.error", reason, "dw.topic", topic, "dw.partition", part, "dw.offset", off, NULL};
  const dw_message m = {q->topic, key, key_len, value, value_len, 0, headers};
  return dw_producer_send(q->p, &m, &q->d, errstr, n);
}

int dw_dlq_flush(dw_dlq *q, int timeout_ms, char *errstr, size_t n) {
  int rc = dw_producer_wait(q->p, &q->d, timeout_ms, errstr, n);
  if (rc == 0) q->confirmed += (uint64_t)q->d.delivered;
  /* Failed or unconfirmed messages will be sent again when the batch is
   * re-consumed: forget them here (late reports still find q->d valid). */
  q->d.failed = 0;
  q->d.delivered = 0;
  q->d.error[0] = '\0';
  return rc;
}

uint64_t dw_dlq_count(const dw_dlq *q) { return q->confirmed; }
