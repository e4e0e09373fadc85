/* dw_notify_state: the grouping and notification state machine (see
 * dw_notify_state.h). Tables are uthash's; everything is in memory and
 * persisted by the caller through dw_notify_state_drain. */
#include "dw_notify_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_time.h"

#define MAX_ROUTES 64

typedef struct group group;

typedef struct talert {
  dw_alert a;
  group **groups;
  size_t ngroups, capg;
  int64_t *esc_at; /* per escalation: when it joins; DW_TIME_NONE: never */
  bool sup_silence, sup_inhibit;
  bool dirty;
  UT_hash_handle hh;
} talert;

struct group {
  char *key;
  const dw_notify_route *route; /* NULL: restored, not (yet) matched by the configuration */
  char *labels[DW_NL__COUNT];
  int64_t next_flush;
  bool flushed, dirty, log_dirty; /* log_dirty: the log entries changed (new groups too) */
  dw_notify_nflog *log;
  size_t nlog;
  talert **members;
  size_t nmembers, capm;
  UT_hash_handle hh;
};

typedef struct digest_st {
  char *name;
  int64_t last_day;
  bool dirty, forced;
} digest_st;

typedef struct strs {
  char **v;
  size_t n, cap;
} strs;

struct dw_notify_state {
  const dw_notify_config *cfg;
  const dw_calendar *cal;
  dw_notify_metrics *m;
  dw_notify_metrics own_metrics;
  talert *alerts;
  group *groups;
  const dw_notify_silence *sil;
  size_t nsil;
  strs del_alerts, del_groups;
  digest_st *dg;
  size_t ndg;
  int64_t next_esc;
  /* the last tick's output */
  dw_notify_req *reqs;
  size_t nreqs, capreqs;
  const dw_alert **ptrs;
  size_t nptrs, capptrs;
  size_t *req_firing_at, *req_resolved_at; /* offsets into ptrs, fixed up at the end */
  strs keys;
  /* forgotten at the next tick, so that the last tick's messages stay valid */
  bool cleanup_due;
  const dw_alert **open_out;
  size_t capopen;
};

static int strs_push(strs *s, char *v) {
  if (!v) return -1;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **nv = realloc(s->v, cap * sizeof *nv);
    if (!nv) {
      free(v);
      return -1;
    }
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = v;
  return 0;
}

static void strs_clear(strs *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  s->n = 0;
}

static void strs_free(strs *s) {
  strs_clear(s);
  free(s->v);
  memset(s, 0, sizeof *s);
}

/* ---- silences ---- */

bool dw_notify_silence_active(const dw_notify_silence *s, int64_t now) { return s->starts_at <= now && now < s->ends_at; }

bool dw_notify_silence_matches(const dw_notify_silence *s, const dw_alert *a) {
  return s->nmatchers > 0 && dw_notify_matchers_match(s->matchers, s->nmatchers, a);
}

/* ---- nflog ---- */

