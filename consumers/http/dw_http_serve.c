/* dw_http_serve: serve's route table, hooks and thin handlers (see
 * dw_http_serve.h). A handler reads its parameters strictly
 * (dw_http_params.h), calls the internal API (dw_http_api.h) on the
 * request's connection, and turns its result into a status: 0 -> 200, 1 ->
 * 404, -1 -> 503 with a plain message (the database's own text goes to the
 * log, never to the client). */
#include "dw_http_serve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dw_alert.h"
#include "dw_embedded.h"
#include "dw_http_api.h"
#include "dw_http_cache.h"
#include "dw_http_ingest.h"
#include "dw_http_ops.h"
#include "dw_http_params.h"
#include "dw_http_pool.h"
#include "dw_http_token.h"
#include "dw_http_units.h"
#include "dw_log.h"
#include "dw_pg.h"
#include "dw_silences.h"
#include "dw_time.h"

extern const dw_embedded_file dw_embedded_dashboard[];

struct dw_serve {
  char role[64];
  int statement_timeout_ms;
  dw_units *units;
  dw_api *api;
  dw_pgpool *pool;
  dw_http_ingest *ingest;
  dw_http_cache *cache;
  dw_metrics *metrics;
  dw_metric *m_auth_failures, *m_db_conns, *m_db_errors, *m_cache;
  dw_http_server *srv;
};

/* What a request with a token carries from the before hook to the after hook. */
typedef struct serve_ctx {
  PGconn *conn;
  dw_scope scope;
  char *scope_text; /* as stored, for the reply cache's key */
  char token_name[72];
  bool db_failed;
} serve_ctx;

static serve_ctx *ctx_of(dw_http_req *req) { return req->ctx; }

/* A database failure: logged with the server's text, answered without it. */
static int db_error(dw_serve *s, dw_http_req *req, dw_http_resp *resp, const char *err) {
  serve_ctx *x = ctx_of(req);
  if (x) x->db_failed = true;
  DW_LOG_ERR("%s %s: PostgreSQL: %s", req->method, req->path, err);
  dw_metric_inc(s->m_db_errors);
  return dw_http_error(resp, 503, "the database did not answer; try again");
}

/* ------------------------------------------------------------ connections -- */

/* Once per pooled connection: run as the serve role, read-only, bounded;
 * refuse a role that row-level security would not scope. */
