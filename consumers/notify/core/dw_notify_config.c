/* dw_notify_config: the YAML routes file of notify (libyaml's document API)
 * into a dw_notify_config, validated whole: every error names FILE:LINE,
 * the key's path and the reason, and unknown keys are errors. */
#include "dw_notify_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "dw_time.h"

#define DEFAULT_GROUP_WAIT (30 * 1000LL)
#define DEFAULT_GROUP_INTERVAL (5 * 60 * 1000LL)
#define DEFAULT_REPEAT_INTERVAL (4 * 3600 * 1000LL)

typedef struct P {
  const char *file;
  yaml_document_t *doc;
  char *err;
  size_t n;
  bool failed;
  dw_notify_config *cfg;
  /* global email defaults */
  const char *smtp_from, *smtp_smarthost, *smtp_hello, *smtp_user, *smtp_pass, *smtp_ident;
  int smtp_require_tls; /* -1 unset */
} P;

static yaml_node_t *N(P *p, int i) { return yaml_document_get_node(p->doc, i); }
static int line_of(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }

__attribute__((format(printf, 4, 5))) static int perr(P *p, const yaml_node_t *node, const char *path,
                                                      const char *fmt, ...) {
  if (p->failed) return -1;
  p->failed = true;
  int off = snprintf(p->err, p->n, "%s:%d: %s: ", p->file, line_of(node), path[0] ? path : "(top)");
  if (off < 0 || (size_t)off >= p->n) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err + off, p->n - (size_t)off, fmt, ap);
  va_end(ap);
  return -1;
}

static void sub(char *out, size_t n, const char *path, const char *key) {
  snprintf(out, n, "%s%s%s", path, path[0] ? "." : "", key);
}
static void idx(char *out, size_t n, const char *path, size_t i) { snprintf(out, n, "%s[%zu]", path, i); }

static char *dup(P *p, const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) p->failed = true, snprintf(p->err, p->n, "out of memory");
  return d;
}

/* ---- node helpers ---- */

static const char *scalar(P *p, yaml_node_t *v, const char *path) {
  if (!v || v->type != YAML_SCALAR_NODE) {
    perr(p, v, path, "expected a value, got a %s", v && v->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
    return NULL;
  }
  return (const char *)v->data.scalar.value;
}

static int want_map(P *p, yaml_node_t *v, const char *path) {
  if (!v || v->type != YAML_MAPPING_NODE) return perr(p, v, path, "expected a mapping (key: value lines)");
  return 0;
}
static int want_seq(P *p, yaml_node_t *v, const char *path) {
  if (!v || v->type != YAML_SEQUENCE_NODE) return perr(p, v, path, "expected a list");
  return 0;
}

/* Every key of the mapping is one of known[] and appears once. */
static int check_keys(P *p, yaml_node_t *map, const char *path, const char *const *known) {
  for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
    yaml_node_t *k = N(p, a->key);
    char kp[512];
    if (!k || k->type != YAML_SCALAR_NODE) return perr(p, k, path, "a key must be a plain name");
    const char *ks = (const char *)k->data.scalar.value;
    sub(kp, sizeof kp, path, ks);
    bool ok = false;
    for (const char *const *q = known; *q && !ok; q++) ok = strcmp(*q, ks) == 0;
    if (!ok) return perr(p, k, kp, "unknown key");
    for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
      yaml_node_t *k2 = N(p, b->key);
      if (k2 && k2->type == YAML_SCALAR_NODE && strcmp((const char *)k2->data.scalar.value, ks) == 0)
        return perr(p, k, kp, "given twice (first at line %d)", line_of(k2));
    }
  }
  return 0;
}

static yaml_node_t *get(P *p, yaml_node_t *map, const char *key) {
  for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
    yaml_node_t *k = N(p, a->key);
    if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0) return N(p, a->value);
  }
  return NULL;
}

static int get_str(P *p, yaml_node_t *map, const char *path, const char *key, char **out) {
  yaml_node_t *v = get(p, map, key);
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  const char *s = scalar(p, v, kp);
  if (!s) return -1;
  free(*out);
  *out = dup(p, s);
  return *out ? 0 : -1;
}

static int get_bool(P *p, yaml_node_t *map, const char *path, const char *key, bool *out) {
  yaml_node_t *v = get(p, map, key);
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  const char *s = scalar(p, v, kp);
  if (!s) return -1;
  if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0)
    *out = true;
  else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0)
    *out = false;
  else
    return perr(p, v, kp, "expected true or false, got '%s'", s);
  return 0;
}

static int get_int(P *p, yaml_node_t *map, const char *path, const char *key, int lo, int hi, int *out) {
  yaml_node_t *v = get(p, map, key);
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  const char *s = scalar(p, v, kp);
  if (!s) return -1;
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (errno || end == s || *end || x < lo || x > hi) return perr(p, v, kp, "expected an integer %d..%d, got '%s'", lo, hi, s);
  *out = (int)x;
  return 0;
}

static int get_duration(P *p, yaml_node_t *map, const char *path, const char *key, int64_t *out) {
  yaml_node_t *v = get(p, map, key);
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  const char *s = scalar(p, v, kp);
  if (!s) return -1;
  if (dw_notify_duration_parse(s, out))
    return perr(p, v, kp, "bad duration '%s' (e.g. 30s, 5m, 4h, 1d, 1h30m)", s);
  return 0;
}

/* A list of scalars (a single scalar is a list of one). */
static int get_strs(P *p, yaml_node_t *map, const char *path, const char *key, yaml_node_t **items, size_t max,
                    size_t *n, yaml_node_t **node) {
  *n = 0;
  yaml_node_t *v = get(p, map, key);
  if (node) *node = v;
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  if (want_seq(p, v, kp)) return -1;
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    yaml_node_t *e = N(p, *it);
    char ip[512];
    idx(ip, sizeof ip, kp, *n);
    if (!scalar(p, e, ip)) return -1;
    if (*n >= max) return perr(p, e, ip, "too many entries (at most %zu)", max);
    items[(*n)++] = e;
  }
  return 0;
}