void dw_notify_nflog_free(dw_notify_nflog *l) {
  for (size_t i = 0; i < l->nfiring; i++) free(l->firing[i]);
  for (size_t i = 0; i < l->nresolved; i++) free(l->resolved[i]);
  free(l->firing);
  free(l->resolved);
  l->firing = l->resolved = NULL;
  l->nfiring = l->nresolved = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ids_has(char *const *v, size_t n, const char *id) {
  return n && bsearch(&id, v, n, sizeof *v, cmp_str) != NULL;
}

/* Sorted copies of ids. */
static int ids_set(char ***v, size_t *n, const char *const *ids, size_t k) {
  char **nv = k ? calloc(k, sizeof *nv) : NULL;
  if (k && !nv) return -1;
  for (size_t i = 0; i < k; i++)
    if (!(nv[i] = strdup(ids[i]))) {
      for (size_t j = 0; j < i; j++) free(nv[j]);
      free(nv);
      return -1;
    }
  if (k) qsort(nv, k, sizeof *nv, cmp_str);
  for (size_t i = 0; i < *n; i++) free((*v)[i]);
  free(*v);
  *v = nv;
  *n = k;
  return 0;
}

static int nflog_copy(dw_notify_nflog *dst, const dw_notify_nflog *src) {
  memset(dst, 0, sizeof *dst);
  dst->at = src->at;
  dst->pending = src->pending;
  if (ids_set(&dst->firing, &dst->nfiring, (const char *const *)src->firing, src->nfiring) ||
      ids_set(&dst->resolved, &dst->nresolved, (const char *const *)src->resolved, src->nresolved)) {
    dw_notify_nflog_free(dst);
    return -1;
  }
  return 0;
}

/* ---- groups ---- */

static void group_free(group *g) {
  free(g->key);
  for (int i = 0; i < DW_NL__COUNT; i++) free(g->labels[i]);
  for (size_t i = 0; i < g->nlog; i++) dw_notify_nflog_free(&g->log[i]);
  free(g->log);
  free(g->members);
  free(g);
}

static int group_resize_log(group *g, size_t n) {
  if (g->nlog == n) return 0;
  for (size_t i = n; i < g->nlog; i++) dw_notify_nflog_free(&g->log[i]);
  dw_notify_nflog *l = realloc(g->log, (n ? n : 1) * sizeof *l);
  if (!l) return -1;
  for (size_t i = g->nlog; i < n; i++) {
    memset(&l[i], 0, sizeof l[i]);
    l[i].at = DW_TIME_NONE;
  }
  g->log = l;
  g->nlog = n;
  g->log_dirty = true;
  return 0;
}

static unsigned route_labels(const dw_notify_route *r) { return r->group_by_all ? DW_NL_ALL : r->group_by; }

static char *group_key(const dw_notify_route *r, const dw_alert *a) {
  dw_buf b = DW_BUF_INIT;
  dw_buf_printf(&b, "%s:{", r->id);
  unsigned bits = route_labels(r);
  int first = 1;
  for (int l = 0; l < DW_NL__COUNT; l++) {
    if (!(bits & (1u << l))) continue;
    if (!first) dw_buf_putc(&b, ',');
    first = 0;
    dw_buf_printf(&b, "%s=", dw_notify_label_name((dw_notify_label)l));
    dw_buf_json_string(&b, dw_notify_label_value(a, (dw_notify_label)l));
  }
  dw_buf_putc(&b, '}');
  return dw_buf_take(&b);
}

static int member_add(group *g, talert *t) {
  for (size_t i = 0; i < t->ngroups; i++)
    if (t->groups[i] == g) return 0;
  if (g->nmembers == g->capm) {
    size_t cap = g->capm ? g->capm * 2 : 8;
    talert **m = realloc(g->members, cap * sizeof *m);
    if (!m) return -1;
    g->members = m;
    g->capm = cap;
  }
  if (t->ngroups == t->capg) {
    size_t cap = t->capg ? t->capg * 2 : 4;
    group **gs = realloc(t->groups, cap * sizeof *gs);
    if (!gs) return -1;
    t->groups = gs;
    t->capg = cap;
  }
  g->members[g->nmembers++] = t;
  t->groups[t->ngroups++] = g;
  return 0;
}

static void member_remove(group *g, talert *t) {
  for (size_t i = 0; i < g->nmembers; i++)
    if (g->members[i] == t) {
      g->members[i] = g->members[--g->nmembers];
      break;
    }
  for (size_t i = 0; i < t->ngroups; i++)
    if (t->groups[i] == g) {
      t->groups[i] = t->groups[--t->ngroups];
      break;
    }
}

static void detach_all(talert *t) {
  while (t->ngroups) member_remove(t->groups[0], t);
}

/* The group of route r for alert t, created when new (first flush after
 * group_wait), and t in it. */
static int join(dw_notify_state *st, const dw_notify_route *r, talert *t, int64_t now) {
  char *key = group_key(r, &t->a);
  if (!key) return -1;
  group *g;
  HASH_FIND_STR(st->groups, key, g);
  if (g && g->route != r) {
    /* restored, or kept over a reload: this route now */
    g->route = r;
    g->dirty = true;
  }
  if (!g) {
    if (!(g = calloc(1, sizeof *g))) {
      free(key);
      return -1;
    }
    g->key = key;
    key = NULL;
    g->route = r;
    g->next_flush = now + r->group_wait_ms;
    g->dirty = g->log_dirty = true;
    HASH_ADD_KEYPTR(hh, st->groups, g->key, strlen(g->key), g);
  }
  free(key);
  if (!g->labels[0] && !g->labels[1] && !g->labels[2] && !g->labels[3] && !g->labels[4] && !g->labels[5]) {
    unsigned bits = route_labels(r);
    for (int l = 0; l < DW_NL__COUNT; l++)
      if (bits & (1u << l) && !(g->labels[l] = strdup(dw_notify_label_value(&t->a, (dw_notify_label)l)))) return -1;
  }
  if (group_resize_log(g, st->cfg->receivers[r->receiver].ninteg)) return -1;
  return member_add(g, t);
}

static int64_t esc_time(const dw_notify_state *st, const dw_notify_route *e, const dw_alert *a) {
  if (!dw_notify_matchers_match(e->matchers, e->nmatchers, a)) return DW_TIME_NONE;
  int64_t at;
  char err[160];
  if (dw_calendar_add_working(st->cal, a->raised_at, dw_notify_escalation_after(e, st->cal), &at, err, sizeof err))
    return DW_TIME_NONE; /* outside the loaded years: never a guess */
  return at;
}

/* Routes t: the tree, then escalations it has reached by now (or had
 * reached when it cleared). */
static int attach(dw_notify_state *st, talert *t, int64_t now) {
  const dw_notify_config *c = st->cfg;
  const dw_notify_route *rs[MAX_ROUTES];
  size_t n = dw_notify_route_match(&c->route, &t->a, rs, MAX_ROUTES);
  for (size_t i = 0; i < n; i++)
    if (join(st, rs[i], t, now)) return -1;
  if (!c->nescalations) return 0;
  if (!t->esc_at) {
    if (!(t->esc_at = calloc(c->nescalations, sizeof *t->esc_at))) return -1;
    for (size_t i = 0; i < c->nescalations; i++) t->esc_at[i] = esc_time(st, &c->escalations[i], &t->a);
  }
  bool open = t->a.cleared_at == DW_TIME_NONE;
  for (size_t i = 0; i < c->nescalations; i++) {
    int64_t at = t->esc_at[i];
    if (at == DW_TIME_NONE) continue;
    int64_t until = open ? now : (t->a.cleared_at < now ? t->a.cleared_at : now);
    if (at <= until) {
      size_t before = t->ngroups;
      if (join(st, &c->escalations[i], t, now)) return -1;
      if (t->ngroups > before && open) st->m->escalated++;
    } else if (open && (st->next_esc == DW_TIME_NONE || at < st->next_esc)) {
      st->next_esc = at;
    }
  }
  return 0;
}

static void digests_sync(dw_notify_state *st) {
  const dw_notify_config *c = st->cfg;
  digest_st *nd = calloc(c->ndigests ? c->ndigests : 1, sizeof *nd);
  if (!nd) return;
  for (size_t i = 0; i < c->ndigests; i++) {
    nd[i].last_day = INT64_MIN;
    for (size_t j = 0; j < st->ndg; j++)
      if (st->dg[j].name && strcmp(st->dg[j].name, c->digests[i].name) == 0) {
        nd[i] = st->dg[j];
        st->dg[j].name = NULL;
      }
    if (!nd[i].name) nd[i].name = strdup(c->digests[i].name);
  }
  for (size_t j = 0; j < st->ndg; j++) free(st->dg[j].name);
  free(st->dg);
  st->dg = nd;
  st->ndg = c->ndigests;
}

dw_notify_state *dw_notify_state_new(const dw_notify_config *cfg, const dw_calendar *cal, dw_notify_metrics *m) {
  dw_notify_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->cfg = cfg;
  st->cal = cal;
  st->m = m ? m : &st->own_metrics;
  st->next_esc = DW_TIME_NONE;
  digests_sync(st);
  return st;
}

static void talert_free(talert *t) {
  free(t->groups);
  free(t->esc_at);
  free(t);
}

void dw_notify_state_destroy(dw_notify_state *st) {
  if (!st) return;
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    HASH_DEL(st->alerts, t);
    talert_free(t);
  }
  group *g, *gt;
  HASH_ITER(hh, st->groups, g, gt) {
    HASH_DEL(st->groups, g);
    group_free(g);
  }
  strs_free(&st->del_alerts);
  strs_free(&st->del_groups);
  strs_free(&st->keys);
  for (size_t i = 0; i < st->ndg; i++) free(st->dg[i].name);
  free(st->dg);
  free(st->reqs);
  free(st->ptrs);
  free(st->req_firing_at);
  free(st->req_resolved_at);
  free(st->open_out);
  free(st);
}

