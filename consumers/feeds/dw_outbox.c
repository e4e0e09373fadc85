/* dw_outbox: cursors and pages of the PostgreSQL outbox (see dw_outbox.h). */
#include "dw_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"
#include "dw_log.h"
#include "dw_pg.h"
#include "dw_time.h"

static int64_t ms_or_none(const PGresult *res, int r, int c) {
  return PQgetisnull(res, r, c) ? DW_TIME_NONE : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* ---- cursors ---- */

int dw_outbox_cursor_load(PGconn *pg, const char *feed, dw_outbox_cursor *c, bool *legacy, char *err, size_t n) {
  memset(c, 0, sizeof *c);
  if (legacy) *legacy = false;
  const char *params[1] = {feed};
  PGresult *res = dw_pg_query(pg, "INSERT INTO feed_cursors (feed) VALUES ($1) ON CONFLICT DO NOTHING", 1, params, err, n);
  if (!res) return -1;
  PQclear(res);
  res = dw_pg_query(pg, "SELECT change_seq, key, legacy_keys FROM feed_cursors WHERE feed = $1", 1, params, err, n);
  if (!res) return -1;
  if (PQntuples(res) != 1) {
    PQclear(res);
    snprintf(err, n, "feed %s: no cursor row", feed);
    return -1;
  }
  c->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  if (!PQgetisnull(res, 0, 1)) {
    /* a text[] literal {a,"b c"}: our keys are codes and ids, parsed simply */
    const char *s = PQgetvalue(res, 0, 1);
    if (*s == '{') s++;
    while (*s && *s != '}' && c->nkey < DW_OUTBOX_KEY_MAX) {
      char *out = c->key[c->nkey];
      size_t len = 0;
      int quoted = *s == '"';
      if (quoted) s++;
      while (*s && (quoted ? *s != '"' : (*s != ',' && *s != '}'))) {
        if (quoted && *s == '\\' && s[1]) s++;
        if (len + 1 < sizeof c->key[0]) out[len++] = *s;
        s++;
      }
      out[len] = '\0';
      if (quoted && *s == '"') s++;
      if (*s == ',') s++;
      c->nkey++;
    }
  }
  if (legacy) *legacy = PQgetvalue(res, 0, 2)[0] == 't';
  PQclear(res);
  return 0;
}

int dw_outbox_cursor_save(PGconn *pg, const char *feed, const dw_outbox_cursor *c, char *err, size_t n) {
  char seq[24];
  snprintf(seq, sizeof seq, "%lld", (long long)c->seq);
  dw_buf key = DW_BUF_INIT;
  dw_buf_putc(&key, '{');
  for (int i = 0; i < c->nkey; i++) {
    if (i) dw_buf_putc(&key, ',');
    dw_pg_array_elem(&key, c->key[i]);
  }
  dw_buf_putc(&key, '}');
  const char *params[3] = {feed, seq, c->nkey ? key.data : NULL};
  PGresult *res = key.oom ? NULL
                          : dw_pg_query(pg, "UPDATE feed_cursors SET change_seq = $2, key = $3, updated_at = now()"
                                            " WHERE feed = $1", 3, params, err, n);
  if (key.oom) snprintf(err, n, "out of memory");
  dw_buf_free(&key);
  if (!res) return -1;
  PQclear(res);
  return 0;
}

int dw_outbox_legacy_done(PGconn *pg, const char *feed, char *err, size_t n) {
  const char *params[1] = {feed};
  PGresult *res = dw_pg_query(pg, "UPDATE feed_cursors SET legacy_keys = false WHERE feed = $1", 1, params, err, n);
  if (!res) return -1;
  PQclear(res);
  return 0;
}

int dw_outbox_lock(PGconn *pg, const char *feed, char *err, size_t n) {
  char name[160];
  snprintf(name, sizeof name, "dossierwatch feed %s", feed);
  int held = 0;
  return dw_pg_advisory(pg, DW_PG_ADVISORY_TRY, name, &held, err, n) ? -1 : held;
}

/* ---- pages ---- */

void dw_outbox_page_free(dw_outbox_page *p) {
  free(p->alerts);
  free(p->rows);
  free(p->units);
  memset(p, 0, sizeof *p);
}

static int page_room(dw_outbox_page *p, size_t more) {
  if (p->n + more <= p->cap) return 0;
  size_t cap = p->cap ? p->cap : 256;
  while (cap < p->n + more) cap *= 2;
  if (p->source == DW_OUTBOX_ALERTS) {
    dw_alert *a = realloc(p->alerts, cap * sizeof *a);
    if (!a) return -1;
    p->alerts = a;
  } else {
    dw_agg_row *r = realloc(p->rows, cap * sizeof *r);
    if (!r) return -1;
    p->rows = r;
    char(*u)[96] = realloc(p->units, cap * sizeof *u);
    if (!u) return -1;
    p->units = u;
    for (size_t i = 0; i < p->n; i++) p->rows[i].unit = p->units[i]; /* the units moved */
  }
  p->cap = cap;
  return 0;
}

#define ALERT_COLUMNS                                                                                        \
  "alert_id, rule, dossier_id, commune, agency, procedure, severity,"                                      \
  " (extract(epoch FROM raised_at) * 1000)::bigint, (extract(epoch FROM due_at) * 1000)::bigint,"          \
  " (extract(epoch FROM cleared_at) * 1000)::bigint, detail, change_seq"

/* Row r of an alerts read; 0, or -1 for a rule or severity this binary
 * does not know. */
static int alert_of(const PGresult *res, int r, dw_alert *a) {
  memset(a, 0, sizeof *a);
  snprintf(a->alert_id, sizeof a->alert_id, "%s", PQgetvalue(res, r, 0));
  if (dw_rule_parse(PQgetvalue(res, r, 1), &a->rule)) return -1;
  const char *sev = PQgetvalue(res, r, 6);
  if (strcmp(sev, "critical") == 0)
    a->severity = DW_SEV_CRITICAL;
  else if (strcmp(sev, "warning") == 0)
    a->severity = DW_SEV_WARNING;
  else
    return -1;
  snprintf(a->dossier_id, sizeof a->dossier_id, "%s", PQgetvalue(res, r, 2));
  snprintf(a->commune, sizeof a->commune, "%s", PQgetvalue(res, r, 3));
  snprintf(a->agency, sizeof a->agency, "%s", PQgetvalue(res, r, 4));
  snprintf(a->procedure, sizeof a->procedure, "%s", PQgetvalue(res, r, 5));
  a->raised_at = ms_or_none(res, r, 7);
  a->due_at = ms_or_none(res, r, 8);
  a->cleared_at = ms_or_none(res, r, 9);
  snprintf(a->detail, sizeof a->detail, "%s", PQgetvalue(res, r, 10));
  return 0;
}

/* The aggregate columns: unit_type, unit, period_kind, period, counters. */
static void agg_columns(dw_buf *sql) {
  dw_buf_puts(sql, "unit_type, unit, period_kind, period");
  for (int k = 0; k < DW_C__COUNT; k++) dw_buf_printf(sql, ", %s", dw_counter_name((dw_counter)k));
}

/* Appends row r of an aggregates read (columns as agg_columns, from col
 * `first`); 0, or -1 for names this binary does not know. */
static int add_row(dw_outbox_page *p, const PGresult *res, int r, int first) {
  dw_agg_row row;
  memset(&row, 0, sizeof row);
  if (dw_unit_type_parse(PQgetvalue(res, r, first), &row.unit_type) ||
      dw_period_kind_parse(PQgetvalue(res, r, first + 2), &row.period_kind))
    return -1;
  snprintf(row.period, sizeof row.period, "%s", PQgetvalue(res, r, first + 3));
  for (int k = 0; k < DW_C__COUNT; k++) row.counters[k] = strtoll(PQgetvalue(res, r, first + 4 + k), NULL, 10);
  snprintf(p->units[p->n], sizeof p->units[0], "%s", PQgetvalue(res, r, first + 1));
  row.unit = p->units[p->n];
  p->rows[p->n++] = row;
  return 0;
}

int dw_outbox_read(PGconn *pg, dw_outbox_source src, const dw_outbox_cursor *after, int limit, dw_outbox_page *page,
                   dw_outbox_cursor *next, char *err, size_t n) {
  page->source = src;
  page->n = 0;
  page->skipped = 0;
  *next = *after;
  const int nkey = src == DW_OUTBOX_ALERTS ? 1 : 4;
  dw_buf sql = DW_BUF_INIT;
  dw_buf_puts(&sql, "SELECT ");
  if (src == DW_OUTBOX_ALERTS)
    dw_buf_puts(&sql, ALERT_COLUMNS " FROM alerts");
  else {
    agg_columns(&sql);
    dw_buf_puts(&sql, ", change_seq FROM aggregates");
  }
  const char *keycols = src == DW_OUTBOX_ALERTS ? "alert_id" : "unit_type, unit, period_kind, period";
  char seq[24];
  snprintf(seq, sizeof seq, "%lld", (long long)after->seq);
  const char *params[1 + DW_OUTBOX_KEY_MAX] = {seq};
  int np = 1;
  if (after->nkey == nkey) {
    dw_buf_printf(&sql, " WHERE (change_seq, %s) > ($1::bigint", keycols);
    for (int i = 0; i < nkey; i++) {
      dw_buf_printf(&sql, ", $%d::text", i + 2);
      params[np++] = after->key[i];
    }
    dw_buf_puts(&sql, ")");
  } else {
    dw_buf_puts(&sql, " WHERE change_seq > $1::bigint");
  }
  dw_buf_printf(&sql, " ORDER BY change_seq, %s LIMIT %d", keycols, limit);
  PGresult *res = sql.oom ? NULL : dw_pg_query(pg, sql.data, np, params, err, n);
  if (sql.oom) snprintf(err, n, "out of memory");
  dw_buf_free(&sql);
  if (!res) return -1;
  int rows = PQntuples(res), seqcol = PQnfields(res) - 1;
  if (page_room(page, (size_t)rows)) {
    PQclear(res);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int r = 0; r < rows; r++) {
    int bad = src == DW_OUTBOX_ALERTS ? alert_of(res, r, &page->alerts[page->n]) : add_row(page, res, r, 0);
    if (src == DW_OUTBOX_ALERTS && !bad) page->n++;
    if (bad) {
      /* never read back as something else: the row is an error */
      page->skipped++;
      DW_LOG_ERR("outbox %s row %s%s%s: unknown %s '%s' (written by another version?); not delivered",
                 src == DW_OUTBOX_ALERTS ? "alerts" : "aggregates", PQgetvalue(res, r, 0),
                 src == DW_OUTBOX_ALERTS ? "" : "|", src == DW_OUTBOX_ALERTS ? "" : PQgetvalue(res, r, 1),
                 src == DW_OUTBOX_ALERTS ? "rule or severity" : "unit type or period kind",
                 src == DW_OUTBOX_ALERTS ? PQgetvalue(res, r, 1) : PQgetvalue(res, r, 0));
    }
    next->seq = strtoll(PQgetvalue(res, r, seqcol), NULL, 10);
    next->nkey = nkey;
    for (int i = 0; i < nkey; i++) snprintf(next->key[i], sizeof next->key[0], "%s", PQgetvalue(res, r, i));
  }
  PQclear(res);
  return 0;
}

long dw_outbox_backlog(PGconn *pg, dw_outbox_source src, const dw_outbox_cursor *c, char *err, size_t n) {
  char sql[256], seq[24];
  snprintf(seq, sizeof seq, "%lld", (long long)c->seq);
  /* rows at the cursor's own change_seq past its key are a handful: counted
   * as after it too (an estimate one batch wide at most) */
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE change_seq > $1::bigint",
           src == DW_OUTBOX_ALERTS ? "alerts" : "aggregates");
  const char *params[1] = {seq};
  PGresult *res = dw_pg_query(pg, sql, 1, params, err, n);
  if (!res) return -1;
  long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  return v;
}