static int conn_setup(PGconn *c, void *opaque, char *err, size_t n) {
  dw_serve *s = opaque;
  char sql[512], why[512];
  if (dw_pg_exec(c, "SET application_name = 'dossierwatch serve'", why, sizeof why)) {
    snprintf(err, n, "%s", why);
    return -1;
  }
  const char *p1[1] = {s->role};
  PGresult *r = dw_pg_query(c, "SELECT current_user = $1", 1, p1, why, sizeof why);
  if (!r) {
    snprintf(err, n, "%s", why);
    return -1;
  }
  bool is_role = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  if (!is_role) {
    char *q = PQescapeIdentifier(c, s->role, strlen(s->role));
    snprintf(sql, sizeof sql, "SET ROLE %s", q ? q : "\"\"");
    PQfreemem(q);
    if (dw_pg_exec(c, sql, why, sizeof why)) {
      snprintf(err, n, "cannot SET ROLE %s (connect as a member of it, or as a role that may): %s", s->role, why);
      return -1;
    }
  }
  r = dw_pg_query(c,
                  "SELECT r.rolsuper, r.rolbypassrls, pg_has_role(current_user, 'dossierwatch_serve', 'MEMBER'), "
                  "(SELECT count(*) FROM pg_class k JOIN pg_namespace ns ON ns.oid = k.relnamespace "
                  " WHERE ns.nspname = 'public' AND k.relrowsecurity "
                  " AND k.relname IN ('alerts', 'aggregates', 'archive_events', 'archive_blocks', 'dossier_state')), current_user "
                  "FROM pg_roles r WHERE r.rolname = current_user",
                  0, NULL, why, sizeof why);
  if (!r) {
    snprintf(err, n, "checking the role (is migration 008 applied? run dossierwatch migrate): %s", why);
    return -1;
  }
  bool super = strcmp(PQgetvalue(r, 0, 0), "t") == 0, bypass = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
  bool member = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
  long secured = strtol(PQgetvalue(r, 0, 3), NULL, 10);
  char who[128];
  snprintf(who, sizeof who, "%s", PQgetvalue(r, 0, 4));
  PQclear(r);
  if (super || bypass) {
    snprintf(err, n, "role %s bypasses row-level security (%s): serve refuses to read with it", who,
             super ? "SUPERUSER" : "BYPASSRLS");
    return -1;
  }
  if (!member) {
    snprintf(err, n, "role %s is not a member of dossierwatch_serve: the access policies would not scope it", who);
    return -1;
  }
  if (secured != 5) {
    snprintf(err, n, "row-level security is not on for alerts, aggregates, archive_events, archive_blocks and "
                     "dossier_state (run dossierwatch migrate: migrations 008, 011, 013)");
    return -1;
  }
  snprintf(sql, sizeof sql,
           "SET default_transaction_read_only = on; SET statement_timeout = %d; "
           "SET idle_in_transaction_session_timeout = %d",
           s->statement_timeout_ms, s->statement_timeout_ms * 2);
  if (dw_pg_exec(c, sql, why, sizeof why)) {
    snprintf(err, n, "%s", why);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ hooks -- */

static int refuse(dw_serve *s, dw_http_req *req, dw_http_resp *resp, const char *reason, const char *name) {
  /* never the token, nor any part of it: the reason and the row's name */
  DW_LOG_WARNING("refused %s %s from %s: %s%s%s%s", req->method, req->path, req->remote, reason,
                 name ? " (token '" : "", name ? name : "", name ? "')" : "");
  dw_metric_inc_l(s->m_auth_failures, DW_LABELS(reason));
  dw_http_error(resp, 401, "a valid bearer token is needed (Authorization: Bearer dwt_...)");
  dw_http_header(resp, "WWW-Authenticate", "Bearer realm=\"dossierwatch\"");
  return -1;
}

static void finish(dw_serve *s, serve_ctx *x, bool commit) {
  if (!x) return;
  if (x->conn) {
    char why[256];
    bool broken = false;
    if (dw_pg_exec(x->conn, commit && !x->db_failed ? "COMMIT" : "ROLLBACK", why, sizeof why)) broken = true;
    dw_pgpool_release(s->pool, x->conn, broken || x->db_failed);
  }
  free(x->scope_text);
  free(x);
}

/* BEGIN and dw_http_authenticate (migration 008: the token's row, and its
 * scope set in the transaction when the hash matches) in one round trip
 * (libpq's pipeline mode). The row: hex hash, name, scope, revoked; no row
 * for an unknown id. NULL with the reason. */
static PGresult *begin_and_authenticate(PGconn *c, const char *id, const char *hex, bool write, char *err,
                                        size_t n) {
  const char *params[2] = {id, hex};
  PGresult *row = NULL;
  int failed = 0;
  const char *begin = write ? "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
                            : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
  if (!PQenterPipelineMode(c) || !PQsendQueryParams(c, begin, 0, NULL, NULL, NULL, NULL, 0) ||
      !PQsendQueryParams(c,
                         "SELECT encode(token_hash, 'hex'), name, scope, revoked "
                         "FROM dw_http_authenticate($1, decode($2, 'hex'))",
                         2, NULL, params, NULL, NULL, 0) ||
      !PQpipelineSync(c)) {
    dw_pg_error(c, NULL, "pipeline", err, n);
    PQexitPipelineMode(c);
    return NULL;
  }
  /* results: BEGIN, NULL, the SELECT, NULL, the sync */
  for (int step = 0; step < 3; step++) {
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        step = 3;
        break;
      }
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (!failed) dw_pg_error(c, r, "authenticate", err, n);
        failed = 1;
      }
      if (st == PGRES_TUPLES_OK && !row)
        row = r;
      else
        PQclear(r);
    }
  }
  if (!PQexitPipelineMode(c)) {
    if (!failed) dw_pg_error(c, NULL, "leaving pipeline mode", err, n);
    failed = 1;
  }
  if (failed || !row) {
    if (!failed) snprintf(err, n, "no reply to the token check");
    PQclear(row);
    return NULL;
  }
  return row;
}

