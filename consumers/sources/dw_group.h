/* dw_group: the Kafka consumer-group source of `watch`: one librdkafka
 * consumer subscribed to the events topic, its partition table (dw_pool.h)
 * and the rebalance protocol. Offsets are the caller's (kept in PostgreSQL
 * with the data, never committed to Kafka): on assignment the caller's
 * `assigned` hook loads them with the partitions' state and the group
 * starts each partition there; before a revocation the `revoking` hook
 * commits what the caller holds, then the partitions are forgotten.
 * Assignment is eager (range), so a revocation is a full stop the caller
 * can commit at. */
#ifndef DW_GROUP_H
#define DW_GROUP_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_config.h"
#include "dw_pool.h"

typedef struct dw_group dw_group;

typedef struct dw_group_hooks {
  /* Partitions ps[0..n) were assigned and are in parts[] as unknown: load
   * their stored offsets into parts[p].next/.stored (-1: from the
   * beginning). Return 0, or -1 when they could not be loaded (they then
   * start from the beginning until the caller rebuilds and seeks). */
  int (*assigned)(void *opaque, const int32_t *ps, size_t n);
  /* Partitions ps[0..n) are about to be revoked: commit what is held. */
  void (*revoking)(void *opaque, const int32_t *ps, size_t n);
  /* After a revocation: forget what belonged to the partitions no longer
   * assigned (parts[p].assigned is already false). */
  void (*revoked)(void *opaque);
  void *opaque;
} dw_group_hooks;

/* cfg: kafka.* (kafka.group.id required), topic.events. */
dw_group *dw_group_new(const dw_config *cfg, dw_group_hooks hooks, char *errstr, size_t errstr_size);
/* Leaves the group (the revoking hook runs) and destroys the consumer. */
void dw_group_close(dw_group *g);

dw_part *dw_group_parts(dw_group *g);
const char *dw_group_topic(const dw_group *g);
size_t dw_group_assigned(const dw_group *g);
/* The wall-clock instant of the last assignment or revocation. */
int64_t dw_group_last_rebalance(const dw_group *g);

/* The next message of an assigned partition not received before, within
 * timeout_ms; NULL when none (rebalances run inside). Marks it received
 * (parts[p].recv). The caller destroys it (rd_kafka_message_destroy). */
rd_kafka_message_t *dw_group_poll(dw_group *g, int timeout_ms);

/* Asks the broker's low/high offsets of the assigned partitions (cached
 * by librdkafka from fetches, no round trip). After a message arrived, the
 * partitions' confirmed ends are old again (dw_pool.h). */
void dw_group_refresh_offsets(dw_group *g);
/* Asks the leaders (one ListOffsets round trip each, at most timeout_ms)
 * for the end of every assigned partition that has reached its cached high
 * offset without a confirmation (dw_part_confirm_end). Returns how many of
 * those are still unconfirmed (leader away, timeout; none asked inside a
 * rebalance): they keep holding the watermark back. */
int dw_group_confirm_ends(dw_group *g, int timeout_ms);
/* Pauses/resumes fetching as dw_pool_flow says. */
void dw_group_flow(dw_group *g, const dw_pool *pool, bool event_clock);
void dw_group_resume_all(dw_group *g);
/* Seeks every assigned partition to parts[p].next (a rebuild). 0 or -1. */
int dw_group_seek(dw_group *g, char *errstr, size_t errstr_size);

#endif
