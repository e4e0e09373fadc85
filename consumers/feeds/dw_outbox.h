/* dw_outbox: reading the PostgreSQL outbox that feeds deliver from
 * (migration 007). Every transaction that writes alerts or aggregates takes
 * the next outbox clock value (dw_pg_sink_outbox_tick) and stamps the rows
 * it writes with it (change_seq); values come in commit order. A feed keeps
 * a cursor (feed_cursors: change_seq and the key of the last row delivered
 * at it) and reads the rows after it in (change_seq, key) order: nothing
 * committed later can sort before the cursor, so nothing is skipped; a
 * crash before the cursor moves repeats a page (at-least-once). Any number
 * of feeds read the same rows, each with its own cursor; a session advisory
 * lock per feed makes one process the active deliverer of a feed (others
 * wait and take over when its connection goes). Rows carry their full
 * current state (an alert with cleared_at; aggregate totals), so a repeat
 * is harmless. Used by the feeds watch runs and by notify. */
#ifndef DW_OUTBOX_H
#define DW_OUTBOX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_alert.h"

typedef enum dw_outbox_source { DW_OUTBOX_ALERTS = 0, DW_OUTBOX_AGGREGATES } dw_outbox_source;

#define DW_OUTBOX_KEY_MAX 4
typedef struct dw_outbox_cursor {
  int64_t seq;
  int nkey; /* 0: every row at seq is delivered */
  char key[DW_OUTBOX_KEY_MAX][96];
} dw_outbox_cursor;

/* The feed's cursor (a row at 0 is created when there is none); *legacy:
 * its legacy_keys flag (may be NULL). */
int dw_outbox_cursor_load(PGconn *pg, const char *feed, dw_outbox_cursor *c, bool *legacy, char *errstr,
                          size_t errstr_size);
int dw_outbox_cursor_save(PGconn *pg, const char *feed, const dw_outbox_cursor *c, char *errstr, size_t errstr_size);
int dw_outbox_legacy_done(PGconn *pg, const char *feed, char *errstr, size_t errstr_size);
/* Takes the feed's advisory lock on this session: 1 held, 0 another
 * session holds it, -1 error. */
int dw_outbox_lock(PGconn *pg, const char *feed, char *errstr, size_t errstr_size);

/* A page of outbox rows. Aggregate rows point into units[]. */
typedef struct dw_outbox_page {
  dw_outbox_source source;
  size_t n, cap;
  dw_alert *alerts;
  dw_agg_row *rows;
  char (*units)[96];
  long skipped; /* rows that could not be read back (reported, cursor moves past them) */
} dw_outbox_page;

void dw_outbox_page_free(dw_outbox_page *p);

/* Reads at most limit rows after `after` into page (replacing its rows)
 * and sets *next to the cursor after them. A row whose names are unknown
 * (a rule, unit type or period kind this binary does not know) is an
 * error: reported on the log with its key, counted in page->skipped and
 * left out, never read as something else. */
int dw_outbox_read(PGconn *pg, dw_outbox_source src, const dw_outbox_cursor *after, int limit, dw_outbox_page *page,
                   dw_outbox_cursor *next, char *errstr, size_t errstr_size);

/* How many rows are after the cursor (the feed's backlog). */
long dw_outbox_backlog(PGconn *pg, dw_outbox_source src, const dw_outbox_cursor *c, char *errstr, size_t errstr_size);

/* rolling30 rows (sums of the day rows first..last, both "YYYY-MM-DD") for
 * the units given (unit_type name, unit) or for every unit when n is 0,
 * as rows of kind rolling30 named `last`, appended to page. */
int dw_outbox_rolling30(PGconn *pg, const char *first, const char *last, const char *const *unit_types,
                        const char *const *units, size_t n, dw_outbox_page *page, char *errstr, size_t errstr_size);
/* The stored rows of the given units in the periods named (day, month,
 * quarter, year names of one instant), appended to page. */
int dw_outbox_current_rows(PGconn *pg, char names[][16], const char *const *unit_types, const char *const *units,
                           size_t n, dw_outbox_page *page, char *errstr, size_t errstr_size);

/* Open OVERDUE alerts per unit: fn(unit_type, unit, count). */
int dw_outbox_open_overdue(PGconn *pg, void (*fn)(const char *unit_type, const char *unit, int64_t n, void *opaque),
                           void *opaque, char *errstr, size_t errstr_size);

#endif