static int get_matchers(P *p, yaml_node_t *map, const char *path, const char *key, dw_notify_matcher **out,
                        size_t *nout) {
  yaml_node_t *items[64];
  size_t n;
  if (get_strs(p, map, path, key, items, 64, &n, NULL)) return -1;
  if (n == 0) return 0;
  dw_notify_matcher *m = realloc(*out, (*nout + n) * sizeof *m);
  if (!m) return perr(p, map, path, "out of memory");
  *out = m;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  for (size_t i = 0; i < n; i++) {
    char why[256], ip[512];
    idx(ip, sizeof ip, kp, i);
    if (dw_notify_matcher_parse((const char *)items[i]->data.scalar.value, &m[*nout], why, sizeof why))
      return perr(p, items[i], ip, "%s", why);
    (*nout)++;
  }
  return 0;
}

/* match: {label: value} and match_re: {label: regex} (Alertmanager's older
 * form): the same matchers. */
static int get_match_map(P *p, yaml_node_t *map, const char *path, const char *key, bool re, dw_notify_matcher **out,
                         size_t *nout) {
  yaml_node_t *v = get(p, map, key);
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  if (want_map(p, v, kp)) return -1;
  for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
    yaml_node_t *k = N(p, a->key), *val = N(p, a->value);
    const char *ks = scalar(p, k, kp), *vs = ks ? scalar(p, val, kp) : NULL;
    if (!vs) return -1;
    dw_buf text = DW_BUF_INIT;
    dw_buf_printf(&text, "%s%s\"", ks, re ? "=~" : "=");
    for (const char *c = vs; *c; c++) {
      if (*c == '"' || *c == '\\') dw_buf_putc(&text, '\\');
      dw_buf_putc(&text, *c);
    }
    dw_buf_putc(&text, '"');
    dw_notify_matcher *m = realloc(*out, (*nout + 1) * sizeof *m);
    if (!m || text.oom) {
      dw_buf_free(&text);
      return perr(p, v, kp, "out of memory");
    }
    *out = m;
    char why[256], ip[600];
    snprintf(ip, sizeof ip, "%s.%s", kp, ks);
    int rc = dw_notify_matcher_parse(text.data, &m[*nout], why, sizeof why);
    dw_buf_free(&text);
    if (rc) return perr(p, k, ip, "%s", why);
    (*nout)++;
  }
  return 0;
}

static int get_labels(P *p, yaml_node_t *map, const char *path, const char *key, unsigned *bits, bool *all,
                      bool *given) {
  yaml_node_t *items[16], *node;
  size_t n;
  if (get_strs(p, map, path, key, items, 16, &n, &node)) return -1;
  if (!node) return 0;
  if (given) *given = true;
  *bits = 0;
  if (all) *all = false;
  char kp[512];
  sub(kp, sizeof kp, path, key);
  for (size_t i = 0; i < n; i++) {
    const char *s = (const char *)items[i]->data.scalar.value;
    dw_notify_label l;
    char ip[512];
    idx(ip, sizeof ip, kp, i);
    if (all && strcmp(s, "...") == 0)
      *all = true;
    else if (dw_notify_label_parse(s, &l))
      return perr(p, items[i], ip, "unknown label '%s' (rule, severity, dossier_id, commune, agency, procedure%s)", s,
                  all ? ", or '...' for all" : "");
    else
      *bits |= 1u << l;
  }
  return 0;
}

static int receiver_index(P *p, yaml_node_t *map, const char *path, const char *key, int *out, bool required) {
  yaml_node_t *v = get(p, map, key);
  char kp[512];
  sub(kp, sizeof kp, path, key);
  if (!v) return required ? perr(p, map, kp, "required") : 0;
  const char *s = scalar(p, v, kp);
  if (!s) return -1;
  for (size_t i = 0; i < p->cfg->nreceivers; i++)
    if (strcmp(p->cfg->receivers[i].name, s) == 0) {
      *out = (int)i;
      return 0;
    }
  return perr(p, v, kp, "no receiver named '%s'", s);
}

static int interval_indexes(P *p, yaml_node_t *map, const char *path, const char *key, int **out, size_t *nout) {
  yaml_node_t *items[32];
  size_t n;
  if (get_strs(p, map, path, key, items, 32, &n, NULL)) return -1;
  if (!n) return 0;
  if (!(*out = calloc(n, sizeof **out))) return perr(p, map, path, "out of memory");
  char kp[512];
  sub(kp, sizeof kp, path, key);
  for (size_t i = 0; i < n; i++) {
    const char *s = (const char *)items[i]->data.scalar.value;
    int found = -1;
    for (size_t j = 0; j < p->cfg->nintervals && found < 0; j++)
      if (strcmp(p->cfg->intervals[j].name, s) == 0) found = (int)j;
    char ip[512];
    idx(ip, sizeof ip, kp, i);
    if (found < 0) return perr(p, items[i], ip, "no time interval named '%s'", s);
    (*out)[(*nout)++] = found;
  }
  return 0;
}

/* ---- time intervals ---- */

/* The items of a sequence of maps (receivers, escalations, ...): its
 * length, and item i checked to be a map with only the given keys (ip gets
 * its path, "receivers[2]"). NULL after an error (reported). */
static size_t seq_len(const yaml_node_t *list) {
  return (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
}

static yaml_node_t *seq_map(P *p, yaml_node_t *list, size_t i, const char *path, const char *const *keys, char *ip,
                            size_t ipn) {
  yaml_node_t *v = N(p, list->data.sequence.items.start[i]);
  idx(ip, ipn, path, i);
  return want_map(p, v, ip) || check_keys(p, v, ip, keys) ? NULL : v;
}

static int parse_hhmm(const char *s, int *min) {
  if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
      !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
    return -1;
  int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
  if (m > 59 || h > 24 || (h == 24 && m)) return -1;
  *min = h * 60 + m;
  return 0;
}

static int name_or_number(const char *s, const char *const *names, int base, int *out) {
  for (int i = 0; names && names[i]; i++)
    if (strcasecmp(s, names[i]) == 0) {
      *out = i + base;
      return 0;
    }
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end) return -1;
  *out = (int)v;
  return 0;
}

