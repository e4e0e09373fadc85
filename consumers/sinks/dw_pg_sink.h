/* dw_pg_sink: writes one watch batch to PostgreSQL in one transaction
 * (deploy/migrations/003, 011): dedupe of event ids and the archive
 * (dw_pg_archive.h), dossier states, alerts, aggregate deltas, rejected
 * messages and the Kafka offsets,
 * so that data and offsets commit or roll back together (exactly-once into
 * PostgreSQL). The caller drives the order because the engine runs between
 * the dedupe and the writes:
 *   begin -> dedupe -> archive -> (engine) -> states, alerts, aggregates,
 *   rejects, offsets -> commit   (any error: rollback, caller rebuilds).
 * Bulk rows go through COPY (into the archive, or into session temp tables
 * that are merged with INSERT ... ON CONFLICT; COPY encoders are dw_pg's).
 * Alert and aggregate rows carry the transaction's outbox clock value, which
 * the feeds (consumers/feeds) read after their cursors. */
#ifndef DW_PG_SINK_H
#define DW_PG_SINK_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_aggregates.h"
#include "dw_alert.h"
#include "dw_event.h"
#include "dw_pg.h" /* dw_pg_exec, dw_pg_copy, dw_buf */

/* ---- the batch transaction ---- */

/* Once per connection: the session temp tables. Returns 0 or -1. */
int dw_pg_sink_prepare(PGconn *pg, char *errstr, size_t errstr_size);

int dw_pg_sink_begin(PGconn *pg, char *errstr, size_t errstr_size);
int dw_pg_sink_commit(PGconn *pg, char *errstr, size_t errstr_size);
/* Best effort; never fails loudly (the connection may be gone). */
void dw_pg_sink_rollback(PGconn *pg);

/* The archive (dedupe, blocks, archive_events) is dw_pg_archive.h's. */

typedef struct dw_pg_state_row {
  const char *dossier_id;
  int32_t partition;
  const void *blob; /* NULL: the dossier left memory, delete its row */
  size_t len;
  bool open;
  bool tombstone; /* blob is the engine's tombstone (dw_engine_blob_is_tombstone) */
} dw_pg_state_row;
int dw_pg_sink_states(PGconn *pg, const dw_pg_state_row *rows, size_t n, char *errstr, size_t errstr_size);

/* Upserts the latest version of each alert (ids must be unique in the call). */
/* The outbox clock for this transaction (migration 007): the next value,
 * locked until commit, so values come in commit order. Every alert and
 * aggregate row the transaction writes carries it (change_seq), which is
 * what feeds read after their cursors. */
int dw_pg_sink_outbox_tick(PGconn *pg, int64_t *seq, char *errstr, size_t errstr_size);
/* change_seq: from dw_pg_sink_outbox_tick (0 for tables no feed reads,
 * e.g. a replay's shadow schema). */
int dw_pg_sink_alerts(PGconn *pg, const dw_alert *alerts, size_t n, int64_t change_seq, char *errstr,
                      size_t errstr_size);

/* Adds the counters of each delta row to aggregates (day..year rows only;
 * keys must be unique in the call; rows are written in key order so that
 * concurrent watch processes lock them in the same order). */
int dw_pg_sink_aggregates(PGconn *pg, const dw_agg_row *deltas, size_t n, int64_t change_seq, char *errstr,
                          size_t errstr_size);

/* A message that could not be read or applied. */
int dw_pg_sink_reject(PGconn *pg, const char *topic, int32_t partition, int64_t offset, const char *stage,
                      const char *error, const void *key, size_t key_len, char *errstr, size_t errstr_size);

/* Stores next_offset for (group, topic, partition) only if the stored value
 * is still `expected` (-1: no row expected), and the clock watermark_ms
 * (never below the stored one; DW_TIME_NONE: the wall clock, none).
 * Returns 0, -1 on error, or 1 if the row moved under us (another consumer
 * owns the partition: fenced). */
int dw_pg_sink_offset(PGconn *pg, const char *group, const char *topic, int32_t partition, int64_t expected,
                      int64_t next_offset, int64_t watermark_ms, char *errstr, size_t errstr_size);

#endif
