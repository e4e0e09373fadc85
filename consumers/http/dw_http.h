/* dw_http: the one small HTTP server of dossierwatch, on libmicrohttpd
 * (Debian's libmicrohttpd-dev), for `serve` (JSON API, dashboard) and for
 * the metrics and health endpoints of any long-running command (`watch
 * --http`).
 *
 * A server is a route table in the manner of Redis's command table: one
 * line per route, {method, path pattern, handler, flags, summary}, and
 * handlers are thin: they read the request's parameters, call an internal
 * API, and fill a response. The server does what every route shares:
 * matching (404, or 405 with an Allow header), the request body with its
 * size limit (413), the application's authorization hook for routes that
 * need it (401/403), JSON error bodies {"error": "..."}, weak ETags and
 * If-None-Match (304) for routes flagged DW_HTTP_ETAG, gzip when the client
 * accepts it, and per-route request metrics.
 *
 * Patterns: literal segments, "{name}" for one segment (no '/'), and a
 * final "*" for the rest of the path (embedded static files). HEAD is
 * answered by the GET route. The query string is decoded into key/value
 * pairs (repeatable keys keep their order); see dw_http_params.h for the
 * parameter helpers handlers use.
 *
 * Threads: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION), so a handler may block on PostgreSQL
 * without stalling other clients; http.max_connections bounds them. */
#ifndef DW_HTTP_H
#define DW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_buf.h"
#include "dw_metrics.h"

#define DW_HTTP_MAX_QUERY 64 /* query parameters kept per request (more: 400) */
#define DW_HTTP_MAX_CAPTURES 4

typedef struct dw_http_kv {
  const char *key, *value; /* value "" for "?flag" */
} dw_http_kv;

typedef struct dw_http_route dw_http_route;

/* One request as a handler sees it. Strings are valid for the request. */
typedef struct dw_http_req {
  const char *method; /* "GET", "POST", ... (HEAD is given as "GET" to GET routes) */
  const char *path;   /* decoded, without the query string */
  const char *remote; /* client address, "127.0.0.1" */
  const dw_http_route *route;
  const char *captures[DW_HTTP_MAX_CAPTURES]; /* "{name}" segments, in order; "*" rest */
  size_t ncaptures;
  dw_http_kv query[DW_HTTP_MAX_QUERY];
  size_t nquery;
  bool query_overflow; /* more than DW_HTTP_MAX_QUERY parameters */
  /* headers the server and handlers use (NULL when absent) */
  const char *authorization, *accept_encoding, *if_none_match, *content_type;
  const char *body; /* the request body (routes with DW_HTTP_BODY), NUL-terminated */
  size_t body_len;
  void *ctx; /* the application's per-request context (set by its before hook) */
} dw_http_req;

/* A response. A handler sets status and body (dw_buf, or a static buffer
 * that outlives the server, e.g. an embedded file); the server adds
 * Content-Type, ETag, Content-Encoding, Vary and the extra headers. */
typedef struct dw_http_resp {
  int status;
  const char *content_type; /* default application/json; charset=utf-8 */
  dw_buf body;
  const char *static_body; /* instead of body: not copied, not freed */
  size_t static_len;
  bool etag;                 /* add a weak ETag of the body; 304 when If-None-Match matches */
  char etag_value[24];       /* that ETag when already known (a cached reply), else "" */
  dw_buf gz;                 /* the body gzip'd when already known (a cached reply), else empty */
  const char *cache_control; /* default "no-store" for JSON, "no-cache" with an ETag */
  char headers[512];         /* extra header lines "Name: value\r\n" (Allow, WWW-Authenticate) */
} dw_http_resp;

typedef int (*dw_http_handler)(dw_http_req *req, dw_http_resp *resp, void *app);