/* "monday:friday", "1:5", "-1", "2025:2026" */
static int get_ranges(P *p, yaml_node_t *map, const char *path, const char *key, const char *const *names, int base,
                      int lo, int hi, dw_notify_range **out, size_t *nout) {
  yaml_node_t *items[64];
  size_t n;
  if (get_strs(p, map, path, key, items, 64, &n, NULL)) return -1;
  if (!n) return 0;
  if (!(*out = calloc(n, sizeof **out))) return perr(p, map, path, "out of memory");
  char kp[512];
  sub(kp, sizeof kp, path, key);
  for (size_t i = 0; i < n; i++) {
    char buf[64], ip[512];
    idx(ip, sizeof ip, kp, i);
    snprintf(buf, sizeof buf, "%s", (const char *)items[i]->data.scalar.value);
    char *colon = strchr(buf, ':');
    if (colon) *colon = 0;
    int a, b;
    if (name_or_number(buf, names, base, &a) || (colon ? name_or_number(colon + 1, names, base, &b) : (b = a, 0)) ||
        a < lo || a > hi || b < lo || b > hi || (a >= 0 && b >= 0 && a > b) || (a < 0 && b < 0 && a > b) ||
        (lo < 0 && (a == 0 || b == 0)))
      return perr(p, items[i], ip, "bad range '%s'", (const char *)items[i]->data.scalar.value);
    (*out)[(*nout)++] = (dw_notify_range){a, b};
  }
  return 0;
}

static int parse_timespec(P *p, yaml_node_t *v, const char *path, dw_notify_timespec *s) {
  static const char *const keys[] = {"times", "weekdays", "days_of_month", "months", "years", "location", NULL};
  static const char *const wdays[] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                      NULL};
  static const char *const months[] = {"january", "february", "march", "april", "may", "june", "july", "august",
                                       "september", "october", "november", "december", NULL};
  s->utc_offset_min = DW_DEFAULT_UTC_OFFSET_MIN;
  if (want_map(p, v, path) || check_keys(p, v, path, keys)) return -1;
  yaml_node_t *times = get(p, v, "times");
  if (times) {
    char kp[512];
    sub(kp, sizeof kp, path, "times");
    if (want_seq(p, times, kp)) return -1;
    size_t n = seq_len(times);
    if (!(s->times = calloc(n ? n : 1, sizeof *s->times))) return perr(p, v, kp, "out of memory");
    for (size_t i = 0; i < n; i++) {
      yaml_node_t *t = N(p, times->data.sequence.items.start[i]);
      char ip[512];
      idx(ip, sizeof ip, kp, i);
      static const char *const tkeys[] = {"start_time", "end_time", NULL};
      if (want_map(p, t, ip) || check_keys(p, t, ip, tkeys)) return -1;
      char *st = NULL, *et = NULL;
      int a = -1, b = -1;
      if (get_str(p, t, ip, "start_time", &st) || get_str(p, t, ip, "end_time", &et)) {
        free(st);
        free(et);
        return -1;
      }
      bool bad = !st || !et || parse_hhmm(st, &a) || parse_hhmm(et, &b) || a >= b;
      free(st);
      free(et);
      if (bad) return perr(p, t, ip, "start_time and end_time are HH:MM with start before end");
      s->times[s->ntimes++] = (dw_notify_range){a, b};
    }
  }
  if (get_ranges(p, v, path, "weekdays", wdays, 0, 0, 6, &s->weekdays, &s->nweekdays) ||
      get_ranges(p, v, path, "days_of_month", NULL, 0, -31, 31, &s->days_of_month, &s->ndays_of_month) ||
      get_ranges(p, v, path, "months", months, 1, 1, 12, &s->months, &s->nmonths) ||
      get_ranges(p, v, path, "years", NULL, 0, 1970, 9999, &s->years, &s->nyears))
    return -1;
  yaml_node_t *loc = get(p, v, "location");
  if (loc) {
    char kp[512];
    sub(kp, sizeof kp, path, "location");
    const char *l = scalar(p, loc, kp);
    if (!l) return -1;
    if (strcmp(l, "UTC") == 0)
      s->utc_offset_min = 0;
    else if (strcmp(l, "Local") != 0 && strcmp(l, "Asia/Ho_Chi_Minh") != 0 && strcmp(l, "Asia/Saigon") != 0)
      return perr(p, loc, kp, "'%s': only UTC, Local and Asia/Ho_Chi_Minh are known (fixed offsets)", l);
  }
  return 0;
}

static int parse_intervals(P *p, yaml_node_t *list, const char *path) {
  if (!list) return 0;
  if (want_seq(p, list, path)) return -1;
  size_t n = seq_len(list);
  dw_notify_interval *iv = realloc(p->cfg->intervals, (p->cfg->nintervals + n) * sizeof *iv);
  if (!iv && n) return perr(p, list, path, "out of memory");
  p->cfg->intervals = iv;
  for (size_t i = 0; i < n; i++) {
    char ip[512];
    static const char *const keys[] = {"name", "time_intervals", NULL};
    yaml_node_t *v = seq_map(p, list, i, path, keys, ip, sizeof ip);
    if (!v) return -1;
    dw_notify_interval *x = &p->cfg->intervals[p->cfg->nintervals++];
    memset(x, 0, sizeof *x);
    if (get_str(p, v, ip, "name", &x->name)) return -1;
    if (!x->name || !x->name[0]) return perr(p, v, ip, "name is required");
    for (size_t j = 0; j + 1 < p->cfg->nintervals; j++)
      if (strcmp(p->cfg->intervals[j].name, x->name) == 0) return perr(p, v, ip, "a second interval '%s'", x->name);
    yaml_node_t *specs = get(p, v, "time_intervals");
    char sp[512];
    sub(sp, sizeof sp, ip, "time_intervals");
    if (!specs) return perr(p, v, sp, "required");
    if (want_seq(p, specs, sp)) return -1;
    size_t ns = seq_len(specs);
    if (!(x->specs = calloc(ns ? ns : 1, sizeof *x->specs))) return perr(p, v, sp, "out of memory");
    for (size_t j = 0; j < ns; j++) {
      char jp[512];
      idx(jp, sizeof jp, sp, j);
      x->nspecs++;
      if (parse_timespec(p, N(p, specs->data.sequence.items.start[j]), jp, &x->specs[j])) return -1;
    }
  }
  return 0;
}