static int before(void *app, dw_http_req *req, dw_http_resp *resp) {
  dw_serve *s = app;
  char id[DW_TOKEN_ID_LEN + 1], err[512];
  const char *secret;
  if (!req->authorization) return refuse(s, req, resp, "no bearer token", NULL);
  if (dw_token_parse_bearer(req->authorization, id, &secret)) return refuse(s, req, resp, "malformed token", NULL);
  serve_ctx *x = calloc(1, sizeof *x);
  if (!x) return dw_http_error(resp, 503, "out of memory"), -1;
  if (!(x->conn = dw_pgpool_acquire(s->pool, err, sizeof err))) {
    DW_LOG_ERR("%s %s: %s", req->method, req->path, err);
    free(x);
    return dw_http_error(resp, 503, "the database is not reachable; try again"), -1;
  }
  req->ctx = x;
  uint8_t got[32], want[32] = {0};
  char hex[65];
  dw_token_hash(secret, got);
  dw_token_hex(got, hex);
  PGresult *r = begin_and_authenticate(x->conn, id, hex, req->route->flags & DW_HTTP_WRITE, err, sizeof err);
  if (!r) {
    db_error(s, req, resp, err);
    finish(s, x, false);
    req->ctx = NULL;
    return -1;
  }
  bool found = PQntuples(r) == 1 && dw_token_unhex(PQgetvalue(r, 0, 0), want) == 0;
  bool same = dw_token_equal(want, got); /* computed whether or not the id exists */
  bool revoked = found && strcmp(PQgetvalue(r, 0, 3), "t") == 0;
  if (found) {
    snprintf(x->token_name, sizeof x->token_name, "%s", PQgetvalue(r, 0, 1));
    if (dw_scope_parse(PQgetvalue(r, 0, 2), &x->scope, err, sizeof err) || !(x->scope_text = strdup(PQgetvalue(r, 0, 2))))
      found = false;
  }
  PQclear(r);
  const char *why = !found ? "unknown token" : revoked ? "revoked token" : !same ? "wrong secret" : NULL;
  if (why) {
    char name[72];
    snprintf(name, sizeof name, "%s", x->token_name);
    finish(s, x, false);
    req->ctx = NULL;
    return refuse(s, req, resp, why, found ? name : NULL);
  }
  bool ingest_route = req->route->flags & DW_HTTP_INGEST;
  if (ingest_route != (x->scope.kind == DW_SCOPE_INGEST)) {
    DW_LOG_WARNING("forbidden %s %s from %s for token '%s' (scope %s)", req->method, req->path, req->remote,
                   x->token_name, dw_scope_kind_name(x->scope.kind));
    dw_metric_inc_l(s->m_auth_failures, DW_LABELS("scope"));
    finish(s, x, false);
    req->ctx = NULL;
    return dw_http_error(resp, 403, ingest_route ? "this route needs a token of scope ingest"
                                                 : "a token of scope ingest cannot read; ask for a reading token"),
           -1;
  }
  return 0;
}

static void after(void *app, dw_http_req *req, dw_http_resp *resp) {
  (void)resp;
  finish(app, req->ctx, true);
  req->ctx = NULL;
}

/* --------------------------------------------------------------- handlers -- */

static int period_param(dw_serve *s, dw_http_req *req, dw_http_resp *resp, const char *def_kind, dw_api_period *p,
                        bool allow_range) {
  const char *ut, *kind, *period, *from, *to;
  char why[256];
  if (dw_http_param_choice(req, resp, "unit_type", "commune|agency|procedure|province", "commune", &ut) ||
      dw_http_param_choice(req, resp, "period_kind", "day|month|quarter|year|rolling30", def_kind, &kind) ||
      dw_http_param_str(req, resp, "period", &period))
    return -1;
  from = to = NULL;
  if (allow_range && (dw_http_param_str(req, resp, "from", &from) || dw_http_param_str(req, resp, "to", &to))) return -1;
  if (from || to) {
    if (period) return dw_http_error(resp, 400, "parameter 'period': give either period or from and to"), -1;
    if (!from || !to) return dw_http_error(resp, 400, "parameter '%s': from and to go together", from ? "to" : "from"), -1;
    if (dw_api_period_range(s->api, ut, kind, from, to, dw_now_ms(), p, why, sizeof why))
      return dw_http_error(resp, 400, "parameter '%s': %s", strncmp(why, "to:", 3) == 0 ? "to" : "from", why), -1;
    return 0;
  }
  if (dw_api_period_resolve(s->api, ut, kind, period ? period : "current", dw_now_ms(), p, why, sizeof why))
    return dw_http_error(resp, 400, "parameter 'period': %s", why), -1;
  return 0;
}

/* The reply cache's key for req (see dw_http_cache.h): route, query, scope,
 * the period as resolved now, and the data version read in the request's
 * transaction. NULL when the version cannot be read (then no caching). */
static char *cache_key(dw_serve *s, dw_http_req *req, const dw_api_period *p) {
  serve_ctx *x = ctx_of(req);
  if (!dw_http_cache_enabled(s->cache)) return NULL;
  char err[256];
  PGresult *r = dw_pg_query(x->conn, "SELECT dw_http_data_version()", 0, NULL, err, sizeof err);
  if (!r || PQntuples(r) != 1) {
    /* a failure the reply's own queries will report */
    PQclear(r);
    return NULL;
  }
  dw_buf k = DW_BUF_INIT;
  dw_buf_printf(&k, "%s?", req->route->pattern);
  /* lengths first: no value can pass for another query's parts */
  for (size_t i = 0; i < req->nquery; i++)
    dw_buf_printf(&k, "%zu:%s=%zu:%s&", strlen(req->query[i].key), req->query[i].key, strlen(req->query[i].value),
                  req->query[i].value);
  dw_buf_printf(&k, "|%s|%s..%s@%s|%s", x->scope_text ? x->scope_text : "", p->from, p->to, p->cur,
                PQgetvalue(r, 0, 0));
  PQclear(r);
  return dw_buf_take(&k);
}

