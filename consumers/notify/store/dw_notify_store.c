/* dw_notify_store: notify's state, notification log and cursor in
 * PostgreSQL (see dw_notify_store.h). */
#include "dw_notify_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_log.h"
#include "dw_pg.h"
#include "dw_time.h"

struct dw_notify_store {
  PGconn *pg;
  char group[128];
  char feed[160];
  /* errors inside a drain (the sink cannot return one) */
  bool sink_failed;
  char sink_err[512];
};

dw_notify_store *dw_notify_store_open(const char *conninfo, const char *group, int retry, char *err, size_t n) {
  dw_notify_store *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  snprintf(s->group, sizeof s->group, "%s", group);
  snprintf(s->feed, sizeof s->feed, "notify:%s", group);
  if (!(s->pg = dw_pg_connect(conninfo, retry, err, n))) {
    free(s);
    return NULL;
  }
  char sql[256], ignored[128];
  snprintf(sql, sizeof sql, "SET application_name = 'dossierwatch notify %s'", group);
  dw_pg_exec(s->pg, sql, ignored, sizeof ignored);
  return s;
}

void dw_notify_store_close(dw_notify_store *s) {
  if (!s) return;
  if (s->pg) PQfinish(s->pg);
  free(s);
}

PGconn *dw_notify_store_pg(dw_notify_store *s) { return s->pg; }
bool dw_notify_store_ok(dw_notify_store *s) { return s->pg && PQstatus(s->pg) == CONNECTION_OK; }

int dw_notify_store_lock(dw_notify_store *s, char *err, size_t n) { return dw_outbox_lock(s->pg, s->feed, err, n); }

static int64_t ms_or_none(const PGresult *res, int r, int c) {
  return PQgetisnull(res, r, c) ? DW_TIME_NONE : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* "{a,"b c"}" -> strings (caller frees each and the array) */
static char **text_array(const char *s, size_t *n) {
  *n = 0;
  size_t cap = 8;
  char **v = malloc(cap * sizeof *v);
  if (!v) return NULL;
  if (*s == '{') s++;
  while (*s && *s != '}') {
    dw_buf el = DW_BUF_INIT;
    bool quoted = *s == '"';
    if (quoted) s++;
    while (*s && (quoted ? *s != '"' : (*s != ',' && *s != '}'))) {
      if (quoted && *s == '\\' && s[1]) s++;
      dw_buf_putc(&el, *s++);
    }
    if (quoted && *s == '"') s++;
    if (*s == ',') s++;
    if (*n == cap) {
      cap *= 2;
      char **nv = realloc(v, cap * sizeof *nv);
      if (!nv) break;
      v = nv;
    }
    v[(*n)++] = el.data ? dw_buf_take(&el) : strdup("");
  }
  return v;
}

static void array_literal(dw_buf *b, char *const *v, size_t n) {
  dw_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) dw_buf_putc(b, ',');
    dw_pg_array_elem(b, v[i]);
  }
  dw_buf_putc(b, '}');
}

/* ---- restore ---- */

