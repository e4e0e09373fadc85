/* dw_format_dvcqg: the national portal's dossier sync records (DongBoHoSoMC)
 * as a file format. Reading maps every record through the one mapping
 * (dw_dvcqg.h) to the events it implies; writing (simulate) turns events
 * into the snapshots a one-stop system would send (dw_dvcqg_write.c).
 *
 * Input shapes, told apart by the first bytes:
 *  - JSON Lines: each line a record (or an envelope, or an array of
 *    records); a bad line is a refused record and reading goes on. Rejects
 *    count lines ("line": N) for lines of one record.
 *  - a bare JSON array of records (starts with '['): parsed record by
 *    record, in two passes (the first only checks that the whole array is
 *    JSON, so a truncated array produces nothing rather than half).
 *  - one JSON document (an envelope spread over lines): parsed whole, as
 *    an envelope is one JSON document.
 * Rejects of arrays and envelopes count records ("record": N) and say the
 * line. The input is read into memory once (a 50 MB file is 50 MB plus one
 * record's tree, or the envelope's tree for an envelope). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"
#include "dw_dvcqg_internal.h"
#include "dw_json.h"
#include "dw_dvcqg_write.h"
#include "dw_log.h"
#include "dw_reader.h"

enum { MODE_NONE, MODE_LINES, MODE_ARRAY, MODE_DOC };

typedef struct qev {
  dw_event ev;
  uint64_t at;
  const char *unit;
} qev;

typedef struct rd {
  char path[1024];
  dw_dvcqg_units *units;
  dw_dvcqg *m;
  dw_dvcqg_stats st;
  dw_buf in;
  size_t pos;          /* parse position */
  uint64_t line;       /* line of pos, from 1 */
  size_t line_start;   /* offset where that line starts */
  int mode, done;
  /* the list being walked: an envelope's data or an array on one line */
  json_t *doc, *list;
  size_t li;
  const char *madonvi;
  uint64_t list_line;
  uint64_t record; /* records and unparsable units seen */
  /* what the current unit gave */
  const char *unit_name;
  uint64_t unit_at, unit_line;
  qev *q;
  size_t qn, qi, qcap;
  int have_rej;
  char rej_reason[512];
  char *rej_raw;
  size_t rej_raw_len;
  uint64_t rej_at;
  const char *rej_unit;
  char failure[512];
  dw_dvcqg_sink sink;
} rd;

/* ---- sink --------------------------------------------------------------------- */

static int on_event(const dw_event *ev, uint64_t record, void *opaque) {
  (void)record;
  rd *r = opaque;
  if (r->qn == r->qcap) {
    size_t cap = r->qcap ? r->qcap * 2 : 16;
    qev *q = realloc(r->q, cap * sizeof *q);
    if (!q) return -1;
    r->q = q;
    r->qcap = cap;
  }
  r->q[r->qn++] = (qev){*ev, r->unit_at, r->unit_name};
  return 0;
}

static int on_reject(const dw_dvcqg_reject *rej, void *opaque) {
  rd *r = opaque;
  free(r->rej_raw);
  r->rej_raw = NULL;
  r->rej_raw_len = 0;
  if (rej->raw && (r->rej_raw = malloc(rej->raw_len + 1))) {
    memcpy(r->rej_raw, rej->raw, rej->raw_len + 1);
    r->rej_raw_len = rej->raw_len;
  }
  uint64_t line = rej->line ? rej->line : r->unit_line;
  if (strcmp(r->unit_name, "record") == 0 && line)
    snprintf(r->rej_reason, sizeof r->rej_reason, "line %llu: %s", (unsigned long long)line, rej->reason);
  else
    snprintf(r->rej_reason, sizeof r->rej_reason, "%s", rej->reason);
  r->rej_at = r->unit_at;
  r->rej_unit = r->unit_name;
  r->have_rej = 1;
  return 0;
}

static void on_conflict(const dw_dvcqg_conflict *c, void *opaque) {
  rd *r = opaque;
  DW_LOG_WARNING("%s: record %llu (line %llu, MaHoSo %s): conflict: %s %s, but record %llu said %s; the first stands",
                 r->path, (unsigned long long)c->record, (unsigned long long)r->unit_line, c->ma_ho_so, c->field,
                 c->value, (unsigned long long)c->first_record, c->first);
}

/* ---- input ------------------------------------------------------------------ */

/* Moves pos to p, counting lines. */
static void advance(rd *r, size_t p) {
  const char *s = r->in.data;
  for (size_t i = r->pos; i < p; i++)
    if (s[i] == '\n') r->line++, r->line_start = i + 1;
  r->pos = p;
}