/* A kept reply for key, counted for the metrics. */
static bool cache_hit(dw_serve *s, const char *key, dw_http_resp *resp) {
  if (!key) return false;
  bool hit = dw_http_cache_get(s->cache, key, dw_now_ms(), resp) == 1;
  dw_metric_inc_l(s->m_cache, DW_LABELS(hit ? "hit" : "miss"));
  return hit;
}

static int h_aggregates(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {"unit_type", "period_kind", "period", "from", "to", "unit", NULL};
  dw_api_period p;
  char units[DW_API_MAX_FILTER][64], err[512];
  int nunits;
  if (dw_http_params_only(req, resp, allowed) || period_param(s, req, resp, "month", &p, true) ||
      dw_http_param_codes(req, resp, "unit", units, DW_API_MAX_FILTER, &nunits))
    return 0;
  resp->etag = true;
  char *key = cache_key(s, req, &p);
  if (!cache_hit(s, key, resp)) {
    if (dw_api_aggregates(s->api, ctx_of(req)->conn, &p, units, nunits, &resp->body, err, sizeof err)) {
      free(key);
      return db_error(s, req, resp, err);
    }
    if (key) dw_http_cache_put(s->cache, key, dw_now_ms(), resp);
  }
  free(key);
  return 0;
}

static int h_ranking(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {"unit_type", "period_kind", "period", "by", "order", NULL};
  dw_api_period p;
  const char *by, *order;
  char err[512];
  if (dw_http_params_only(req, resp, allowed) || period_param(s, req, resp, "quarter", &p, false) ||
      dw_http_param_choice(req, resp, "by", DW_API_RANKING_KEYS, "result_digitized_rate", &by) ||
      dw_http_param_choice(req, resp, "order", "worst|best", "worst", &order))
    return 0;
  resp->etag = true;
  char *key = cache_key(s, req, &p);
  if (!cache_hit(s, key, resp)) {
    if (dw_api_ranking(s->api, ctx_of(req)->conn, &p, by, strcmp(order, "best") == 0, &resp->body, err, sizeof err)) {
      free(key);
      return db_error(s, req, resp, err);
    }
    if (key) dw_http_cache_put(s->cache, key, dw_now_ms(), resp);
  }
  free(key);
  return 0;
}

static int h_alerts(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {"state", "agency", "commune", "rule", "severity", "limit", "after", NULL};
  dw_api_alert_query *q = calloc(1, sizeof *q);
  if (!q) return dw_http_error(resp, 503, "out of memory");
  const char *after = NULL;
  int64_t limit;
  char err[512];
  if (dw_http_params_only(req, resp, allowed) ||
      dw_http_param_choice(req, resp, "state", "open|cleared|all", "open", &q->state) ||
      dw_http_param_codes(req, resp, "agency", q->agencies, DW_API_MAX_FILTER, &q->nagencies) ||
      dw_http_param_codes(req, resp, "commune", q->communes, DW_API_MAX_FILTER, &q->ncommunes) ||
      dw_http_param_codes(req, resp, "rule", q->rules, DW_API_MAX_FILTER, &q->nrules) ||
      dw_http_param_choice(req, resp, "severity", "warning|critical", "", &q->severity) ||
      dw_http_param_int(req, resp, "limit", 1, 1000, 100, &limit) || dw_http_param_str(req, resp, "after", &after))
    goto out;
  if (!q->severity[0]) q->severity = NULL;
  for (int i = 0; i < q->nrules; i++) {
    dw_rule rule;
    if (dw_rule_parse(q->rules[i], &rule)) {
      dw_http_error(resp, 400, "parameter 'rule': unknown rule '%s'", q->rules[i]);
      goto out;
    }
  }
  if (after) {
    if (dw_api_cursor_parse(after, &q->after_ms, q->after_id, sizeof q->after_id)) {
      dw_http_error(resp, 400, "parameter 'after': not a cursor (use the 'next' of the previous page)");
      goto out;
    }
    q->has_after = true;
  }
  q->limit = (int)limit;
  if (dw_api_alerts(s->api, ctx_of(req)->conn, q, &resp->body, err, sizeof err)) db_error(s, req, resp, err);
out:
  free(q);
  return 0;
}

static int h_dossier(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {NULL};
  if (dw_http_params_only(req, resp, allowed)) return 0;
  const char *id = req->ncaptures ? req->captures[0] : "";
  size_t il = strlen(id);
  bool ok = il > 0 && il < 96;
  for (const char *p = id; *p && ok; p++) ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
  if (!ok) return dw_http_error(resp, 400, "dossier id: 1..95 printable characters");
  char err[512];
  int rc = dw_api_dossier(s->api, ctx_of(req)->conn, id, &resp->body, err, sizeof err);
  if (rc < 0) return db_error(s, req, resp, err);
  /* not archived, or not in the token's scope: the same answer */
  if (rc > 0) return dw_http_error(resp, 404, "no dossier %s in your scope", id);
  return 0;
}

