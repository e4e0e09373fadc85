/* dw_replay_archive: what `replay --from-archive` and `export` share: the
 * time/unit filter given on the command line, and a streaming reader of the
 * PostgreSQL archive (dossier_events) in occurred_at, event_id order through
 * a server-side cursor (FETCH in pages), so that an archive of any size is
 * read in constant memory. Rows are turned back into dw_event from the
 * stored Avro value (the original Kafka message), or from the JSON payload
 * when there is none. The reader runs in one REPEATABLE READ, READ ONLY
 * transaction: the count for the progress display and the rows come from
 * the same snapshot even while watch keeps archiving. */
#ifndef DW_REPLAY_ARCHIVE_H
#define DW_REPLAY_ARCHIVE_H

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

/* Events per FETCH. */
#define DW_ARCHIVE_PAGE 10000

typedef struct dw_archive_reader dw_archive_reader;

/* Opens the transaction and the cursor. *count (if count is not NULL) gets
 * the number of rows the cursor will return. NULL on error. */
dw_archive_reader *dw_archive_open(PGconn *pg, dw_avro *av, const dw_replay_filter *f, int64_t *count,
                                   char *errstr, size_t errstr_size);

/* Next row: 1 = an event in *ev (and its Kafka partition, -1 if unknown),
 * 0 = end, -1 = database error, 2 = a row that cannot be decoded (its
 * event_id is in ev->event_id, the reason in errstr; the caller counts it
 * and goes on). */
int dw_archive_next(dw_archive_reader *r, dw_event *ev, int32_t *partition, char *errstr, size_t errstr_size);

/* Closes the cursor and ends the transaction. Returns 0 or -1. */
int dw_archive_close(dw_archive_reader *r, char *errstr, size_t errstr_size);

#endif
