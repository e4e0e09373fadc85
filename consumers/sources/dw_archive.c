/* dw_archive: the filter of replay and export, and the archive cursor (see
 * dw_archive.h). */
#include "dw_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_pg.h"
#include "dw_time.h"

bool dw_replay_filter_match(const dw_replay_filter *f, const dw_event *ev) {
  if (f->from != DW_TIME_NONE && ev->occurred_at < f->from) return false;
  if (f->to != DW_TIME_NONE && ev->occurred_at > f->to) return false;
  if (f->n_communes == 0) return true;
  for (size_t i = 0; i < f->n_communes; i++)
    if (strcmp(f->communes[i], ev->commune) == 0) return true;
  return false;
}

struct dw_archive_reader {
  PGconn *pg;
  dw_avro *av;
  PGresult *page;
  int row, rows;
  bool done;
  unsigned char *bin;
  size_t bin_cap;
};

/* The WHERE clause and its text parameters for f. */
typedef struct where_sql {
  char sql[256];
  const char *params[3];
  int nparams;
  char from[40], to[40];
  char *communes; /* text[] literal */
} where_sql;

static int build_where(const dw_replay_filter *f, where_sql *w, char *err, size_t n) {
  memset(w, 0, sizeof *w);
  size_t off = 0;
  const char *kw = " WHERE ";
  if (f->from != DW_TIME_NONE) {
    dw_time_format(f->from, 0, w->from, sizeof w->from);
    w->params[w->nparams++] = w->from;
    off += (size_t)snprintf(w->sql + off, sizeof w->sql - off, "%soccurred_at >= $%d::timestamptz", kw, w->nparams);
    kw = " AND ";
  }
  if (f->to != DW_TIME_NONE) {
    dw_time_format(f->to, 0, w->to, sizeof w->to);
    w->params[w->nparams++] = w->to;
    off += (size_t)snprintf(w->sql + off, sizeof w->sql - off, "%soccurred_at <= $%d::timestamptz", kw, w->nparams);
    kw = " AND ";
  }
  if (f->n_communes) {
    size_t cap = 3;
    for (size_t i = 0; i < f->n_communes; i++) cap += 2 * strlen(f->communes[i]) + 3;
    char *lit = malloc(cap), *p = lit;
    if (!lit) {
      snprintf(err, n, "out of memory");
      return -1;
    }
    *p++ = '{';
    for (size_t i = 0; i < f->n_communes; i++) {
      if (i) *p++ = ',';
      *p++ = '"';
      for (const char *c = f->communes[i]; *c; c++) {
        if (*c == '"' || *c == '\\') *p++ = '\\';
        *p++ = *c;
      }
      *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    w->communes = lit;
    w->params[w->nparams++] = lit;
    snprintf(w->sql + off, sizeof w->sql - off, "%scommune = ANY($%d::text[])", kw, w->nparams);
  }
  return 0;
}

static void fail_close(dw_archive_reader *r) {
  PQclear(PQexec(r->pg, "ROLLBACK"));
  free(r);
}

dw_archive_reader *dw_archive_open(PGconn *pg, dw_avro *av, const dw_replay_filter *f, int64_t *count, char *err,
                                   size_t n) {
  dw_archive_reader *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  r->pg = pg;
  r->av = av;
  where_sql w;
  if (build_where(f, &w, err, n)) {
    free(r);
    return NULL;
  }
  char sql[1024];
  if (dw_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, n)) goto fail;
  if (count) {
    snprintf(sql, sizeof sql, "SELECT count(*) FROM dossier_events%s", w.sql);
    PGresult *res = dw_pg_query(pg, sql, w.nparams, w.params, err, n);
    if (!res) goto fail;
    *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
  }
  /* COLLATE "C": the tie-break between events of the same instant must not
   * depend on the database's locale (replay --from-topic sorts with strcmp). */
  snprintf(sql, sizeof sql,
           "DECLARE dw_archive NO SCROLL CURSOR FOR"
           " SELECT event_id, (extract(epoch FROM occurred_at) * 1000)::bigint, avro, payload::text,"
           " kafka_partition FROM dossier_events%s ORDER BY occurred_at, event_id COLLATE \"C\"",
           w.sql);
  PGresult *res = dw_pg_query(pg, sql, w.nparams, w.params, err, n);
  if (!res) goto fail;
  PQclear(res);
  free(w.communes);
  return r;
fail:
  free(w.communes);
  fail_close(r);
  return NULL;
}