/* ---- receivers ---- */

static int parse_tls(P *p, yaml_node_t *map, const char *path, dw_notify_tls *t) {
  yaml_node_t *v = get(p, map, "tls_config");
  if (!v) return 0;
  char kp[512];
  sub(kp, sizeof kp, path, "tls_config");
  /* server_name is not offered: libcurl checks the certificate against the
   * host of the URL or smarthost (an unknown key is an error, not ignored) */
  static const char *const keys[] = {"ca_file", "cert_file", "key_file", "insecure_skip_verify", NULL};
  if (want_map(p, v, kp) || check_keys(p, v, kp, keys)) return -1;
  return get_str(p, v, kp, "ca_file", &t->ca_file) || get_str(p, v, kp, "cert_file", &t->cert_file) ||
                 get_str(p, v, kp, "key_file", &t->key_file) ||
                 get_bool(p, v, kp, "insecure_skip_verify", &t->insecure_skip_verify)
             ? -1
             : 0;
}

static int parse_email(P *p, yaml_node_t *v, const char *path, dw_notify_integration *e) {
  static const char *const keys[] = {"to", "from", "smarthost", "hello", "auth_username", "auth_password",
                                     "auth_identity", "require_tls", "tls_config", "send_resolved", "timeout", NULL};
  e->kind = DW_NK_EMAIL;
  e->send_resolved = false;
  e->require_tls = p->smtp_require_tls != 0; /* Alertmanager's default: true */
  e->timeout_ms = 30000;
  if (want_map(p, v, path) || check_keys(p, v, path, keys)) return -1;
  char *to = NULL;
  if (get_str(p, v, path, "to", &to)) return -1;
  char kp[512];
  sub(kp, sizeof kp, path, "to");
  if (!to || !to[0]) {
    free(to);
    return perr(p, v, kp, "required");
  }
  /* comma-separated addresses */
  size_t cnt = 1;
  for (char *c = to; *c; c++) cnt += *c == ',';
  e->to = calloc(cnt, sizeof *e->to);
  if (!e->to) {
    free(to);
    return perr(p, v, kp, "out of memory");
  }
  for (char *save = NULL, *tok = strtok_r(to, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*tok)) tok++;
    size_t l = strlen(tok);
    while (l && isspace((unsigned char)tok[l - 1])) tok[--l] = 0;
    if (!l) continue;
    if (!strchr(tok, '@') || strpbrk(tok, "<>\r\n ")) {
      yaml_node_t *tv = get(p, v, "to");
      int rc = perr(p, tv, kp, "'%s' is not an address (user@domain)", tok);
      free(to);
      return rc;
    }
    e->to[e->nto++] = dup(p, tok);
  }
  free(to);
  if (!e->nto) return perr(p, v, kp, "no address");
  e->from = p->smtp_from ? dup(p, p->smtp_from) : NULL;
  e->smarthost = p->smtp_smarthost ? dup(p, p->smtp_smarthost) : NULL;
  e->hello = p->smtp_hello ? dup(p, p->smtp_hello) : NULL;
  e->auth_username = p->smtp_user ? dup(p, p->smtp_user) : NULL;
  e->auth_password = p->smtp_pass ? dup(p, p->smtp_pass) : NULL;
  e->auth_identity = p->smtp_ident ? dup(p, p->smtp_ident) : NULL;
  if (get_str(p, v, path, "from", &e->from) || get_str(p, v, path, "smarthost", &e->smarthost) ||
      get_str(p, v, path, "hello", &e->hello) || get_str(p, v, path, "auth_username", &e->auth_username) ||
      get_str(p, v, path, "auth_password", &e->auth_password) ||
      get_str(p, v, path, "auth_identity", &e->auth_identity) || get_bool(p, v, path, "require_tls", &e->require_tls) ||
      get_bool(p, v, path, "send_resolved", &e->send_resolved) || get_duration(p, v, path, "timeout", &e->timeout_ms) ||
      parse_tls(p, v, path, &e->tls))
    return -1;
  if (!e->from || !e->from[0]) return perr(p, v, path, "from is required (here or global.smtp_from)");
  if (!e->smarthost || !e->smarthost[0] || !strchr(e->smarthost, ':'))
    return perr(p, v, path, "smarthost host:port is required (here or global.smtp_smarthost)");
  return 0;
}