static int h_units(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {"type", NULL};
  const char *type;
  if (dw_http_params_only(req, resp, allowed) ||
      dw_http_param_choice(req, resp, "type", "commune|agency|procedure|province", "", &type))
    return 0;
  dw_api_units(s->api, &ctx_of(req)->scope, type[0] ? type : NULL, &resp->body);
  resp->etag = true;
  return 0;
}

static int h_me(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)app;
  static const char *const allowed[] = {NULL};
  if (dw_http_params_only(req, resp, allowed)) return 0;
  serve_ctx *x = ctx_of(req);
  dw_buf *b = &resp->body;
  dw_buf_puts(b, "{\"name\":");
  dw_buf_json_string(b, x->token_name);
  dw_buf_puts(b, ",\"scope\":");
  dw_buf_json_string(b, dw_scope_kind_name(x->scope.kind));
  dw_buf_puts(b, ",\"units\":[");
  for (int i = 0; i < x->scope.n; i++) {
    if (i) dw_buf_putc(b, ',');
    dw_buf_json_string(b, x->scope.units[i]);
  }
  dw_buf_puts(b, "]}");
  return 0;
}

static int h_ingest(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  const char *ct = req->content_type;
  if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
    return dw_http_error(resp, 415, "Content-Type must be application/json");
  if (req->body_len == 0) return dw_http_error(resp, 400, "body: empty (want a JSON document)");
  json_error_t je;
  json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
  if (!doc)
    return dw_http_error(resp, 400, "body: invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
  json_decref(doc);
  resp->status = dw_http_ingest_dvcqg(s->ingest, req->body, req->body_len, ctx_of(req)->token_name, &resp->body);
  if (resp->status < 200 || resp->status > 599) resp->status = 502;
  return 0;
}

/* ---------------------------------------------------------------- silences -- */

/* A scoped token's silences must carry an equality matcher on its agency
 * (or commune) naming one of its units: such a silence can only cover
 * alerts of the scope. The scope as one matcher, agency=~"A|B" (codes are
 * checked to be plain: letters, digits, '-', '_', '.', the dot escaped). */
static int scope_matcher(const dw_scope *sc, dw_notify_matcher *m, char *err, size_t n) {
  char text[DW_SCOPE_MAX_UNITS * 130 + 32];
  size_t len = (size_t)snprintf(text, sizeof text, "%s", sc->kind == DW_SCOPE_AGENCY ? "agency=~\"" : "commune=~\"");
  for (int i = 0; i < sc->n; i++) {
    if (i) text[len++] = '|';
    for (const char *p = sc->units[i]; *p; p++) {
      if (*p == '.') text[len++] = '\\', text[len++] = '\\';
      text[len++] = *p;
    }
  }
  snprintf(text + len, sizeof text - len, "\"");
  return dw_notify_matcher_parse(text, m, err, n);
}

/* May this request's token create or expire s? 1 yes, 0 no (answered 403). */
static int silence_allowed(dw_http_req *req, dw_http_resp *resp, const dw_silence *s) {
  const dw_scope *sc = &ctx_of(req)->scope;
  if (sc->kind == DW_SCOPE_PROVINCE) return 1;
  dw_notify_matcher m;
  char why[256];
  if (scope_matcher(sc, &m, why, sizeof why)) return dw_http_error(resp, 403, "your scope: %s", why), 0;
  bool ok = dw_silence_within_scope(s, &m, 1);
  dw_notify_matcher_free(&m);
  if (!ok)
    dw_http_error(resp, 403, "a token of scope %s may only silence its own alerts: add the matcher %s=\"%s\"",
                  dw_scope_kind_name(sc->kind), sc->kind == DW_SCOPE_AGENCY ? "agency" : "commune", sc->units[0]);
  return ok;
}

/* Listed for a scoped token: the silences that can cover some alert of its
 * scope (none of their matchers on its label refuses all of its units). */
static bool silence_visible(const dw_scope *sc, const dw_silence *s) {
  if (sc->kind == DW_SCOPE_PROVINCE) return true;
  dw_notify_label label = sc->kind == DW_SCOPE_AGENCY ? DW_NL_AGENCY : DW_NL_COMMUNE;
  for (size_t j = 0; j < s->s.nmatchers; j++) {
    if (s->m[j].label != label) continue;
    bool any = false;
    for (int i = 0; i < sc->n && !any; i++) {
      dw_alert probe;
      memset(&probe, 0, sizeof probe);
      snprintf(label == DW_NL_AGENCY ? probe.agency : probe.commune, sizeof probe.agency, "%s", sc->units[i]);
      any = dw_notify_matcher_matches(&s->m[j], &probe);
    }
    if (!any) return false;
  }
  return true;
}

static int h_silences(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {"state", NULL};
  const char *state;
  if (dw_http_params_only(req, resp, allowed) ||
      dw_http_param_choice(req, resp, "state", "current|all", "current", &state))
    return 0;
  dw_silence *v = NULL;
  size_t nv = 0;
  char err[512];
  int64_t now = dw_now_ms();
  if (dw_silence_list(ctx_of(req)->conn, strcmp(state, "all") == 0, now, &v, &nv, err, sizeof err))
    return db_error(s, req, resp, err);
  dw_buf *b = &resp->body;
  dw_buf_putc(b, '[');
  bool first = true;
  for (size_t i = 0; i < nv; i++) {
    if (!silence_visible(&ctx_of(req)->scope, &v[i])) continue;
    if (!first) dw_buf_putc(b, ',');
    first = false;
    dw_silence_to_json(&v[i], now, dw_api_utc_offset(s->api), b);
  }
  dw_buf_putc(b, ']');
  dw_silences_free(v, nv);
  return 0;
}

static int h_silence(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {NULL};
  if (dw_http_params_only(req, resp, allowed)) return 0;
  dw_silence one;
  char err[512];
  int rc = dw_silence_get(ctx_of(req)->conn, req->captures[0], &one, err, sizeof err);
  if (rc < 0) return db_error(s, req, resp, err);
  if (rc > 0 || !silence_visible(&ctx_of(req)->scope, &one)) {
    if (rc == 0) dw_silence_free(&one);
    return dw_http_error(resp, 404, "no silence %s in your scope", req->captures[0]);
  }
  dw_silence_to_json(&one, dw_now_ms(), dw_api_utc_offset(s->api), &resp->body);
  dw_silence_free(&one);
  return 0;
}

static int h_silence_add(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {NULL};
  if (dw_http_params_only(req, resp, allowed)) return 0;
  const char *ct = req->content_type;
  if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))
    return dw_http_error(resp, 415, "Content-Type must be application/json");
  serve_ctx *x = ctx_of(req);
  dw_silence one;
  char err[512];
  int64_t now = dw_now_ms();
  if (dw_silence_from_json(req->body, req->body_len, now, &one, err, sizeof err))
    return dw_http_error(resp, 400, "body: %s", err);
  /* who: the token, whatever the body claims (kept next to it when given) */
  char who[sizeof one.created_by];
  if (one.created_by[0] && strcmp(one.created_by, x->token_name) != 0)
    snprintf(who, sizeof who, "%.*s (token %s)", (int)(sizeof who / 2), one.created_by, x->token_name);
  else
    snprintf(who, sizeof who, "%s", x->token_name);
  snprintf(one.created_by, sizeof one.created_by, "%s", who);
  if (silence_allowed(req, resp, &one)) {
    int rc = dw_silence_create(x->conn, &one, now, err, sizeof err);
    if (rc > 0) {
      dw_http_error(resp, 400, "body: %s", err);
    } else if (rc < 0) {
      db_error(s, req, resp, err);
    } else {
      DW_LOG_INF("silence %s added by token '%s'", one.s.id, x->token_name);
      dw_buf_puts(&resp->body, "{\"silenceID\":");
      dw_buf_json_string(&resp->body, one.s.id);
      dw_buf_putc(&resp->body, '}');
    }
  }
  dw_silence_free(&one);
  return 0;
}

