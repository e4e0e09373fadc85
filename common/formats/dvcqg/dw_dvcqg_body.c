/* dw_dvcqg_body: a whole DongBoHoSoMC request body through the mapper (the
 * HTTP handler's entry point; see dw_dvcqg.h), and the portal-style reply.
 * A body is small enough (the server caps it) to be parsed as one JSON
 * document, which makes "bad JSON" an all-or-nothing 400 before any event
 * is derived. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"
#include "dw_dvcqg_internal.h"
#include "dw_json.h"

/* One parsed value of a body: an envelope, an array of records or a record.
 * *pos counts records. Returns 0, 1 when v is not records (why), -2 when
 * the sink stopped. */
static int map_value_of_body(dw_dvcqg *m, json_t *v, uint64_t line, uint64_t *pos, const dw_dvcqg_sink *sink,
                             dw_dvcqg_stats *st, char *why, size_t wn) {
  json_t *data;
  const char *madonvi = NULL;
  int env = dvcqg_envelope(v, &data, &madonvi, why, wn);
  if (env < 0) return 1;
  if (env == 0 && json_is_object(v)) return dvcqg_map_value(m, v, NULL, ++*pos, line, sink, st) < 0 ? -2 : 0;
  if (env == 0 && !json_is_array(v)) {
    snprintf(why, wn, "not records: the JSON text is %s, not an envelope, an array or a record",
             dw_json_kind(v));
    return 1;
  }
  json_t *list = env ? data : v;
  size_t i;
  json_t *x;
  json_array_foreach(list, i, x) if (dvcqg_map_value(m, x, madonvi, ++*pos, line, sink, st) < 0) return -2;
  return 0;
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  return p;
}

int dw_dvcqg_body(dw_dvcqg *m, const char *body, size_t len, const dw_dvcqg_sink *sink, dw_dvcqg_stats *out,
                  char *err, size_t n) {
  dw_dvcqg_stats st = {0};
  const char *end = body + len, *p = body;
  if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  int rc = 0;
  uint64_t pos = 0;
  if (skip_ws(p, end) == end) {
    snprintf(err, n, "empty body: no records");
    rc = -1;
    goto done;
  }
  json_error_t e;
  json_t *v = json_loadb(p, (size_t)(end - p), DVCQG_JSON_FLAGS | JSON_DECODE_ANY, &e);
  if (v) {
    int r = map_value_of_body(m, v, 0, &pos, sink, &st, err, n);
    json_decref(v);
    rc = r == 1 ? -1 : r;
    goto done;
  }
  /* not one document: JSON Lines (two lines or more, the first one whole),
   * else bad JSON */
  char why[256];
  dvcqg_json_error(&e, 1, 1, why, sizeof why);
  const char *first_nl = memchr(p, '\n', (size_t)(end - p));
  json_t *first = NULL;
  if (first_nl && skip_ws(first_nl, end) < end) {
    json_error_t e1;
    first = json_loadb(p, (size_t)(first_nl - p), DVCQG_JSON_FLAGS | JSON_DECODE_ANY, &e1);
  }
  if (!first) {
    snprintf(err, n, "%s", why);
    rc = -1;
    goto done;
  }
  json_decref(first);
  uint64_t line = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    line++;
    if (skip_ws(p, le) == le) {
      st.blank++;
      p = nl ? nl + 1 : end;
      continue;
    }
    json_t *x = json_loadb(p, (size_t)(le - p), DVCQG_JSON_FLAGS | JSON_DECODE_ANY, &e);
    if (!x) {
      dvcqg_json_error(&e, line, 1, why, sizeof why);
      if (dvcqg_refuse_text(m, ++pos, line, "", why, sink, &st) < 0) {
        rc = -2;
        goto done;
      }
    } else {
      int r = map_value_of_body(m, x, line, &pos, sink, &st, why, sizeof why);
      json_decref(x);
      if (r == -2) {
        rc = -2;
        goto done;
      }
      if (r == 1 && dvcqg_refuse_text(m, ++pos, line, "", why, sink, &st) < 0) {
        rc = -2;
        goto done;
      }
    }
    p = nl ? nl + 1 : end;
  }