/* "{a,b,c}" of n strings. */
static void text_array(dw_buf *b, const char *const *v, size_t n) {
  dw_buf_putc(b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) dw_buf_putc(b, ',');
    dw_pg_array_elem(b, v[i]);
  }
  dw_buf_putc(b, '}');
}

/* Runs sql (params $1.. from p) and appends its aggregate rows to page. */
static int read_rows(PGconn *pg, const char *sql, const char *const *params, int np, dw_outbox_page *page, char *err,
                     size_t n) {
  page->source = DW_OUTBOX_AGGREGATES;
  PGresult *res = dw_pg_query(pg, sql, np, params, err, n);
  if (!res) return -1;
  int rows = PQntuples(res);
  if (page_room(page, (size_t)rows)) {
    PQclear(res);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int r = 0; r < rows; r++)
    if (add_row(page, res, r, 0)) page->skipped++;
  PQclear(res);
  return 0;
}

int dw_outbox_rolling30(PGconn *pg, const char *first, const char *last, const char *const *unit_types,
                        const char *const *units, size_t nu, dw_outbox_page *page, char *err, size_t n) {
  dw_buf sql = DW_BUF_INIT, ut = DW_BUF_INIT, un = DW_BUF_INIT;
  dw_buf_puts(&sql, "SELECT unit_type, unit, 'rolling30', $2::text");
  for (int k = 0; k < DW_C__COUNT; k++) dw_buf_printf(&sql, ", sum(%s)::bigint", dw_counter_name((dw_counter)k));
  dw_buf_puts(&sql, " FROM aggregates WHERE period_kind = 'day' AND period BETWEEN $1 AND $2");
  if (nu) dw_buf_puts(&sql, " AND (unit_type, unit) IN (SELECT * FROM unnest($3::text[], $4::text[]))");
  dw_buf_puts(&sql, " GROUP BY unit_type, unit ORDER BY unit_type, unit");
  text_array(&ut, unit_types, nu);
  text_array(&un, units, nu);
  const char *params[4] = {first, last, ut.data, un.data};
  int rc = -1;
  if (sql.oom || ut.oom || un.oom)
    snprintf(err, n, "out of memory");
  else
    rc = read_rows(pg, sql.data, params, nu ? 4 : 2, page, err, n);
  dw_buf_free(&sql);
  dw_buf_free(&ut);
  dw_buf_free(&un);
  return rc;
}