void dw_notify_state_set_config(dw_notify_state *st, const dw_notify_config *cfg, int64_t now) {
  st->cfg = cfg;
  group *g, *gt;
  HASH_ITER(hh, st->groups, g, gt) {
    g->route = NULL;
    for (int l = 0; l < DW_NL__COUNT; l++) {
      free(g->labels[l]);
      g->labels[l] = NULL;
    }
  }
  st->next_esc = DW_TIME_NONE;
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    detach_all(t);
    free(t->esc_at);
    t->esc_at = NULL;
  }
  HASH_ITER(hh, st->alerts, t, tt) attach(st, t, now);
  digests_sync(st);
  st->cleanup_due = true;
}

void dw_notify_state_set_silences(dw_notify_state *st, const dw_notify_silence *s, size_t n) {
  st->sil = s;
  st->nsil = n;
}

int dw_notify_state_restore_group(dw_notify_state *st, const char *key, int64_t next_flush, bool flushed,
                                  const dw_notify_nflog *logs, size_t nlogs) {
  group *g;
  HASH_FIND_STR(st->groups, key, g);
  if (g) return 0;
  if (!(g = calloc(1, sizeof *g)) || !(g->key = strdup(key))) {
    free(g);
    return -1;
  }
  g->next_flush = next_flush;
  g->flushed = flushed;
  if (nlogs && !(g->log = calloc(nlogs, sizeof *g->log))) {
    group_free(g);
    return -1;
  }
  for (size_t i = 0; i < nlogs; i++) {
    if (nflog_copy(&g->log[i], &logs[i])) {
      group_free(g);
      return -1;
    }
    g->nlog++;
  }
  HASH_ADD_KEYPTR(hh, st->groups, g->key, strlen(g->key), g);
  st->cleanup_due = true; /* one that no alert joins goes */
  return 0;
}