static int restore_groups(dw_notify_store *s, dw_notify_state *ns, char *err, size_t n) {
  const char *p[1] = {s->group};
  PGresult *res = dw_pg_query(s->pg,
                              "SELECT g.group_key, g.next_flush, g.flushed, l.integration, l.firing, l.resolved,"
                              " l.sent_clock FROM notify_groups g LEFT JOIN notify_nflog l"
                              " ON l.notify_group = g.notify_group AND l.group_key = g.group_key"
                              " WHERE g.notify_group = $1 ORDER BY g.group_key, l.integration",
                              1, p, err, n);
  if (!res) return -1;
  int rows = PQntuples(res), rc = 0;
  for (int r = 0; r < rows && !rc;) {
    const char *key = PQgetvalue(res, r, 0);
    int64_t next = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    bool flushed = PQgetvalue(res, r, 2)[0] == 't';
    dw_notify_nflog logs[16];
    size_t nl = 0;
    int r2 = r;
    for (; r2 < rows && strcmp(PQgetvalue(res, r2, 0), key) == 0; r2++) {
      if (PQgetisnull(res, r2, 3)) continue;
      int ix = atoi(PQgetvalue(res, r2, 3));
      if (ix < 0 || ix >= 16) continue;
      while (nl <= (size_t)ix) logs[nl++] = (dw_notify_nflog){.at = DW_TIME_NONE};
      logs[ix].firing = text_array(PQgetvalue(res, r2, 4), &logs[ix].nfiring);
      logs[ix].resolved = text_array(PQgetvalue(res, r2, 5), &logs[ix].nresolved);
      logs[ix].at = ms_or_none(res, r2, 6);
    }
    if (dw_notify_state_restore_group(ns, key, next, flushed, logs, nl)) {
      snprintf(err, n, "out of memory");
      rc = -1;
    }
    for (size_t i = 0; i < nl; i++) dw_notify_nflog_free(&logs[i]);
    r = r2;
  }
  PQclear(res);
  if (rc) return rc;
  res = dw_pg_query(s->pg, "SELECT digest, (last_day - date '1970-01-01')::bigint FROM notify_digests WHERE notify_group = $1",
                    1, p, err, n);
  if (!res) return -1;
  for (int r = 0; r < PQntuples(res); r++)
    dw_notify_state_restore_digest(ns, PQgetvalue(res, r, 0), strtoll(PQgetvalue(res, r, 1), NULL, 10));
  PQclear(res);
  /* messages committed and not yet delivered: those integrations wait */
  res = dw_pg_query(s->pg,
                    "SELECT DISTINCT group_key, integration FROM notify_log WHERE notify_group = $1 AND status = 'pending'"
                    " AND what <> 'digest'",
                    1, p, err, n);
  if (!res) return -1;
  for (int r = 0; r < PQntuples(res); r++)
    dw_notify_state_set_pending(ns, PQgetvalue(res, r, 0), atoi(PQgetvalue(res, r, 1)), true);
  PQclear(res);
  return 0;
}

static int restore_alerts(dw_notify_store *s, dw_notify_state *ns, int64_t now, char *err, size_t n) {
  const char *p[1] = {s->group};
  PGresult *res = dw_pg_query(s->pg,
                              "SELECT alert_id, rule, dossier_id, commune, agency, procedure, severity,"
                              " (extract(epoch FROM raised_at) * 1000)::bigint, (extract(epoch FROM due_at) * 1000)::bigint,"
                              " (extract(epoch FROM cleared_at) * 1000)::bigint, detail"
                              " FROM notify_alerts WHERE notify_group = $1 ORDER BY alert_id",
                              1, p, err, n);
  if (!res) return -1;
  int rows = PQntuples(res), rc = 0;
  for (int r = 0; r < rows && !rc; r++) {
    dw_alert a;
    memset(&a, 0, sizeof a);
    snprintf(a.alert_id, sizeof a.alert_id, "%s", PQgetvalue(res, r, 0));
    if (dw_rule_parse(PQgetvalue(res, r, 1), &a.rule)) {
      DW_LOG_ERR("notify_alerts %s: unknown rule '%s' (written by another version?); left out", a.alert_id,
                 PQgetvalue(res, r, 1));
      continue;
    }
    snprintf(a.dossier_id, sizeof a.dossier_id, "%s", PQgetvalue(res, r, 2));
    snprintf(a.commune, sizeof a.commune, "%s", PQgetvalue(res, r, 3));
    snprintf(a.agency, sizeof a.agency, "%s", PQgetvalue(res, r, 4));
    snprintf(a.procedure, sizeof a.procedure, "%s", PQgetvalue(res, r, 5));
    a.severity = strcmp(PQgetvalue(res, r, 6), "critical") == 0 ? DW_SEV_CRITICAL : DW_SEV_WARNING;
    a.raised_at = ms_or_none(res, r, 7);
    a.due_at = ms_or_none(res, r, 8);
    a.cleared_at = ms_or_none(res, r, 9);
    snprintf(a.detail, sizeof a.detail, "%s", PQgetvalue(res, r, 10));
    rc = dw_notify_state_restore_alert(ns, &a, now);
  }
  PQclear(res);
  if (rc) snprintf(err, n, "out of memory");
  return rc;
}

int dw_notify_store_restore(dw_notify_store *s, dw_notify_state *ns, int64_t now, dw_outbox_cursor *cur, char *err,
                            size_t n) {
  if (dw_outbox_cursor_load(s->pg, s->feed, cur, NULL, err, n)) return -1;
  if (restore_groups(s, ns, err, n) || restore_alerts(s, ns, now, err, n)) return -1;
  return 0;
}