static int parse_webhook(P *p, yaml_node_t *v, const char *path, dw_notify_integration *w) {
  static const char *const keys[] = {"url", "send_resolved", "max_alerts", "http_config", "timeout", NULL};
  w->kind = DW_NK_WEBHOOK;
  w->send_resolved = true;
  w->timeout_ms = 10000;
  if (want_map(p, v, path) || check_keys(p, v, path, keys)) return -1;
  if (get_str(p, v, path, "url", &w->url) || get_bool(p, v, path, "send_resolved", &w->send_resolved) ||
      get_int(p, v, path, "max_alerts", 0, 1000000, &w->max_alerts) || get_duration(p, v, path, "timeout", &w->timeout_ms))
    return -1;
  char kp[512];
  sub(kp, sizeof kp, path, "url");
  if (!w->url || (strncmp(w->url, "http://", 7) && strncmp(w->url, "https://", 8)))
    return perr(p, get(p, v, "url") ? get(p, v, "url") : v, kp, "an http:// or https:// URL is required");
  yaml_node_t *h = get(p, v, "http_config");
  if (h) {
    char hp[512];
    sub(hp, sizeof hp, path, "http_config");
    static const char *const hkeys[] = {"bearer_token", "authorization", "tls_config", NULL};
    if (want_map(p, h, hp) || check_keys(p, h, hp, hkeys) || get_str(p, h, hp, "bearer_token", &w->bearer_token) ||
        parse_tls(p, h, hp, &w->tls))
      return -1;
    yaml_node_t *a = get(p, h, "authorization");
    if (a) {
      char ap[512];
      sub(ap, sizeof ap, hp, "authorization");
      static const char *const akeys[] = {"type", "credentials", NULL};
      char *type = NULL;
      if (want_map(p, a, ap) || check_keys(p, a, ap, akeys) || get_str(p, a, ap, "type", &type)) return -1;
      bool bearer = !type || strcmp(type, "Bearer") == 0;
      free(type);
      if (!bearer) return perr(p, a, ap, "only type Bearer is supported");
      if (get_str(p, a, ap, "credentials", &w->bearer_token)) return -1;
    }
  }
  return 0;
}

static int parse_receivers(P *p, yaml_node_t *list) {
  const char *path = "receivers";
  if (!list) return perr(p, NULL, path, "required (at least one receiver)");
  if (want_seq(p, list, path)) return -1;
  size_t n = seq_len(list);
  if (!(p->cfg->receivers = calloc(n ? n : 1, sizeof *p->cfg->receivers))) return perr(p, list, path, "out of memory");
  for (size_t i = 0; i < n; i++) {
    char ip[512];
    static const char *const keys[] = {"name", "email_configs", "webhook_configs", "language", NULL};
    yaml_node_t *v = seq_map(p, list, i, path, keys, ip, sizeof ip);
    if (!v) return -1;
    dw_notify_receiver *r = &p->cfg->receivers[p->cfg->nreceivers++];
    if (get_str(p, v, ip, "name", &r->name) || get_str(p, v, ip, "language", &r->language)) return -1;
    if (!r->name || !r->name[0]) return perr(p, v, ip, "name is required");
    for (size_t j = 0; j + 1 < p->cfg->nreceivers; j++)
      if (strcmp(p->cfg->receivers[j].name, r->name) == 0) return perr(p, v, ip, "a second receiver '%s'", r->name);
    if (!r->language) r->language = dup(p, "vi");
    if (strcmp(r->language, "vi") && strcmp(r->language, "en"))
      return perr(p, get(p, v, "language"), ip, "language: vi or en, got '%s'", r->language);
    const char *kinds[2] = {"email_configs", "webhook_configs"};
    size_t total = 0;
    for (int k = 0; k < 2; k++) {
      yaml_node_t *l = get(p, v, kinds[k]);
      char kp[512];
      sub(kp, sizeof kp, ip, kinds[k]);
      if (l && want_seq(p, l, kp)) return -1;
      total += l ? seq_len(l) : 0;
    }
    if (!(r->integ = calloc(total ? total : 1, sizeof *r->integ))) return perr(p, v, ip, "out of memory");
    for (int k = 0; k < 2; k++) {
      yaml_node_t *l = get(p, v, kinds[k]);
      if (!l) continue;
      char kp[512];
      sub(kp, sizeof kp, ip, kinds[k]);
      int j = 0;
      for (yaml_node_item_t *it = l->data.sequence.items.start; it < l->data.sequence.items.top; it++, j++) {
        char jp[600];
        idx(jp, sizeof jp, kp, (size_t)j);
        dw_notify_integration *x = &r->integ[r->ninteg++];
        x->index = j;
        if ((k == 0 ? parse_email : parse_webhook)(p, N(p, *it), jp, x)) return -1;
      }
    }
  }
  return 0;
}

/* ---- routes ---- */

static int parse_route(P *p, yaml_node_t *v, const char *path, dw_notify_route *r, const dw_notify_route *parent,
                       const char *parent_id, size_t sibling) {
  static const char *const keys[] = {"receiver", "group_by", "continue", "matchers", "match", "match_re",
                                     "group_wait", "group_interval", "repeat_interval", "mute_time_intervals",
                                     "active_time_intervals", "routes", "office_hours", NULL};
  if (want_map(p, v, path) || check_keys(p, v, path, keys)) return -1;
  r->line = line_of(v);
  if (parent) {
    r->receiver = parent->receiver;
    r->group_by = parent->group_by;
    r->group_by_all = parent->group_by_all;
    r->group_wait_ms = parent->group_wait_ms;
    r->group_interval_ms = parent->group_interval_ms;
    r->repeat_interval_ms = parent->repeat_interval_ms;
    r->office_hours = parent->office_hours;
  } else {
    r->receiver = -1;
    r->group_wait_ms = DEFAULT_GROUP_WAIT;
    r->group_interval_ms = DEFAULT_GROUP_INTERVAL;
    r->repeat_interval_ms = DEFAULT_REPEAT_INTERVAL;
  }
  if (receiver_index(p, v, path, "receiver", &r->receiver, parent == NULL) ||
      get_labels(p, v, path, "group_by", &r->group_by, &r->group_by_all, NULL) ||
      get_bool(p, v, path, "continue", &r->cont) || get_matchers(p, v, path, "matchers", &r->matchers, &r->nmatchers) ||
      get_match_map(p, v, path, "match", false, &r->matchers, &r->nmatchers) ||
      get_match_map(p, v, path, "match_re", true, &r->matchers, &r->nmatchers) ||
      get_duration(p, v, path, "group_wait", &r->group_wait_ms) ||
      get_duration(p, v, path, "group_interval", &r->group_interval_ms) ||
      get_duration(p, v, path, "repeat_interval", &r->repeat_interval_ms) ||
      get_bool(p, v, path, "office_hours", &r->office_hours) ||
      interval_indexes(p, v, path, "mute_time_intervals", &r->mute, &r->nmute) ||
      interval_indexes(p, v, path, "active_time_intervals", &r->active, &r->nactive))
    return -1;
  if (!parent && r->nmatchers) return perr(p, v, path, "the root route matches every alert: no matchers here");
  if (!parent && r->cont) return perr(p, v, path, "continue has no meaning on the root route");
  if (r->group_interval_ms <= 0) return perr(p, get(p, v, "group_interval"), path, "group_interval must be > 0");
  if (r->repeat_interval_ms <= 0) return perr(p, get(p, v, "repeat_interval"), path, "repeat_interval must be > 0");
  /* the id: Alertmanager's shape, the parent's id and our matchers */
  dw_buf id = DW_BUF_INIT;
  if (parent) dw_buf_printf(&id, "%s/", parent_id);
  dw_buf_putc(&id, '{');
  for (size_t i = 0; i < r->nmatchers; i++) {
    if (i) dw_buf_putc(&id, ',');
    dw_notify_matcher_format(&r->matchers[i], &id);
  }
  dw_buf_putc(&id, '}');
  if (parent) dw_buf_printf(&id, "/%zu", sibling);
  if (id.oom) {
    dw_buf_free(&id);
    return perr(p, v, path, "out of memory");
  }
  r->id = dw_buf_take(&id);
  yaml_node_t *kids = get(p, v, "routes");
  if (kids) {
    char kp[512];
    sub(kp, sizeof kp, path, "routes");
    if (want_seq(p, kids, kp)) return -1;
    size_t n = seq_len(kids);
    if (!(r->children = calloc(n ? n : 1, sizeof *r->children))) return perr(p, v, kp, "out of memory");
    for (size_t i = 0; i < n; i++) {
      char ip[512];
      idx(ip, sizeof ip, kp, i);
      r->nchildren++;
      if (parse_route(p, N(p, kids->data.sequence.items.start[i]), ip, &r->children[i], r, r->id, i)) return -1;
    }
  }
  return 0;
}