static int h_silence_expire(dw_http_req *req, dw_http_resp *resp, void *app) {
  dw_serve *s = app;
  static const char *const allowed[] = {NULL};
  if (dw_http_params_only(req, resp, allowed)) return 0;
  serve_ctx *x = ctx_of(req);
  dw_silence one;
  char err[512];
  int rc = dw_silence_get(x->conn, req->captures[0], &one, err, sizeof err);
  if (rc < 0) return db_error(s, req, resp, err);
  if (rc > 0 || !silence_visible(&x->scope, &one)) {
    if (rc == 0) dw_silence_free(&one);
    return dw_http_error(resp, 404, "no silence %s in your scope", req->captures[0]);
  }
  if (silence_allowed(req, resp, &one)) {
    int64_t now = dw_now_ms();
    rc = dw_silence_expire(x->conn, one.s.id, now, err, sizeof err);
    if (rc < 0) {
      db_error(s, req, resp, err);
    } else if (rc > 0) {
      dw_http_error(resp, 409, "silence %s has already expired", one.s.id);
    } else {
      DW_LOG_INF("silence %s expired by token '%s'", one.s.id, x->token_name);
      dw_silence_free(&one);
      if ((rc = dw_silence_get(x->conn, req->captures[0], &one, err, sizeof err)) != 0)
        return rc < 0 ? db_error(s, req, resp, err) : dw_http_error(resp, 404, "no silence %s", req->captures[0]);
      dw_silence_to_json(&one, now, dw_api_utc_offset(s->api), &resp->body);
    }
  }
  dw_silence_free(&one);
  return 0;
}

