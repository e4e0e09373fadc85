/* dw_pg: small libpq helpers shared by every command that talks to
 * PostgreSQL: connecting with retry (the server may be starting, restarting
 * or recovering after a crash) and executing statements with the server's
 * error text copied into the caller's buffer. */
#ifndef DW_PG_H
#define DW_PG_H

#include <libpq-fe.h>
#include <stddef.h>

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

/* Copies the message of a failed result (or the connection's) into err,
 * without the trailing newline, prefixed with the SQLSTATE when known. */
void dw_pg_error(PGconn *conn, const PGresult *res, const char *sql, char *err, size_t n);

#endif