enum {
  DW_HTTP_AUTH = 1,   /* the application's before hook must accept the request (bearer token) */
  DW_HTTP_BODY = 2,   /* reads a request body (up to the server's max_body) */
  DW_HTTP_ETAG = 4,   /* weak ETag and If-None-Match */
  DW_HTTP_INGEST = 8, /* needs the ingest scope (the before hook checks it) */
  DW_HTTP_WRITE = 16, /* writes to PostgreSQL (its transaction is not read-only) */
};

struct dw_http_route {
  const char *method;  /* "GET", "POST" */
  const char *pattern; /* "/api/v1/dossiers/{id}" */
  dw_http_handler handler;
  unsigned flags;
  const char *summary; /* one line, for logs and docs */
};

typedef struct dw_http_options {
  const char *listen; /* "127.0.0.1:8080", "[::1]:8080", ":8080"; port 0 picks a free one */
  const dw_http_route *routes;
  size_t nroutes;
  void *app;
  /* Called before the handler of a DW_HTTP_AUTH route: 0 to go on (it may
   * set req->ctx), else it has filled resp (401, 403, 503). */
  int (*before)(void *app, dw_http_req *req, dw_http_resp *resp);
  /* Called after the handler whenever before returned 0 (commit, release). */
  void (*after)(void *app, dw_http_req *req, dw_http_resp *resp);
  size_t max_body;      /* bytes, for DW_HTTP_BODY routes (default 1 MiB) */
  int max_connections;  /* default 256 */
  int timeout_s;        /* idle connection timeout (default 30) */
  dw_metrics *metrics;  /* request counts and latencies (NULL: none) */
  const char *name;     /* in logs: "serve", "watch" */
} dw_http_options;

typedef struct dw_http_server dw_http_server;

/* Binds and starts serving in background threads. NULL with the reason in
 * errstr (bad address, port in use). */
dw_http_server *dw_http_start(const dw_http_options *opt, char *errstr, size_t errstr_size);
/* The address actually bound, "127.0.0.1:43121" (port 0 resolved). */
const char *dw_http_address(const dw_http_server *srv);
/* Stops accepting, waits for the running handlers, frees. */
void dw_http_stop(dw_http_server *srv);

/* ---- for handlers ---- */
/* status and {"error": message} (message formatted). Returns 0. */
int dw_http_error(dw_http_resp *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Adds a header line to resp->headers. */
void dw_http_header(dw_http_resp *resp, const char *name, const char *value);

/* ---- the pure parts, unit-tested (tests/unit/test_http.c) ---- */
/* Finds the route of method+path. Returns its index, -404 when no pattern
 * matches the path, -405 when patterns match but not for this method (then
 * allow lists the methods, "GET, HEAD"). captures as in dw_http_req, pointing
 * into scratch (a copy of path, at least strlen(path)+1 bytes). */
int dw_http_match(const dw_http_route *routes, size_t n, const char *method, const char *path, char *scratch,
                  const char **captures, size_t *ncaptures, char *allow, size_t allow_size);
/* Does an Accept-Encoding header accept gzip (q > 0)? */
bool dw_http_accepts_gzip(const char *accept_encoding);
/* The weak ETag of a body: W/"<16 hex digits>" (XXH3-64 of the bytes). */
void dw_http_etag(const void *body, size_t len, char out[24]);
/* Does an If-None-Match header (a list of ETags, or "*") match etag (weak
 * comparison: W/ ignored)? */
bool dw_http_etag_matches(const char *if_none_match, const char *etag);
/* gzip (RFC 1952) of in into out (appended). 0, or -1 (libdeflate error, oom). */
int dw_http_gzip(const void *in, size_t len, dw_buf *out);
/* Splits "host:port" / "[v6]:port" / ":port". 0 or -1 with the reason. */
int dw_http_parse_listen(const char *listen, char *host, size_t host_size, int *port, char *errstr,
                         size_t errstr_size);
/* Reason phrase of a status ("Not Found"). */
const char *dw_http_reason(int status);

#endif
