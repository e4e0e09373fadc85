/* dw_metrics: counters, gauges and histograms with labels, rendered in the
 * Prometheus text format (see dw_metrics.h). Series are found by their
 * label values joined with 0x1f (a byte no label value of ours contains;
 * one that does is still a distinct key, only less readable) in a uthash
 * table per family; iteration keeps creation order, so the output is
 * stable from scrape to scrape. */
#include "dw_metrics.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct series {
  char **values; /* label values, nlabels of them */
  double value;  /* counter/gauge; histogram: the sum */
  uint64_t count;
  uint64_t *buckets; /* histogram: observations <= bounds[i] (not cumulative) */
  UT_hash_handle hh;
  char key[];
} series;

struct dw_metric {
  dw_metrics *reg;
  dw_metric_type type;
  char *name, *help;
  int nlabels;
  char *labels[DW_METRICS_MAX_LABELS];
  double *bounds;
  size_t nbounds;
  series *series;
  size_t nseries;
};

struct dw_metrics {
  pthread_mutex_t mu;
  dw_metric **fam;
  size_t nfam, capfam;
  uint64_t dropped;
};

dw_metrics *dw_metrics_new(void) {
  dw_metrics *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  pthread_mutex_init(&r->mu, NULL);
  return r;
}

static void series_free(dw_metric *m, series *s) {
  for (int i = 0; i < m->nlabels; i++) free(s->values[i]);
  free(s->values);
  free(s->buckets);
  free(s);
}

static void family_clear(dw_metric *m) {
  series *s, *tmp;
  HASH_ITER(hh, m->series, s, tmp) {
    HASH_DEL(m->series, s);
    series_free(m, s);
  }
  m->nseries = 0;
}

void dw_metrics_destroy(dw_metrics *r) {
  if (!r) return;
  for (size_t i = 0; i < r->nfam; i++) {
    dw_metric *m = r->fam[i];
    family_clear(m);
    for (int k = 0; k < m->nlabels; k++) free(m->labels[k]);
    free(m->name);
    free(m->help);
    free(m->bounds);
    free(m);
  }
  free(r->fam);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static dw_metrics *process_reg;
static void process_init(void) { process_reg = dw_metrics_new(); }

dw_metrics *dw_metrics_process(void) {
  pthread_once(&process_once, process_init);
  return process_reg;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for names, the same without ':' for labels. */
static bool valid_name(const char *s, bool label) {
  if (!s || !*s || isdigit((unsigned char)*s)) return false;
  for (; *s; s++)
    if (!(isalnum((unsigned char)*s) || *s == '_' || (!label && *s == ':'))) return false;
  return true;
}

static dw_metric *find_locked(dw_metrics *r, const char *name) {
  for (size_t i = 0; i < r->nfam; i++)
    if (strcmp(r->fam[i]->name, name) == 0) return r->fam[i];
  return NULL;
}

dw_metric *dw_metrics_find(dw_metrics *r, const char *name) {
  if (!r || !name) return NULL;
  pthread_mutex_lock(&r->mu);
  dw_metric *m = find_locked(r, name);
  pthread_mutex_unlock(&r->mu);
  return m;
}

/* Splits "a,b" into names; -1 when one is invalid or there are too many. */
static int split_labels(const char *labels, char *out[DW_METRICS_MAX_LABELS], int *n) {
  *n = 0;
  if (!labels || !*labels) return 0;
  const char *p = labels;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (*n == DW_METRICS_MAX_LABELS || len == 0 || len > 64) return -1;
    char tmp[65];
    memcpy(tmp, p, len);
    tmp[len] = 0;
    if (!valid_name(tmp, true) || strcmp(tmp, "le") == 0) return -1;
    if (!(out[*n] = strdup(tmp))) return -1;
    (*n)++;
    p += len + (e ? 1 : 0);
    if (e && !*p) return -1; /* trailing comma */
  }
  return 0;
}

static bool same_shape(const dw_metric *m, dw_metric_type type, char **labels, int n, const double *bounds,
                       size_t nb) {
  if (m->type != type || m->nlabels != n || m->nbounds != nb) return false;
  for (int i = 0; i < n; i++)
    if (strcmp(m->labels[i], labels[i]) != 0) return false;
  for (size_t i = 0; i < nb; i++)
    if (m->bounds[i] != bounds[i]) return false;
  return true;
}

static dw_metric *family_add(dw_metrics *r, dw_metric_type type, const char *name, const char *help,
                             const char *labels, const double *bounds, size_t nb) {
  if (!r || !valid_name(name, false)) return NULL;
  for (size_t i = 1; i < nb; i++)
    if (!(bounds[i] > bounds[i - 1])) return NULL;
  char *ln[DW_METRICS_MAX_LABELS] = {0};
  int n = 0;
  dw_metric *m = NULL;
  if (split_labels(labels, ln, &n)) goto fail;
  pthread_mutex_lock(&r->mu);
  dw_metric *old = find_locked(r, name);
  if (old) {
    m = same_shape(old, type, ln, n, bounds, nb) ? old : NULL;
    pthread_mutex_unlock(&r->mu);
    goto fail; /* frees ln only */
  }
  if (r->nfam == r->capfam) {
    size_t cap = r->capfam ? r->capfam * 2 : 32;
    dw_metric **p = realloc(r->fam, cap * sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&r->mu);
      goto fail;
    }
    r->fam = p;
    r->capfam = cap;
  }
  m = calloc(1, sizeof *m);
  if (m) {
    m->reg = r;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    m->nlabels = n;
    memcpy(m->labels, ln, sizeof ln);
    m->nbounds = nb;
    m->bounds = nb ? malloc(nb * sizeof *m->bounds) : NULL;
    if (!m->name || !m->help || (nb && !m->bounds)) {
      free(m->name);
      free(m->help);
      free(m->bounds);
      free(m);
      m = NULL;
    } else {
      if (nb) memcpy(m->bounds, bounds, nb * sizeof *bounds);
      r->fam[r->nfam++] = m;
      pthread_mutex_unlock(&r->mu);
      return m;
    }
  }
  pthread_mutex_unlock(&r->mu);
fail:
  for (int i = 0; i < n; i++) free(ln[i]);
  return m;
}

