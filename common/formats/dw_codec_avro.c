/* dw_codec_avro: dossier events (and alert / aggregate rows) as Avro with
 * avro-c generic values, framed with single-object encoding:
 *   C3 01 | CRC-64-AVRO of the writer schema's canonical form (LE) | body.
 * Decoding looks the writer schema up by fingerprint, checks the body bytes
 * against the writer schema with our own bounds-checked walker BEFORE avro-c
 * sees them (avro-c 1.11 allocates a string's declared length up front and
 * leaks it when the read then fails), reads it with the writer's generic
 * class and maps fields through avro-c's resolved reader into the reader
 * schema. avro-c 1.11 cannot resolve reader fields missing from the writer
 * (it has no default-value support), so each writer gets a "projection" of
 * the reader schema without those fields; they read as absent (null). */
#include "dw_codec.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h" /* dw_utf8_valid */
#include "dw_embedded.h"
/* the schemas folder, compiled in by CMakeLists.txt (dw_embed) */
extern const dw_embedded_file dw_embedded_schemas[];

#include "dw_codec_internal.h"

/* ---- event fields ---- */
typedef enum fid {
  F_UNKNOWN = -1,
  F_EVENT_ID = 0, F_DOSSIER_ID, F_TYPE, F_OCCURRED_AT, F_COMMUNE, F_AGENCY, F_PROCEDURE,
  F_CHANNEL, F_DUE_AT, F_PROCESSING_DAYS, F_DOCUMENT, F_IN_WAREHOUSE, F_TO_AGENCY, F_REASON,
  F_NEW_DUE_AT, F_DIGITIZED, F_ONLINE, F_SCORE, F__COUNT
} fid;

static const char *const fnames[F__COUNT] = {
  "event_id", "dossier_id", "type", "occurred_at", "commune", "agency", "procedure",
  "channel", "due_at", "processing_days", "document", "in_warehouse", "to_agency", "reason",
  "new_due_at", "digitized", "online", "score",
};

static fid field_id(const char *name) {
  for (int i = 0; i < F__COUNT; i++)
    if (strcmp(name, fnames[i]) == 0) return (fid)i;
  return F_UNKNOWN;
}

/* Whether a type-specific field means something for an event type (the
 * common fields always do). Mirrors CONTRACT §2 and dw_codec_json.c. */
static int meaningful(dw_event_type t, fid f) {
  if (f <= F_PROCEDURE) return 1;
  switch (f) {
  case F_CHANNEL: case F_PROCESSING_DAYS: return t == DW_EV_RECEIVED;
  case F_DUE_AT: return t == DW_EV_RECEIVED || t == DW_EV_SUPPLEMENT_RECEIVED;
  case F_DOCUMENT: return t == DW_EV_DOC_REUSED || t == DW_EV_PAPER_REQUESTED;
  case F_IN_WAREHOUSE: return t == DW_EV_PAPER_REQUESTED;
  case F_TO_AGENCY: return t == DW_EV_TRANSFERRED;
  case F_REASON: return t == DW_EV_SUPPLEMENT_REQUESTED || t == DW_EV_REJECTED;
  case F_NEW_DUE_AT: return t == DW_EV_APOLOGY_ISSUED;
  case F_DIGITIZED: return t == DW_EV_RESULT_ISSUED;
  case F_ONLINE: return t == DW_EV_PAYMENT;
  case F_SCORE: return t == DW_EV_RATED;
  default: return 0;
  }
}

/* Year 0001 to 9999: what RFC 3339 can print back. */
#define DW_TIME_MIN (-62135596800000LL)
#define DW_TIME_MAX (253402300799999LL)

/* ---- codec state ---- */

struct dw_avro_wentry {
  dw_avro *av;
  uint64_t fp;
  avro_schema_t ws;            /* writer schema */
  avro_schema_t rs;            /* reader projection for this writer */
  avro_value_iface_t *wclass;  /* generic class of the writer schema */
  avro_value_t wvalue;
  avro_value_iface_t *resolver; /* resolved reader: writer -> projection */
  avro_value_t rvalue;
  int has_w, has_r;
  fid *rfields; /* reader projection field index -> fid */
  size_t nrfields;
  struct plan *plan; /* the resolved decoder; NULL: this writer goes the generic way */
};

typedef struct out_schema {
  avro_schema_t schema;
  avro_value_iface_t *cls;
  avro_value_t value;
  int has_value;
  uint64_t fp;
} out_schema;

struct dw_avro {
  char *event_json;   /* the reader (and writer) event schema text */
  out_schema ev, alert, agg;
  fid *ev_fields; /* writer field index -> fid */
  size_t nev_fields;
  int type_sym[DW_EV__COUNT], channel_sym[DW_CH__COUNT]; /* enum symbol indexes in the writer schema */
  dw_avro_wentry **writers;
  size_t nwriters;
  dw_avro_wentry *last; /* the writer of the last single-object message */
  int generic_only;     /* tests: decode every message the generic way */
  dw_event *peek;       /* dw_avro_peek_event without a plan */
  avro_writer_t mw;
  avro_reader_t mr;
  unsigned char *buf;
  size_t cap;
};

