/* dw_http_pool: a pool of PostgreSQL connections for serve's request
 * threads (many readers at once). Connections are opened on demand up to
 * `size`, each set up once by the caller's hook (role, read-only,
 * statement timeout, checks); a request takes one for its transaction and
 * gives it back. A connection found broken is closed and replaced on the
 * next acquire, so a PostgreSQL restart costs the requests in flight, not
 * the server. Waiting for a free connection is bounded (acquire_timeout_ms):
 * an overloaded server answers 503 rather than queueing without end. */
#ifndef DW_HTTP_POOL_H
#define DW_HTTP_POOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct dw_pgpool dw_pgpool;

typedef struct dw_pgpool_options {
  const char *conninfo;
  int size;               /* connections at most (default 8) */
  int acquire_timeout_ms; /* wait for a free one at most (default 2000) */
  /* Runs once on each new connection: 0, or -1 with the reason (the
   * connection is then closed and acquire fails with that reason). */
  int (*setup)(PGconn *conn, void *opaque, char *errstr, size_t errstr_size);
  void *opaque;
} dw_pgpool_options;

dw_pgpool *dw_pgpool_new(const dw_pgpool_options *opt);
void dw_pgpool_destroy(dw_pgpool *p);

/* A connection for one request, or NULL with the reason (timeout, cannot
 * connect, setup refused). */
PGconn *dw_pgpool_acquire(dw_pgpool *p, char *errstr, size_t errstr_size);
/* Gives it back; broken: close it (an error left it in doubt). */
void dw_pgpool_release(dw_pgpool *p, PGconn *conn, bool broken);
/* Connections open and in use now. */
void dw_pgpool_stats(dw_pgpool *p, int *open, int *in_use);

#endif
