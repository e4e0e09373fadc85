/* dw_pg: libpq helpers (see dw_pg.h). */
#include "dw_pg.h"

#include "dw_hash.h"
#include "dw_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies s into err without trailing whitespace. */
static void copy_trimmed(char *err, size_t n, const char *prefix, const char *s) {
  if (!n) return;
  snprintf(err, n, "%s%s", prefix, s ? s : "");
  size_t len = strlen(err);
  while (len && (err[len - 1] == '\n' || err[len - 1] == ' ')) err[--len] = 0;
}

PGconn *dw_pg_connect(const char *conninfo, int retry_seconds, char *err, size_t n) {
  char *why = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &why);
  if (!opts) {
    copy_trimmed(err, n, "bad connection string: ", why ? why : "out of memory");
    PQfreemem(why);
    return NULL;
  }
  PQconninfoFree(opts);
  double deadline = now_s() + (retry_seconds > 0 ? retry_seconds : 0);
  for (;;) {
    PGconn *conn = PQconnectdb(conninfo);
    if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
    copy_trimmed(err, n, "cannot connect to PostgreSQL: ", conn ? PQerrorMessage(conn) : "out of memory");
    PQfinish(conn);
    /* PQping tells "not up (yet)" (NO_RESPONSE, REJECT: starting, shutting
     * down, recovering) from errors a retry will not fix (OK: the server
     * accepts connections, so the failure is ours: database, role, auth). */
    PGPing ping = PQping(conninfo);
    if (ping == PQPING_OK || ping == PQPING_NO_ATTEMPT) return NULL;
    if (now_s() >= deadline) return NULL;
    sleep_ms(200);
  }
}

void dw_pg_error(PGconn *conn, const PGresult *res, const char *sql, char *err, size_t n) {
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) {
    const char *full = res ? PQresultErrorMessage(res) : "";
    if (!full || !*full) full = conn ? PQerrorMessage(conn) : "no connection";
    if (res && (!full || !*full)) full = PQresStatus(PQresultStatus(res));
    copy_trimmed(err, n, "", full);
    return;
  }
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
  char where[64] = "";
  if (pos && sql) {
    /* The position counts characters (not bytes) from 1 over the whole
     * string sent; lines are what people need. */
    long p = strtol(pos, NULL, 10), line = 1, chars = 0;
    for (const unsigned char *c = (const unsigned char *)sql; *c && chars < p - 1; c++) {
      if ((*c & 0xC0) == 0x80) continue; /* UTF-8 continuation: same character */
      chars++;
      if (*c == '\n') line++;
    }
    snprintf(where, sizeof where, " (at line %ld)", line);
  }
  snprintf(err, n, "%s%s%s%s%s%s", state ? state : "", state ? ": " : "", msg, where, detail ? ": " : "",
           detail ? detail : "");
}

int dw_pg_exec(PGconn *conn, const char *sql, char *err, size_t n) {
  PGresult *res = PQexec(conn, sql);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(res);
    return 0;
  }
  dw_pg_error(conn, res, sql, err, n);
  PQclear(res);
  return -1;
}

PGresult *dw_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                      size_t n) {
  PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
  ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return res;
  dw_pg_error(conn, res, sql, err, n);
  PQclear(res);
  return NULL;
}

/* ---- COPY ---- */

void dw_pg_copy_text(dw_buf *b, const char *s) {
  if (!s) {
    dw_buf_put(b, "\\N", 2);
    return;
  }
  /* COPY text format: backslash, tab, newline and CR must be escaped.
   * Plain runs are copied whole (this is most of the archive's bytes). */
  for (;;) {
    size_t run = strcspn(s, "\\\t\n\r");
    dw_buf_put(b, s, run);
    s += run;
    switch (*s) {
    case '\0': return;
    case '\\': dw_buf_put(b, "\\\\", 2); break;
    case '\t': dw_buf_put(b, "\\t", 2); break;
    case '\n': dw_buf_put(b, "\\n", 2); break;
    default: dw_buf_put(b, "\\r", 2); break;
    }
    s++;
  }
}

