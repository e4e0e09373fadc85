/* dw_replay_kafka: reading topic.events "from a time" for `replay
 * --from-topic --since T`. For every partition: the watermarks [low, high)
 * captured once at the start (what arrives later is not part of the
 * replay), the first offset whose message timestamp is >= T, then every
 * message from there up to high.
 *
 * The start offset comes from the broker (rd_kafka_offsets_for_times =
 * ListOffsets by timestamp). Some brokers cannot answer that: librdkafka's
 * mock cluster (our embedded broker) answers -1 for any timestamp. When the
 * answer is -1 or an error while the partition is not empty, we find the
 * offset ourselves by binary search over [low, high), consuming the single
 * message at each probe offset and reading its timestamp. That assumes
 * timestamps grow with offsets (CreateTime from one producer, or
 * LogAppendTime), which is what the producers here do; a real broker's
 * answer is used whenever it gives one. */
#ifndef DW_REPLAY_KAFKA_H
#define DW_REPLAY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_config.h"

/* A consumer for assign()-based reading (no group subscription, no offset
 * commits, partition EOF events on). NULL with the reason on error. */
rd_kafka_t *dw_replay_kafka_consumer_new(const dw_config *cfg, char *errstr, size_t errstr_size);

/* The first offset in [low, high) of topic/partition whose message
 * timestamp is >= ts, or high when there is none, by binary search (one
 * consumed message per probe). *probes (may be NULL) gets the number of
 * messages consumed. Returns 0 or -1 with the reason. */
int dw_replay_kafka_search_offset(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t low, int64_t high,
                                  int64_t ts, int64_t *out, int *probes, char *errstr, size_t errstr_size);

typedef struct dw_replay_part {
  int32_t partition;
  int64_t low, high; /* watermarks at the start */
  int64_t start;     /* first offset to read */
  const char *method; /* "empty", "offsets_for_times", "binary search" */
  int probes;
} dw_replay_part;

/* Plans the read of every partition of topic from timestamp since:
 * *parts (malloc'd, *n entries). Returns 0 or -1. */
int dw_replay_kafka_plan(rd_kafka_t *rk, const char *topic, int64_t since, dw_replay_part **parts, size_t *n,
                         char *errstr, size_t errstr_size);

/* Called for every message; a non-zero return stops the read (returned). */
typedef int (*dw_replay_msg_fn)(void *opaque, int32_t partition, int64_t offset, const void *value, size_t len,
                                int64_t timestamp);

/* Consumes every partition from its start up to (not including) its high
 * watermark. Gives up with an error when no message arrives for
 * idle_timeout_ms. Returns 0, -1 on error, or fn's non-zero value. */
int dw_replay_kafka_read(rd_kafka_t *rk, const char *topic, const dw_replay_part *parts, size_t n,
                         int idle_timeout_ms, dw_replay_msg_fn fn, void *opaque, char *errstr, size_t errstr_size);

#endif
