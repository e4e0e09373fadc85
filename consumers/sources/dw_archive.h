/* dw_archive: reading the PostgreSQL archive (migration 011, format in
 * dw_archive_block.h) - what `replay --from-archive`, `export` and serve's
 * dossier view share - and the time/unit filter of replay and export.
 *
 * The whole archive, or a time range, in (occurred_at, event_id) order:
 * the blocks whose [first_at, last_at] meets the range are streamed from
 * the server in first_at order (one query, one row at a time, binary), and
 * merged: each block is already in order, so a block joins the merge when
 * the next event to emit is not before its first event, and leaves it when
 * it is used up. Memory is the blocks that overlap in time (a batch's worth
 * when batches are in time order), whatever the archive's size; nothing is
 * sorted by the server. The reader runs in one REPEATABLE READ, READ ONLY
 * transaction: the count for the progress display and the blocks come from
 * the same snapshot even while watch keeps archiving.
 *
 * One dossier: its archive_events rows (by the dossier_id index) name the
 * blocks and positions of its events; only those blocks are fetched. */
#ifndef DW_ARCHIVE_H
#define DW_ARCHIVE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_codec.h"
#include "dw_event.h"

typedef struct dw_replay_filter {
  int64_t from, to;      /* occurred_at bounds, inclusive; DW_TIME_NONE: open */
  const char **communes; /* unit codes; none = every commune */
  size_t n_communes;
} dw_replay_filter;

/* Does ev pass the filter (time range and communes)? */
bool dw_replay_filter_match(const dw_replay_filter *f, const dw_event *ev);

typedef struct dw_archive_reader dw_archive_reader;

/* Opens the transaction and the block stream. *count (if count is not NULL)
 * gets the number of events in the blocks that meet the time range (an
 * upper bound when --commune filters). NULL on error. */
dw_archive_reader *dw_archive_open(PGconn *pg, dw_avro *av, const dw_replay_filter *f, int64_t *count,
                                   char *errstr, size_t errstr_size);

/* Next event: 1 = an event in *ev (and its Kafka partition, -1 if unknown),
 * 0 = end, -1 = database error, 2 = a record that cannot be decoded (its
 * event_id, when known, is in ev->event_id, the reason in errstr; the
 * caller counts it and goes on). Events outside the filter are skipped. */
int dw_archive_next(dw_archive_reader *r, dw_event *ev, int32_t *partition, char *errstr, size_t errstr_size);

/* The same, undecoded (for callers that decode elsewhere, e.g. replay's
 * jobs): the record's bytes (valid until the next call), with the fields
 * that ordered it. Only the time range is applied here (the commune filter
 * needs the decoded event: dw_replay_filter_match). Returns as
 * dw_archive_next; 2 = a record whose order fields cannot be read (reason
 * in errstr). */
typedef struct dw_archive_raw {
  const unsigned char *bytes;
  size_t len;
  int is_json;       /* JSON Lines text instead of single-object Avro */
  int32_t partition; /* -1: unknown */
  int64_t occurred_at;
  const char *event_id, *dossier_id; /* not NUL-terminated: see the lengths */
  size_t event_id_len, dossier_id_len;
} dw_archive_raw;
int dw_archive_next_raw(dw_archive_reader *r, dw_archive_raw *out, char *errstr, size_t errstr_size);

/* Decodes a raw record (Avro or JSON) into ev: 0, or -1 with the reason. */
int dw_archive_decode(dw_avro *av, const dw_archive_raw *raw, dw_event *ev, char *errstr, size_t errstr_size);

/* Blocks whose records were out of order (never written so; counted and
 * merged as they come). */
uint64_t dw_archive_disorders(const dw_archive_reader *r);

/* Closes the stream and ends the transaction. Returns 0 or -1. */
int dw_archive_close(dw_archive_reader *r, char *errstr, size_t errstr_size);

/* Every archived event of one dossier, decoded, in (occurred_at, event_id)
 * order, through fn (ev valid during the call; fn returns non-zero to stop).
 * Runs in the caller's transaction (if any), with the caller's role (it
 * reads archive_blocks: the owner's roles, export). A
 * record that cannot be decoded is skipped and counted in *undecodable (if
 * not NULL). Returns the number of events given to fn, or -1 with the
 * reason. */
long dw_archive_read_dossier(PGconn *pg, dw_avro *av, const char *dossier_id,
                             int (*fn)(const dw_event *ev, int32_t partition, void *opaque), void *opaque,
                             long *undecodable, char *errstr, size_t errstr_size);

/* The same from records the caller's statement cuts out for it: sql takes
 * one parameter, the dossier id, and answers (partition int4, kind int4,
 * record bytea) rows, the records as archived (dw_archive_block.h). serve
 * reads with dw_http_dossier_records (migration 013), which returns only a
 * dossier its scope may see and only that dossier's records. */
long dw_archive_read_dossier_records(PGconn *pg, dw_avro *av, const char *sql, const char *dossier_id,
                                     int (*fn)(const dw_event *ev, int32_t partition, void *opaque), void *opaque,
                                     long *undecodable, char *errstr, size_t errstr_size);

#endif