static size_t skip_ws(const rd *r, size_t p) {
  const char *s = r->in.data;
  while (p < r->in.len && (s[p] == ' ' || s[p] == '\t' || s[p] == '\r' || s[p] == '\n')) p++;
  return p;
}

static size_t line_end(const rd *r, size_t p) {
  const char *nl = memchr(r->in.data + p, '\n', r->in.len - p);
  return nl ? (size_t)(nl - r->in.data) : r->in.len;
}

/* Does the text [b, e) parse alone as a JSON value? */
static int parses(const rd *r, size_t b, size_t e) {
  json_error_t je;
  json_t *v = json_loadb(r->in.data + b, e - b, DVCQG_JSON_FLAGS | JSON_DECODE_ANY, &je);
  json_decref(v);
  return v != NULL;
}

/* The input's shape. A '{' is JSON Lines when the first line is a value
 * alone; else one document (parsed here: *doc) when the whole input is one;
 * else JSON Lines again when the second line is a record alone (a broken
 * first line); else a broken document (*doc NULL, *je why). */
static int pick_mode(rd *r, json_t **doc, json_error_t *je) {
  *doc = NULL;
  if (r->in.len >= 3 && memcmp(r->in.data, "\xEF\xBB\xBF", 3) == 0 && r->pos == 0) r->pos = r->line_start = 3;
  size_t p = skip_ws(r, r->pos);
  if (p >= r->in.len) return MODE_LINES; /* nothing: no records */
  char c = r->in.data[p];
  if (c == '[') return MODE_ARRAY;
  if (c != '{') return MODE_LINES; /* every line refused, with its reason */
  size_t e = line_end(r, p);
  if (parses(r, p, e)) return MODE_LINES;
  if ((*doc = json_loadb(r->in.data + p, r->in.len - p, DVCQG_JSON_FLAGS | JSON_DECODE_ANY, je))) return MODE_DOC;
  size_t p2 = skip_ws(r, e);
  if (p2 >= r->in.len) return MODE_LINES; /* one broken line */
  if (r->in.data[p2] == '{' && parses(r, p2, line_end(r, p2))) return MODE_LINES;
  return MODE_DOC;
}

static void set_unit(rd *r, const char *name, uint64_t at, uint64_t line) {
  r->unit_name = name;
  r->unit_at = at;
  r->unit_line = line;
}

static const dw_dvcqg_sink *sink_of(rd *r) { return &r->sink; }

/* Starts walking a parsed value: a list (envelope data or array), or maps
 * a single record. line_unit: a record alone on its line is counted by
 * line. Returns 0, or -1 (out of memory). */
static int take_value(rd *r, json_t *v, uint64_t line, int line_unit) {
  json_t *data;
  const char *madonvi = NULL;
  char why[256];
  int env = dvcqg_envelope(v, &data, &madonvi, why, sizeof why);
  if (env == 0 && json_is_array(v)) {
    data = v;
    env = 1;
  }
  if (env == 1) {
    r->doc = v;
    r->list = data;
    r->li = 0;
    r->madonvi = madonvi;
    r->list_line = line;
    return 0;
  }
  r->record++;
  if (line_unit)
    set_unit(r, "line", line, line);
  else
    set_unit(r, "record", r->record, line);
  int rc;
  if (env == 0 && json_is_object(v)) {
    rc = dvcqg_map_value(r->m, v, NULL, r->record, line, sink_of(r), &r->st);
  } else {
    if (env == 0)
      snprintf(why, sizeof why, "not a record: %s", dw_json_kind(v));
    rc = dvcqg_refuse_text(r->m, r->record, line, "", why, sink_of(r), &r->st);
  }
  json_decref(v);
  return rc < 0 ? -1 : 0;
}

static int next_in_list(rd *r) {
  json_t *x = json_array_get(r->list, r->li++);
  r->record++;
  set_unit(r, "record", r->record, r->list_line);
  return dvcqg_map_value(r->m, x, r->madonvi, r->record, r->list_line, sink_of(r), &r->st) < 0 ? -1 : 0;
}