/* The dashboard: index.html at /, the rest under /static/. No token: the
 * files hold no data; the page's data requests carry the token. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

static const char *type_of(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return "application/octet-stream";
  if (!strcmp(dot, ".html")) return "text/html; charset=utf-8";
  if (!strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
  if (!strcmp(dot, ".css")) return "text/css; charset=utf-8";
  if (!strcmp(dot, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

static int serve_file(dw_http_resp *resp, const char *name) {
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_dashboard, name);
  if (!f) return dw_http_error(resp, 404, "no such file: %s", name);
  resp->status = 200;
  resp->static_body = f->data;
  resp->static_len = f->len;
  resp->content_type = type_of(name);
  resp->etag = true;
  resp->cache_control = "no-cache";
  dw_http_header(resp, "Content-Security-Policy", CSP);
  dw_http_header(resp, "Referrer-Policy", "no-referrer");
  return 0;
}

static int h_index(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  (void)app;
  return serve_file(resp, "index.html");
}

static int h_static(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)app;
  const char *name = req->ncaptures ? req->captures[0] : "";
  if (strchr(name, '/') || !strcmp(name, "index.html")) return dw_http_error(resp, 404, "no such file: %s", name);
  return serve_file(resp, name);
}

static int h_metrics(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  dw_serve *s = app;
  int open, in_use;
  dw_pgpool_stats(s->pool, &open, &in_use);
  dw_metric_set_l(s->m_db_conns, DW_LABELS("open"), open);
  dw_metric_set_l(s->m_db_conns, DW_LABELS("in_use"), in_use);
  return dw_http_ops_metrics(resp, s->metrics);
}

static int h_healthz(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  (void)app;
  return dw_http_ops_healthz(resp, "serve");
}

/* Ready: a pooled connection answers. */
static int serve_ready(void *opaque, char *reason, size_t n) {
  dw_serve *s = opaque;
  char err[512];
  PGconn *c = dw_pgpool_acquire(s->pool, err, sizeof err);
  if (!c) {
    snprintf(reason, n, "PostgreSQL: %s", err);
    return -1;
  }
  int rc = dw_pg_exec(c, "SELECT 1", err, sizeof err);
  dw_pgpool_release(s->pool, c, rc != 0);
  if (rc) snprintf(reason, n, "PostgreSQL: %s", err);
  return rc;
}

static int h_readyz(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  return dw_http_ops_readyz(resp, serve_ready, app);
}

/* The route table: method, pattern, handler, flags, what it is. */
static const dw_http_route routes[] = {
  {"GET", "/api/v1/aggregates", h_aggregates, DW_HTTP_AUTH | DW_HTTP_ETAG, "aggregate rows with rates and score"},
  {"GET", "/api/v1/ranking", h_ranking, DW_HTTP_AUTH | DW_HTTP_ETAG, "units ranked, worst first, with names"},
  {"GET", "/api/v1/alerts", h_alerts, DW_HTTP_AUTH, "alerts, newest first, keyset pages"},
  {"GET", "/api/v1/dossiers/{id}", h_dossier, DW_HTTP_AUTH, "a dossier's state, events and alerts"},
  {"GET", "/api/v1/units", h_units, DW_HTTP_AUTH | DW_HTTP_ETAG, "unit codes with names and types"},
  {"GET", "/api/v1/me", h_me, DW_HTTP_AUTH, "the token's name and scope"},
  {"GET", "/api/v1/silences", h_silences, DW_HTTP_AUTH, "silences of notifications (Alertmanager's objects)"},
  {"POST", "/api/v1/silences", h_silence_add, DW_HTTP_AUTH | DW_HTTP_BODY | DW_HTTP_WRITE, "add a silence"},
  {"GET", "/api/v1/silences/{id}", h_silence, DW_HTTP_AUTH, "one silence"},
  {"DELETE", "/api/v1/silences/{id}", h_silence_expire, DW_HTTP_AUTH | DW_HTTP_WRITE, "expire a silence"},
  {"POST", "/api/dvcqg/DongBoHoSoMC", h_ingest, DW_HTTP_AUTH | DW_HTTP_INGEST | DW_HTTP_BODY,
   "dossiers from the national portal (dvcqg), scope ingest"},
  {"GET", "/", h_index, 0, "the dashboard"},
  {"GET", "/static/*", h_static, 0, "the dashboard's files"},
  {"GET", "/healthz", h_healthz, 0, "the process is alive"},
  {"GET", "/readyz", h_readyz, 0, "PostgreSQL answers"},
  {"GET", "/metrics", h_metrics, 0, "Prometheus metrics"},
};

