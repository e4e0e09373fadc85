/* dw_http_serve: the application behind `dossierwatch serve`: its route
 * table (JSON API under /api/v1/, the dashboard at /, the dvcqg ingest
 * hook, /healthz, /readyz, /metrics), the bearer-token check and the
 * per-request PostgreSQL transaction that carries the token's scope to the
 * row-level security policies (migration 008).
 *
 * Per request with a token: a pooled connection (running as a member of
 * dossierwatch_serve, checked when it is opened), BEGIN ISOLATION LEVEL
 * REPEATABLE READ READ ONLY (one snapshot for the request's queries), the
 * token looked up by id and its secret's hash compared in constant time,
 * set_config('dw.scope_kind'/'dw.scope_units', ..., true), the handler's
 * queries, COMMIT. serve keeps no state of its own: any number of them may
 * run behind a load balancer.
 *
 * Configuration keys: http.listen, http.units, http.db_role, http.db_pool,
 * http.statement_timeout_ms, http.max_connections, http.ingest_max_bytes,
 * plus calendar.* and score.* (dw_config_keys.c). */
#ifndef DW_HTTP_SERVE_H
#define DW_HTTP_SERVE_H

#include <stddef.h>

#include "dw_config.h"
#include "dw_http.h"

typedef struct dw_serve dw_serve;

/* Checks PostgreSQL (role, policies), loads units, binds and serves.
 * NULL with the reason. */
dw_serve *dw_serve_start(const dw_config *cfg, char *errstr, size_t errstr_size);
const char *dw_serve_address(const dw_serve *s);
void dw_serve_stop(dw_serve *s);

/* The route table (for the unit tests and the docs). */
const dw_http_route *dw_serve_routes(size_t *n);

#endif