int dw_notify_state_restore_digest(dw_notify_state *st, const char *name, int64_t last_day) {
  for (size_t i = 0; i < st->ndg; i++)
    if (strcmp(st->dg[i].name, name) == 0) st->dg[i].last_day = last_day;
  return 0;
}

static int apply(dw_notify_state *st, const dw_alert *a, int64_t now, bool restoring) {
  talert *t;
  HASH_FIND_STR(st->alerts, a->alert_id, t);
  if (!t) {
    if (a->cleared_at != DW_TIME_NONE && !restoring) return 0; /* nobody was told of it */
    if (!(t = calloc(1, sizeof *t))) return -1;
    t->a = *a;
    HASH_ADD_STR(st->alerts, a.alert_id, t);
  } else {
    bool moved = strcmp(t->a.commune, a->commune) || strcmp(t->a.agency, a->agency) ||
                 strcmp(t->a.procedure, a->procedure) || t->a.severity != a->severity || t->a.rule != a->rule ||
                 t->a.cleared_at != a->cleared_at || t->a.raised_at != a->raised_at;
    t->a = *a;
    if (!moved) {
      t->dirty = !restoring;
      return 0;
    }
    detach_all(t);
    free(t->esc_at);
    t->esc_at = NULL;
  }
  t->dirty = !restoring;
  st->cleanup_due = true;
  return attach(st, t, now);
}

int dw_notify_state_apply(dw_notify_state *st, const dw_alert *a, int64_t now) {
  st->m->alerts_read++;
  return apply(st, a, now, false);
}

int dw_notify_state_restore_alert(dw_notify_state *st, const dw_alert *a, int64_t now) {
  return apply(st, a, now, true);
}

void dw_notify_state_set_pending(dw_notify_state *st, const char *key, int idx, bool pending) {
  group *g;
  HASH_FIND_STR(st->groups, key, g);
  if (!g || idx < 0 || (size_t)idx >= g->nlog) return;
  g->log[idx].pending = pending;
}

/* ---- tick ---- */