done:
  if (out) *out = st;
  return rc;
}

/* ---- the reply --------------------------------------------------------------- */

struct dw_dvcqg_reply {
  dw_buf items; /* the "data" entries, comma-separated */
  size_t n;
};

dw_dvcqg_reply *dw_dvcqg_reply_new(void) { return calloc(1, sizeof(dw_dvcqg_reply)); }

void dw_dvcqg_reply_destroy(dw_dvcqg_reply *r) {
  if (!r) return;
  dw_buf_free(&r->items);
  free(r);
}

int dw_dvcqg_reply_add(dw_dvcqg_reply *r, const dw_dvcqg_reject *rej) {
  dw_buf *b = &r->items;
  if (r->n++) dw_buf_putc(b, ',');
  dw_buf_puts(b, "{\"MaHoSo\":");
  dw_buf_json_string(b, rej->ma_ho_so);
  dw_buf_printf(b, ",\"record\":%llu,\"error\":", (unsigned long long)rej->record);
  dw_buf err = DW_BUF_INIT;
  if (rej->field && rej->field[0]) dw_buf_printf(&err, "field '%s': ", rej->field);
  dw_buf_puts(&err, rej->why);
  dw_buf_json_string(b, err.oom ? rej->why : err.data);
  dw_buf_free(&err);
  dw_buf_putc(b, '}');
  return b->oom ? -1 : 0;
}

char *dw_dvcqg_reply_json(const dw_dvcqg_reply *r, const dw_dvcqg_stats *st, const char *failure) {
  dw_buf b = DW_BUF_INIT;
  char msg[1024];
  if (failure) {
    snprintf(msg, sizeof msg, "not delivered: %s; nothing was accepted, send the records again", failure);
    dw_buf_puts(&b, "{\"error_code\":\"" DW_DVCQG_FAILED "\",\"message\":");
    dw_buf_json_string(&b, msg);
    dw_buf_putc(&b, '}');
    return dw_buf_take(&b);
  }
  int refused = st->rejects > 0 || (r && r->n > 0);
  if (refused)
    snprintf(msg, sizeof msg, "%llu of %llu records refused (listed in data); the others accepted",
             (unsigned long long)st->rejects, (unsigned long long)st->records);
  else
    snprintf(msg, sizeof msg, "accepted %llu records: %llu new events, %llu duplicates",
             (unsigned long long)st->records, (unsigned long long)st->events, (unsigned long long)st->duplicates);
  dw_buf_printf(&b, "{\"error_code\":\"%s\",\"message\":", refused ? DW_DVCQG_REJECTED : DW_DVCQG_OK);
  dw_buf_json_string(&b, msg);
  dw_buf_printf(&b, ",\"records\":%llu,\"events\":%llu,\"duplicates\":%llu,\"conflicts\":%llu,\"rejected\":%llu",
                (unsigned long long)st->records, (unsigned long long)st->events, (unsigned long long)st->duplicates,
                (unsigned long long)st->conflicts, (unsigned long long)st->rejects);
  if (refused) {
    dw_buf_puts(&b, ",\"data\":[");
    if (r && r->items.len) dw_buf_put(&b, r->items.data, r->items.len);
    dw_buf_putc(&b, ']');
  }
  dw_buf_putc(&b, '}');
  if (r && r->items.oom) b.oom = true;
  return dw_buf_take(&b);
}

char *dw_dvcqg_reply_error(const char *why) {
  dw_buf b = DW_BUF_INIT;
  dw_buf_puts(&b, "{\"error_code\":\"" DW_DVCQG_BAD_REQUEST "\",\"message\":");
  dw_buf_json_string(&b, why);
  dw_buf_putc(&b, '}');
  return dw_buf_take(&b);
}