static int next_line(rd *r) {
  while (r->pos < r->in.len) {
    size_t b = r->pos, e = line_end(r, b);
    uint64_t line = r->line;
    advance(r, e < r->in.len ? e + 1 : e);
    size_t p = b;
    while (p < e && (r->in.data[p] == ' ' || r->in.data[p] == '\t' || r->in.data[p] == '\r')) p++;
    if (p == e) {
      r->st.blank++;
      continue;
    }
    json_error_t je;
    json_t *v = json_loadb(r->in.data + b, e - b, DVCQG_JSON_FLAGS | JSON_DECODE_ANY, &je);
    if (!v) {
      char why[256];
      dvcqg_json_error(&je, line, 1, why, sizeof why);
      r->record++;
      set_unit(r, "line", line, line);
      return dvcqg_refuse_text(r->m, r->record, line, "", why, sink_of(r), &r->st) < 0 ? -1 : 1;
    }
    return take_value(r, v, line, 1) < 0 ? -1 : 1;
  }
  return 0;
}

/* The array from pos: check = 1 only checks it is whole JSON (errstr);
 * else maps the next element. Returns 1 (an element), 0 (end), -1. */
static int array_step(rd *r, int *state, size_t *p, uint64_t *line, size_t *ls, int check, char *err, size_t n) {
  const char *s = r->in.data;
  size_t len = r->in.len;
#define WS()                                                                   \
  while (*p < len && (s[*p] == ' ' || s[*p] == '\t' || s[*p] == '\r' || s[*p] == '\n')) { \
    if (s[*p] == '\n') ++*line, *ls = *p + 1;                                 \
    ++*p;                                                                      \
  }
  if (*state == 0) { /* at '[' */
    ++*p;
    WS();
    if (*p < len && s[*p] == ']') {
      ++*p;
      *state = 2;
    } else {
      *state = 1;
    }
  }
  if (*state == 2) {
    WS();
    if (*p < len) {
      snprintf(err, n, "line %llu column %llu: text after the end of the array", (unsigned long long)*line,
               (unsigned long long)(*p - *ls + 1));
      return -1;
    }
    return 0;
  }
  uint64_t el_line = *line, el_col = *p - *ls + 1;
  json_error_t je;
  json_t *v = json_loadb(s + *p, len - *p, DVCQG_JSON_FLAGS | JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je);
  if (!v) {
    char why[256];
    dvcqg_json_error(&je, el_line, el_col, why, sizeof why);
    snprintf(err, n, "the array's element that starts at line %llu: %s", (unsigned long long)el_line, why);
    return -1;
  }
  size_t np = *p + (size_t)je.position;
  for (size_t i = *p; i < np; i++)
    if (s[i] == '\n') ++*line, *ls = i + 1;
  *p = np;
  WS();
  if (*p < len && s[*p] == ',') {
    ++*p;
    WS();
  } else if (*p < len && s[*p] == ']') {
    ++*p;
    *state = 2;
  } else {
    json_decref(v);
    snprintf(err, n, "line %llu column %llu: ',' or ']' expected after the element that starts at line %llu",
             (unsigned long long)*line, (unsigned long long)(*p - *ls + 1), (unsigned long long)el_line);
    return -1;
  }
#undef WS
  if (check) {
    json_decref(v);
    return 1;
  }
  r->record++;
  set_unit(r, "record", r->record, el_line);
  int rc = dvcqg_map_value(r->m, v, NULL, r->record, el_line, sink_of(r), &r->st);
  json_decref(v);
  return rc < 0 ? -1 : 1;
}

typedef struct arr {
  int state;
  size_t p;
  uint64_t line;
  size_t ls;
} arr;

/* Maps the next unit of input into the queue or the pending reject.
 * 1: a unit done, 0: the end, -1: failure (r->failure). */
static int next_unit(rd *r, arr *a) {
  if (r->list) {
    if (r->li < json_array_size(r->list)) return next_in_list(r) < 0 ? (snprintf(r->failure, sizeof r->failure, "out of memory"), -1) : 1;
    json_decref(r->doc);
    r->doc = r->list = NULL;
  }
  if (r->done) return 0;
  if (r->mode == MODE_NONE) {
    json_t *doc;
    json_error_t je;
    r->mode = pick_mode(r, &doc, &je);
    if (r->mode == MODE_ARRAY || r->mode == MODE_DOC) advance(r, skip_ws(r, r->pos));
    if (r->mode == MODE_ARRAY) {
      arr chk = {0, r->pos, r->line, r->line_start};
      int k;
      while ((k = array_step(r, &chk.state, &chk.p, &chk.line, &chk.ls, 1, r->failure, sizeof r->failure)) == 1) {
      }
      if (k < 0) return -1; /* nothing mapped: the whole array is refused */
      *a = (arr){0, r->pos, r->line, r->line_start};
    } else if (r->mode == MODE_DOC) {
      if (!doc) {
        dvcqg_json_error(&je, r->line, r->pos - r->line_start + 1, r->failure, sizeof r->failure);
        return -1;
      }
      r->done = 1;
      if (take_value(r, doc, r->line, 0) < 0) {
        snprintf(r->failure, sizeof r->failure, "out of memory");
        return -1;
      }
      return 1;
    }
  }
  int k;
  if (r->mode == MODE_LINES) {
    k = next_line(r);
  } else {
    k = array_step(r, &a->state, &a->p, &a->line, &a->ls, 0, r->failure, sizeof r->failure);
  }
  if (k == 0) r->done = 1;
  if (k < 0 && !r->failure[0]) snprintf(r->failure, sizeof r->failure, "out of memory");
  return k;
}