/* ---- ours: escalations, digests, unit names ---- */

/* "2d" = two working days, "6h" = six working hours, of working time on the
 * calendar (a day is the length of a working day there). 0 or -1. */
static int parse_working(const char *s, int64_t *days100, int64_t *hours_ms) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || v <= 0 || v > 365) return -1;
  if (strcmp(end, "d") == 0) {
    *days100 = (int64_t)(v * 100 + 0.5);
    *hours_ms = 0;
  } else if (strcmp(end, "h") == 0) {
    *days100 = 0;
    *hours_ms = (int64_t)(v * 3600000.0 + 0.5);
  } else {
    return -1;
  }
  return 0;
}

static int parse_escalations(P *p, yaml_node_t *list) {
  const char *path = "escalations";
  if (!list) return 0;
  if (want_seq(p, list, path)) return -1;
  size_t n = seq_len(list);
  dw_notify_config *c = p->cfg;
  if (!(c->escalations = calloc(n ? n : 1, sizeof *c->escalations)) ||
      !(c->escalation_names = calloc(n ? n : 1, sizeof *c->escalation_names)))
    return perr(p, list, path, "out of memory");
  for (size_t i = 0; i < n; i++) {
    char ip[512];
    static const char *const keys[] = {"name", "matchers", "after", "receiver", "group_by", "group_wait",
                                       "group_interval", "repeat_interval", "office_hours", NULL};
    yaml_node_t *v = seq_map(p, list, i, path, keys, ip, sizeof ip);
    if (!v) return -1;
    dw_notify_route *r = &c->escalations[c->nescalations];
    char **name = &c->escalation_names[c->nescalations++];
    r->line = line_of(v);
    r->group_by = c->route.group_by;
    r->group_by_all = c->route.group_by_all;
    r->group_wait_ms = 0;
    r->group_interval_ms = c->route.group_interval_ms;
    r->repeat_interval_ms = c->route.repeat_interval_ms;
    r->office_hours = true;
    char *after = NULL;
    if (get_str(p, v, ip, "name", name) || get_matchers(p, v, ip, "matchers", &r->matchers, &r->nmatchers) ||
        get_str(p, v, ip, "after", &after) || receiver_index(p, v, ip, "receiver", &r->receiver, true) ||
        get_labels(p, v, ip, "group_by", &r->group_by, &r->group_by_all, NULL) ||
        get_duration(p, v, ip, "group_wait", &r->group_wait_ms) ||
        get_duration(p, v, ip, "group_interval", &r->group_interval_ms) ||
        get_duration(p, v, ip, "repeat_interval", &r->repeat_interval_ms) ||
        get_bool(p, v, ip, "office_hours", &r->office_hours)) {
      free(after);
      return -1;
    }
    if (!*name || !**name) {
      free(after);
      return perr(p, v, ip, "name is required");
    }
    for (size_t j = 0; j + 1 < c->nescalations; j++)
      if (strcmp(c->escalation_names[j], *name) == 0) {
        free(after);
        return perr(p, v, ip, "a second escalation '%s'", *name);
      }
    char ap[512];
    sub(ap, sizeof ap, ip, "after");
    int64_t d100 = 0, hms = 0;
    int bad = !after || parse_working(after, &d100, &hms);
    free(after);
    if (bad) return perr(p, get(p, v, "after") ? get(p, v, "after") : v, ap, "working time like 2d (working days) or 6h (working hours) is required");
    r->escalation = true;
    r->escalate_days_x100 = d100;
    r->escalate_hours_ms = hms;
    dw_buf id = DW_BUF_INIT;
    dw_buf_printf(&id, "escalation/%s", *name);
    r->id = dw_buf_take(&id);
    if (!r->id) return perr(p, v, ip, "out of memory");
  }
  return 0;
}

