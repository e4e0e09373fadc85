/* dw_silences: silences in PostgreSQL and as JSON (see dw_silences.h). */
#include "dw_silences.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_log.h"
#include "dw_pg.h"
#include "dw_time.h"

void dw_silence_init(dw_silence *s) {
  memset(s, 0, sizeof *s);
  s->s.matchers = s->m;
  s->s.starts_at = s->s.ends_at = DW_TIME_NONE;
  s->created_at = s->updated_at = DW_TIME_NONE;
}

void dw_silence_free(dw_silence *s) {
  for (size_t i = 0; i < s->s.nmatchers; i++) dw_notify_matcher_free(&s->m[i]);
  s->s.nmatchers = 0;
}

void dw_silences_free(dw_silence *v, size_t n) {
  for (size_t i = 0; i < n; i++) dw_silence_free(&v[i]);
  free(v);
}

int dw_silence_add_matcher(dw_silence *s, const char *text, char *err, size_t n) {
  if (s->s.nmatchers >= DW_SILENCE_MAX_MATCHERS) {
    snprintf(err, n, "at most %d matchers", DW_SILENCE_MAX_MATCHERS);
    return -1;
  }
  if (dw_notify_matcher_parse(text, &s->m[s->s.nmatchers], err, n)) return -1;
  s->s.nmatchers++;
  s->s.matchers = s->m;
  return 0;
}

const char *dw_silence_state(const dw_silence *s, int64_t now) {
  if (now >= s->s.ends_at) return "expired";
  return now < s->s.starts_at ? "pending" : "active";
}

static void ms_text(int64_t ms, char *buf, size_t n) { snprintf(buf, n, "%lld", (long long)ms); }

int dw_silence_create(PGconn *pg, dw_silence *s, int64_t now, char *err, size_t n) {
  if (!s->s.nmatchers) {
    snprintf(err, n, "matchers: at least one is required (a silence of everything is not allowed)");
    return 1;
  }
  if (s->s.starts_at == DW_TIME_NONE) s->s.starts_at = now;
  if (s->s.ends_at == DW_TIME_NONE) {
    snprintf(err, n, "endsAt: required (--until T or --for DURATION)");
    return 1;
  }
  if (s->s.ends_at <= s->s.starts_at || s->s.ends_at <= now) {
    snprintf(err, n, "endsAt: must be after startsAt and after now");
    return 1;
  }
  if (!s->created_by[0] || !s->comment[0]) {
    snprintf(err, n, "%s: required (who silences, and why)", s->created_by[0] ? "comment" : "createdBy");
    return 1;
  }
  /* its own transaction, or a savepoint in the caller's (serve runs each
   * request in one transaction, which carries the token's scope) */
  bool nested = PQtransactionStatus(pg) == PQTRANS_INTRANS;
  if (dw_pg_exec(pg, nested ? "SAVEPOINT dw_silence_create" : "BEGIN", err, n)) return -1;
  char st[24], en[24];
  ms_text(s->s.starts_at, st, sizeof st);
  ms_text(s->s.ends_at, en, sizeof en);
  const char *p[4] = {st, en, s->created_by, s->comment};
  PGresult *res = dw_pg_query(pg,
                              "INSERT INTO silences (starts_at, ends_at, created_by, comment) VALUES "
                              "(to_timestamp($1::bigint / 1000.0), to_timestamp($2::bigint / 1000.0), $3, $4) "
                              "RETURNING id, (extract(epoch FROM created_at) * 1000)::bigint",
                              4, p, err, n);
  if (!res) goto fail;
  snprintf(s->s.id, sizeof s->s.id, "%s", PQgetvalue(res, 0, 0));
  s->created_at = s->updated_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
  PQclear(res);
  for (size_t i = 0; i < s->s.nmatchers; i++) {
    char pos[16];
    snprintf(pos, sizeof pos, "%zu", i);
    const char *q[5] = {s->s.id, pos, dw_notify_label_name(s->m[i].label), dw_notify_op_name(s->m[i].op), s->m[i].value};
    res = dw_pg_query(pg, "INSERT INTO silence_matchers (silence_id, position, label, op, value) VALUES ($1, $2, $3, $4, $5)",
                      5, q, err, n);
    if (!res) goto fail;
    PQclear(res);
  }
  if (dw_pg_exec(pg, nested ? "RELEASE SAVEPOINT dw_silence_create" : "COMMIT", err, n)) goto fail;
  return 0;
fail:;
  char ignored[128];
  dw_pg_exec(pg, nested ? "ROLLBACK TO SAVEPOINT dw_silence_create" : "ROLLBACK", ignored, sizeof ignored);
  return -1;
}

