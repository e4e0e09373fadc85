/* dw_pg: libpq helpers (see dw_pg.h). */
#include "dw_pg.h"

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