dw_metric *dw_metrics_counter(dw_metrics *r, const char *name, const char *help, const char *labels) {
  return family_add(r, DW_METRIC_COUNTER, name, help, labels, NULL, 0);
}
dw_metric *dw_metrics_gauge(dw_metrics *r, const char *name, const char *help, const char *labels) {
  return family_add(r, DW_METRIC_GAUGE, name, help, labels, NULL, 0);
}
dw_metric *dw_metrics_histogram(dw_metrics *r, const char *name, const char *help, const char *labels,
                                const double *bounds, size_t nb) {
  return family_add(r, DW_METRIC_HISTOGRAM, name, help, labels, bounds, nb);
}

/* The series of these label values (created when new); NULL when the
 * family is full or memory is out. Called with the lock held. */
static size_t make_key(const dw_metric *m, const char *const *labels, char key[1024]) {
  size_t kl = 0;
  for (int i = 0; i < m->nlabels; i++) {
    const char *v = labels && labels[i] ? labels[i] : "";
    if (kl >= 1022) break; /* a longer tuple is cut: still a key */
    size_t vl = strlen(v), room = 1022 - kl;
    if (vl > room) vl = room;
    memcpy(key + kl, v, vl);
    kl += vl;
    key[kl++] = '\x1f';
  }
  key[kl] = 0;
  return kl;
}

static series *series_get(dw_metric *m, const char *const *labels) {
  char key[1024];
  size_t kl = make_key(m, labels, key);
  series *s;
  HASH_FIND(hh, m->series, key, kl, s);
  if (s) return s;
  if (m->nseries >= DW_METRICS_MAX_SERIES) {
    m->reg->dropped++;
    return NULL;
  }
  s = calloc(1, sizeof *s + kl + 1);
  if (!s) return NULL;
  memcpy(s->key, key, kl + 1);
  s->values = calloc((size_t)(m->nlabels ? m->nlabels : 1), sizeof *s->values);
  if (m->type == DW_METRIC_HISTOGRAM) s->buckets = calloc(m->nbounds ? m->nbounds : 1, sizeof *s->buckets);
  bool bad = !s->values || (m->type == DW_METRIC_HISTOGRAM && !s->buckets);
  for (int i = 0; i < m->nlabels && !bad; i++)
    if (!(s->values[i] = strdup(labels && labels[i] ? labels[i] : ""))) bad = true;
  if (bad) {
    series_free(m, s);
    return NULL;
  }
  HASH_ADD(hh, m->series, key, kl, s);
  m->nseries++;
  return s;
}

static void update(dw_metric *m, const char *const *labels, double v, int op) {
  if (!m) return;
  pthread_mutex_lock(&m->reg->mu);
  series *s = series_get(m, labels);
  if (s) {
    if (op == 0) {
      if (m->type == DW_METRIC_GAUGE || v >= 0) s->value += v;
    } else if (op == 1) {
      s->value = v;
    } else {
      s->value += v;
      s->count++;
      for (size_t i = 0; i < m->nbounds; i++)
        if (v <= m->bounds[i]) {
          s->buckets[i]++;
          break;
        }
    }
  }
  pthread_mutex_unlock(&m->reg->mu);
}

void dw_metric_add_l(dw_metric *m, const char *const *labels, double v) {
  if (m && m->type != DW_METRIC_HISTOGRAM) update(m, labels, v, 0);
}
void dw_metric_set_l(dw_metric *m, const char *const *labels, double v) {
  if (m && m->type == DW_METRIC_GAUGE) update(m, labels, v, 1);
}
void dw_metric_observe_l(dw_metric *m, const char *const *labels, double v) {
  if (m && m->type == DW_METRIC_HISTOGRAM) update(m, labels, v, 2);
}

