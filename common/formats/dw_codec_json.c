/* dw_codec_json: dossier events to and from one JSON Lines object (CONTRACT
 * §2). Reading is strict about the fields an event type needs (type, range,
 * length, RFC 3339 times) and lenient about fields it does not know, so that
 * newer producers can add fields without breaking older readers. Every error
 * is "field 'X': reason"; the caller adds the line number. */
#include "dw_codec.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "dw_json.h"
#include "dw_time.h"

static int ferr(char *errstr, size_t n, const char *field, const char *reason) {
  snprintf(errstr, n, "field '%s': %s", field, reason);
  return -1;
}

const char *dw_json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

static int wrong_type(char *errstr, size_t n, const char *field, const char *want, const json_t *v) {
  snprintf(errstr, n, "field '%s': expected %s, got %s", field, want, dw_json_kind(v));
  return -1;
}

/* Present = neither absent nor null. */
static json_t *opt(json_t *o, const char *field) {
  json_t *v = json_object_get(o, field);
  return (v && !json_is_null(v)) ? v : NULL;
}

/* Copies a string field into a bounded buffer; rejects instead of truncating.
 * required: absent/null/empty is an error. */
static int get_string(json_t *o, const char *field, char *dst, size_t cap, int required, char *errstr, size_t n) {
  json_t *v = opt(o, field);
  if (!v) return required ? ferr(errstr, n, field, "required") : 0;
  if (!json_is_string(v)) return wrong_type(errstr, n, field, "a string", v);
  size_t len = json_string_length(v);
  const char *s = json_string_value(v);
  if (memchr(s, '\0', len)) return ferr(errstr, n, field, "contains a NUL character");
  if (len >= cap) {
    snprintf(errstr, n, "field '%s': too long (%zu bytes, at most %zu)", field, len, cap - 1);
    return -1;
  }
  if (required && len == 0) return ferr(errstr, n, field, "required (empty string)");
  memcpy(dst, s, len + 1);
  return 0;
}

static int get_time(json_t *o, const char *field, int64_t *dst, int required, char *errstr, size_t n) {
  json_t *v = opt(o, field);
  if (!v) return required ? ferr(errstr, n, field, "required") : 0;
  if (!json_is_string(v)) return wrong_type(errstr, n, field, "an RFC 3339 timestamp string", v);
  char why[128];
  if (dw_time_parse_rfc3339(json_string_value(v), dst, why, sizeof why) < 0) {
    snprintf(errstr, n, "field '%s': bad RFC 3339 timestamp: %s", field, why);
    return -1;
  }
  return 0;
}

static int get_bool(json_t *o, const char *field, bool *dst, int required, char *errstr, size_t n) {
  json_t *v = opt(o, field);
  if (!v) return required ? ferr(errstr, n, field, "required (boolean)") : 0;
  if (!json_is_boolean(v)) return wrong_type(errstr, n, field, "a boolean", v);
  *dst = json_is_true(v);
  return 0;
}

static int get_int(json_t *o, const char *field, int32_t *dst, int required, long long lo, long long hi,
                   char *errstr, size_t n) {
  json_t *v = opt(o, field);
  if (!v) return required ? ferr(errstr, n, field, "required") : 0;
  if (!json_is_integer(v)) return wrong_type(errstr, n, field, "an integer", v);
  long long x = (long long)json_integer_value(v);
  if (x < lo || x > hi) {
    snprintf(errstr, n, "field '%s': %lld is outside %lld..%lld", field, x, lo, hi);
    return -1;
  }
  *dst = (int32_t)x;
  return 0;
}