static int cmp_due(const void *x, const void *y) {
  const dw_alert *a = *(const dw_alert *const *)x, *b = *(const dw_alert *const *)y;
  if (a->due_at != b->due_at) {
    if (a->due_at == DW_TIME_NONE) return 1;
    if (b->due_at == DW_TIME_NONE) return -1;
    return a->due_at < b->due_at ? -1 : 1;
  }
  int c = strcmp(a->dossier_id, b->dossier_id);
  return c ? c : strcmp(a->alert_id, b->alert_id);
}

/* Inhibition index: per rule, the equal-label values of open sources. */
typedef struct inh_entry {
  char *key;
  const talert *one;
  int count;
  UT_hash_handle hh;
} inh_entry;

static char *inh_key(size_t rule, unsigned equal, const dw_alert *a) {
  dw_buf b = DW_BUF_INIT;
  dw_buf_printf(&b, "%zu", rule);
  for (int l = 0; l < DW_NL__COUNT; l++)
    if (equal & (1u << l)) {
      dw_buf_putc(&b, '\x1f');
      dw_buf_puts(&b, dw_notify_label_value(a, (dw_notify_label)l));
    }
  return dw_buf_take(&b);
}

static inh_entry *inh_build(dw_notify_state *st) {
  inh_entry *idx = NULL;
  const dw_notify_config *c = st->cfg;
  if (!c->ninhibits) return NULL;
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    if (t->a.cleared_at != DW_TIME_NONE) continue;
    for (size_t r = 0; r < c->ninhibits; r++) {
      const dw_notify_inhibit *h = &c->inhibits[r];
      if (!dw_notify_matchers_match(h->source, h->nsource, &t->a)) continue;
      char *k = inh_key(r, h->equal, &t->a);
      if (!k) continue;
      inh_entry *e;
      HASH_FIND_STR(idx, k, e);
      if (e) {
        e->count++;
        free(k);
        continue;
      }
      if (!(e = calloc(1, sizeof *e))) {
        free(k);
        continue;
      }
      e->key = k;
      e->one = t;
      e->count = 1;
      HASH_ADD_KEYPTR(hh, idx, e->key, strlen(e->key), e);
    }
  }
  return idx;
}

static void inh_free(inh_entry *idx) {
  inh_entry *e, *et;
  HASH_ITER(hh, idx, e, et) {
    HASH_DEL(idx, e);
    free(e->key);
    free(e);
  }
}

static bool inhibited(dw_notify_state *st, inh_entry *idx, const talert *t) {
  const dw_notify_config *c = st->cfg;
  for (size_t r = 0; r < c->ninhibits; r++) {
    const dw_notify_inhibit *h = &c->inhibits[r];
    if (!dw_notify_matchers_match(h->target, h->ntarget, &t->a)) continue;
    char *k = inh_key(r, h->equal, &t->a);
    if (!k) continue;
    inh_entry *e;
    HASH_FIND_STR(idx, k, e);
    free(k);
    if (e && (e->count > 1 || e->one != t)) return true;
  }
  return false;
}

static bool silenced(const dw_notify_state *st, const talert *t, int64_t now) {
  for (size_t i = 0; i < st->nsil; i++)
    if (dw_notify_silence_active(&st->sil[i], now) && dw_notify_silence_matches(&st->sil[i], &t->a)) return true;
  return false;
}

static int ptrs_push(dw_notify_state *st, const dw_alert *a) {
  if (st->nptrs == st->capptrs) {
    size_t cap = st->capptrs ? st->capptrs * 2 : 256;
    const dw_alert **p = realloc(st->ptrs, cap * sizeof *p);
    if (!p) return -1;
    st->ptrs = p;
    st->capptrs = cap;
  }
  st->ptrs[st->nptrs++] = a;
  return 0;
}

static dw_notify_req *req_new(dw_notify_state *st) {
  if (st->nreqs == st->capreqs) {
    size_t cap = st->capreqs ? st->capreqs * 2 : 16;
    dw_notify_req *r = realloc(st->reqs, cap * sizeof *r);
    size_t *fa = realloc(st->req_firing_at, cap * sizeof *fa);
    if (fa) st->req_firing_at = fa;
    size_t *ra = realloc(st->req_resolved_at, cap * sizeof *ra);
    if (ra) st->req_resolved_at = ra;
    if (r) st->reqs = r;
    if (!r || !fa || !ra) return NULL;
    st->capreqs = cap;
  }
  dw_notify_req *q = &st->reqs[st->nreqs];
  memset(q, 0, sizeof *q);
  st->req_firing_at[st->nreqs] = st->req_resolved_at[st->nreqs] = 0;
  st->nreqs++;
  return q;
}