int dw_outbox_current_rows(PGconn *pg, char names[][16], const char *const *unit_types, const char *const *units,
                           size_t nu, dw_outbox_page *page, char *err, size_t n) {
  if (nu == 0) return 0;
  dw_buf sql = DW_BUF_INIT, ut = DW_BUF_INIT, un = DW_BUF_INIT;
  dw_buf_puts(&sql, "SELECT ");
  agg_columns(&sql);
  dw_buf_puts(&sql, " FROM aggregates WHERE (unit_type, unit) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
                    " AND ((period_kind = 'day' AND period = $3) OR (period_kind = 'month' AND period = $4)"
                    " OR (period_kind = 'quarter' AND period = $5) OR (period_kind = 'year' AND period = $6))");
  text_array(&ut, unit_types, nu);
  text_array(&un, units, nu);
  const char *params[6] = {ut.data, un.data, names[0], names[1], names[2], names[3]};
  int rc = -1;
  if (sql.oom || ut.oom || un.oom)
    snprintf(err, n, "out of memory");
  else
    rc = read_rows(pg, sql.data, params, 6, page, err, n);
  dw_buf_free(&sql);
  dw_buf_free(&ut);
  dw_buf_free(&un);
  return rc;
}

int dw_outbox_open_overdue(PGconn *pg, void (*fn)(const char *, const char *, int64_t, void *), void *opaque,
                           char *err, size_t n) {
  PGresult *res = dw_pg_query(pg, "SELECT unit_type, unit, open_overdue FROM v_open_overdue", 0, NULL, err, n);
  if (!res) return -1;
  for (int r = 0; r < PQntuples(res); r++)
    fn(PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), strtoll(PQgetvalue(res, r, 2), NULL, 10), opaque);
  PQclear(res);
  return 0;
}
