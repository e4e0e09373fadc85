/* fuzz_dvcqg: libFuzzer target for the national portal's sync bodies
 * (dw_dvcqg_body: what `POST /api/dvcqg/DongBoHoSoMC` of `serve` and the
 * `dvcqg` file format hand to the mapper) - the one parser of ours that a
 * client on the network feeds directly. A body may be refused, whole or
 * record by record, but nothing may crash, read out of bounds, leak or hit
 * undefined behaviour, and:
 *   - a derived event is well formed (NUL-terminated strings, valid enums,
 *     dw_event_validate passes);
 *   - a reject names its field and reason as NUL-terminated text, and its
 *     raw record, when there is one, is JSON whose personal fields are all
 *     blank (personal: see personal_name);
 *   - no value of a personal field of the input (8 bytes or more, and not
 *     also somewhere else in the input or the units) appears in any event,
 *     reject, reply or error text;
 *   - the mapper's memory behaves: the body mapped inside begin..rollback,
 *     then again inside begin..commit, gives the same counts; mapped a third
 *     time it derives no new event.
 * The mapper forgets past 3 dossiers, so eviction is exercised too.
 *
 * Built by the `fuzz_dvcqg` custom target at the end of CMakeLists.txt; run
 * briefly by tests/fault/fuzz_decode_brief.sh with fuzz_decode, longer by
 * hand (see that file). Seeds: tests/fuzz/corpus-dvcqg. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "dw_buf.h"
#include "dw_dvcqg.h"
#include "dw_event.h"
#include "fuzz_event_check.h"

static const char UNITS[] = "key,commune,agency\n"
                            "UBND-29012 tại 29012,29012,UBND-29012\n"
                            "UBND-29026 tại 29026,29026,UBND-29026\n"
                            "CA-29012,29012,CA-29012\n"
                            "\"STP, 86\",29026,STP-86\n";

static dw_dvcqg_units *g_units;

static void destroy_units(void) {
  dw_dvcqg_units_destroy(g_units);
  g_units = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char err[256];
  g_units = dw_dvcqg_units_parse(UNITS, strlen(UNITS), "fuzz units", err, sizeof err);
  if (!g_units) {
    fprintf(stderr, "fuzz_dvcqg: units: %s\n", err);
    abort();
  }
  atexit(destroy_units);
  return 0;
}

/* ---- the personal values of the input ---- */

/* The oracle: personal is a name holding one of the fragments anywhere, or
 * ending in "CHS", whatever its length - written here again rather than
 * calling dw_dvcqg_is_personal, so that a mistake there is caught. */
static int personal_name(const char *key) {
  for (const char *const *f = dw_dvcqg_personal_fragments; *f; f++)
    if (strcasestr(key, *f)) return 1;
  size_t n = strlen(key);
  return n >= 3 && strcasecmp(key + n - 3, "chs") == 0;
}

typedef struct secrets {
  const char *v[64];
  size_t len[64];
  size_t n;
  dw_buf other; /* every key and non-personal string of the input, NUL-separated */
} secrets;

static void gather(json_t *v, int personal, secrets *s) {
  if (json_is_object(v)) {
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
      const char *k = json_object_iter_key(it);
      dw_buf_put(&s->other, k, strlen(k) + 1);
      gather(json_object_iter_value(it), personal || personal_name(k), s);
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) gather(x, personal, s);
  } else if (json_is_string(v)) {
    const char *t = json_string_value(v);
    size_t l = json_string_length(v);
    if (!personal) {
      dw_buf_put(&s->other, t, l + 1);
    } else if (l >= 8 && strlen(t) == l && s->n < 64) {
      s->v[s->n] = t;
      s->len[s->n++] = l;
    }
  }
}

/* A personal value that is also a non-personal text of the input (or of the
 * units) may rightly be quoted; the others must never be. */
static int is_secret(const secrets *s, size_t i) {
  if (strstr(UNITS, s->v[i])) return 0;
  for (size_t off = 0; off < s->other.len; off += strlen(s->other.data + off) + 1)
    if (strstr(s->other.data + off, s->v[i])) return 0;
  return 1;
}

static void check_text(const secrets *s, const char *text, size_t len) {
  for (size_t i = 0; i < s->n; i++)
    if (memmem(text, len, s->v[i], s->len[i]) && is_secret(s, i)) {
      fprintf(stderr, "fuzz_dvcqg: a personal value leaked: %.*s\n", (int)len, text);
      abort();
    }
}

static void check_str(const secrets *s, const char *text) {
  if (!text) abort(); /* every text of a reject is set */
  check_text(s, text, strlen(text));
}

/* ---- the sink ---- */

typedef struct ctx {
  const secrets *s;
  dw_dvcqg_reply *reply;
} ctx;