/* The flush of one group (see the header). */
static int flush(dw_notify_state *st, group *g, inh_entry *idx, int64_t now) {
  const dw_notify_route *r = g->route;
  const dw_notify_receiver *rc = &st->cfg->receivers[r->receiver];
  g->dirty = true;
  if (dw_notify_route_muted(st->cfg, r, st->cal, now)) {
    int64_t nx = dw_notify_route_next_unmuted(st->cfg, r, st->cal, now);
    g->next_flush = nx == DW_TIME_NONE ? now + r->group_interval_ms : nx;
    for (size_t i = 0; i < g->nmembers; i++)
      if (g->members[i]->a.cleared_at == DW_TIME_NONE) {
        st->m->suppressed_mute++;
        break;
      }
    return 0;
  }
  if (group_resize_log(g, rc->ninteg)) return -1;
  /* what fires, what is left out */
  size_t f0 = st->nptrs;
  for (size_t i = 0; i < g->nmembers; i++) {
    talert *t = g->members[i];
    if (t->a.cleared_at != DW_TIME_NONE) continue;
    bool sil = silenced(st, t, now), inhib = !sil && idx && inhibited(st, idx, t);
    if (sil && !t->sup_silence) st->m->suppressed_silence++;
    if (inhib && !t->sup_inhibit) st->m->suppressed_inhibition++;
    t->sup_silence = sil;
    t->sup_inhibit = inhib;
    if (!sil && !inhib && ptrs_push(st, &t->a)) return -1;
  }
  size_t nfiring = st->nptrs - f0;
  qsort(st->ptrs + f0, nfiring, sizeof *st->ptrs, cmp_due);
  for (size_t i = 0; i < rc->ninteg; i++) {
    dw_notify_nflog *L = &g->log[i];
    const dw_notify_integration *x = &rc->integ[i];
    if (L->pending) continue; /* its last message is not delivered yet */
    bool fresh = false;
    for (size_t k = 0; k < nfiring && !fresh; k++) fresh = !ids_has(L->firing, L->nfiring, st->ptrs[f0 + k]->alert_id);
    size_t r0 = st->nptrs;
    for (size_t k = 0; k < g->nmembers; k++) {
      talert *t = g->members[k];
      if (t->a.cleared_at != DW_TIME_NONE && ids_has(L->firing, L->nfiring, t->a.alert_id) && ptrs_push(st, &t->a))
        return -1;
    }
    size_t nres = st->nptrs - r0;
    qsort(st->ptrs + r0, nres, sizeof *st->ptrs, cmp_due);
    bool repeat = nfiring && L->at != DW_TIME_NONE && now - L->at >= r->repeat_interval_ms;
    bool send = (nfiring && (fresh || repeat)) || (x->send_resolved && nres);
    const char **ids = calloc(nfiring + nres + 1, sizeof *ids);
    if (!ids) return -1;
    if (send) {
      dw_notify_req *q = req_new(st);
      if (!q) {
        free(ids);
        return -1;
      }
      q->kind = DW_NREQ_ALERTS;
      q->group_key = g->key;
      q->route = r;
      q->receiver = rc;
      q->integ = x;
      q->integ_index = (int)i;
      for (int l = 0; l < DW_NL__COUNT; l++) q->labels[l] = g->labels[l];
      q->nfiring = nfiring;
      q->nresolved = x->send_resolved ? nres : 0;
      q->at = now;
      st->req_firing_at[st->nreqs - 1] = f0;
      st->req_resolved_at[st->nreqs - 1] = r0;
      for (size_t k = 0; k < nfiring; k++) ids[k] = st->ptrs[f0 + k]->alert_id;
      int bad = ids_set(&L->firing, &L->nfiring, ids, nfiring);
      for (size_t k = 0; k < q->nresolved; k++) ids[k] = st->ptrs[r0 + k]->alert_id;
      bad |= ids_set(&L->resolved, &L->nresolved, ids, q->nresolved);
      free(ids);
      if (bad) return -1;
      L->at = now;
      L->pending = true;
      g->log_dirty = true;
    } else {
      if (nres && !x->send_resolved) {
        /* not to be told: what resolved is done with for this integration */
        size_t k = 0;
        for (size_t j = 0; j < L->nfiring; j++) {
          bool gone = false;
          for (size_t q = r0; q < r0 + nres && !gone; q++) gone = strcmp(st->ptrs[q]->alert_id, L->firing[j]) == 0;
          if (gone)
            free(L->firing[j]);
          else
            L->firing[k++] = L->firing[j];
        }
        if (L->nfiring != k) g->log_dirty = true;
        L->nfiring = k;
      }
      free(ids);
      st->nptrs = r0; /* nothing refers to them */
    }
  }
  /* resolved members no integration still owes a notice to leave the group */
  for (size_t k = 0; k < g->nmembers;) {
    talert *t = g->members[k];
    bool owed = false;
    if (t->a.cleared_at != DW_TIME_NONE) {
      for (size_t i = 0; i < g->nlog && !owed; i++) owed = ids_has(g->log[i].firing, g->log[i].nfiring, t->a.alert_id);
      if (!owed) {
        member_remove(g, t);
        st->cleanup_due = true;
        continue;
      }
    }
    k++;
  }
  g->flushed = true;
  g->next_flush = now + r->group_interval_ms;
  return 0;
}