static int parse_digests(P *p, yaml_node_t *list) {
  const char *path = "digests";
  if (!list) return 0;
  if (want_seq(p, list, path)) return -1;
  size_t n = seq_len(list);
  dw_notify_config *c = p->cfg;
  if (!(c->digests = calloc(n ? n : 1, sizeof *c->digests))) return perr(p, list, path, "out of memory");
  for (size_t i = 0; i < n; i++) {
    char ip[512];
    static const char *const keys[] = {"name", "receiver", "at", "matchers", "unit_type", "top", NULL};
    yaml_node_t *v = seq_map(p, list, i, path, keys, ip, sizeof ip);
    if (!v) return -1;
    dw_notify_digest *d = &c->digests[c->ndigests++];
    d->top = 10;
    d->unit_type = DW_UNIT__COUNT;
    char *at = NULL, *ut = NULL;
    int rc = get_str(p, v, ip, "name", &d->name) || receiver_index(p, v, ip, "receiver", &d->receiver, true) ||
             get_str(p, v, ip, "at", &at) || get_matchers(p, v, ip, "matchers", &d->matchers, &d->nmatchers) ||
             get_str(p, v, ip, "unit_type", &ut) || get_int(p, v, ip, "top", 1, 1000, &d->top);
    char kp[512];
    if (!rc) {
      sub(kp, sizeof kp, ip, "at");
      if (!at || parse_hhmm(at, &d->at_min) || d->at_min >= 24 * 60)
        rc = perr(p, get(p, v, "at") ? get(p, v, "at") : v, kp, "a local time HH:MM is required");
    }
    if (!rc && ut) {
      sub(kp, sizeof kp, ip, "unit_type");
      if (dw_unit_type_parse(ut, &d->unit_type) || d->unit_type == DW_UNIT_PROVINCE)
        rc = perr(p, get(p, v, "unit_type"), kp, "commune, agency or procedure, got '%s'", ut);
    }
    free(at);
    free(ut);
    if (rc) return -1;
    if (!d->name || !d->name[0]) d->name = (free(d->name), dup(p, c->receivers[d->receiver].name));
    for (size_t j = 0; j + 1 < c->ndigests; j++)
      if (strcmp(c->digests[j].name, d->name) == 0) return perr(p, v, ip, "a second digest '%s'", d->name);
    if (d->unit_type == DW_UNIT__COUNT) {
      /* whose rates: the unit type its matchers name (commune first) */
      d->unit_type = DW_UNIT_COMMUNE;
      for (size_t j = 0; j < d->nmatchers; j++) {
        if (d->matchers[j].label == DW_NL_COMMUNE) break;
        if (d->matchers[j].label == DW_NL_AGENCY) d->unit_type = DW_UNIT_AGENCY;
        if (d->matchers[j].label == DW_NL_PROCEDURE && d->unit_type == DW_UNIT_COMMUNE) d->unit_type = DW_UNIT_PROCEDURE;
      }
    }
  }
  return 0;
}

static int parse_inhibits(P *p, yaml_node_t *list) {
  const char *path = "inhibit_rules";
  if (!list) return 0;
  if (want_seq(p, list, path)) return -1;
  size_t n = seq_len(list);
  dw_notify_config *c = p->cfg;
  if (!(c->inhibits = calloc(n ? n : 1, sizeof *c->inhibits))) return perr(p, list, path, "out of memory");
  for (size_t i = 0; i < n; i++) {
    char ip[512];
    static const char *const keys[] = {"source_matchers", "target_matchers", "equal", "source_match", "target_match",
                                       NULL};
    yaml_node_t *v = seq_map(p, list, i, path, keys, ip, sizeof ip);
    if (!v) return -1;
    dw_notify_inhibit *h = &c->inhibits[c->ninhibits++];
    if (get_matchers(p, v, ip, "source_matchers", &h->source, &h->nsource) ||
        get_matchers(p, v, ip, "target_matchers", &h->target, &h->ntarget) ||
        get_match_map(p, v, ip, "source_match", false, &h->source, &h->nsource) ||
        get_match_map(p, v, ip, "target_match", false, &h->target, &h->ntarget) ||
        get_labels(p, v, ip, "equal", &h->equal, NULL, NULL))
      return -1;
    if (!h->nsource || !h->ntarget) return perr(p, v, ip, "source_matchers and target_matchers are required");
  }
  return 0;
}

static int parse_global(P *p, yaml_node_t *g) {
  dw_notify_config *c = p->cfg;
  c->dossiers_per_message = 20;
  if (!g) return 0;
  const char *path = "global";
  static const char *const keys[] = {"external_url", "dossiers_per_message", "smtp_from", "smtp_smarthost",
                                     "smtp_hello", "smtp_auth_username", "smtp_auth_password", "smtp_auth_identity",
                                     "smtp_require_tls", NULL};
  if (want_map(p, g, path) || check_keys(p, g, path, keys)) return -1;
  if (get_str(p, g, path, "external_url", &c->external_url) ||
      get_int(p, g, path, "dossiers_per_message", 1, 10000, &c->dossiers_per_message))
    return -1;
  const char *names[] = {"smtp_from", "smtp_smarthost", "smtp_hello", "smtp_auth_username", "smtp_auth_password",
                         "smtp_auth_identity"};
  const char **dest[] = {&p->smtp_from, &p->smtp_smarthost, &p->smtp_hello, &p->smtp_user, &p->smtp_pass,
                         &p->smtp_ident};
  for (int i = 0; i < 6; i++) {
    yaml_node_t *v = get(p, g, names[i]);
    char kp[128];
    sub(kp, sizeof kp, path, names[i]);
    if (v && !(*dest[i] = scalar(p, v, kp))) return -1;
  }
  bool req = true;
  if (get(p, g, "smtp_require_tls")) {
    if (get_bool(p, g, path, "smtp_require_tls", &req)) return -1;
    p->smtp_require_tls = req;
  }
  if (c->external_url) {
    size_t l = strlen(c->external_url);
    while (l && c->external_url[l - 1] == '/') c->external_url[--l] = 0; /* links add the slash */
  }
  return 0;
}