int dw_notify_store_read(dw_notify_store *s, const dw_outbox_cursor *cur, int limit, dw_outbox_page *page,
                         dw_outbox_cursor *next, char *err, size_t n) {
  return dw_outbox_read(s->pg, DW_OUTBOX_ALERTS, cur, limit, page, next, err, n);
}

/* ---- the round's transaction ---- */

typedef struct sink_ctx {
  dw_notify_store *s;
  dw_buf alerts; /* COPY rows of the alerts to upsert: one statement for the lot */
  size_t nalerts;
} sink_ctx;

static void sink_fail(dw_notify_store *s, const char *err) {
  if (s->sink_failed) return;
  s->sink_failed = true;
  snprintf(s->sink_err, sizeof s->sink_err, "%s", err);
}

static void q_run(dw_notify_store *s, const char *sql, int np, const char *const *p) {
  if (s->sink_failed) return;
  char err[512];
  PGresult *res = dw_pg_query(s->pg, sql, np, p, err, sizeof err);
  if (!res)
    sink_fail(s, err);
  else
    PQclear(res);
}

static void ms_text(int64_t ms, char *buf, size_t n) {
  if (ms == DW_TIME_NONE)
    buf[0] = 0;
  else
    snprintf(buf, n, "%lld", (long long)ms);
}

static void s_alert_put(const dw_alert *a, void *o) {
  sink_ctx *c = o;
  const char *v[8] = {c->s->group, a->alert_id, dw_rule_name(a->rule), a->dossier_id, a->commune, a->agency,
                      a->procedure, dw_severity_name(a->severity)};
  dw_pg_copy_texts(&c->alerts, v, 8);
  dw_pg_copy_time(&c->alerts, a->raised_at);
  dw_buf_putc(&c->alerts, '\t');
  dw_pg_copy_time(&c->alerts, a->due_at);
  dw_buf_putc(&c->alerts, '\t');
  dw_pg_copy_time(&c->alerts, a->cleared_at);
  dw_buf_putc(&c->alerts, '\t');
  dw_pg_copy_text(&c->alerts, a->detail);
  dw_buf_putc(&c->alerts, '\n');
  c->nalerts++;
}

/* The alerts collected by s_alert_put: COPY into a temporary table, then one
 * upsert (a first round over a backlog writes thousands). */
static void flush_alerts(sink_ctx *c) {
  dw_notify_store *s = c->s;
  if (!c->nalerts || s->sink_failed) return;
  if (c->alerts.oom) {
    sink_fail(s, "out of memory");
    return;
  }
  char err[512];
  if (dw_pg_exec(s->pg, "CREATE TEMP TABLE IF NOT EXISTS notify_alerts_in (LIKE notify_alerts) ON COMMIT DELETE ROWS",
                 err, sizeof err) ||
      dw_pg_copy(s->pg, "COPY notify_alerts_in FROM STDIN", c->alerts.data, c->alerts.len, err, sizeof err) ||
      dw_pg_exec(s->pg,
                 "INSERT INTO notify_alerts SELECT * FROM notify_alerts_in ON CONFLICT (notify_group, alert_id) DO UPDATE"
                 " SET rule = EXCLUDED.rule, dossier_id = EXCLUDED.dossier_id, commune = EXCLUDED.commune,"
                 " agency = EXCLUDED.agency, procedure = EXCLUDED.procedure, severity = EXCLUDED.severity,"
                 " raised_at = EXCLUDED.raised_at, due_at = EXCLUDED.due_at, cleared_at = EXCLUDED.cleared_at,"
                 " detail = EXCLUDED.detail",
                 err, sizeof err))
    sink_fail(s, err);
}

static void s_alert_del(const char *id, void *o) {
  sink_ctx *c = o;
  const char *p[2] = {c->s->group, id};
  q_run(c->s, "DELETE FROM notify_alerts WHERE notify_group = $1 AND alert_id = $2", 2, p);
}

