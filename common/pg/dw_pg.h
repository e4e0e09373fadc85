/* dw_pg: small libpq helpers shared by every command that talks to
 * PostgreSQL: connecting with retry (the server may be starting, restarting
 * or recovering after a crash) and executing statements with the server's
 * error text copied into the caller's buffer. */
#ifndef DW_PG_H
#define DW_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_buf.h"

/* Connects to conninfo. While the server is unreachable or refusing
 * connections because it is starting up, shutting down or in recovery, keeps
 * retrying for up to retry_seconds (0: one attempt). Errors that retrying
 * cannot fix (bad conninfo, unknown database, authentication) fail at once.
 * Returns a connection (CONNECTION_OK) or NULL with the reason in err. */
PGconn *dw_pg_connect(const char *conninfo, int retry_seconds, char *err, size_t n);

/* Runs sql (one or more statements, no parameters). Returns 0 when the last
 * result is COMMAND_OK or TUPLES_OK, else -1 with the server's message in err
 * (including "at line L" when the server gives a position). */
int dw_pg_exec(PGconn *conn, const char *sql, char *err, size_t n);

/* Runs one parameterized statement (text parameters, NULL = SQL NULL) and
 * returns its result for the caller to read and PQclear(), or NULL with the
 * reason in err. */
PGresult *dw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                      size_t n);

/* Session advisory locks named by text, the key the name hashed by
 * dw_hash_stable into a positive bigint (one key space for every lock
 * dossierwatch takes by name). *result (may be NULL): the lock was taken
 * (TRY) or held (UNLOCK). 0, or -1 with the reason in err. */
typedef enum dw_pg_advisory_op { DW_PG_ADVISORY_TRY, DW_PG_ADVISORY_WAIT, DW_PG_ADVISORY_UNLOCK } dw_pg_advisory_op;
int dw_pg_advisory(PGconn *conn, dw_pg_advisory_op op, const char *name, int *result, char *err, size_t n);

/* Copies the message of a failed result (or the connection's) into err,
 * without the trailing newline, prefixed with the SQLSTATE when known. */
void dw_pg_error(PGconn *conn, const PGresult *res, const char *sql, char *err, size_t n);

/* ---- COPY text format and array literals, into a dw_buf ---- */
/* s as a COPY text field (escaped; NULL = \N). */
void dw_pg_copy_text(dw_buf *b, const char *s);
/* v[0..n) as COPY fields, each followed by a tab. */
void dw_pg_copy_texts(dw_buf *b, const char *const *v, size_t n);
/* an instant as a COPY timestamptz field (DW_TIME_NONE = \N). */
void dw_pg_copy_time(dw_buf *b, int64_t ms);
/* s as one element of an array literal ("...", quotes and backslashes escaped). */
void dw_pg_array_elem(dw_buf *b, const char *s);
/* ---- COPY binary format (PostgreSQL's "PGCOPY" file format) ----
 * Cheaper for the server than text (no parsing of numbers, uuids, hex
 * bytea) and half the bytes for bytea. A stream is _begin, then per row
 * _row(nfields) and that many fields, then _end; `COPY ... FROM STDIN
 * (FORMAT binary)` takes it. Integers go in network byte order. */
void dw_pg_bin_begin(dw_buf *b);
void dw_pg_bin_row(dw_buf *b, int nfields);
void dw_pg_bin_null(dw_buf *b);
void dw_pg_bin_int2(dw_buf *b, int16_t v);
void dw_pg_bin_int4(dw_buf *b, int32_t v);
void dw_pg_bin_int8(dw_buf *b, int64_t v);
void dw_pg_bin_bool(dw_buf *b, int v);
/* bytea, text (UTF-8 bytes), uuid (16 bytes): the bytes as they are; NULL p: SQL NULL */
void dw_pg_bin_bytes(dw_buf *b, const void *p, size_t n);
/* an instant in ms as timestamptz (DW_TIME_NONE: SQL NULL) */
void dw_pg_bin_time(dw_buf *b, int64_t ms);
void dw_pg_bin_end(dw_buf *b);
/* Binary result values (PQexecParams with resultFormat 1), network order. */
int64_t dw_pg_bin_get_int8(const char *p);
int32_t dw_pg_bin_get_int4(const char *p);
/* timestamptz (microseconds since 2000-01-01) to ms since the epoch */
int64_t dw_pg_bin_get_time(const char *p);

/* A COPY FROM STDIN of any size, streamed: _open starts it (and writes the
 * binary header when binary), rows are appended to s->buf, _flush sends
 * what has been appended once it is large (force: whatever there is),
 * _close ends it and waits for the result. After a failure every call
 * returns -1 and _close collects the connection's state. */
typedef struct dw_pg_copy_stream {
  PGconn *pg;
  dw_buf buf;
  int binary, open, failed;
} dw_pg_copy_stream;
int dw_pg_copy_open(dw_pg_copy_stream *s, PGconn *pg, const char *copy_sql, int binary, char *errstr,
                    size_t errstr_size);
int dw_pg_copy_flush(dw_pg_copy_stream *s, int force, char *errstr, size_t errstr_size);
int dw_pg_copy_close(dw_pg_copy_stream *s, char *errstr, size_t errstr_size);

/* COPY ... FROM STDIN of data (len bytes, COPY text rows). 0 or -1 with errstr. */
int dw_pg_copy(PGconn *pg, const char *copy_sql, const char *data, size_t len, char *errstr, size_t errstr_size);
/* The same in two halves, so that the caller works while the server
 * copies: send the data, later wait for the result. */
int dw_pg_copy_send(PGconn *pg, const char *copy_sql, const char *data, size_t len, char *errstr,
                    size_t errstr_size);
int dw_pg_copy_end(PGconn *pg, const char *copy_sql, char *errstr, size_t errstr_size);

#endif