/* Reads silences (columns: id, starts, ends, created_by, comment, created,
 * updated) and their matchers. */
static int read_silences(PGconn *pg, const char *where, const char *const *params, int np, dw_silence **out,
                         size_t *nout, char *err, size_t n) {
  *out = NULL;
  *nout = 0;
  char sql[1024];
  snprintf(sql, sizeof sql,
           "SELECT s.id, (extract(epoch FROM s.starts_at) * 1000)::bigint, (extract(epoch FROM s.ends_at) * 1000)::bigint,"
           " s.created_by, s.comment, (extract(epoch FROM s.created_at) * 1000)::bigint,"
           " (extract(epoch FROM s.updated_at) * 1000)::bigint,"
           " COALESCE((SELECT array_agg(m.label || m.op || '\"' || replace(replace(m.value, '\\', '\\\\'), '\"', '\\\"') || '\"'"
           " ORDER BY m.position) FROM silence_matchers m WHERE m.silence_id = s.id), '{}')::text[]"
           " FROM silences s %s ORDER BY s.created_at DESC, s.id",
           where);
  PGresult *res = dw_pg_query(pg, sql, np, params, err, n);
  if (!res) return -1;
  int rows = PQntuples(res);
  dw_silence *v = calloc(rows ? (size_t)rows : 1, sizeof *v);
  if (!v) {
    PQclear(res);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (int r = 0; r < rows; r++) {
    dw_silence *s = &v[r];
    dw_silence_init(s);
    snprintf(s->s.id, sizeof s->s.id, "%s", PQgetvalue(res, r, 0));
    s->s.starts_at = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    s->s.ends_at = strtoll(PQgetvalue(res, r, 2), NULL, 10);
    snprintf(s->created_by, sizeof s->created_by, "%s", PQgetvalue(res, r, 3));
    snprintf(s->comment, sizeof s->comment, "%s", PQgetvalue(res, r, 4));
    s->created_at = strtoll(PQgetvalue(res, r, 5), NULL, 10);
    s->updated_at = strtoll(PQgetvalue(res, r, 6), NULL, 10);
    /* the array literal {"a=\"b\"",...}: elements are quoted by the server */
    const char *a = PQgetvalue(res, r, 7);
    bool unreadable = false;
    if (*a == '{') a++;
    while (*a && *a != '}') {
      dw_buf el = DW_BUF_INIT;
      bool quoted = *a == '"';
      if (quoted) a++;
      while (*a && (quoted ? *a != '"' : (*a != ',' && *a != '}'))) {
        if (quoted && *a == '\\' && a[1]) a++;
        dw_buf_putc(&el, *a++);
      }
      if (quoted && *a == '"') a++;
      if (*a == ',') a++;
      char why[256];
      if (el.data && dw_silence_add_matcher(s, el.data, why, sizeof why)) {
        DW_LOG_WARNING("silence %s: stored matcher unreadable (%s): the silence silences nothing", s->s.id, why);
        unreadable = true;
      }
      dw_buf_free(&el);
    }
    /* Fail closed: without one of its matchers a silence would silence
     * more than was asked; without any it silences nothing. */
    if (unreadable) dw_silence_free(s);
  }
  PQclear(res);
  *out = v;
  *nout = (size_t)rows;
  return 0;
}

int dw_silence_list(PGconn *pg, bool all, int64_t now, dw_silence **out, size_t *n, char *err, size_t en) {
  char t[24];
  ms_text(now, t, sizeof t);
  const char *p[1] = {t};
  return read_silences(pg, all ? "" : "WHERE s.ends_at > to_timestamp($1::bigint / 1000.0)", p, all ? 0 : 1, out, n,
                       err, en);
}

int dw_silence_load_current(PGconn *pg, int64_t now, dw_silence **out, size_t *n, char *err, size_t en) {
  return dw_silence_list(pg, false, now, out, n, err, en);
}

static bool uuid_like(const char *id) {
  size_t l = strlen(id);
  if (l != 36) return false;
  for (size_t i = 0; i < l; i++)
    if (!(id[i] == '-' ? (i == 8 || i == 13 || i == 18 || i == 23) : strchr("0123456789abcdefABCDEF", id[i]) != NULL))
      return false;
  return true;
}

int dw_silence_get(PGconn *pg, const char *id, dw_silence *out, char *err, size_t n) {
  dw_silence_init(out);
  if (!uuid_like(id)) return 1;
  const char *p[1] = {id};
  dw_silence *v;
  size_t k;
  if (read_silences(pg, "WHERE s.id = $1::uuid", p, 1, &v, &k, err, n)) return -1;
  if (!k) {
    free(v);
    return 1;
  }
  /* moved: the matchers pointer is to its own array */
  *out = v[0];
  out->s.matchers = out->m;
  free(v);
  return 0;
}

int dw_silence_expire(PGconn *pg, const char *id, int64_t now, char *err, size_t n) {
  if (!uuid_like(id)) return 1;
  char t[24];
  ms_text(now, t, sizeof t);
  const char *p[2] = {id, t};
  PGresult *res = dw_pg_query(pg,
                              "UPDATE silences SET ends_at = GREATEST(starts_at + interval '1 millisecond',"
                              " to_timestamp($2::bigint / 1000.0)), updated_at = now()"
                              " WHERE id = $1::uuid AND ends_at > to_timestamp($2::bigint / 1000.0)",
                              2, p, err, n);
  if (!res) return -1;
  int done = atoi(PQcmdTuples(res));
  PQclear(res);
  return done ? 0 : 1;
}

/* ---- JSON ---- */

void dw_silence_to_json(const dw_silence *s, int64_t now, int off, dw_buf *b) {
  char t[40];
  dw_buf_puts(b, "{\"id\":");
  dw_buf_json_string(b, s->s.id);
  dw_buf_puts(b, ",\"matchers\":[");
  for (size_t i = 0; i < s->s.nmatchers; i++) {
    const dw_notify_matcher *m = &s->m[i];
    if (i) dw_buf_putc(b, ',');
    dw_buf_puts(b, "{\"name\":");
    dw_buf_json_string(b, dw_notify_label_name(m->label));
    dw_buf_puts(b, ",\"value\":");
    dw_buf_json_string(b, m->value);
    dw_buf_printf(b, ",\"isRegex\":%s,\"isEqual\":%s}", m->op == DW_NOP_RE || m->op == DW_NOP_NRE ? "true" : "false",
                  m->op == DW_NOP_EQ || m->op == DW_NOP_RE ? "true" : "false");
  }
  dw_time_format(s->s.starts_at, off, t, sizeof t);
  dw_buf_printf(b, "],\"startsAt\":\"%s\"", t);
  dw_time_format(s->s.ends_at, off, t, sizeof t);
  dw_buf_printf(b, ",\"endsAt\":\"%s\",\"createdBy\":", t);
  dw_buf_json_string(b, s->created_by);
  dw_buf_puts(b, ",\"comment\":");
  dw_buf_json_string(b, s->comment);
  dw_time_format(s->updated_at == DW_TIME_NONE ? now : s->updated_at, off, t, sizeof t);
  dw_buf_printf(b, ",\"updatedAt\":\"%s\",\"status\":{\"state\":\"%s\"}}", t, dw_silence_state(s, now));
}

static int json_time(json_t *v, const char *field, int64_t *out, char *err, size_t n) {
  if (!v) return 0;
  if (json_is_integer(v)) {
    *out = json_integer_value(v);
    return 0;
  }
  if (!json_is_string(v) || dw_time_parse_rfc3339(json_string_value(v), out, err, n)) {
    if (!json_is_string(v)) snprintf(err, n, "%s: expected an RFC 3339 time", field);
    else {
      char why[160];
      snprintf(why, sizeof why, "%s", err);
      snprintf(err, n, "%s: %s", field, why);
    }
    return -1;
  }
  return 0;
}

int dw_silence_from_json(const char *body, size_t len, int64_t now, dw_silence *s, char *err, size_t n) {
  dw_silence_init(s);
  json_error_t je;
  json_t *root = json_loadb(body, len, 0, &je);
  if (!root || !json_is_object(root)) {
    if (root)
      snprintf(err, n, "body: expected a JSON object");
    else
      snprintf(err, n, "body: line %d column %d: %s", je.line, je.column, je.text);
    json_decref(root);
    return -1;
  }
  int rc = -1;
  json_t *ms = json_object_get(root, "matchers");
  if (!json_is_array(ms) || json_array_size(ms) == 0) {
    snprintf(err, n, "matchers: a non-empty list is required");
    goto done;
  }
  size_t i;
  json_t *m;
  json_array_foreach(ms, i, m) {
    char why[256];
    if (json_is_string(m)) {
      if (dw_silence_add_matcher(s, json_string_value(m), why, sizeof why)) {
        snprintf(err, n, "matchers[%zu]: %s", i, why);
        goto done;
      }
      continue;
    }
    json_t *name = json_object_get(m, "name"), *value = json_object_get(m, "value");
    if (!json_is_string(name) || !json_is_string(value)) {
      snprintf(err, n, "matchers[%zu]: name and value (strings) are required", i);
      goto done;
    }
    json_t *re = json_object_get(m, "isRegex"), *eq = json_object_get(m, "isEqual");
    bool isre = json_is_true(re), iseq = !eq || json_is_true(eq);
    dw_buf t = DW_BUF_INIT;
    dw_buf_printf(&t, "%s%s\"", json_string_value(name), iseq ? (isre ? "=~" : "=") : (isre ? "!~" : "!="));
    for (const char *c = json_string_value(value); *c; c++) {
      if (*c == '"' || *c == '\\') dw_buf_putc(&t, '\\');
      dw_buf_putc(&t, *c);
    }
    dw_buf_putc(&t, '"');
    int bad = t.oom || dw_silence_add_matcher(s, t.data, why, sizeof why);
    dw_buf_free(&t);
    if (bad) {
      snprintf(err, n, "matchers[%zu]: %s", i, why);
      goto done;
    }
  }
  if (json_time(json_object_get(root, "startsAt"), "startsAt", &s->s.starts_at, err, n) ||
      json_time(json_object_get(root, "endsAt"), "endsAt", &s->s.ends_at, err, n))
    goto done;
  json_t *dur = json_object_get(root, "duration");
  if (dur) {
    int64_t ms;
    if (!json_is_string(dur) || dw_notify_duration_parse(json_string_value(dur), &ms) || ms <= 0) {
      snprintf(err, n, "duration: expected a duration like 8h or 2d");
      goto done;
    }
    if (s->s.starts_at == DW_TIME_NONE) s->s.starts_at = now;
    s->s.ends_at = s->s.starts_at + ms;
  }
  if (s->s.starts_at == DW_TIME_NONE) s->s.starts_at = now;
  json_t *by = json_object_get(root, "createdBy"), *c = json_object_get(root, "comment");
  if (by && json_is_string(by)) snprintf(s->created_by, sizeof s->created_by, "%s", json_string_value(by));
  if (c && json_is_string(c)) snprintf(s->comment, sizeof s->comment, "%s", json_string_value(c));
  rc = 0;
done:
  json_decref(root);
  if (rc) dw_silence_free(s);
  return rc;
}

bool dw_silence_within_scope(const dw_silence *s, const dw_notify_matcher *scope, size_t nscope) {
  for (size_t i = 0; i < nscope; i++) {
    bool ok = false;
    for (size_t j = 0; j < s->s.nmatchers && !ok; j++) {
      const dw_notify_matcher *m = &s->m[j];
      if (m->op != DW_NOP_EQ || m->label != scope[i].label) continue;
      /* the scope matcher applied to the silence's value */
      dw_alert probe;
      memset(&probe, 0, sizeof probe);
      switch (m->label) {
      case DW_NL_COMMUNE: snprintf(probe.commune, sizeof probe.commune, "%s", m->value); break;
      case DW_NL_AGENCY: snprintf(probe.agency, sizeof probe.agency, "%s", m->value); break;
      case DW_NL_PROCEDURE: snprintf(probe.procedure, sizeof probe.procedure, "%s", m->value); break;
      case DW_NL_DOSSIER_ID: snprintf(probe.dossier_id, sizeof probe.dossier_id, "%s", m->value); break;
      case DW_NL_RULE:
        if (dw_rule_parse(m->value, &probe.rule)) continue;
        break;
      case DW_NL_SEVERITY:
        if (strcmp(m->value, "critical") == 0)
          probe.severity = DW_SEV_CRITICAL;
        else if (strcmp(m->value, "warning") == 0)
          probe.severity = DW_SEV_WARNING;
        else
          continue;
        break;
      default: continue;
      }
      ok = dw_notify_matcher_matches(&scope[i], &probe);
    }
    if (!ok) return false;
  }
  return true;
}