/* ---- the plugin: reading ------------------------------------------------------- */

typedef struct reader {
  rd r;
  arr a;
} reader;

static void *open_dvcqg(const char *path, const char *const *props, char *err, size_t n) {
  const char *units = NULL;
  int off = 420;
  for (const char *const *kv = props; kv && kv[0]; kv += 2) {
    if (strcmp(kv[0], "units") == 0) units = kv[1];
    if (strcmp(kv[0], DW_FORMAT_PROP_UTC_OFFSET) == 0) off = atoi(kv[1]);
  }
  if (!units) {
    snprintf(err, n, "format dvcqg needs --units FILE (key,commune,agency)");
    return NULL;
  }
  reader *rr = calloc(1, sizeof *rr);
  if (!rr) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  rd *r = &rr->r;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->line = 1;
  r->sink = (dw_dvcqg_sink){on_event, on_reject, on_conflict, r};
  if (!(r->units = dw_dvcqg_units_load(units, err, n))) goto bad;
  if (!(r->m = dw_dvcqg_new(r->units, off, 0))) {
    snprintf(err, n, "out of memory");
    goto bad;
  }
  if (dw_buf_read_file(&r->in, path, err, n)) goto bad;
  return rr;
bad:
  dw_dvcqg_destroy(r->m);
  dw_dvcqg_units_destroy(r->units);
  dw_buf_free(&r->in);
  free(rr);
  return NULL;
}

static dw_read_result next_dvcqg(void *st, dw_event *ev, dw_reject *rej, char *err, size_t n) {
  reader *rr = st;
  rd *r = &rr->r;
  for (;;) {
    if (r->qi < r->qn) {
      qev *q = &r->q[r->qi++];
      *ev = q->ev;
      rej->at = q->at;
      rej->unit = q->unit;
      rej->raw = NULL;
      rej->raw_len = 0;
      return DW_READ_EVENT;
    }
    r->qi = r->qn = 0;
    if (r->have_rej) {
      r->have_rej = 0;
      rej->at = r->rej_at;
      rej->unit = r->rej_unit;
      snprintf(rej->reason, sizeof rej->reason, "%s", r->rej_reason);
      rej->raw = r->rej_raw;
      rej->raw_len = r->rej_raw_len;
      return DW_READ_REJECT;
    }
    int k = next_unit(r, &rr->a);
    if (k == 0) return DW_READ_END;
    if (k < 0) {
      snprintf(err, n, "%s", r->failure);
      return DW_READ_FAIL;
    }
  }
}

static void stats_dvcqg(void *st, void (*fn)(const char *, uint64_t, void *), void *opaque) {
  rd *r = &((reader *)st)->r;
  fn("records read", r->st.records, opaque);
  fn("events derived", r->st.events, opaque);
  fn("duplicates", r->st.duplicates, opaque);
  fn("conflicts", r->st.conflicts, opaque);
  fn("records rejected", r->st.rejects, opaque);
  fn("blank", r->st.blank, opaque);
}

static void close_dvcqg(void *st) {
  reader *rr = st;
  rd *r = &rr->r;
  json_decref(r->doc);
  dw_dvcqg_destroy(r->m);
  dw_dvcqg_units_destroy(r->units);
  dw_buf_free(&r->in);
  free(r->q);
  free(r->rej_raw);
  free(rr);
}

static const dw_format_prop props[] = {
  /* when writing: where the simulated province's units go (default OUTPUT.units.csv) */
  {"units", "FILE", "units CSV key,commune,agency; key = a record's DonViXuLy or its envelope's madonvi", 1},
  {0},
};

const dw_format dw_format_dvcqg = {
  "dvcqg", ".dvcqg", "the national portal's dossier sync records (DongBoHoSoMC): envelope, array or JSON Lines",
  props, NULL, open_dvcqg, next_dvcqg, stats_dvcqg, close_dvcqg,
  dvcqg_create, dvcqg_write, dvcqg_finish,
};