static void s_group_put(const char *key, const char *receiver, int64_t next, bool flushed, const dw_notify_nflog *l,
                        size_t nl, void *o) {
  sink_ctx *c = o;
  char nx[24];
  ms_text(next, nx, sizeof nx);
  const char *p[5] = {c->s->group, key, receiver, nx, flushed ? "true" : "false"};
  q_run(c->s,
        "INSERT INTO notify_groups (notify_group, group_key, receiver, next_flush, flushed) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (notify_group, group_key) DO UPDATE SET receiver = EXCLUDED.receiver,"
        " next_flush = EXCLUDED.next_flush, flushed = EXCLUDED.flushed, updated_at = now()",
        5, p);
  if (!l) return; /* the log entries did not change */
  const char *pd[3] = {c->s->group, key, NULL};
  char cnt[16];
  snprintf(cnt, sizeof cnt, "%zu", nl);
  pd[2] = cnt;
  q_run(c->s, "DELETE FROM notify_nflog WHERE notify_group = $1 AND group_key = $2 AND integration >= $3", 3, pd);
  for (size_t i = 0; i < nl; i++) {
    dw_buf f = DW_BUF_INIT, r = DW_BUF_INIT;
    array_literal(&f, l[i].firing, l[i].nfiring);
    array_literal(&r, l[i].resolved, l[i].nresolved);
    char ix[16], at[24];
    snprintf(ix, sizeof ix, "%zu", i);
    ms_text(l[i].at, at, sizeof at);
    const char *q[6] = {c->s->group, key, ix, f.data, r.data, at[0] ? at : NULL};
    if (f.oom || r.oom)
      sink_fail(c->s, "out of memory");
    else
      q_run(c->s,
            "INSERT INTO notify_nflog (notify_group, group_key, integration, firing, resolved, sent_clock)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notify_group, group_key, integration) DO UPDATE SET"
            " firing = EXCLUDED.firing, resolved = EXCLUDED.resolved, sent_clock = EXCLUDED.sent_clock",
            6, q);
    dw_buf_free(&f);
    dw_buf_free(&r);
  }
}

static void s_group_del(const char *key, void *o) {
  sink_ctx *c = o;
  const char *p[2] = {c->s->group, key};
  q_run(c->s, "DELETE FROM notify_groups WHERE notify_group = $1 AND group_key = $2", 2, p);
}

static void s_digest_put(const char *name, int64_t day, void *o) {
  sink_ctx *c = o;
  char d[24];
  snprintf(d, sizeof d, "%lld", (long long)day);
  const char *p[3] = {c->s->group, name, d};
  q_run(c->s,
        "INSERT INTO notify_digests (notify_group, digest, last_day) VALUES ($1, $2, date '1970-01-01' + $3::integer)"
        " ON CONFLICT (notify_group, digest) DO UPDATE SET last_day = EXCLUDED.last_day",
        3, p);
}

static void insert_log(dw_notify_store *s, const dw_notify_out *o, int64_t clock) {
  const dw_notify_req *q = o->q;
  char ix[16], f[16], r[16], ck[24];
  snprintf(ix, sizeof ix, "%d", q->integ_index);
  snprintf(f, sizeof f, "%zu", q->kind == DW_NREQ_DIGEST ? 0 : q->nfiring);
  snprintf(r, sizeof r, "%zu", q->nresolved);
  ms_text(clock, ck, sizeof ck);
  const char *what = q->kind == DW_NREQ_DIGEST ? "digest" : (q->route && q->route->escalation ? "escalation" : "alerts");
  const char *p[11] = {s->group, q->receiver->name, ix, q->integ->kind == DW_NK_EMAIL ? "email" : "webhook", what,
                       q->group_key, f, r, o->m.subject, o->m.text, o->m.body};
  const char *pp[12];
  memcpy(pp, p, sizeof p);
  pp[11] = ck;
  q_run(s,
        "INSERT INTO notify_log (notify_group, receiver, integration, kind, what, group_key, firing, resolved, subject,"
        " text, body, clock_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12::bigint / 1000.0))",
        12, pp);
}