/* Forgets resolved alerts in no group and deletes empty groups (at the
 * start of a tick: the previous tick's messages point at them). */
static void cleanup(dw_notify_state *st) {
  if (!st->cleanup_due) return;
  st->cleanup_due = false;
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    if (t->a.cleared_at == DW_TIME_NONE || t->ngroups) continue;
    strs_push(&st->del_alerts, strdup(t->a.alert_id));
    HASH_DEL(st->alerts, t);
    talert_free(t);
  }
  group *g, *gt;
  HASH_ITER(hh, st->groups, g, gt) {
    if (g->nmembers && g->route) continue;
    while (g->nmembers) member_remove(g, g->members[0]);
    strs_push(&st->del_groups, strdup(g->key));
    HASH_DEL(st->groups, g);
    group_free(g);
  }
}

static int64_t digest_due(const dw_notify_state *st, size_t i, int64_t now, int64_t *day_out) {
  const dw_notify_digest *d = &st->cfg->digests[i];
  int off = dw_calendar_utc_offset_min(st->cal);
  int64_t day = dw_local_day(now, off);
  *day_out = day;
  if (st->dg[i].forced && st->dg[i].last_day < day) return now;
  if (st->dg[i].last_day >= day || dw_calendar_is_working_day(st->cal, day) != 1) return DW_TIME_NONE;
  return day * DW_MS_PER_DAY - (int64_t)off * DW_MS_PER_MIN + (int64_t)d->at_min * DW_MS_PER_MIN;
}

long dw_notify_state_tick(dw_notify_state *st, int64_t now, const dw_notify_req **out) {
  cleanup(st);
  st->nreqs = 0;
  st->nptrs = 0;
  strs_clear(&st->keys);
  *out = NULL;
  /* escalations that are due */
  if (st->next_esc != DW_TIME_NONE && st->next_esc <= now) {
    st->next_esc = DW_TIME_NONE;
    talert *t, *tt;
    HASH_ITER(hh, st->alerts, t, tt) {
      if (t->a.cleared_at != DW_TIME_NONE) continue;
      if (attach(st, t, now)) return -1;
    }
  }
  inh_entry *inh = inh_build(st);
  group *g, *gt;
  int rc = 0;
  HASH_ITER(hh, st->groups, g, gt) {
    if (!g->route || g->next_flush > now) continue;
    if ((rc = flush(st, g, inh, now))) break;
  }
  inh_free(inh);
  if (rc) return -1;
  /* digests */
  for (size_t i = 0; i < st->ndg && i < st->cfg->ndigests; i++) {
    int64_t day, at = digest_due(st, i, now, &day);
    if (at == DW_TIME_NONE || now < at) continue;
    const dw_notify_digest *d = &st->cfg->digests[i];
    const dw_notify_receiver *rc2 = &st->cfg->receivers[d->receiver];
    int y, m, dd;
    dw_civil_from_days(day, &y, &m, &dd);
    char key[256];
    snprintf(key, sizeof key, "digest/%s/%04d-%02d-%02d", d->name, y, m, dd);
    if (strs_push(&st->keys, strdup(key))) return -1;
    for (size_t k = 0; k < rc2->ninteg; k++) {
      /* a digest is an email: Alertmanager's webhook body has no room for one */
      if (rc2->integ[k].kind != DW_NK_EMAIL) continue;
      dw_notify_req *q = req_new(st);
      if (!q) return -1;
      q->kind = DW_NREQ_DIGEST;
      q->group_key = st->keys.v[st->keys.n - 1];
      q->receiver = rc2;
      q->integ = &rc2->integ[k];
      q->integ_index = (int)k;
      q->at = now;
      q->digest = d;
      q->local_day = day;
      st->m->digests++;
    }
    st->dg[i].last_day = day;
    st->dg[i].dirty = true;
    st->dg[i].forced = false;
  }
  /* the pointer arrays are final now */
  for (size_t i = 0; i < st->nreqs; i++) {
    st->reqs[i].firing = st->ptrs + st->req_firing_at[i];
    st->reqs[i].resolved = st->ptrs + st->req_resolved_at[i];
  }
  st->m->tracked_alerts = (int64_t)HASH_COUNT(st->alerts);
  st->m->groups = (int64_t)HASH_COUNT(st->groups);
  *out = st->reqs;
  return (long)st->nreqs;
}