static int err_set(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int err_set(char *err, size_t n, const char *fmt, ...) {
  if (err && n) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* What both decoders (generic and resolved) check once the fields are read:
 * the booleans a type requires have no "absent" value in dw_event, then the
 * event's own rules. */
static int decoded_checks(const dw_event *ev, int seen_bool, char *err, size_t n) {
  if (!seen_bool) {
    const char *need = ev->type == DW_EV_PAPER_REQUESTED ? "in_warehouse"
                       : ev->type == DW_EV_RESULT_ISSUED ? "digitized"
                       : ev->type == DW_EV_PAYMENT       ? "online"
                                                         : NULL;
    if (need) return err_set(err, n, "field '%s': required (boolean)", need);
  }
  char why[256];
  if (dw_event_validate(ev, why, sizeof why) < 0) return err_set(err, n, "%s", why);
  return 0;
}

static const char *find_embedded(const char *name) {
  char file[64];
  snprintf(file, sizeof file, "%s.avsc", name);
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_schemas, file);
  return f ? f->data : NULL;
}

static int fingerprint_of(const char *json, uint64_t *fp, char *err, size_t n) {
  char why[256];
  char *canon = dw_avro_canonical_form(json, why, sizeof why);
  if (!canon) return err_set(err, n, "%s", why);
  *fp = dw_avro_crc64(canon, strlen(canon));
  free(canon);
  return 0;
}

static int out_schema_init(out_schema *o, const char *json, char *err, size_t n) {
  if (fingerprint_of(json, &o->fp, err, n) < 0) return -1;
  if (avro_schema_from_json_length(json, strlen(json), &o->schema))
    return err_set(err, n, "schema: %s", avro_strerror());
  if (!(o->cls = avro_generic_class_from_schema(o->schema))) return err_set(err, n, "schema: %s", avro_strerror());
  if (avro_generic_value_new(o->cls, &o->value)) return err_set(err, n, "avro: %s", avro_strerror());
  o->has_value = 1;
  return 0;
}

static void out_schema_free(out_schema *o) {
  if (o->has_value) avro_value_decref(&o->value);
  if (o->cls) avro_value_iface_decref(o->cls);
  if (o->schema) avro_schema_decref(o->schema);
  memset(o, 0, sizeof *o);
}

/* Sets up the event writer schema: field ids and enum symbol positions. */
static int event_writer_init(dw_avro *av, char *err, size_t n) {
  avro_schema_t s = av->ev.schema;
  if (!is_avro_record(s)) return err_set(err, n, "event schema: not a record");
  av->nev_fields = avro_schema_record_size(s);
  av->ev_fields = calloc(av->nev_fields ? av->nev_fields : 1, sizeof *av->ev_fields);
  if (!av->ev_fields) return err_set(err, n, "out of memory");
  for (size_t i = 0; i < av->nev_fields; i++) {
    const char *name = avro_schema_record_field_name(s, (int)i);
    av->ev_fields[i] = field_id(name);
    avro_schema_t ft = avro_schema_record_field_get_by_index(s, (int)i);
    if (av->ev_fields[i] == F_UNKNOWN) {
      /* a field this code does not know must be nullable: we write null */
      int ok = 0;
      if (is_avro_union(ft))
        for (size_t b = 0; b < avro_schema_union_size(ft); b++)
          if (is_avro_null(avro_schema_union_branch(ft, (int)b))) ok = 1;
      if (!ok) return err_set(err, n, "event schema: unknown field '%s' is not nullable", name);
    }
    if (av->ev_fields[i] == F_TYPE || av->ev_fields[i] == F_CHANNEL) {
      avro_schema_t es = ft;
      if (is_avro_union(ft))
        for (size_t b = 0; b < avro_schema_union_size(ft); b++)
          if (is_avro_enum(avro_schema_union_branch(ft, (int)b))) es = avro_schema_union_branch(ft, (int)b);
      if (!is_avro_enum(es)) return err_set(err, n, "event schema: field '%s' is not an enum", name);
      int cnt = av->ev_fields[i] == F_TYPE ? DW_EV__COUNT : DW_CH__COUNT;
      int *map = av->ev_fields[i] == F_TYPE ? av->type_sym : av->channel_sym;
      for (int k = 0; k < cnt; k++) {
        const char *sym = av->ev_fields[i] == F_TYPE ? dw_event_type_name((dw_event_type)k) : dw_channel_name((dw_channel)k);
        map[k] = avro_schema_enum_get_by_name(es, sym);
        if (map[k] < 0) return err_set(err, n, "event schema: enum of '%s' lacks symbol %s", name, sym);
      }
    }
  }
  return 0;
}

static int register_json(dw_avro *av, const char *json, char *err, size_t n);

/* schemas/alert.avsc's Rule enum must be the rules table (dw_rules.def):
 * the same names in the same order, or an alert would be encoded as
 * another rule. */
static int check_rules(avro_schema_t alert, char *err, size_t n) {
  avro_schema_t rule = avro_schema_record_field_get(alert, "rule");
  if (!rule || !is_avro_enum(rule)) return err_set(err, n, "alert.avsc: no enum field 'rule'");
  int count = avro_schema_enum_number_of_symbols(rule);
  if (count != DW_RULE__COUNT)
    return err_set(err, n, "alert.avsc lists %d rules, the rules table (dw_rules.def) %d", count, DW_RULE__COUNT);
  for (int i = 0; i < count; i++) {
    const char *sym = avro_schema_enum_get(rule, i);
    if (!sym || strcmp(sym, dw_rule_name((dw_rule)i)) != 0)
      return err_set(err, n, "alert.avsc rule %d is %s, the rules table (dw_rules.def) says %s", i, sym ? sym : "?",
                     dw_rule_name((dw_rule)i));
  }
  return 0;
}

int dw_avro_check_rules(const char *alert_schema_json, char *err, size_t n) {
  avro_schema_t s;
  if (avro_schema_from_json_length(alert_schema_json, strlen(alert_schema_json), &s))
    return err_set(err, n, "alert schema: %s", avro_strerror());
  int rc = check_rules(s, err, n);
  avro_schema_decref(s);
  return rc;
}

static dw_avro *avro_new_with(const char *event_json, char *err, size_t n) {
  dw_avro *av = calloc(1, sizeof *av);
  if (!av) {
    err_set(err, n, "out of memory");
    return NULL;
  }
  const char *alert_json = find_embedded("alert"), *agg_json = find_embedded("compliance_aggregate");
  const char *v1 = find_embedded("dossier_event");
  if (!alert_json || !agg_json || !v1) {
    err_set(err, n, "embedded schemas missing from the build");
    goto fail;
  }
  if (!(av->event_json = strdup(event_json))) {
    err_set(err, n, "out of memory");
    goto fail;
  }
  if (out_schema_init(&av->ev, event_json, err, n) < 0 || event_writer_init(av, err, n) < 0 ||
      out_schema_init(&av->alert, alert_json, err, n) < 0 || out_schema_init(&av->agg, agg_json, err, n) < 0 ||
      check_rules(av->alert.schema, err, n) < 0)
    goto fail;
  av->cap = 1024;
  if (!(av->buf = malloc(av->cap)) || !(av->mw = avro_writer_memory((const char *)av->buf, (int64_t)av->cap)) ||
      !(av->mr = avro_reader_memory((const char *)av->buf, 0))) {
    err_set(err, n, "out of memory");
    goto fail;
  }
  /* Known writer schemas: our own, and the embedded one (the same unless a
   * test gave another reader schema). */
  if (register_json(av, event_json, err, n) < 0 || register_json(av, v1, err, n) < 0) goto fail;
  return av;
fail:
  dw_avro_destroy(av);
  return NULL;
}

dw_avro *dw_avro_new(char *errstr, size_t errstr_size) {
  const char *v1 = find_embedded("dossier_event");
  if (!v1) {
    err_set(errstr, errstr_size, "embedded schema dossier_event missing from the build");
    return NULL;
  }
  return avro_new_with(v1, errstr, errstr_size);
}

/* A codec whose event schema (reader, and writer for encoding) is the given
 * text instead of the embedded one; the embedded one stays a known writer.
 * For schema-evolution tests and tools. */
dw_avro *dw_avro_new_with_event_schema(const char *schema_json, char *errstr, size_t errstr_size) {
  return avro_new_with(schema_json, errstr, errstr_size);
}

void dw_avro_destroy(dw_avro *av) {
  if (!av) return;
  for (size_t i = 0; i < av->nwriters; i++) dw_avro__wentry_free(av->writers[i]);
  free(av->writers);
  out_schema_free(&av->ev);
  out_schema_free(&av->alert);
  out_schema_free(&av->agg);
  free(av->ev_fields);
  if (av->mw) avro_writer_free(av->mw);
  if (av->mr) avro_reader_free(av->mr);
  free(av->buf);
  free(av->event_json);
  free(av->peek);
  free(av);
}

uint64_t dw_avro_event_fingerprint(const dw_avro *av) { return av->ev.fp; }

/* ---- writer entries (decoding) ---- */

/* The reader schema without the top-level fields the writer lacks (they must
 * have a default), as an avro-c schema. */
static avro_schema_t project_reader(dw_avro *av, avro_schema_t ws, char *err, size_t n) {
  json_t *root = json_loads(av->event_json, 0, NULL);
  avro_schema_t rs = NULL;
  if (!root) {
    err_set(err, n, "reader schema: invalid JSON");
    return NULL;
  }
  json_t *fields = json_object_get(root, "fields");
  if (!is_avro_record(ws) || !json_is_array(fields)) {
    err_set(err, n, "writer schema: not a record");
    goto out;
  }
  for (size_t i = 0; i < json_array_size(fields);) {
    json_t *f = json_array_get(fields, i);
    const char *name = json_string_value(json_object_get(f, "name"));
    if (name && avro_schema_record_field_get_index(ws, name) < 0) {
      if (!json_object_get(f, "default")) {
        err_set(err, n, "writer schema lacks field '%s', which has no default in the reader schema", name);
        goto out;
      }
      json_array_remove(fields, i);
      continue;
    }
    i++;
  }
  char *text = json_dumps(root, JSON_COMPACT);
  if (!text) {
    err_set(err, n, "out of memory");
    goto out;
  }
  if (avro_schema_from_json_length(text, strlen(text), &rs)) {
    err_set(err, n, "reader schema: %s", avro_strerror());
    rs = NULL;
  }
  free(text);
out:
  json_decref(root);
  return rs;
}

struct plan;
static struct plan *plan_compile(const dw_avro_wentry *e);
static int generic_to_event(dw_avro_wentry *e, dw_event *ev, char *err, size_t n);
static void plan_free(struct plan *p);

dw_avro_wentry *dw_avro__wentry_new(dw_avro *av, avro_schema_t ws, char *err, size_t n) {
  dw_avro_wentry *e = calloc(1, sizeof *e);
  if (!e) {
    err_set(err, n, "out of memory");
    return NULL;
  }
  e->av = av;
  e->ws = avro_schema_incref(ws);
  if (!(e->rs = project_reader(av, ws, err, n))) goto fail;
  if (!(e->wclass = avro_generic_class_from_schema(ws))) {
    err_set(err, n, "writer schema: %s", avro_strerror());
    goto fail;
  }
  if (avro_generic_value_new(e->wclass, &e->wvalue)) {
    err_set(err, n, "avro: %s", avro_strerror());
    goto fail;
  }
  e->has_w = 1;
  if (!(e->resolver = avro_resolved_reader_new(ws, e->rs))) {
    err_set(err, n, "writer schema cannot be read as the event schema: %s", avro_strerror());
    goto fail;
  }
  if (avro_resolved_reader_new_value(e->resolver, &e->rvalue)) {
    err_set(err, n, "avro: %s", avro_strerror());
    goto fail;
  }
  e->has_r = 1;
  avro_resolved_reader_set_source(&e->rvalue, &e->wvalue);
  e->nrfields = avro_schema_record_size(e->rs);
  if (!(e->rfields = calloc(e->nrfields ? e->nrfields : 1, sizeof *e->rfields))) {
    err_set(err, n, "out of memory");
    goto fail;
  }
  for (size_t i = 0; i < e->nrfields; i++) e->rfields[i] = field_id(avro_schema_record_field_name(e->rs, (int)i));
  /* NULL is not a failure: a writer schema of a shape the plan does not
   * know (or no memory for it) is decoded the generic way */
  e->plan = plan_compile(e);
  return e;
fail:
  dw_avro__wentry_free(e);
  return NULL;
}

void dw_avro__wentry_free(dw_avro_wentry *e) {
  if (!e) return;
  if (e->has_r) avro_value_decref(&e->rvalue);
  if (e->resolver) avro_value_iface_decref(e->resolver);
  if (e->has_w) avro_value_decref(&e->wvalue);
  if (e->wclass) avro_value_iface_decref(e->wclass);
  if (e->rs) avro_schema_decref(e->rs);
  if (e->ws) avro_schema_decref(e->ws);
  free(e->rfields);
  plan_free(e->plan);
  free(e);
}

avro_value_t *dw_avro__wentry_value(dw_avro_wentry *e) { return &e->wvalue; }
avro_schema_t dw_avro__event_schema(dw_avro *av) { return av->ev.schema; }

static int register_json(dw_avro *av, const char *json, char *err, size_t n) {
  uint64_t fp;
  if (fingerprint_of(json, &fp, err, n) < 0) return -1;
  for (size_t i = 0; i < av->nwriters; i++)
    if (av->writers[i]->fp == fp) return 0; /* already known */
  avro_schema_t ws;
  if (avro_schema_from_json_length(json, strlen(json), &ws)) return err_set(err, n, "writer schema: %s", avro_strerror());
  dw_avro_wentry *e = dw_avro__wentry_new(av, ws, err, n);
  avro_schema_decref(ws);
  if (!e) return -1;
  e->fp = fp;
  dw_avro_wentry **w = realloc(av->writers, (av->nwriters + 1) * sizeof *w);
  if (!w) {
    dw_avro__wentry_free(e);
    return err_set(err, n, "out of memory");
  }
  av->writers = w;
  av->writers[av->nwriters++] = e;
  return 0;
}

int dw_avro_register_writer_schema(dw_avro *av, const char *schema_json, char *err, size_t n) {
  return register_json(av, schema_json, err, n);
}

/* ---- encoding ---- */

static int ensure_cap(dw_avro *av, size_t need) {
  if (need <= av->cap) return 0;
  size_t cap = av->cap;
  while (cap < need) cap *= 2;
  unsigned char *b = realloc(av->buf, cap);
  if (!b) return -1;
  av->buf = b;
  av->cap = cap;
  return 0;
}

/* Picks the null branch (want_null) or the first non-null branch of a union
 * field; a non-union field is its own "branch". */
static int branch(avro_value_t *field, int want_null, avro_value_t *out, const char *name, char *err, size_t n) {
  if (avro_value_get_type(field) != AVRO_UNION) {
    if (want_null && avro_value_get_type(field) != AVRO_NULL)
      return err_set(err, n, "field '%s': required", name);
    *out = *field;
    return 0;
  }
  avro_schema_t us = avro_value_get_schema(field);
  for (size_t b = 0; b < avro_schema_union_size(us); b++) {
    int isnull = is_avro_null(avro_schema_union_branch(us, (int)b));
    if (isnull == !!want_null) {
      if (avro_value_set_branch(field, (int)b, out)) return err_set(err, n, "field '%s': %s", name, avro_strerror());
      return 0;
    }
  }
  return err_set(err, n, "field '%s': %s", name, want_null ? "required" : "schema has no value branch");
}

static int put_str(avro_value_t *f, const char *s, const char *name, char *err, size_t n) {
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  if (avro_value_set_string_len(&b, s, strlen(s) + 1)) return err_set(err, n, "field '%s': %s", name, avro_strerror());
  return 0;
}

static int put_null(avro_value_t *f, const char *name, char *err, size_t n) {
  avro_value_t b;
  if (branch(f, 1, &b, name, err, n) < 0) return -1;
  return avro_value_set_null(&b) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

/* A long (or an int, if the schema says int) value, or null when absent. */
static int put_long(avro_value_t *f, int present, int64_t v, const char *name, char *err, size_t n) {
  if (!present) return put_null(f, name, err, n);
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  int rc = avro_value_get_type(&b) == AVRO_INT32 ? avro_value_set_int(&b, (int32_t)v) : avro_value_set_long(&b, v);
  return rc ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

static int put_bool(avro_value_t *f, int present, bool v, const char *name, char *err, size_t n) {
  if (!present) return put_null(f, name, err, n);
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  return avro_value_set_boolean(&b, v) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

static int put_double(avro_value_t *f, double v, const char *name, char *err, size_t n) {
  if (v != v) return put_null(f, name, err, n); /* NAN: null */
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  return avro_value_set_double(&b, v) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

static int put_enum(avro_value_t *f, int present, int sym, const char *name, char *err, size_t n) {
  if (!present) return put_null(f, name, err, n);
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  return avro_value_set_enum(&b, sym) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

int dw_avro__fill_event(dw_avro *av, const dw_event *ev, avro_value_t **out, char *err, size_t n) {
  char why[256];
  if (dw_event_validate(ev, why, sizeof why) < 0) return err_set(err, n, "%s", why);
  avro_value_t *rec = &av->ev.value;
  for (size_t i = 0; i < av->nev_fields; i++) {
    avro_value_t f;
    const char *name;
    if (avro_value_get_by_index(rec, i, &f, &name)) return err_set(err, n, "avro: %s", avro_strerror());
    fid id = av->ev_fields[i];
    int m = id != F_UNKNOWN && meaningful(ev->type, id);
    int rc;
    switch (id) {
    case F_EVENT_ID: rc = put_str(&f, ev->event_id, name, err, n); break;
    case F_DOSSIER_ID: rc = put_str(&f, ev->dossier_id, name, err, n); break;
    case F_TYPE: rc = put_enum(&f, 1, av->type_sym[ev->type], name, err, n); break;
    case F_OCCURRED_AT: rc = put_long(&f, 1, ev->occurred_at, name, err, n); break;
    case F_COMMUNE: rc = put_str(&f, ev->commune, name, err, n); break;
    case F_AGENCY: rc = put_str(&f, ev->agency, name, err, n); break;
    case F_PROCEDURE: rc = put_str(&f, ev->procedure, name, err, n); break;
    case F_CHANNEL: rc = put_enum(&f, m, m ? av->channel_sym[ev->channel] : 0, name, err, n); break;
    case F_DUE_AT: rc = put_long(&f, m && ev->due_at != DW_TIME_NONE, ev->due_at, name, err, n); break;
    case F_PROCESSING_DAYS: rc = put_long(&f, m && ev->processing_days >= 0, ev->processing_days, name, err, n); break;
    case F_DOCUMENT: rc = m ? put_str(&f, ev->document, name, err, n) : put_null(&f, name, err, n); break;
    case F_IN_WAREHOUSE: rc = put_bool(&f, m, ev->in_warehouse, name, err, n); break;
    case F_TO_AGENCY: rc = m ? put_str(&f, ev->to_agency, name, err, n) : put_null(&f, name, err, n); break;
    case F_REASON: rc = m ? put_str(&f, ev->reason, name, err, n) : put_null(&f, name, err, n); break;
    case F_NEW_DUE_AT: rc = put_long(&f, m, ev->new_due_at, name, err, n); break;
    case F_DIGITIZED: rc = put_bool(&f, m, ev->digitized, name, err, n); break;
    case F_ONLINE: rc = put_bool(&f, m, ev->online, name, err, n); break;
    case F_SCORE: rc = put_long(&f, m, ev->score, name, err, n); break;
    default: rc = put_null(&f, name, err, n); break;
    }
    if (rc < 0) return -1;
  }
  *out = rec;
  return 0;
}

/* Frames a filled value as single-object encoding into av->buf. */
static int frame(dw_avro *av, avro_value_t *v, uint64_t fp, const void **out, size_t *len, char *err, size_t n) {
  size_t sz;
  if (avro_value_sizeof(v, &sz)) return err_set(err, n, "avro: %s", avro_strerror());
  if (ensure_cap(av, sz + 10) < 0) return err_set(err, n, "out of memory");
  av->buf[0] = 0xC3;
  av->buf[1] = 0x01;
  for (int i = 0; i < 8; i++) av->buf[2 + i] = (unsigned char)(fp >> (8 * i));
  avro_writer_memory_set_dest(av->mw, (const char *)av->buf + 10, (int64_t)sz);
  if (avro_value_write(av->mw, v)) return err_set(err, n, "avro: %s", avro_strerror());
  *out = av->buf;
  *len = sz + 10;
  return 0;
}

int dw_avro_encode_event(dw_avro *av, const dw_event *ev, const void **out, size_t *len, char *errstr,
                         size_t errstr_size) {
  avro_value_t *v;
  if (dw_avro__fill_event(av, ev, &v, errstr, errstr_size) < 0) return -1;
  return frame(av, v, av->ev.fp, out, len, errstr, errstr_size);
}

int dw_avro_encode_alert(dw_avro *av, const dw_alert *a, const void **out, size_t *len, char *err, size_t n) {
  avro_value_t *rec = &av->alert.value;
  size_t cnt = avro_schema_record_size(av->alert.schema);
  for (size_t i = 0; i < cnt; i++) {
    avro_value_t f;
    const char *name;
    if (avro_value_get_by_index(rec, i, &f, &name)) return err_set(err, n, "avro: %s", avro_strerror());
    int rc;
    if (!strcmp(name, "alert_id")) rc = put_str(&f, a->alert_id, name, err, n);
    else if (!strcmp(name, "rule")) {
      avro_value_t b;
      rc = branch(&f, 0, &b, name, err, n);
      if (rc == 0) {
        int sym = avro_schema_enum_get_by_name(avro_value_get_schema(&b), dw_rule_name(a->rule));
        rc = sym < 0 ? err_set(err, n, "field 'rule': unknown rule %d", (int)a->rule) : put_enum(&f, 1, sym, name, err, n);
      }
    } else if (!strcmp(name, "dossier_id")) rc = put_str(&f, a->dossier_id, name, err, n);
    else if (!strcmp(name, "commune")) rc = put_str(&f, a->commune, name, err, n);
    else if (!strcmp(name, "agency")) rc = put_str(&f, a->agency, name, err, n);
    else if (!strcmp(name, "procedure")) rc = put_str(&f, a->procedure, name, err, n);
    else if (!strcmp(name, "severity")) {
      if (a->severity != DW_SEV_WARNING && a->severity != DW_SEV_CRITICAL)
        return err_set(err, n, "field 'severity': unknown severity %d", (int)a->severity);
      rc = put_enum(&f, 1, a->severity == DW_SEV_CRITICAL ? 1 : 0, name, err, n);
    } else if (!strcmp(name, "raised_at")) rc = put_long(&f, 1, a->raised_at, name, err, n);
    else if (!strcmp(name, "due_at")) rc = put_long(&f, a->due_at != DW_TIME_NONE, a->due_at, name, err, n);
    else if (!strcmp(name, "cleared_at")) rc = put_long(&f, a->cleared_at != DW_TIME_NONE, a->cleared_at, name, err, n);
    else if (!strcmp(name, "detail")) rc = put_str(&f, a->detail, name, err, n);
    else rc = put_null(&f, name, err, n);
    if (rc < 0) return -1;
  }
  return frame(av, rec, av->alert.fp, out, len, err, n);
}

static const char *const counter_fields[DW_C__COUNT] = {
  "received", "online", "online_full", "intake_digitized", "reused_docs", "dossiers_with_reuse",
  "paper_requests_from_warehouse", "results_issued", "results_digitized", "on_time", "late", "apologies",
  "paid", "paid_online", "ratings", "rating_sum",
};
static const char *const unit_types[DW_UNIT__COUNT] = {"commune", "agency", "procedure", "province"};
static const char *const period_kinds[DW_PERIOD__COUNT] = {"day", "month", "quarter", "year", "rolling30"};

static int put_enum_name(avro_value_t *f, const char *sym, const char *name, char *err, size_t n) {
  avro_value_t b;
  if (branch(f, 0, &b, name, err, n) < 0) return -1;
  int idx = avro_schema_enum_get_by_name(avro_value_get_schema(&b), sym);
  if (idx < 0) return err_set(err, n, "field '%s': unknown symbol", name);
  return avro_value_set_enum(&b, idx) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
}

int dw_avro_encode_aggregate(dw_avro *av, const dw_agg_row *row, const dw_agg_rates *r, const void **out,
                             size_t *len, char *err, size_t n) {
  if (row->unit_type < 0 || row->unit_type >= DW_UNIT__COUNT) return err_set(err, n, "field 'unit_type': invalid");
  if (row->period_kind < 0 || row->period_kind >= DW_PERIOD__COUNT) return err_set(err, n, "field 'period_kind': invalid");
  avro_value_t *rec = &av->agg.value;
  size_t cnt = avro_schema_record_size(av->agg.schema);
  for (size_t i = 0; i < cnt; i++) {
    avro_value_t f;
    const char *name;
    if (avro_value_get_by_index(rec, i, &f, &name)) return err_set(err, n, "avro: %s", avro_strerror());
    int rc = 1;
    for (int c = 0; c < DW_C__COUNT && rc == 1; c++)
      if (!strcmp(name, counter_fields[c])) rc = put_long(&f, 1, row->counters[c], name, err, n);
    if (rc != 1) {
    } else if (!strcmp(name, "unit_type")) rc = put_enum_name(&f, unit_types[row->unit_type], name, err, n);
    else if (!strcmp(name, "unit")) rc = put_str(&f, row->unit ? row->unit : "", name, err, n);
    else if (!strcmp(name, "period_kind")) rc = put_enum_name(&f, period_kinds[row->period_kind], name, err, n);
    else if (!strcmp(name, "period")) rc = put_str(&f, row->period, name, err, n);
    else if (!strcmp(name, "open_overdue")) rc = put_long(&f, 1, row->open_overdue, name, err, n);
    else if (!strcmp(name, "on_time_rate")) rc = put_double(&f, r->on_time_rate, name, err, n);
    else if (!strcmp(name, "intake_digitized_rate")) rc = put_double(&f, r->intake_digitized_rate, name, err, n);
    else if (!strcmp(name, "result_digitized_rate")) rc = put_double(&f, r->result_digitized_rate, name, err, n);
    else if (!strcmp(name, "online_rate")) rc = put_double(&f, r->online_rate, name, err, n);
    else if (!strcmp(name, "rating_avg")) rc = put_double(&f, r->rating_avg, name, err, n);
    else if (!strcmp(name, "reuse_rate")) rc = put_double(&f, r->reuse_rate, name, err, n);
    else if (!strcmp(name, "paid_online_rate")) rc = put_double(&f, r->paid_online_rate, name, err, n);
    else if (!strcmp(name, "score")) rc = put_double(&f, r->score, name, err, n);
    else if (!strcmp(name, "score_100")) rc = put_double(&f, r->score_100, name, err, n);
    else rc = put_null(&f, name, err, n);
    if (rc < 0) return -1;
  }
  return frame(av, rec, av->agg.fp, out, len, err, n);
}

/* ---- decoding ---- */

/* Bounds-checked walk of binary data against a schema: proves the bytes are
 * a complete, well-formed value before avro-c allocates anything for it. */
typedef struct walk {
  const unsigned char *p;
  size_t len, pos;
  const char *field; /* innermost record field, for messages */
  char *err;
  size_t n;
} walk;

static int walk_err(walk *w, const char *what) {
  if (w->field)
    return err_set(w->err, w->n, "field '%s': %s at body byte %zu", w->field, what, w->pos);
  return err_set(w->err, w->n, "body: %s at byte %zu", what, w->pos);
}

static int walk_varint(walk *w, int64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (w->pos >= w->len) return walk_err(w, "truncated (varint)");
    unsigned char b = w->p[w->pos++];
    if (shift == 63 && (b & 0x7e)) return walk_err(w, "invalid varint (overflow)");
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
      return 0;
    }
  }
  return walk_err(w, "invalid varint (too long)");
}

static int walk_value(walk *w, avro_schema_t s, int depth) {
  int64_t x;
  if (depth > 64) return walk_err(w, "schema nesting too deep");
  switch (avro_typeof(s)) {
  case AVRO_NULL: return 0;
  case AVRO_BOOLEAN:
    if (w->pos >= w->len) return walk_err(w, "truncated (boolean)");
    if (w->p[w->pos] > 1) return walk_err(w, "invalid boolean byte");
    w->pos++;
    return 0;
  case AVRO_INT32:
    if (walk_varint(w, &x) < 0) return -1;
    if (x < INT32_MIN || x > INT32_MAX) return walk_err(w, "int out of range");
    return 0;
  case AVRO_INT64: return walk_varint(w, &x);
  case AVRO_FLOAT:
  case AVRO_DOUBLE: {
    size_t sz = is_avro_float(s) ? 4 : 8;
    if (w->len - w->pos < sz) return walk_err(w, "truncated (number)");
    w->pos += sz;
    return 0;
  }
  case AVRO_STRING:
  case AVRO_BYTES:
    if (walk_varint(w, &x) < 0) return -1;
    if (x < 0) return walk_err(w, "negative length");
    if ((uint64_t)x > w->len - w->pos) return walk_err(w, "truncated (string longer than the data)");
    w->pos += (size_t)x;
    return 0;
  case AVRO_FIXED: {
    int64_t sz = avro_schema_fixed_size(s);
    if (sz < 0 || (uint64_t)sz > w->len - w->pos) return walk_err(w, "truncated (fixed)");
    w->pos += (size_t)sz;
    return 0;
  }
  case AVRO_ENUM:
    if (walk_varint(w, &x) < 0) return -1;
    if (x < 0 || x >= avro_schema_enum_number_of_symbols(s)) return walk_err(w, "enum index out of range");
    return 0;
  case AVRO_UNION:
    if (walk_varint(w, &x) < 0) return -1;
    if (x < 0 || (uint64_t)x >= avro_schema_union_size(s)) return walk_err(w, "union branch out of range");
    return walk_value(w, avro_schema_union_branch(s, (int)x), depth + 1);
  case AVRO_RECORD: {
    const char *saved = w->field;
    size_t cnt = avro_schema_record_size(s);
    for (size_t i = 0; i < cnt; i++) {
      w->field = avro_schema_record_field_name(s, (int)i);
      if (walk_value(w, avro_schema_record_field_get_by_index(s, (int)i), depth + 1) < 0) return -1;
    }
    w->field = saved;
    return 0;
  }
  case AVRO_ARRAY:
  case AVRO_MAP: {
    avro_schema_t item = is_avro_array(s) ? avro_schema_array_items(s) : avro_schema_map_values(s);
    for (;;) {
      if (walk_varint(w, &x) < 0) return -1;
      if (x == 0) return 0;
      if (x == INT64_MIN) return walk_err(w, "invalid block count");
      if (x < 0) {
        int64_t bytes;
        x = -x;
        if (walk_varint(w, &bytes) < 0) return -1;
      }
      /* avro-c allocates per item: bound the count by the bytes left so a
       * forged count cannot make it allocate without limit */
      if ((uint64_t)x > w->len - w->pos + 1) return walk_err(w, "block count larger than the data");
      for (int64_t i = 0; i < x; i++) {
        if (is_avro_map(s)) {
          int64_t kl;
          if (walk_varint(w, &kl) < 0) return -1;
          if (kl < 0 || (uint64_t)kl > w->len - w->pos) return walk_err(w, "truncated (map key)");
          w->pos += (size_t)kl;
        }
        if (walk_value(w, item, depth + 1) < 0) return -1;
      }
    }
  }
  case AVRO_LINK: return walk_value(w, avro_schema_link_target(s), depth + 1);
  default: return walk_err(w, "unsupported schema type");
  }
}

/* The value of a (possibly union) field: 0 = null, 1 = value in *out. */
static int get_present(avro_value_t *f, avro_value_t *out) {
  if (avro_value_get_type(f) == AVRO_UNION) {
    if (avro_value_get_current_branch(f, out)) return 0;
  } else {
    *out = *f;
  }
  return avro_value_get_type(out) != AVRO_NULL;
}

static int get_str(avro_value_t *v, const char *name, char *dst, size_t cap, char *err, size_t n) {
  const char *s;
  size_t size;
  if (avro_value_get_type(v) != AVRO_STRING) return err_set(err, n, "field '%s': not a string", name);
  if (avro_value_get_string(v, &s, &size)) return err_set(err, n, "field '%s': %s", name, avro_strerror());
  size_t len = size ? size - 1 : 0;
  if (memchr(s, '\0', len)) return err_set(err, n, "field '%s': contains a NUL character", name);
  if (!dw_utf8_valid(s, len)) return err_set(err, n, "field '%s': invalid UTF-8", name);
  if (len >= cap) return err_set(err, n, "field '%s': too long (%zu bytes, at most %zu)", name, len, cap - 1);
  memcpy(dst, s, len);
  dst[len] = '\0';
  return 0;
}

static int get_int64(avro_value_t *v, const char *name, int64_t *out, char *err, size_t n) {
  int32_t i;
  switch (avro_value_get_type(v)) {
  case AVRO_INT64: return avro_value_get_long(v, out) ? err_set(err, n, "field '%s': %s", name, avro_strerror()) : 0;
  case AVRO_INT32:
    if (avro_value_get_int(v, &i)) return err_set(err, n, "field '%s': %s", name, avro_strerror());
    *out = i;
    return 0;
  default: return err_set(err, n, "field '%s': not an integer", name);
  }
}

static int get_time(avro_value_t *v, const char *name, int64_t *out, char *err, size_t n) {
  if (get_int64(v, name, out, err, n) < 0) return -1;
  if (*out < DW_TIME_MIN || *out > DW_TIME_MAX)
    return err_set(err, n, "field '%s': timestamp %" PRId64 " out of range (years 1..9999)", name, *out);
  return 0;
}

static int get_enum_name(avro_value_t *v, const char *name, const char **sym, char *err, size_t n) {
  int idx;
  if (avro_value_get_type(v) != AVRO_ENUM) return err_set(err, n, "field '%s': not an enum", name);
  if (avro_value_get_enum(v, &idx)) return err_set(err, n, "field '%s': %s", name, avro_strerror());
  *sym = avro_schema_enum_get(avro_value_get_schema(v), idx);
  if (!*sym) return err_set(err, n, "field '%s': enum index %d out of range", name, idx);
  return 0;
}

/* An enum field's symbol, taken from the WRITER value: avro-c 1.11's resolved
 * reader passes enum indexes through unmapped, so a writer whose symbols are
 * in another order would silently read as the wrong symbol. Returns 1 with
 * *sym, 0 when the field is absent or null, -1 on error. */
static int writer_enum(dw_avro_wentry *e, const char *name, const char **sym, char *err, size_t n) {
  avro_value_t f, v;
  if (avro_value_get_by_name(&e->wvalue, name, &f, NULL)) return 0;
  if (!get_present(&f, &v)) return 0;
  return get_enum_name(&v, name, sym, err, n) < 0 ? -1 : 1;
}

static int generic_to_event(dw_avro_wentry *e, dw_event *ev, char *err, size_t n) {
  avro_value_t *rec = &e->rvalue;
  avro_value_t f, v;
  const char *name, *sym;
  dw_event_init(ev);
  /* the type first: it decides which other fields mean something */
  int has_type = writer_enum(e, "type", &sym, err, n);
  if (has_type < 0) return -1;
  if (has_type == 0) return err_set(err, n, "field 'type': required");
  if (dw_event_type_parse(sym, &ev->type) < 0) return err_set(err, n, "field 'type': unknown event type '%s'", sym);
  int seen_bool = 0;
  for (size_t i = 0; i < e->nrfields; i++) {
    fid id = e->rfields[i];
    if (id == F_UNKNOWN || id == F_TYPE || !meaningful(ev->type, id)) continue;
    if (avro_value_get_by_index(rec, i, &f, &name)) return err_set(err, n, "avro: %s", avro_strerror());
    if (!get_present(&f, &v)) continue; /* absent: validation decides */
    int64_t x;
    bool b;
    int rc = 0;
    switch (id) {
    case F_EVENT_ID: rc = get_str(&v, name, ev->event_id, sizeof ev->event_id, err, n); break;
    case F_DOSSIER_ID: rc = get_str(&v, name, ev->dossier_id, sizeof ev->dossier_id, err, n); break;
    case F_COMMUNE: rc = get_str(&v, name, ev->commune, sizeof ev->commune, err, n); break;
    case F_AGENCY: rc = get_str(&v, name, ev->agency, sizeof ev->agency, err, n); break;
    case F_PROCEDURE: rc = get_str(&v, name, ev->procedure, sizeof ev->procedure, err, n); break;
    case F_DOCUMENT: rc = get_str(&v, name, ev->document, sizeof ev->document, err, n); break;
    case F_TO_AGENCY: rc = get_str(&v, name, ev->to_agency, sizeof ev->to_agency, err, n); break;
    case F_REASON: rc = get_str(&v, name, ev->reason, sizeof ev->reason, err, n); break;
    case F_OCCURRED_AT: rc = get_time(&v, name, &ev->occurred_at, err, n); break;
    case F_DUE_AT: rc = get_time(&v, name, &ev->due_at, err, n); break;
    case F_NEW_DUE_AT: rc = get_time(&v, name, &ev->new_due_at, err, n); break;
    case F_CHANNEL:
      if ((rc = writer_enum(e, name, &sym, err, n)) <= 0) break; /* absent in the writer: stays absent */
      rc = 0;
      if (dw_channel_parse(sym, &ev->channel) < 0)
        rc = err_set(err, n, "field 'channel': unknown channel '%s'", sym);
      break;
    case F_PROCESSING_DAYS:
    case F_SCORE:
      if ((rc = get_int64(&v, name, &x, err, n)) < 0) break;
      if (id == F_PROCESSING_DAYS && (x < 0 || x > INT32_MAX))
        rc = err_set(err, n, "field 'processing_days': %" PRId64 " is negative or too large", x);
      else if (id == F_SCORE && (x < 1 || x > 5))
        rc = err_set(err, n, "field 'score': %" PRId64 " is outside 1..5", x);
      else if (id == F_SCORE)
        ev->score = (int32_t)x;
      else
        ev->processing_days = (int32_t)x;
      break;
    case F_IN_WAREHOUSE:
    case F_DIGITIZED:
    case F_ONLINE:
      {
        int iv;
        if (avro_value_get_type(&v) != AVRO_BOOLEAN || avro_value_get_boolean(&v, &iv)) {
          rc = err_set(err, n, "field '%s': not a boolean", name);
          break;
        }
        b = iv != 0;
        if (id == F_IN_WAREHOUSE) ev->in_warehouse = b;
        else if (id == F_DIGITIZED) ev->digitized = b;
        else ev->online = b;
        seen_bool = 1;
      }
      break;
    default: break;
    }
    if (rc < 0) return -1;
  }
  return decoded_checks(ev, seen_bool, err, n);
}

/* ---- the resolved decoder ----
 * A plan is compiled once per writer schema: for each writer field in the
 * writer's order, what its bytes are (per union branch) and which event
 * field they fill. Decoding is then one bounded pass over the body with
 * walk's own primitives (the same checks, the same messages and byte
 * positions), which records where each value is, then the mapping of
 * dw_avro__wentry_to_event in the reader's field order, with the same checks
 * and messages: the same bytes give the same event or the same error as the
 * generic way (the walk, avro-c's generic value and its resolved reader),
 * without avro-c allocating and resolving values per message. Writer
 * schemas of another shape (a field the plan cannot map, a union with other
 * branches, named-type references) get no plan and go the generic way. */

#define PLAN_BRANCHES 4

typedef enum pkind { PK_NULL = 0, PK_STRING, PK_INT, PK_LONG, PK_BOOL, PK_ENUM } pkind;

typedef struct pstep {
  const char *name; /* the writer field's name (messages) */
  avro_schema_t ws; /* its schema (a skipped field is walked) */
  fid id;           /* the event field; F_UNKNOWN: skipped */
  int nb;           /* union branches; 0: not a union */
  pkind kind[PLAN_BRANCHES];
  int nsym[PLAN_BRANCHES];          /* enum branches: symbols */
  avro_schema_t enums[PLAN_BRANCHES]; /* enum branches: the writer enum (symbol names) */
  int8_t *symmap[PLAN_BRANCHES];    /* enum branches: writer index -> dw value, -1 unknown */
} pstep;

struct plan {
  pstep *steps;
  size_t nsteps;
};

static void plan_free(struct plan *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nsteps; i++)
    for (int b = 0; b < PLAN_BRANCHES; b++) free(p->steps[i].symmap[b]);
  free(p->steps);
  free(p);
}

/* The kind a reader field of fid must have for the plan (the embedded
 * schema's), and whether it may be null. */
static int expected_kind(fid id, pkind *k, int *optional) {
  *optional = id > F_PROCEDURE;
  switch (id) {
  case F_EVENT_ID: case F_DOSSIER_ID: case F_COMMUNE: case F_AGENCY: case F_PROCEDURE:
  case F_DOCUMENT: case F_TO_AGENCY: case F_REASON: *k = PK_STRING; return 0;
  case F_TYPE: case F_CHANNEL: *k = PK_ENUM; return 0;
  case F_OCCURRED_AT: case F_DUE_AT: case F_NEW_DUE_AT: *k = PK_LONG; return 0;
  case F_PROCESSING_DAYS: case F_SCORE: *k = PK_INT; return 0;
  case F_IN_WAREHOUSE: case F_DIGITIZED: case F_ONLINE: *k = PK_BOOL; return 0;
  default: return -1;
  }
}

static int kind_of(avro_schema_t s, pkind *k) {
  switch (avro_typeof(s)) {
  case AVRO_NULL: *k = PK_NULL; return 0;
  case AVRO_STRING: *k = PK_STRING; return 0;
  case AVRO_INT32: *k = PK_INT; return 0;
  case AVRO_INT64: *k = PK_LONG; return 0;
  case AVRO_BOOLEAN: *k = PK_BOOL; return 0;
  case AVRO_ENUM: *k = PK_ENUM; return 0;
  default: return -1;
  }
}

/* Does the reader field type r have the plan's shape for id? */
static int reader_shape_ok(avro_schema_t r, fid id) {
  pkind want, k;
  int optional;
  if (expected_kind(id, &want, &optional)) return 0;
  if (!is_avro_union(r)) return kind_of(r, &k) == 0 && k == want;
  if (!optional || avro_schema_union_size(r) != 2) return 0;
  pkind k0, k1;
  if (kind_of(avro_schema_union_branch(r, 0), &k0) || kind_of(avro_schema_union_branch(r, 1), &k1)) return 0;
  return (k0 == PK_NULL && k1 == want) || (k1 == PK_NULL && k0 == want);
}

/* One branch (or the whole non-union field) of a decoded writer field. */
static int plan_branch(pstep *st, int b, avro_schema_t bs, fid id, int may_be_null) {
  pkind want, k;
  int optional;
  if (expected_kind(id, &want, &optional) || kind_of(bs, &k)) return -1;
  if (k == PK_NULL) {
    if (!may_be_null) return -1;
  } else if (!(k == want || (k == PK_INT && want == PK_LONG))) { /* int -> long: Avro's promotion */
    return -1;
  }
  st->kind[b] = k;
  if (k != PK_ENUM) return 0;
  int cnt = avro_schema_enum_number_of_symbols(bs);
  if (cnt <= 0) return -1;
  st->nsym[b] = cnt;
  st->enums[b] = bs;
  if (!(st->symmap[b] = malloc((size_t)cnt))) return -1;
  for (int i = 0; i < cnt; i++) {
    const char *sym = avro_schema_enum_get(bs, i);
    dw_event_type t;
    dw_channel c;
    int v = -1;
    if (sym && id == F_TYPE && dw_event_type_parse(sym, &t) == 0) v = (int)t;
    if (sym && id == F_CHANNEL && dw_channel_parse(sym, &c) == 0) v = (int)c;
    st->symmap[b][i] = (int8_t)v;
  }
  return 0;
}

static struct plan *plan_compile(const dw_avro_wentry *e) {
  avro_schema_t ws = e->ws, rs = e->rs;
  if (!is_avro_record(ws) || !is_avro_record(rs)) return NULL;
  struct plan *p = calloc(1, sizeof *p);
  size_t cnt = avro_schema_record_size(ws);
  if (!p || !(p->steps = calloc(cnt ? cnt : 1, sizeof *p->steps))) goto no;
  p->nsteps = cnt;
  for (size_t i = 0; i < cnt; i++) {
    pstep *st = &p->steps[i];
    st->name = avro_schema_record_field_name(ws, (int)i);
    st->ws = avro_schema_record_field_get_by_index(ws, (int)i);
    fid id = field_id(st->name);
    avro_schema_t r = id == F_UNKNOWN ? NULL : avro_schema_record_field_get(rs, st->name);
    st->id = r ? id : F_UNKNOWN; /* not in the reader: read by nobody, walked */
    if (st->id == F_UNKNOWN) continue;
    if (!reader_shape_ok(r, id)) goto no;
    if (is_avro_union(st->ws)) {
      size_t nb = avro_schema_union_size(st->ws);
      if (nb == 0 || nb > PLAN_BRANCHES || !is_avro_union(r)) goto no;
      st->nb = (int)nb;
      for (size_t b = 0; b < nb; b++)
        if (plan_branch(st, (int)b, avro_schema_union_branch(st->ws, (int)b), id, 1)) goto no;
    } else if (plan_branch(st, 0, st->ws, id, 0)) {
      goto no;
    }
  }
  return p;
no:
  plan_free(p);
  return NULL;
}

/* Where the body put each event field. */
typedef struct pval {
  uint8_t state; /* 0: not in the writer, 1: null, 2: a value */
  uint8_t branch;
  const pstep *step;
  const unsigned char *s; /* strings */
  size_t len;
  int64_t i; /* numbers, booleans, enum indexes */
} pval;

/* The bounded pass: walk's checks and messages, the values' places. */
static int plan_scan(const struct plan *p, walk *w, pval *vals) {
  for (size_t i = 0; i < p->nsteps; i++) {
    const pstep *st = &p->steps[i];
    w->field = st->name;
    if (st->id == F_UNKNOWN) {
      if (walk_value(w, st->ws, 1) < 0) return -1;
      continue;
    }
    int64_t x;
    int b = 0;
    if (st->nb) {
      if (walk_varint(w, &x) < 0) return -1;
      if (x < 0 || x >= st->nb) return walk_err(w, "union branch out of range");
      b = (int)x;
    }
    pval *v = &vals[st->id];
    v->step = st;
    v->branch = (uint8_t)b;
    v->state = 2;
    switch (st->kind[b]) {
    case PK_NULL: v->state = 1; break;
    case PK_STRING:
      if (walk_varint(w, &x) < 0) return -1;
      if (x < 0) return walk_err(w, "negative length");
      if ((uint64_t)x > w->len - w->pos) return walk_err(w, "truncated (string longer than the data)");
      v->s = w->p + w->pos;
      v->len = (size_t)x;
      w->pos += (size_t)x;
      break;
    case PK_INT:
      if (walk_varint(w, &x) < 0) return -1;
      if (x < INT32_MIN || x > INT32_MAX) return walk_err(w, "int out of range");
      v->i = x;
      break;
    case PK_LONG:
      if (walk_varint(w, &v->i) < 0) return -1;
      break;
    case PK_BOOL:
      if (w->pos >= w->len) return walk_err(w, "truncated (boolean)");
      if (w->p[w->pos] > 1) return walk_err(w, "invalid boolean byte");
      v->i = w->p[w->pos++];
      break;
    case PK_ENUM:
      if (walk_varint(w, &x) < 0) return -1;
      if (x < 0 || x >= st->nsym[b]) return walk_err(w, "enum index out of range");
      v->i = x;
      break;
    }
  }
  w->field = NULL;
  return 0;
}

/* The values' places from avro-c's value of the writer schema (container
 * files). 1: something the bounded pass would have refused (avro-c does not
 * check enum indexes): the caller maps it the generic way. */
static int plan_fill(const dw_avro_wentry *e, pval *vals) {
  const struct plan *p = e->plan;
  memset(vals, 0, F__COUNT * sizeof *vals);
  avro_value_t *rec = (avro_value_t *)&e->wvalue;
  for (size_t i = 0; i < p->nsteps; i++) {
    const pstep *st = &p->steps[i];
    if (st->id == F_UNKNOWN) continue;
    avro_value_t f, v;
    if (avro_value_get_by_index(rec, i, &f, NULL)) return 1;
    int b = 0;
    if (st->nb) {
      int disc;
      if (avro_value_get_discriminant(&f, &disc) || disc < 0 || disc >= st->nb ||
          avro_value_get_current_branch(&f, &v))
        return 1;
      b = disc;
    } else {
      v = f;
    }
    pval *x = &vals[st->id];
    x->step = st;
    x->branch = (uint8_t)b;
    x->state = 2;
    const char *str;
    size_t size;
    int32_t i32;
    int iv;
    switch (st->kind[b]) {
    case PK_NULL: x->state = 1; break;
    case PK_STRING:
      if (avro_value_get_string(&v, &str, &size)) return 1;
      x->s = (const unsigned char *)str;
      x->len = size ? size - 1 : 0;
      break;
    case PK_INT:
      if (avro_value_get_int(&v, &i32)) return 1;
      x->i = i32;
      break;
    case PK_LONG:
      if (avro_value_get_type(&v) == AVRO_INT32 ? avro_value_get_int(&v, &i32) : avro_value_get_long(&v, &x->i)) return 1;
      if (avro_value_get_type(&v) == AVRO_INT32) x->i = i32;
      break;
    case PK_BOOL:
      if (avro_value_get_boolean(&v, &iv)) return 1;
      x->i = iv != 0;
      break;
    case PK_ENUM:
      if (avro_value_get_enum(&v, &iv) || iv < 0 || iv >= st->nsym[b]) return 1;
      x->i = iv;
      break;
    }
  }
  return 0;
}

/* get_str's checks on a span. */
static int plan_str(const pval *v, const char *name, char *dst, size_t cap, char *err, size_t n) {
  const unsigned char *s = v->s;
  size_t len = v->len, i = 0;
  /* ASCII without NUL, eight bytes at a time; the rest byte by byte */
  for (; i + 8 <= len; i += 8) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    if ((x & 0x8080808080808080ULL) || ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL)) break;
  }
  for (; i < len; i++)
    if (s[i] == 0 || s[i] >= 0x80) break;
  if (i < len) { /* the first i bytes are plain ASCII: check the rest only */
    if (memchr(s + i, '\0', len - i)) return err_set(err, n, "field '%s': contains a NUL character", name);
    if (!dw_utf8_valid((const char *)s + i, len - i)) return err_set(err, n, "field '%s': invalid UTF-8", name);
  }
  if (len >= cap) return err_set(err, n, "field '%s': too long (%zu bytes, at most %zu)", name, len, cap - 1);
  memcpy(dst, s, len);
  dst[len] = '\0';
  return 0;
}

static int plan_time(const pval *v, const char *name, int64_t *out, char *err, size_t n) {
  *out = v->i;
  if (*out < DW_TIME_MIN || *out > DW_TIME_MAX)
    return err_set(err, n, "field '%s': timestamp %" PRId64 " out of range (years 1..9999)", name, *out);
  return 0;
}

/* dw_avro__wentry_to_event over the recorded values. */
static int plan_map(const dw_avro_wentry *e, const pval *vals, dw_event *ev, char *err, size_t n) {
  const pval *tv = &vals[F_TYPE];
  if (tv->state != 2) return err_set(err, n, "field 'type': required");
  int t = tv->step->symmap[tv->branch][tv->i];
  if (t < 0)
    return err_set(err, n, "field 'type': unknown event type '%s'", avro_schema_enum_get(tv->step->enums[tv->branch], (int)tv->i));
  ev->type = (dw_event_type)t;
  int seen_bool = 0;
  for (size_t i = 0; i < e->nrfields; i++) {
    fid id = e->rfields[i];
    if (id == F_UNKNOWN || id == F_TYPE || !meaningful(ev->type, id)) continue;
    const pval *v = &vals[id];
    if (v->state != 2) continue; /* absent: validation decides */
    const char *name = fnames[id];
    int rc = 0;
    switch (id) {
    case F_EVENT_ID: rc = plan_str(v, name, ev->event_id, sizeof ev->event_id, err, n); break;
    case F_DOSSIER_ID: rc = plan_str(v, name, ev->dossier_id, sizeof ev->dossier_id, err, n); break;
    case F_COMMUNE: rc = plan_str(v, name, ev->commune, sizeof ev->commune, err, n); break;
    case F_AGENCY: rc = plan_str(v, name, ev->agency, sizeof ev->agency, err, n); break;
    case F_PROCEDURE: rc = plan_str(v, name, ev->procedure, sizeof ev->procedure, err, n); break;
    case F_DOCUMENT: rc = plan_str(v, name, ev->document, sizeof ev->document, err, n); break;
    case F_TO_AGENCY: rc = plan_str(v, name, ev->to_agency, sizeof ev->to_agency, err, n); break;
    case F_REASON: rc = plan_str(v, name, ev->reason, sizeof ev->reason, err, n); break;
    case F_OCCURRED_AT: rc = plan_time(v, name, &ev->occurred_at, err, n); break;
    case F_DUE_AT: rc = plan_time(v, name, &ev->due_at, err, n); break;
    case F_NEW_DUE_AT: rc = plan_time(v, name, &ev->new_due_at, err, n); break;
    case F_CHANNEL: {
      int c = v->step->symmap[v->branch][v->i];
      if (c < 0)
        rc = err_set(err, n, "field 'channel': unknown channel '%s'", avro_schema_enum_get(v->step->enums[v->branch], (int)v->i));
      else
        ev->channel = (dw_channel)c;
      break;
    }
    case F_PROCESSING_DAYS:
      if (v->i < 0 || v->i > INT32_MAX)
        rc = err_set(err, n, "field 'processing_days': %" PRId64 " is negative or too large", v->i);
      else
        ev->processing_days = (int32_t)v->i;
      break;
    case F_SCORE:
      if (v->i < 1 || v->i > 5)
        rc = err_set(err, n, "field 'score': %" PRId64 " is outside 1..5", v->i);
      else
        ev->score = (int32_t)v->i;
      break;
    case F_IN_WAREHOUSE: ev->in_warehouse = v->i != 0, seen_bool = 1; break;
    case F_DIGITIZED: ev->digitized = v->i != 0, seen_bool = 1; break;
    case F_ONLINE: ev->online = v->i != 0, seen_bool = 1; break;
    default: break;
    }
    if (rc < 0) return -1;
  }
  return decoded_checks(ev, seen_bool, err, n);
}

/* One body through the plan; ev was initialised by the caller. */
static int plan_decode(dw_avro_wentry *e, const unsigned char *body, size_t len, dw_event *ev, char *err, size_t n) {
  pval vals[F__COUNT];
  memset(vals, 0, sizeof vals);
  walk w = {.p = body, .len = len, .err = err, .n = n};
  if (plan_scan(e->plan, &w, vals) < 0) return -1;
  if (w.pos != w.len) return err_set(err, n, "body: %zu trailing bytes after the record", w.len - w.pos);
  if (plan_map(e, vals, ev, err, n) == 0) return 0;
  dw_event_init(ev);
  return -1;
}

static int generic_decode(dw_avro *av, dw_avro_wentry *e, const unsigned char *p, size_t len, dw_event *ev, char *err,
                          size_t n);

int dw_avro__wentry_to_event(dw_avro_wentry *e, dw_event *ev, char *err, size_t n) {
  /* container files: avro-c read the writer's value; the plan maps it
   * straight from there, the generic way through the resolved reader */
  if (e->plan && !e->av->generic_only) {
    pval vals[F__COUNT];
    if (plan_fill(e, vals) == 0) {
      dw_event_init(ev);
      if (plan_map(e, vals, ev, err, n) == 0) return 0;
      dw_event_init(ev);
      return -1;
    }
  }
  return generic_to_event(e, ev, err, n);
}


/* The writer entry of single-object bytes, or NULL with the reason. */
static dw_avro_wentry *single_object_writer(dw_avro *av, const unsigned char *p, size_t len, char *err, size_t n) {
  if (len < 2 || p[0] != 0xC3 || p[1] != 0x01) {
    err_set(err, n, "not Avro single-object encoding (bad magic)");
    return NULL;
  }
  if (len < 10) {
    err_set(err, n, "truncated single-object header (%zu bytes)", len);
    return NULL;
  }
  uint64_t fp = 0;
  for (int i = 0; i < 8; i++) fp |= (uint64_t)p[2 + i] << (8 * i);
  /* the last writer found first: messages of one writer come in runs */
  if (av->last && av->last->fp == fp) return av->last;
  for (size_t i = 0; i < av->nwriters; i++)
    if (av->writers[i]->fp == fp) return av->last = av->writers[i];
  err_set(err, n, "unknown writer schema fingerprint %016" PRIx64, fp);
  return NULL;
}

int dw_avro_decode_event(dw_avro *av, const void *buf, size_t len, dw_event *ev, char *err, size_t n) {
  const unsigned char *p = buf;
  dw_event_init(ev);
  dw_avro_wentry *e = single_object_writer(av, p, len, err, n);
  if (!e) return -1;
  if (e->plan && !av->generic_only) return plan_decode(e, p + 10, len - 10, ev, err, n);
  return generic_decode(av, e, p, len, ev, err, n);
}

int dw_avro_peek_event(dw_avro *av, const void *buf, size_t len, int64_t *at, const char **id, size_t *idl,
                       const char **dossier, size_t *dl, char *err, size_t n) {
  const unsigned char *p = buf;
  dw_avro_wentry *e = single_object_writer(av, p, len, err, n);
  if (!e) return -1;
  if (e->plan && !av->generic_only) {
    pval vals[F__COUNT];
    memset(vals, 0, sizeof vals);
    walk w = {.p = p + 10, .len = len - 10, .err = err, .n = n};
    if (plan_scan(e->plan, &w, vals) < 0) return -1;
    if (w.pos != w.len) return err_set(err, n, "body: %zu trailing bytes after the record", w.len - w.pos);
    const pval *t = &vals[F_OCCURRED_AT], *i = &vals[F_EVENT_ID], *d = &vals[F_DOSSIER_ID];
    if (t->state != 2 || i->state != 2 || d->state != 2) {
      /* the full decode names the field */
      dw_event ev;
      if (dw_avro_decode_event(av, buf, len, &ev, err, n) == 0) err_set(err, n, "order fields missing");
      return -1;
    }
    *at = t->i;
    *id = (const char *)i->s, *idl = i->len;
    *dossier = (const char *)d->s, *dl = d->len;
    return 0;
  }
  if (!av->peek && !(av->peek = malloc(sizeof *av->peek))) return err_set(err, n, "out of memory");
  if (dw_avro_decode_event(av, buf, len, av->peek, err, n)) return -1;
  *at = av->peek->occurred_at;
  *id = av->peek->event_id, *idl = strlen(av->peek->event_id);
  *dossier = av->peek->dossier_id, *dl = strlen(av->peek->dossier_id);
  return 0;
}

int dw_avro__decode_event_generic(dw_avro *av, const void *buf, size_t len, dw_event *ev, char *err, size_t n) {
  const unsigned char *p = buf;
  dw_event_init(ev);
  dw_avro_wentry *e = single_object_writer(av, p, len, err, n);
  if (!e) return -1;
  return generic_decode(av, e, p, len, ev, err, n);
}

void dw_avro__set_generic_only(dw_avro *av, int on) { av->generic_only = on != 0; }
int dw_avro__writer_has_plan(dw_avro *av, uint64_t fp) {
  for (size_t i = 0; i < av->nwriters; i++)
    if (av->writers[i]->fp == fp) return av->writers[i]->plan != NULL;
  return -1;
}

/* avro-c's way: the bounded walk, then avro-c reads the writer's generic
 * value and its resolved reader maps it to the reader schema. */
static int generic_decode(dw_avro *av, dw_avro_wentry *e, const unsigned char *p, size_t len, dw_event *ev, char *err,
                          size_t n) {
  walk w = {.p = p + 10, .len = len - 10, .err = err, .n = n};
  if (walk_value(&w, e->ws, 0) < 0) return -1;
  if (w.pos != w.len) return err_set(err, n, "body: %zu trailing bytes after the record", w.len - w.pos);
  avro_reader_memory_set_source(av->mr, (const char *)p + 10, (int64_t)(len - 10));
  avro_value_reset(&e->wvalue);
  if (avro_value_read(av->mr, &e->wvalue)) return err_set(err, n, "body: %s", avro_strerror());
  int rc = dw_avro__wentry_to_event(e, ev, err, n);
  if (rc < 0) dw_event_init(ev);
  return rc;
}