void dw_pg_copy_texts(dw_buf *b, const char *const *v, size_t n) {
  for (size_t k = 0; k < n; k++) {
    dw_pg_copy_text(b, v[k]);
    dw_buf_put(b, "\t", 1);
  }
}

void dw_pg_copy_time(dw_buf *b, int64_t ms) {
  if (ms == DW_TIME_NONE) {
    dw_buf_put(b, "\\N", 2);
    return;
  }
  char t[40];
  dw_time_format(ms, 0, t, sizeof t);
  dw_buf_puts(b, t);
}

void dw_pg_array_elem(dw_buf *b, const char *s) {
  dw_buf_put(b, "\"", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '"' || *p == '\\') dw_buf_put(b, "\\", 1);
    dw_buf_put(b, p, 1);
  }
  dw_buf_put(b, "\"", 1);
}


/* ---- COPY binary ---- */

/* microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01 */
#define PG_EPOCH_US 946684800000000LL

static void put_be(dw_buf *b, uint64_t v, int bytes) {
  unsigned char t[8];
  for (int i = 0; i < bytes; i++) t[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
  dw_buf_put(b, t, (size_t)bytes);
}

void dw_pg_bin_begin(dw_buf *b) {
  dw_buf_put(b, "PGCOPY\n\377\r\n\0", 11);
  put_be(b, 0, 4); /* flags */
  put_be(b, 0, 4); /* header extension length */
}
void dw_pg_bin_row(dw_buf *b, int nfields) { put_be(b, (uint64_t)(uint16_t)nfields, 2); }
void dw_pg_bin_null(dw_buf *b) { put_be(b, 0xffffffffu, 4); }
void dw_pg_bin_int2(dw_buf *b, int16_t v) {
  put_be(b, 2, 4);
  put_be(b, (uint16_t)v, 2);
}
void dw_pg_bin_int4(dw_buf *b, int32_t v) {
  put_be(b, 4, 4);
  put_be(b, (uint32_t)v, 4);
}
void dw_pg_bin_int8(dw_buf *b, int64_t v) {
  put_be(b, 8, 4);
  put_be(b, (uint64_t)v, 8);
}
void dw_pg_bin_bool(dw_buf *b, int v) {
  put_be(b, 1, 4);
  dw_buf_putc(b, v ? 1 : 0);
}
void dw_pg_bin_bytes(dw_buf *b, const void *p, size_t n) {
  if (!p) {
    dw_pg_bin_null(b);
    return;
  }
  put_be(b, (uint32_t)n, 4);
  dw_buf_put(b, p, n);
}
void dw_pg_bin_time(dw_buf *b, int64_t ms) {
  if (ms == DW_TIME_NONE) {
    dw_pg_bin_null(b);
    return;
  }
  dw_pg_bin_int8(b, ms * 1000 - PG_EPOCH_US);
}
void dw_pg_bin_end(dw_buf *b) { put_be(b, 0xffff, 2); }

static uint64_t get_be(const char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | (unsigned char)p[i];
  return v;
}
int64_t dw_pg_bin_get_int8(const char *p) { return (int64_t)get_be(p, 8); }
int32_t dw_pg_bin_get_int4(const char *p) { return (int32_t)(uint32_t)get_be(p, 4); }
int64_t dw_pg_bin_get_time(const char *p) {
  int64_t us = dw_pg_bin_get_int8(p) + PG_EPOCH_US;
  /* floor division: instants before 1970 round down like dw_time does */
  return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}

/* Starts COPY FROM STDIN and streams data; the command's result is left
 * for dw_pg_copy_end. */
int dw_pg_copy_send(PGconn *pg, const char *copy_sql, const char *data, size_t len, char *errstr, size_t n) {
  PGresult *res = PQexec(pg, copy_sql);
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    dw_pg_error(pg, res, copy_sql, errstr, n);
    PQclear(res);
    return -1;
  }
  PQclear(res);
  /* Chunks keep each CopyData message reasonably small. */
  size_t off = 0;
  while (off < len) {
    size_t chunk = len - off > (1u << 20) ? (1u << 20) : len - off;
    if (PQputCopyData(pg, data + off, (int)chunk) != 1) {
      dw_pg_error(pg, NULL, "COPY data", errstr, n);
      PQputCopyEnd(pg, "send failed");
      while ((res = PQgetResult(pg))) PQclear(res);
      return -1;
    }
    off += chunk;
  }
  /* Blocking mode: this returns once everything is on its way. */
  if (PQputCopyEnd(pg, NULL) != 1) {
    dw_pg_error(pg, NULL, "COPY end", errstr, n);
    while ((res = PQgetResult(pg))) PQclear(res);
    return -1;
  }
  return 0;
}