/* bytea text output "\x0a1b..." into r->bin. */
static int unhex(dw_archive_reader *r, const char *s, size_t *len) {
  size_t sl = strlen(s);
  if (sl < 2 || s[0] != '\\' || s[1] != 'x') {
    /* bytea_output = escape: let libpq do it */
    size_t ul;
    unsigned char *u = PQunescapeBytea((const unsigned char *)s, &ul);
    if (!u) return -1;
    if (ul > r->bin_cap) {
      unsigned char *b = realloc(r->bin, ul);
      if (!b) {
        PQfreemem(u);
        return -1;
      }
      r->bin = b;
      r->bin_cap = ul;
    }
    memcpy(r->bin, u, ul);
    PQfreemem(u);
    *len = ul;
    return 0;
  }
  size_t bl = (sl - 2) / 2;
  if (bl > r->bin_cap) {
    unsigned char *b = realloc(r->bin, bl);
    if (!b) return -1;
    r->bin = b;
    r->bin_cap = bl;
  }
  for (size_t i = 0; i < bl; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = s[2 + 2 * i + (size_t)k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    r->bin[i] = (unsigned char)v;
  }
  *len = bl;
  return 0;
}

int dw_archive_next(dw_archive_reader *r, dw_event *ev, int32_t *partition, char *err, size_t n) {
  if (r->done) return 0;
  if (!r->page || r->row >= r->rows) {
    PQclear(r->page);
    r->page = NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH %d FROM dw_archive", DW_ARCHIVE_PAGE);
    r->page = dw_pg_query(r->pg, sql, 0, NULL, err, n);
    if (!r->page) return -1;
    r->rows = PQntuples(r->page);
    r->row = 0;
    if (r->rows == 0) {
      r->done = true;
      return 0;
    }
  }
  PGresult *p = r->page;
  int i = r->row++;
  *partition = PQgetisnull(p, i, 4) ? -1 : (int32_t)strtol(PQgetvalue(p, i, 4), NULL, 10);
  char why_avro[300] = "", why_json[300] = "";
  dw_event_init(ev);
  if (!PQgetisnull(p, i, 2)) {
    size_t len;
    if (unhex(r, PQgetvalue(p, i, 2), &len))
      snprintf(why_avro, sizeof why_avro, "column avro is not valid bytea text");
    else if (dw_avro_decode_event(r->av, r->bin, len, ev, why_avro, sizeof why_avro) == 0)
      return 1;
  }
  dw_event_init(ev);
  const char *json = PQgetvalue(p, i, 3);
  if (dw_event_from_json(json, strlen(json), ev, why_json, sizeof why_json) == 0) return 1;
  dw_event_init(ev);
  snprintf(ev->event_id, sizeof ev->event_id, "%s", PQgetvalue(p, i, 0));
  snprintf(err, n, "archived event '%s' cannot be decoded: %s%s%s", ev->event_id, why_avro[0] ? "avro: " : "",
           why_avro, why_avro[0] ? "; payload: " : "payload: ");
  size_t l = strlen(err);
  if (l + 1 < n) snprintf(err + l, n - l, "%s", why_json);
  return 2;
}

int dw_archive_close(dw_archive_reader *r, char *err, size_t n) {
  if (!r) return 0;
  PQclear(r->page);
  free(r->bin);
  int rc = 0;
  if (PQtransactionStatus(r->pg) == PQTRANS_INERROR) {
    PQclear(PQexec(r->pg, "ROLLBACK"));
  } else {
    rc = dw_pg_exec(r->pg, "CLOSE dw_archive", err, n);
    if (rc == 0) rc = dw_pg_exec(r->pg, "COMMIT", err, n);
    else PQclear(PQexec(r->pg, "ROLLBACK"));
  }
  free(r);
  return rc;
}