void dw_metric_clear(dw_metric *m) {
  if (!m) return;
  pthread_mutex_lock(&m->reg->mu);
  family_clear(m);
  pthread_mutex_unlock(&m->reg->mu);
}

double dw_metric_value_l(dw_metric *m, const char *const *labels) {
  if (!m) return 0;
  pthread_mutex_lock(&m->reg->mu);
  double v = 0;
  char key[1024];
  size_t kl = make_key(m, labels, key);
  series *s;
  HASH_FIND(hh, m->series, key, kl, s);
  if (s) v = m->type == DW_METRIC_HISTOGRAM ? (double)s->count : s->value;
  pthread_mutex_unlock(&m->reg->mu);
  return v;
}

/* ---- rendering ---- */

static void put_number(dw_buf *b, double v) {
  if (isnan(v))
    dw_buf_puts(b, "NaN");
  else if (isinf(v))
    dw_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  else if (v == floor(v) && fabs(v) < 9007199254740992.0)
    dw_buf_printf(b, "%.0f", v);
  else {
    /* the shortest text that reads back as v: 0.005, not 0.0050000000000000001 */
    char t[40];
    for (int prec = 6; prec <= 17; prec++) {
      snprintf(t, sizeof t, "%.*g", prec, v);
      if (strtod(t, NULL) == v) break;
    }
    dw_buf_puts(b, t);
  }
}

/* Label values: backslash, double quote and newline escaped. HELP text:
 * backslash and newline. */
static void put_escaped(dw_buf *b, const char *s, bool quote) {
  for (; *s; s++) {
    if (*s == '\\')
      dw_buf_puts(b, "\\\\");
    else if (*s == '\n')
      dw_buf_puts(b, "\\n");
    else if (quote && *s == '"')
      dw_buf_puts(b, "\\\"");
    else
      dw_buf_putc(b, *s);
  }
}

/* {a="x",b="y"[,le="..."]} or nothing. */
static void put_labels(dw_buf *b, const dw_metric *m, const series *s, const char *le) {
  if (m->nlabels == 0 && !le) return;
  dw_buf_putc(b, '{');
  for (int i = 0; i < m->nlabels; i++) {
    if (i) dw_buf_putc(b, ',');
    dw_buf_printf(b, "%s=\"", m->labels[i]);
    put_escaped(b, s ? s->values[i] : "", true);
    dw_buf_putc(b, '"');
  }
  if (le) dw_buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
  dw_buf_putc(b, '}');
}

static void render_series(dw_buf *b, const dw_metric *m, const series *s) {
  if (m->type != DW_METRIC_HISTOGRAM) {
    dw_buf_puts(b, m->name);
    put_labels(b, m, s, NULL);
    dw_buf_putc(b, ' ');
    put_number(b, s ? s->value : 0);
    dw_buf_putc(b, '\n');
    return;
  }
  uint64_t cum = 0;
  char le[40];
  for (size_t i = 0; i < m->nbounds; i++) {
    cum += s ? s->buckets[i] : 0;
    dw_buf t = DW_BUF_INIT;
    put_number(&t, m->bounds[i]);
    snprintf(le, sizeof le, "%s", t.data ? t.data : "0");
    dw_buf_free(&t);
    dw_buf_printf(b, "%s_bucket", m->name);
    put_labels(b, m, s, le);
    dw_buf_printf(b, " %llu\n", (unsigned long long)cum);
  }
  dw_buf_printf(b, "%s_bucket", m->name);
  put_labels(b, m, s, "+Inf");
  dw_buf_printf(b, " %llu\n", (unsigned long long)(s ? s->count : 0));
  dw_buf_printf(b, "%s_sum", m->name);
  put_labels(b, m, s, NULL);
  dw_buf_putc(b, ' ');
  put_number(b, s ? s->value : 0);
  dw_buf_printf(b, "\n%s_count", m->name);
  put_labels(b, m, s, NULL);
  dw_buf_printf(b, " %llu\n", (unsigned long long)(s ? s->count : 0));
}

void dw_metrics_render(dw_metrics *r, dw_buf *b) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->nfam; i++) {
    const dw_metric *m = r->fam[i];
    dw_buf_printf(b, "# HELP %s ", m->name);
    put_escaped(b, m->help, false);
    dw_buf_printf(b, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    if (!m->series) {
      if (m->nlabels == 0) render_series(b, m, NULL);
      continue;
    }
    for (const series *s = m->series; s; s = s->hh.next) render_series(b, m, s);
  }
  dw_buf_puts(b, "# HELP dossierwatch_metrics_series_dropped_total Updates dropped because a family reached its series limit\n"
                 "# TYPE dossierwatch_metrics_series_dropped_total counter\n");
  dw_buf_printf(b, "dossierwatch_metrics_series_dropped_total %llu\n", (unsigned long long)r->dropped);
  pthread_mutex_unlock(&r->mu);
}