static int parse_unit_names(P *p, yaml_node_t *m) {
  if (!m) return 0;
  const char *path = "unit_names";
  if (want_map(p, m, path)) return -1;
  size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
  dw_notify_config *c = p->cfg;
  if (!(c->unit_names = calloc(n ? n : 1, sizeof *c->unit_names))) return perr(p, m, path, "out of memory");
  for (yaml_node_pair_t *a = m->data.mapping.pairs.start; a < m->data.mapping.pairs.top; a++) {
    const char *k = scalar(p, N(p, a->key), path), *v = k ? scalar(p, N(p, a->value), path) : NULL;
    if (!v) return -1;
    dw_notify_unit_label *u = &c->unit_names[c->nunit_names++];
    u->code = dup(p, k);
    u->name = dup(p, v);
  }
  return 0;
}

/* ---- the document ---- */

static int parse_doc(P *p, yaml_node_t *root) {
  static const char *const keys[] = {"global", "route", "receivers", "inhibit_rules", "time_intervals",
                                     "mute_time_intervals", "escalations", "digests", "unit_names", NULL};
  if (!root) return perr(p, NULL, "", "the file is empty");
  if (want_map(p, root, "") || check_keys(p, root, "", keys)) return -1;
  if (parse_global(p, get(p, root, "global")) || parse_receivers(p, get(p, root, "receivers")) ||
      parse_intervals(p, get(p, root, "time_intervals"), "time_intervals") ||
      parse_intervals(p, get(p, root, "mute_time_intervals"), "mute_time_intervals"))
    return -1;
  yaml_node_t *route = get(p, root, "route");
  if (!route) return perr(p, root, "route", "required");
  if (parse_route(p, route, "route", &p->cfg->route, NULL, NULL, 0) || parse_inhibits(p, get(p, root, "inhibit_rules")) ||
      parse_escalations(p, get(p, root, "escalations")) || parse_digests(p, get(p, root, "digests")) ||
      parse_unit_names(p, get(p, root, "unit_names")))
    return -1;
  return 0;
}

dw_notify_config *dw_notify_config_parse(const char *text, size_t len, const char *file, char *err, size_t n) {
  dw_notify_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg || !(cfg->file = strdup(file))) {
    free(cfg);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    dw_notify_config_destroy(cfg);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    snprintf(err, n, "%s:%d: %s%s%s", file, (int)parser.problem_mark.line + 1, parser.context ? parser.context : "",
             parser.context ? ": " : "", parser.problem ? parser.problem : "YAML syntax error");
    yaml_parser_delete(&parser);
    dw_notify_config_destroy(cfg);
    return NULL;
  }
  P p = {.file = file, .doc = &doc, .err = err, .n = n, .cfg = cfg, .smtp_require_tls = -1};
  int rc = parse_doc(&p, yaml_document_get_root_node(&doc));
  if (!rc && p.failed) rc = -1;
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  if (rc) {
    dw_notify_config_destroy(cfg);
    return NULL;
  }
  return cfg;
}

dw_notify_config *dw_notify_config_load(const char *path, char *err, size_t n) {
  dw_buf b = DW_BUF_INIT;
  if (dw_buf_read_file(&b, path, err, n)) {
    dw_buf_free(&b);
    return NULL;
  }
  dw_notify_config *cfg = dw_notify_config_parse(b.data, b.len, path, err, n);
  dw_buf_free(&b);
  return cfg;
}

/* ---- freeing ---- */

static void free_matchers(dw_notify_matcher *m, size_t n) {
  for (size_t i = 0; i < n; i++) dw_notify_matcher_free(&m[i]);
  free(m);
}

static void free_route(dw_notify_route *r) {
  free(r->id);
  free_matchers(r->matchers, r->nmatchers);
  free(r->mute);
  free(r->active);
  for (size_t i = 0; i < r->nchildren; i++) free_route(&r->children[i]);
  free(r->children);
}

static void free_tls(dw_notify_tls *t) {
  free(t->ca_file);
  free(t->cert_file);
  free(t->key_file);
  free(t->server_name);
}

void dw_notify_config_destroy(dw_notify_config *c) {
  if (!c) return;
  free(c->file);
  free(c->external_url);
  for (size_t i = 0; i < c->nreceivers; i++) {
    dw_notify_receiver *r = &c->receivers[i];
    for (size_t j = 0; j < r->ninteg; j++) {
      dw_notify_integration *x = &r->integ[j];
      for (size_t k = 0; k < x->nto; k++) free(x->to[k]);
      free(x->to);
      free(x->from);
      free(x->smarthost);
      free(x->hello);
      free(x->auth_username);
      free(x->auth_password);
      free(x->auth_identity);
      free(x->url);
      free(x->bearer_token);
      free_tls(&x->tls);
    }
    free(r->integ);
    free(r->name);
    free(r->language);
  }
  free(c->receivers);
  free_route(&c->route);
  for (size_t i = 0; i < c->nescalations; i++) {
    free_route(&c->escalations[i]);
    free(c->escalation_names[i]);
  }
  free(c->escalations);
  free(c->escalation_names);
  for (size_t i = 0; i < c->ninhibits; i++) {
    free_matchers(c->inhibits[i].source, c->inhibits[i].nsource);
    free_matchers(c->inhibits[i].target, c->inhibits[i].ntarget);
  }
  free(c->inhibits);
  for (size_t i = 0; i < c->nintervals; i++) {
    dw_notify_interval *iv = &c->intervals[i];
    for (size_t j = 0; j < iv->nspecs; j++) {
      dw_notify_timespec *s = &iv->specs[j];
      free(s->times);
      free(s->weekdays);
      free(s->days_of_month);
      free(s->months);
      free(s->years);
    }
    free(iv->specs);
    free(iv->name);
  }
  free(c->intervals);
  for (size_t i = 0; i < c->ndigests; i++) {
    free(c->digests[i].name);
    free_matchers(c->digests[i].matchers, c->digests[i].nmatchers);
  }
  free(c->digests);
  for (size_t i = 0; i < c->nunit_names; i++) {
    free(c->unit_names[i].code);
    free(c->unit_names[i].name);
  }
  free(c->unit_names);
  free(c);
}