const dw_http_route *dw_serve_routes(size_t *n) {
  *n = sizeof routes / sizeof *routes;
  return routes;
}

/* -------------------------------------------------------------- lifecycle -- */

void dw_serve_stop(dw_serve *s) {
  if (!s) return;
  dw_http_stop(s->srv);
  dw_pgpool_destroy(s->pool);
  dw_http_ingest_destroy(s->ingest);
  dw_http_cache_destroy(s->cache);
  dw_api_destroy(s->api);
  dw_units_destroy(s->units);
  free(s);
}

dw_serve *dw_serve_start(const dw_config *cfg, char *err, size_t n) {
  dw_serve *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  snprintf(s->role, sizeof s->role, "%s", dw_config_get(cfg, "http.db_role"));
  s->statement_timeout_ms = (int)dw_config_get_int(cfg, "http.statement_timeout_ms");
  s->metrics = dw_metrics_process();
  s->m_auth_failures = dw_metrics_counter(s->metrics, "dossierwatch_http_auth_failures_total",
                                          "Requests refused for their token (401) or its scope (403), by reason",
                                          "reason");
  s->m_db_conns = dw_metrics_gauge(s->metrics, "dossierwatch_serve_db_connections",
                                   "PostgreSQL connections of serve's pool, open and in use", "state");
  s->m_db_errors = dw_metrics_counter(s->metrics, "dossierwatch_serve_db_errors_total",
                                      "Requests answered 503 because PostgreSQL failed", NULL);
  s->m_cache = dw_metrics_counter(s->metrics, "dossierwatch_serve_cache_lookups_total",
                                  "Aggregates and ranking replies found in serve's reply cache (hit) or rendered (miss)",
                                  "result");
  if (!(s->cache = dw_http_cache_new((size_t)dw_config_get_int(cfg, "http.cache_entries"),
                                     dw_config_get_int(cfg, "http.cache_max_age_ms")))) {
    snprintf(err, n, "out of memory");
    goto fail;
  }
  char why[512];
  if (!(s->units = dw_units_load(dw_config_get(cfg, "http.units"), why, sizeof why))) {
    snprintf(err, n, "http.units: %s", why);
    goto fail;
  }
  if (!dw_units_count(s->units))
    DW_LOG_WARNING("no units file (http.units): the ranking and the dashboard show codes without names");
  if (!(s->api = dw_api_new(cfg, s->units, err, n))) goto fail;
  if (!(s->ingest = dw_http_ingest_new(cfg, why, sizeof why))) {
    snprintf(err, n, "dvcqg ingest: %s", why);
    goto fail;
  }
  dw_pgpool_options po = {.conninfo = dw_config_get(cfg, "db.conninfo"),
                          .size = (int)dw_config_get_int(cfg, "http.db_pool"),
                          .acquire_timeout_ms = s->statement_timeout_ms,
                          .setup = conn_setup,
                          .opaque = s};
  if (!(s->pool = dw_pgpool_new(&po))) {
    snprintf(err, n, "out of memory");
    goto fail;
  }
  /* fail fast: the first connection proves the role and the policies */
  PGconn *c = dw_pgpool_acquire(s->pool, why, sizeof why);
  if (!c) {
    snprintf(err, n, "PostgreSQL: %s", why);
    goto fail;
  }
  /* the reply cache needs migration 014's data version */
  PGresult *vr = PQexec(c, "SELECT to_regprocedure('dw_http_data_version()') IS NOT NULL");
  bool has_version = PQresultStatus(vr) == PGRES_TUPLES_OK && PQntuples(vr) == 1 && PQgetvalue(vr, 0, 0)[0] == 't';
  PQclear(vr);
  dw_pgpool_release(s->pool, c, false);
  if (!has_version && dw_http_cache_enabled(s->cache)) {
    DW_LOG_WARNING("no dw_http_data_version() (run migrate): replies are not cached");
    dw_http_cache_destroy(s->cache);
    if (!(s->cache = dw_http_cache_new(0, 0))) {
      snprintf(err, n, "out of memory");
      goto fail;
    }
  }
  dw_http_options opt = {.listen = dw_config_get(cfg, "http.listen"),
                         .routes = routes,
                         .nroutes = sizeof routes / sizeof *routes,
                         .app = s,
                         .before = before,
                         .after = after,
                         .max_body = (size_t)dw_config_get_int(cfg, "http.ingest_max_bytes"),
                         .max_connections = (int)dw_config_get_int(cfg, "http.max_connections"),
                         .metrics = s->metrics,
                         .name = "serve"};
  if (!(s->srv = dw_http_start(&opt, err, n))) goto fail;
  return s;
fail:
  dw_serve_stop(s);
  return NULL;
}

const char *dw_serve_address(const dw_serve *s) { return dw_http_address(s->srv); }