void dw_notify_state_force_digests(dw_notify_state *st) {
  for (size_t i = 0; i < st->ndg; i++) st->dg[i].forced = true;
}

int64_t dw_notify_state_next_wake(const dw_notify_state *st) {
  int64_t w = st->next_esc;
  group *g, *gt;
  HASH_ITER(hh, st->groups, g, gt) {
    if (g->route && (w == DW_TIME_NONE || g->next_flush < w)) w = g->next_flush;
  }
  return w;
}

void dw_notify_state_drain(dw_notify_state *st, const dw_notify_sink *s, void *o) {
  for (size_t i = 0; i < st->del_alerts.n; i++)
    if (s->alert_del) s->alert_del(st->del_alerts.v[i], o);
  strs_clear(&st->del_alerts);
  for (size_t i = 0; i < st->del_groups.n; i++)
    if (s->group_del) s->group_del(st->del_groups.v[i], o);
  strs_clear(&st->del_groups);
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    if (!t->dirty) continue;
    t->dirty = false;
    if (s->alert_put) s->alert_put(&t->a, o);
  }
  group *g, *gt;
  HASH_ITER(hh, st->groups, g, gt) {
    if (!g->dirty || !g->route) continue;
    g->dirty = false;
    if (s->group_put)
      s->group_put(g->key, st->cfg->receivers[g->route->receiver].name, g->next_flush, g->flushed,
                   g->log_dirty ? g->log : NULL, g->log_dirty ? g->nlog : 0, o);
    g->log_dirty = false;
  }
  for (size_t i = 0; i < st->ndg; i++) {
    if (!st->dg[i].dirty) continue;
    st->dg[i].dirty = false;
    if (s->digest_put) s->digest_put(st->dg[i].name, st->dg[i].last_day, o);
  }
}

size_t dw_notify_state_open_alerts(dw_notify_state *st, const dw_notify_matcher *m, size_t nm,
                                   const dw_alert *const **out) {
  size_t n = 0, cap = HASH_COUNT(st->alerts);
  if (cap > st->capopen) {
    const dw_alert **p = realloc(st->open_out, cap * sizeof *p);
    if (!p) {
      *out = NULL;
      return 0;
    }
    st->open_out = p;
    st->capopen = cap;
  }
  talert *t, *tt;
  HASH_ITER(hh, st->alerts, t, tt) {
    if (t->a.cleared_at == DW_TIME_NONE && dw_notify_matchers_match(m, nm, &t->a)) st->open_out[n++] = &t->a;
  }
  if (n) qsort(st->open_out, n, sizeof *st->open_out, cmp_due);
  *out = st->open_out;
  return n;
}

size_t dw_notify_state_tracked(const dw_notify_state *st) { return HASH_COUNT(st->alerts); }
size_t dw_notify_state_groups(const dw_notify_state *st) { return HASH_COUNT(st->groups); }