static void check_blank(json_t *v) {
  if (json_is_object(v)) {
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
      json_t *x = json_object_iter_value(it);
      if (personal_name(json_object_iter_key(it))) {
        if (!json_is_string(x) || json_string_length(x)) abort(); /* a personal field not blanked */
      } else {
        check_blank(x);
      }
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) check_blank(x);
  }
}

static int on_event(const dw_event *ev, uint64_t record, void *opaque) {
  const ctx *c = opaque;
  (void)record;
  fuzz_check_event(ev);
  char why[256];
  if (dw_event_validate(ev, why, sizeof why)) abort(); /* the mapper lets only valid events out */
  const char *texts[] = {ev->event_id, ev->dossier_id, ev->commune, ev->agency,
                         ev->procedure, ev->document, ev->to_agency, ev->reason};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) check_str(c->s, texts[i]);
  return 0;
}

static int on_reject(const dw_dvcqg_reject *r, void *opaque) {
  const ctx *c = opaque;
  check_str(c->s, r->ma_ho_so);
  check_str(c->s, r->field);
  check_str(c->s, r->why);
  check_str(c->s, r->reason);
  if (r->raw) {
    check_text(c->s, r->raw, r->raw_len);
    json_error_t e;
    json_t *o = json_loadb(r->raw, r->raw_len, 0, &e);
    if (!o) abort(); /* the raw record is JSON */
    check_blank(o);
    json_decref(o);
  }
  return c->reply && dw_dvcqg_reply_add(c->reply, r) ? 1 : 0;
}

static void on_conflict(const dw_dvcqg_conflict *k, void *opaque) {
  const ctx *c = opaque;
  check_str(c->s, k->ma_ho_so);
  check_str(c->s, k->field);
  check_str(c->s, k->first);
  check_str(c->s, k->value);
}

/* ---- one input ---- */

static int map_once(dw_dvcqg *m, const char *body, size_t len, const secrets *s, dw_dvcqg_stats *st,
                    char *err, size_t en) {
  ctx c = {s, dw_dvcqg_reply_new()};
  if (!c.reply) return -2;
  dw_dvcqg_sink sink = {on_event, on_reject, on_conflict, &c};
  memset(st, 0, sizeof *st);
  err[0] = '\0';
  int rc = dw_dvcqg_body(m, body, len, &sink, st, err, en);
  if (!memchr(err, 0, en)) abort();
  check_str(s, err);
  char *reply = rc == -1 ? dw_dvcqg_reply_error(err) : dw_dvcqg_reply_json(c.reply, st, NULL);
  if (reply) {
    check_str(s, reply);
    json_error_t e;
    json_t *j = json_loads(reply, 0, &e);
    if (!j) { /* the reply is JSON */
      fprintf(stderr, "fuzz_dvcqg: the reply is not JSON (%s): %s\n", e.text, reply);
      abort();
    }
    json_decref(j);
    free(reply);
  }
  dw_dvcqg_reply_destroy(c.reply);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Not NUL-terminated on purpose: the parser gets (text, len). */
  char *body = malloc(size ? size : 1);
  if (!body) return 0;
  memcpy(body, data, size);
  secrets s = {.n = 0};
  json_error_t e;
  /* the input's strings stay alive in these while the body is mapped */
  size_t bom = size >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* skipped, as the parser does */
  json_t *whole = json_loadb(body + bom, size - bom, JSON_DECODE_ANY, &e), *lines = json_array();
  if (!lines) abort();
  if (whole) gather(whole, 0, &s);
  for (size_t a = bom, b; !whole && a < size; a = b + 1) { /* JSON Lines: each line's */
    const char *nl = memchr(body + a, '\n', size - a);
    b = nl ? (size_t)(nl - body) : size;
    json_t *line = json_loadb(body + a, b - a, JSON_DECODE_ANY, &e);
    if (line) {
      gather(line, 0, &s);
      json_array_append_new(lines, line);
    }
  }
  dw_dvcqg *m = dw_dvcqg_new(g_units, 420, 3);
  if (!m) abort();
  char err[256];
  dw_dvcqg_stats st1, st2, st3;
  dw_dvcqg_begin(m);
  int rc1 = map_once(m, body, size, &s, &st1, err, sizeof err);
  dw_dvcqg_rollback(m);
  dw_dvcqg_begin(m);
  int rc2 = map_once(m, body, size, &s, &st2, err, sizeof err);
  dw_dvcqg_commit(m);
  if (rc1 != rc2 || memcmp(&st1, &st2, sizeof st1)) abort(); /* rollback forgot what the first mapping learnt */
  int rc3 = map_once(m, body, size, &s, &st3, err, sizeof err);
  /* the same body again: nothing new (unless the mapper forgot a dossier) */
  if (rc3 != rc2 || (st2.records <= 3 && st3.events != 0)) abort();
  dw_dvcqg_destroy(m);
  json_decref(whole);
  json_decref(lines);
  dw_buf_free(&s.other);
  free(body);
  return 0;
}
