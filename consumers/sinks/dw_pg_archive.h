/* dw_pg_archive: how watch writes the archive (migration 011; the format is
 * consumers/sources/dw_archive_block.h). Per batch, inside its transaction:
 *   dedupe (one statement: which event keys archive_events already has,
 *   and the batch's 2048 block ids reserved by one nextval of
 *   archive_block_id) -> archive (the new
 *   events sorted by (occurred_at, event_id) into blocks of up to
 *   DW_ARCHIVE_BLOCK_EVENTS: one COPY of the blocks, one COPY of their
 *   archive_events rows, both in the binary COPY format).
 * A second event with an id already archived is a duplicate forever: the
 * dedupe finds it by its key; two processes archiving the same new id at
 * once collide on archive_events' primary key, and the loser's transaction
 * fails and is retried (watch rebuilds and retries), finding the id then.
 * Agency and commune codes are numbered in archive_units (cached here);
 * new codes are registered by dw_pg_archive_units, outside the batch
 * transaction (numbers are never taken back, so a batch rolled back later
 * leaves the cache right). */
#ifndef DW_PG_ARCHIVE_H
#define DW_PG_ARCHIVE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_buf.h"
#include "dw_event.h"

typedef struct dw_pg_archive dw_pg_archive;

dw_pg_archive *dw_pg_archive_new(void);
void dw_pg_archive_destroy(dw_pg_archive *a);

typedef struct dw_pg_archive_row {
  const dw_event *ev;  /* decoded (its fields place it) */
  const void *bytes;   /* the event as it came: the Kafka value (single-object Avro) */
  size_t len;
  int32_t partition;   /* -1: unknown */
} dw_pg_archive_row;

/* Outside any transaction: numbers for every agency and commune of rows
 * that the cache does not know yet. 0 or -1. */
int dw_pg_archive_units(dw_pg_archive *a, PGconn *pg, const dw_pg_archive_row *rows, size_t n, char *errstr,
                        size_t errstr_size);

/* The dedupe in two halves (the caller works while PostgreSQL looks the
 * keys up): _send queues the statement, _recv sets is_new[i] = 1 for the
 * FIRST occurrence of each id that is not archived yet. ids stay valid until
 * _recv; nothing else may be sent on pg in between; after a failed _send, do
 * not call _recv. */
int dw_pg_archive_dedupe_send(dw_pg_archive *a, PGconn *pg, const char *const *ids, size_t n, char *errstr,
                              size_t errstr_size);
int dw_pg_archive_dedupe_recv(dw_pg_archive *a, PGconn *pg, const char *const *ids, size_t n, uint8_t *is_new,
                              char *errstr, size_t errstr_size);

/* Archives rows (events the dedupe found new; at most as many as it was
 * given): the blocks are copied (and waited for), the archive_events rows
 * streamed; _finish waits for them (n = 0: no-ops). */
int dw_pg_archive_send(dw_pg_archive *a, PGconn *pg, const dw_pg_archive_row *rows, size_t n, char *errstr,
                       size_t errstr_size);
int dw_pg_archive_finish(dw_pg_archive *a, PGconn *pg, size_t n, char *errstr, size_t errstr_size);

/* The COPY data dw_pg_archive_send would write for rows (block ids from
 * first_block on: a batch's blocks are numbered from its reserved base), for the benchmark's plain COPY into tables without
 * indexes. Units must be known. 0 or -1 (unknown unit, out of memory). */
int dw_pg_archive_copy_data(dw_pg_archive *a, const dw_pg_archive_row *rows, size_t n, int64_t first_block,
                            dw_buf *blocks, dw_buf *events, char *errstr, size_t errstr_size);
extern const char DW_PG_ARCHIVE_COPY_BLOCKS[]; /* "COPY archive_blocks (...) FROM STDIN (FORMAT binary)" */
extern const char DW_PG_ARCHIVE_COPY_EVENTS[];

#endif