int dw_notify_store_commit(dw_notify_store *s, dw_notify_state *ns, const dw_outbox_cursor *cur,
                           const dw_notify_out *out, size_t nout, int64_t clock, const char *holder, char *err,
                           size_t n) {
  if (dw_pg_exec(s->pg, "BEGIN", err, n)) return -1;
  s->sink_failed = false;
  sink_ctx c = {s, DW_BUF_INIT, 0};
  dw_notify_sink sink = {s_alert_put, s_alert_del, s_group_put, s_group_del, s_digest_put};
  dw_notify_state_drain(ns, &sink, &c);
  flush_alerts(&c);
  dw_buf_free(&c.alerts);
  for (size_t i = 0; i < nout; i++) insert_log(s, &out[i], clock);
  if (!s->sink_failed && dw_outbox_cursor_save(s->pg, s->feed, cur, s->sink_err, sizeof s->sink_err))
    s->sink_failed = true;
  char ck[24], seq[24];
  ms_text(clock, ck, sizeof ck);
  snprintf(seq, sizeof seq, "%lld", (long long)cur->seq);
  const char *p[4] = {s->group, holder, ck, seq};
  q_run(s,
        "INSERT INTO notify_status (notify_group, holder, clock_ms, cursor_seq, heartbeat_at) VALUES ($1, $2, $3, $4, now())"
        " ON CONFLICT (notify_group) DO UPDATE SET holder = EXCLUDED.holder, clock_ms = EXCLUDED.clock_ms,"
        " cursor_seq = EXCLUDED.cursor_seq, heartbeat_at = now()",
        4, p);
  if (s->sink_failed) {
    snprintf(err, n, "%s", s->sink_err);
    char ignored[128];
    dw_pg_exec(s->pg, "ROLLBACK", ignored, sizeof ignored);
    return -1;
  }
  return dw_pg_exec(s->pg, "COMMIT", err, n);
}

/* ---- delivery bookkeeping ---- */

int dw_notify_store_pending(dw_notify_store *s, dw_notify_pending **out, size_t *nout, char *err, size_t n) {
  *out = NULL;
  *nout = 0;
  const char *p[1] = {s->group};
  PGresult *res = dw_pg_query(s->pg,
                              "SELECT id, receiver, integration, kind, what, group_key, body, attempts FROM notify_log"
                              " WHERE notify_group = $1 AND status = 'pending' ORDER BY id LIMIT 1000",
                              1, p, err, n);
  if (!res) return -1;
  int rows = PQntuples(res);
  dw_notify_pending *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
  if (!v) {
    PQclear(res);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int r = 0; r < rows; r++) {
    v[r].id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
    snprintf(v[r].receiver, sizeof v[r].receiver, "%s", PQgetvalue(res, r, 1));
    v[r].integration = atoi(PQgetvalue(res, r, 2));
    snprintf(v[r].kind, sizeof v[r].kind, "%s", PQgetvalue(res, r, 3));
    snprintf(v[r].what, sizeof v[r].what, "%s", PQgetvalue(res, r, 4));
    snprintf(v[r].group_key, sizeof v[r].group_key, "%s", PQgetvalue(res, r, 5));
    v[r].body = strdup(PQgetvalue(res, r, 6));
    v[r].attempts = atoi(PQgetvalue(res, r, 7));
  }
  PQclear(res);
  *out = v;
  *nout = (size_t)rows;
  return 0;
}

void dw_notify_store_pending_free(dw_notify_pending *v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i].body);
  free(v);
}

int dw_notify_store_claim(dw_notify_store *s, int64_t id, char *err, size_t n) {
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  const char *p[1] = {ids};
  PGresult *res = dw_pg_query(s->pg, "UPDATE notify_log SET last_attempt_at = now() WHERE id = $1 AND status = 'pending'",
                              1, p, err, n);
  if (!res) return -1;
  int claimed = atoi(PQcmdTuples(res)) == 1;
  PQclear(res);
  return claimed;
}

int dw_notify_store_result(dw_notify_store *s, int64_t id, bool sent, const char *error, char *err, size_t n) {
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  const char *p[2] = {ids, error};
  PGresult *res = dw_pg_query(s->pg,
                              sent ? "UPDATE notify_log SET status = 'sent', attempts = attempts + 1, sent_at = now(),"
                                     " last_attempt_at = now() WHERE id = $1"
                                   : "UPDATE notify_log SET attempts = attempts + 1, last_error = $2,"
                                     " last_attempt_at = now() WHERE id = $1",
                              sent ? 1 : 2, p, err, n);
  if (!res) return -1;
  PQclear(res);
  return 0;
}

int dw_notify_store_abandon(dw_notify_store *s, int64_t id, const char *why, char *err, size_t n) {
  char ids[24];
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  const char *p[2] = {ids, why};
  PGresult *res = dw_pg_query(s->pg, "UPDATE notify_log SET status = 'abandoned', last_error = $2 WHERE id = $1", 2, p,
                              err, n);
  if (!res) return -1;
  PQclear(res);
  return 0;
}