/* Waits for the result of the COPY dw_pg_copy_send started. */
int dw_pg_copy_end(PGconn *pg, const char *copy_sql, char *errstr, size_t n) {
  PGresult *res;
  int rc = 0;
  while ((res = PQgetResult(pg))) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
      dw_pg_error(pg, res, copy_sql, errstr, n);
      rc = -1;
    }
    PQclear(res);
  }
  return rc;
}

int dw_pg_copy(PGconn *pg, const char *copy_sql, const char *data, size_t len, char *errstr, size_t n) {
  if (dw_pg_copy_send(pg, copy_sql, data, len, errstr, n)) return -1;
  return dw_pg_copy_end(pg, copy_sql, errstr, n);
}

/* ---- streamed COPY ---- */

int dw_pg_copy_open(dw_pg_copy_stream *s, PGconn *pg, const char *copy_sql, int binary, char *err, size_t n) {
  memset(s, 0, sizeof *s);
  s->pg = pg;
  s->binary = binary;
  PGresult *res = PQexec(pg, copy_sql);
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    dw_pg_error(pg, res, copy_sql, err, n);
    PQclear(res);
    s->failed = 1;
    return -1;
  }
  PQclear(res);
  s->open = 1;
  if (binary) dw_pg_bin_begin(&s->buf);
  return 0;
}

int dw_pg_copy_flush(dw_pg_copy_stream *s, int force, char *err, size_t n) {
  if (s->failed) return -1;
  if (s->buf.oom) {
    snprintf(err, n, "out of memory");
    s->failed = 1;
    return -1;
  }
  if (!force && s->buf.len < (1u << 20)) return 0;
  if (s->buf.len && PQputCopyData(s->pg, s->buf.data, (int)s->buf.len) != 1) {
    dw_pg_error(s->pg, NULL, "COPY data", err, n);
    s->failed = 1;
    return -1;
  }
  dw_buf_reset(&s->buf);
  return 0;
}

int dw_pg_copy_close(dw_pg_copy_stream *s, char *err, size_t n) {
  int rc = 0;
  if (s->open) {
    if (!s->failed && s->binary) dw_pg_bin_end(&s->buf);
    if (!s->failed && dw_pg_copy_flush(s, 1, err, n)) rc = -1;
    if (PQputCopyEnd(s->pg, s->failed ? "failed" : NULL) != 1 && rc == 0) {
      dw_pg_error(s->pg, NULL, "COPY end", err, n);
      rc = -1;
    }
    PGresult *res;
    while ((res = PQgetResult(s->pg))) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0 && !s->failed) {
        dw_pg_error(s->pg, res, "COPY", err, n);
        rc = -1;
      }
      PQclear(res);
    }
  }
  if (s->failed) rc = -1;
  dw_buf_free(&s->buf);
  s->open = 0;
  return rc;
}

int dw_pg_advisory(PGconn *conn, dw_pg_advisory_op op, const char *name, int *result, char *err, size_t n) {
  static const char *const sql[] = {"SELECT pg_try_advisory_lock($1::bigint)", "SELECT pg_advisory_lock($1::bigint)",
                                    "SELECT pg_advisory_unlock($1::bigint)"};
  char key[24];
  snprintf(key, sizeof key, "%lld", (long long)(dw_hash_stable(name) & INT64_MAX));
  const char *params[1] = {key};
  PGresult *res = dw_pg_query(conn, sql[op], 1, params, err, n);
  if (!res) return -1;
  if (result) *result = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  return 0;
}