static int from_object(json_t *o, dw_event *ev, char *errstr, size_t n) {
  json_t *t = opt(o, "type");
  if (!t) return ferr(errstr, n, "type", "required");
  if (!json_is_string(t)) return wrong_type(errstr, n, "type", "a string", t);
  if (dw_event_type_parse(json_string_value(t), &ev->type) < 0) {
    snprintf(errstr, n, "field 'type': unknown event type '%.64s'", json_string_value(t));
    return -1;
  }
  if (get_string(o, "event_id", ev->event_id, sizeof ev->event_id, 1, errstr, n) < 0 ||
      get_string(o, "dossier_id", ev->dossier_id, sizeof ev->dossier_id, 1, errstr, n) < 0 ||
      get_time(o, "occurred_at", &ev->occurred_at, 1, errstr, n) < 0 ||
      get_string(o, "commune", ev->commune, sizeof ev->commune, 1, errstr, n) < 0 ||
      get_string(o, "agency", ev->agency, sizeof ev->agency, 1, errstr, n) < 0 ||
      get_string(o, "procedure", ev->procedure, sizeof ev->procedure, 1, errstr, n) < 0)
    return -1;

  /* Only the fields meaningful for the type are read; others are ignored
   * like any unknown field. */
  switch (ev->type) {
  case DW_EV_RECEIVED: {
    json_t *c = opt(o, "channel");
    if (!c) return ferr(errstr, n, "channel", "required");
    if (!json_is_string(c)) return wrong_type(errstr, n, "channel", "a string", c);
    if (dw_channel_parse(json_string_value(c), &ev->channel) < 0) {
      snprintf(errstr, n, "field 'channel': unknown channel '%.64s'", json_string_value(c));
      return -1;
    }
    if (get_time(o, "due_at", &ev->due_at, 0, errstr, n) < 0) return -1;
    if (get_int(o, "processing_days", &ev->processing_days, 0, 0, INT32_MAX, errstr, n) < 0) return -1;
    break;
  }
  case DW_EV_DOC_REUSED:
    if (get_string(o, "document", ev->document, sizeof ev->document, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_PAPER_REQUESTED:
    if (get_string(o, "document", ev->document, sizeof ev->document, 1, errstr, n) < 0 ||
        get_bool(o, "in_warehouse", &ev->in_warehouse, 1, errstr, n) < 0)
      return -1;
    break;
  case DW_EV_TRANSFERRED:
    if (get_string(o, "to_agency", ev->to_agency, sizeof ev->to_agency, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_SUPPLEMENT_REQUESTED:
  case DW_EV_REJECTED:
    if (get_string(o, "reason", ev->reason, sizeof ev->reason, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_SUPPLEMENT_RECEIVED:
    if (get_time(o, "due_at", &ev->due_at, 0, errstr, n) < 0) return -1;
    break;
  case DW_EV_APOLOGY_ISSUED:
    if (get_time(o, "new_due_at", &ev->new_due_at, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_RESULT_ISSUED:
    if (get_bool(o, "digitized", &ev->digitized, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_PAYMENT:
    if (get_bool(o, "online", &ev->online, 1, errstr, n) < 0) return -1;
    break;
  case DW_EV_RATED:
    if (get_int(o, "score", &ev->score, 1, 1, 5, errstr, n) < 0) return -1;
    break;
  default:
    break;
  }
  return dw_event_validate(ev, errstr, n);
}

int dw_event_from_json(const char *text, size_t len, dw_event *ev, char *errstr, size_t errstr_size) {
  dw_event_init(ev);
  if (errstr && errstr_size) errstr[0] = '\0';
  char dummy[2];
  if (!errstr || !errstr_size) {
    errstr = dummy;
    errstr_size = sizeof dummy;
  }
  json_error_t jerr;
  /* JSON_REJECT_DUPLICATES: {"score":5,"score":1} is ambiguous, not data. */
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root) {
    snprintf(errstr, errstr_size, "invalid JSON at column %d: %s", jerr.column, jerr.text);
    return -1;
  }
  int rc;
  if (!json_is_object(root)) {
    snprintf(errstr, errstr_size, "expected a JSON object, got %s", dw_json_kind(root));
    rc = -1;
  } else {
    rc = from_object(root, ev, errstr, errstr_size);
  }
  json_decref(root);
  if (rc < 0) {
    /* never hand back a half-filled event */
    dw_event_init(ev);
  }
  return rc;
}

static int set_new(json_t *o, const char *k, json_t *v) { return v ? json_object_set_new(o, k, v) : -1; }

static int set_time(json_t *o, const char *k, int64_t ms, int off) {
  char buf[40];
  dw_time_format(ms, off, buf, sizeof buf);
  return set_new(o, k, json_string(buf));
}

char *dw_event_to_json(const dw_event *ev, int utc_offset_min) {
  json_t *o = json_object();
  if (!o) return NULL;
  int bad = 0;
  /* json_string() fails (NULL) on invalid UTF-8: reported as a NULL line */
  bad |= set_new(o, "event_id", json_string(ev->event_id));
  bad |= set_new(o, "dossier_id", json_string(ev->dossier_id));
  bad |= set_new(o, "type", json_string(dw_event_type_name(ev->type)));
  bad |= set_time(o, "occurred_at", ev->occurred_at, utc_offset_min);
  bad |= set_new(o, "commune", json_string(ev->commune));
  bad |= set_new(o, "agency", json_string(ev->agency));
  bad |= set_new(o, "procedure", json_string(ev->procedure));
  switch (ev->type) {
  case DW_EV_RECEIVED:
    bad |= set_new(o, "channel", json_string(dw_channel_name(ev->channel)));
    if (ev->due_at != DW_TIME_NONE) bad |= set_time(o, "due_at", ev->due_at, utc_offset_min);
    if (ev->processing_days >= 0) bad |= set_new(o, "processing_days", json_integer(ev->processing_days));
    break;
  case DW_EV_DOC_REUSED:
    bad |= set_new(o, "document", json_string(ev->document));
    break;
  case DW_EV_PAPER_REQUESTED:
    bad |= set_new(o, "document", json_string(ev->document));
    bad |= set_new(o, "in_warehouse", json_boolean(ev->in_warehouse));
    break;
  case DW_EV_TRANSFERRED:
    bad |= set_new(o, "to_agency", json_string(ev->to_agency));
    break;
  case DW_EV_SUPPLEMENT_REQUESTED:
  case DW_EV_REJECTED:
    bad |= set_new(o, "reason", json_string(ev->reason));
    break;
  case DW_EV_SUPPLEMENT_RECEIVED:
    if (ev->due_at != DW_TIME_NONE) bad |= set_time(o, "due_at", ev->due_at, utc_offset_min);
    break;
  case DW_EV_APOLOGY_ISSUED:
    bad |= set_time(o, "new_due_at", ev->new_due_at, utc_offset_min);
    break;
  case DW_EV_RESULT_ISSUED:
    bad |= set_new(o, "digitized", json_boolean(ev->digitized));
    break;
  case DW_EV_PAYMENT:
    bad |= set_new(o, "online", json_boolean(ev->online));
    break;
  case DW_EV_RATED:
    bad |= set_new(o, "score", json_integer(ev->score));
    break;
  default:
    break;
  }
  char *line = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return line;
}