/* ---- digests ---- */

static int read_rates(dw_notify_store *s, const char *unit_type, const char *month, const dw_aggregates *agg,
                      dw_notify_unit_rates **out, size_t *nout, char *err, size_t n) {
  dw_buf sql = DW_BUF_INIT;
  dw_buf_puts(&sql, "SELECT unit");
  for (int k = 0; k < DW_C__COUNT; k++) dw_buf_printf(&sql, ", %s", dw_counter_name((dw_counter)k));
  dw_buf_puts(&sql, " FROM aggregates WHERE unit_type = $1 AND period_kind = 'month' AND period = $2 ORDER BY unit");
  const char *p[2] = {unit_type, month};
  PGresult *res = sql.oom ? NULL : dw_pg_query(s->pg, sql.data, 2, p, err, n);
  dw_buf_free(&sql);
  if (!res) return -1;
  int rows = PQntuples(res);
  dw_notify_unit_rates *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
  if (!v) {
    PQclear(res);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int r = 0; r < rows; r++) {
    dw_agg_row row;
    memset(&row, 0, sizeof row);
    snprintf(v[r].unit, sizeof v[r].unit, "%s", PQgetvalue(res, r, 0));
    row.unit = v[r].unit;
    row.period_kind = DW_PERIOD_MONTH;
    dw_unit_type_parse(unit_type, &row.unit_type);
    snprintf(row.period, sizeof row.period, "%s", month);
    for (int k = 0; k < DW_C__COUNT; k++) row.counters[k] = strtoll(PQgetvalue(res, r, 1 + k), NULL, 10);
    dw_aggregates_rates(agg, &row, &v[r].r);
    v[r].received = row.counters[DW_C_RECEIVED];
  }
  PQclear(res);
  *out = v;
  *nout = (size_t)rows;
  return 0;
}

int dw_notify_store_digest_data(dw_notify_store *s, const dw_notify_digest *d, const dw_aggregates *agg, int64_t now,
                                int utc, dw_notify_digest_data *out, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  char names[DW_PERIOD__COUNT][16];
  dw_aggregates_period_names(now, utc, names);
  snprintf(out->month, sizeof out->month, "%s", names[DW_PERIOD_MONTH]);
  dw_notify_unit_rates *prov = NULL, *all = NULL;
  size_t np = 0, na = 0;
  if (read_rates(s, "province", out->month, agg, &prov, &np, err, n)) return -1;
  if (np) {
    out->province = prov[0];
    out->has_province = true;
  }
  free(prov);
  if (read_rates(s, dw_unit_type_name(d->unit_type), out->month, agg, &all, &na, err, n)) return -1;
  /* the units the digest's matchers on that unit's label accept */
  dw_notify_label lab = d->unit_type == DW_UNIT_AGENCY ? DW_NL_AGENCY
                        : d->unit_type == DW_UNIT_PROCEDURE ? DW_NL_PROCEDURE
                                                            : DW_NL_COMMUNE;
  size_t k = 0;
  for (size_t i = 0; i < na; i++) {
    dw_alert probe;
    memset(&probe, 0, sizeof probe);
    char *dst = lab == DW_NL_AGENCY ? probe.agency : lab == DW_NL_PROCEDURE ? probe.procedure : probe.commune;
    size_t cap = lab == DW_NL_AGENCY ? sizeof probe.agency : lab == DW_NL_PROCEDURE ? sizeof probe.procedure : sizeof probe.commune;
    snprintf(dst, cap, "%s", all[i].unit);
    bool ok = true;
    for (size_t m = 0; m < d->nmatchers && ok; m++)
      if (d->matchers[m].label == lab) ok = dw_notify_matcher_matches(&d->matchers[m], &probe);
    if (ok) all[k++] = all[i];
  }
  out->units = all;
  out->nunits = k;
  return 0;
}

void dw_notify_store_digest_free(dw_notify_digest_data *d) {
  free(d->units);
  memset(d, 0, sizeof *d);
}

int64_t dw_notify_store_watermark(dw_notify_store *s, char *err, size_t n) {
  PGresult *res = dw_pg_query(s->pg, "SELECT max(watermark_ms) FROM kafka_offsets", 0, NULL, err, n);
  if (!res) return DW_TIME_NONE;
  int64_t v = PQgetisnull(res, 0, 0) ? DW_TIME_NONE : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return v;
}
