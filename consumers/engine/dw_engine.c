/* dw_engine: the engine behind audit, watch and replay (see dw_engine.h).
 * Holds the dossiers (hash table of dw_dossier), interned strings, and a
 * timer heap with one entry per dossier: the next instant any of its rules
 * can change. Rules are level-triggered (dw_rules derives intervals from the
 * facts); evaluating a dossier at time t diffs the intervals begun by t
 * against the last alert emitted per rule, and emits RAISED / UPDATED /
 * CLEARED in logical-time order. Aggregates: per-event counters are added
 * once per new event; per-dossier counters are a function of the facts and
 * are kept right under out-of-order arrival by retracting the dossier's
 * contribution before an event and adding it back after. */
#include "dw_engine.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_dossier.h"
#include "dw_rules.h"
#include "dw_time.h"
#include "dw_timer.h"


#define INF INT64_MAX

struct dw_engine {
  const dw_calendar *cal;
  dw_aggregates *agg;
  dw_engine_sink sink;
  dw_rules_cfg rc;
  int64_t grace_ms;
  int utc;
  int64_t now;

  /* Linear probing, 0 = empty. A slot is the dossier pointer with, while
   * `tagged`, the top 16 bits of its 32-bit hash in bits 48-63, so that a
   * probe past other dossiers costs no cache miss on them. */
  dw_slab *slab; /* the dossier blocks */
  uint64_t *tab;
  size_t tab_cap, tab_n;
  int tagged;
  dw_timer heap;

  char **names; /* interned strings; names[0] = "" */
  uint8_t *name_len; /* their lengths, at most 255 (every copy of a name is bounded below that) */
  uint32_t n_names, cap_names;
  /* The aggregates' unit of each name as a commune, an agency, a procedure
   * (indexed by name id, NULL until first used), and the province. */
  dw_agg_unit **unit_of[DW_UNIT_PROVINCE];
  uint32_t unit_cap;
  dw_agg_unit *province;
  uint32_t *nmap; /* open addressing of name ids + 1; 0 = empty */
  size_t nmap_cap;

  char *gone; /* ids of dossiers that left memory since the last drain, NUL-separated */
  size_t gone_len, gone_cap;

  /* Tombstones of evicted dossiers (64-bit id hash -> eviction instant), kept
   * for another grace period: an event that arrives for a dossier already
   * evicted must not rebuild it from nothing, or its per-dossier counters
   * (received, intake_digitized, dossiers_with_reuse, results_digitized,
   * on_time/late) would count twice. Open addressing, key 0 = empty. */
  struct tomb {
    uint64_t key;
    int64_t at;
  } *tombs;
  size_t tomb_cap, tomb_n;
  uint64_t late_after_eviction;

  /* dw_engine_prefetch's pipeline: id hashes of the dossiers announced */
  uint32_t pf_hash[DW_ENGINE_PREFETCH_AHEAD];
  unsigned pf_n;

  uint64_t applied, duplicates, errors, evicted, open_alerts, dossier_bytes;
  uint64_t open_by_rule[DW_RULE__COUNT]; /* open_alerts per rule (metrics) */
  dw_buf blob; /* a dossier's state being drained */
};

static void set_heap_index(void *item, uint32_t idx) { ((dw_dossier *)item)->heap_idx = idx; }

#define SLOT_PTR_MASK ((UINT64_C(1) << 48) - 1)
static inline dw_dossier *slot_ptr(uint64_t s) { return (dw_dossier *)(uintptr_t)(s & SLOT_PTR_MASK); }
static inline uint64_t slot_tag(uint32_t h) { return (uint64_t)(h >> 16) << 48; }
static inline uint64_t slot_of(const dw_engine *e, const dw_dossier *d) {
  return (uint64_t)(uintptr_t)d | (e->tagged ? slot_tag(d->hash) : 0);
}
/* The dossier in slot i of the table, or NULL. */
static inline dw_dossier *tab_at(const dw_engine *e, size_t i) { return slot_ptr(e->tab[i]); }

/* Hashes for the in-memory tables (dossiers, names): XXH3, several times
 * faster than the byte-at-a-time FNV-1a of dw_hash_stable on these ids. FNV
 * stays where a hash is persisted (event ids seen, tombstone keys). */
static inline uint32_t id_hash(const char *s) { return dw_hash_fold32(dw_hash_fast(s, strlen(s))); }

/* ---- interned strings ---- */

static uint32_t intern(dw_engine *e, const char *s) {
  if (!s[0]) return 0;
  if ((size_t)(e->n_names + 1) * 2 > e->nmap_cap) {
    size_t nc = e->nmap_cap ? e->nmap_cap * 2 : 256;
    uint32_t *nm = calloc(nc, sizeof *nm);
    if (!nm) return 0;
    for (uint32_t i = 1; i < e->n_names; i++) {
      size_t j = id_hash(e->names[i]) & (nc - 1);
      while (nm[j]) j = (j + 1) & (nc - 1);
      nm[j] = i + 1;
    }
    free(e->nmap);
    e->nmap = nm;
    e->nmap_cap = nc;
  }
  size_t j = id_hash(s) & (e->nmap_cap - 1);
  while (e->nmap[j]) {
    uint32_t id = e->nmap[j] - 1;
    if (strcmp(e->names[id], s) == 0) return id;
    j = (j + 1) & (e->nmap_cap - 1);
  }
  const size_t len = strlen(s);
  if (e->n_names == e->cap_names) {
    uint32_t nc = e->cap_names * 2;
    char **nn = realloc(e->names, nc * sizeof *nn);
    if (!nn) return 0;
    e->names = nn;
    uint8_t *nl = realloc(e->name_len, nc);
    if (!nl) return 0;
    e->name_len = nl;
    e->cap_names = nc;
  }
  char *copy = malloc(len + 1);
  if (!copy) return 0;
  memcpy(copy, s, len + 1);
  e->names[e->n_names] = copy;
  e->name_len[e->n_names] = (uint8_t)(len < UINT8_MAX ? len : UINT8_MAX);
  e->nmap[j] = e->n_names + 1;
  return e->n_names++;
}

static uint32_t intern_cb(void *opaque, const char *s) { return intern(opaque, s); }

/* intern, trying first the id the dossier already has for that field (an
 * event mostly repeats its dossier's commune, agency and procedure). */
static inline uint32_t intern_hinted(dw_engine *e, const char *s, uint32_t hint) {
  return hint && strcmp(e->names[hint], s) == 0 ? hint : intern(e, s);
}

/* ---- dossier table ---- */

static dw_dossier *lookup(const dw_engine *e, const char *id, uint32_t h) {
  if (!e->tab_cap) return NULL;
  size_t m = e->tab_cap - 1, i = h & m;
  const uint64_t tag = slot_tag(h);
  for (uint64_t s; (s = e->tab[i]); i = (i + 1) & m) {
    if (e->tagged && (s & ~SLOT_PTR_MASK) != tag) continue;
    dw_dossier *d = slot_ptr(s);
    if (d->hash == h && strcmp(d->id, id) == 0) return d;
  }
  return NULL;
}

/* The first dossier in the probe chain of h whose tag matches (the likely
 * one), or NULL; reads only table slots. */
static dw_dossier *likely_slot(const dw_engine *e, uint32_t h) {
  if (!e->tab_cap || !e->tagged) return NULL;
  size_t m = e->tab_cap - 1, i = h & m;
  const uint64_t tag = slot_tag(h);
  for (uint64_t s; (s = e->tab[i]); i = (i + 1) & m)
    if ((s & ~SLOT_PTR_MASK) == tag) return slot_ptr(s);
  return NULL;
}

/* The aggregate units of d's commune, agency and procedure, as far as
 * they are resolved already (step: see dw_aggregates_prefetch). */
static void prefetch_units(const dw_engine *e, const dw_dossier *d, int step) {
  if (!e->agg) return;
  const uint32_t id[DW_UNIT_PROVINCE] = {d->commune, d->agency, d->procedure};
  for (int t = 0; t < DW_UNIT_PROVINCE; t++)
    if (id[t] && id[t] < e->unit_cap) dw_aggregates_prefetch(e->unit_of[t][id[t]], step);
}

/* Four stages, each a few calls after the previous one so that what it
 * reads has arrived: the table slot; then the dossier's cache lines; then
 * its var buffer, timer heap entry and aggregate units; then the units'
 * current day rows. */
void dw_engine_prefetch(dw_engine *e, const char *dossier_id) {
  enum { RING = DW_ENGINE_PREFETCH_AHEAD, STAGE2 = 3, STAGE3 = 6, STAGE4 = 7 };
  const uint32_t h = id_hash(dossier_id);
  const unsigned k = e->pf_n++;
  e->pf_hash[k % RING] = h;
  if (e->tab_cap) __builtin_prefetch(&e->tab[h & (e->tab_cap - 1)]);
  if (k >= STAGE2) {
    const dw_dossier *d = likely_slot(e, e->pf_hash[(k - STAGE2) % RING]);
    if (d) {
      __builtin_prefetch(d);
      __builtin_prefetch((const char *)d + 64);
      __builtin_prefetch((const char *)d + 128);
      __builtin_prefetch((const char *)d + sizeof *d + 24); /* the id's end, in a fourth line at worst */
    }
  }
  if (k >= STAGE3) {
    const dw_dossier *d = likely_slot(e, e->pf_hash[(k - STAGE3) % RING]);
    if (d) {
      if (!(d->flags & DW_DF_VAR_INLINE) && d->v.ptr) { /* two lines: the seen ids come last */
        __builtin_prefetch(d->v.ptr);
        __builtin_prefetch(d->v.ptr + 64);
      }
      if (d->heap_idx != DW_TIMER_NO_INDEX && d->heap_idx < e->heap.n) __builtin_prefetch(&e->heap.v[d->heap_idx]);
      prefetch_units(e, d, 0);
    }
  }
  if (k >= STAGE4) {
    const dw_dossier *d = likely_slot(e, e->pf_hash[(k - STAGE4) % RING]);
    if (d) prefetch_units(e, d, 1);
  }
}

static int tab_insert(dw_engine *e, dw_dossier *d) {
  if (e->tagged && ((uint64_t)(uintptr_t)d & ~SLOT_PTR_MASK)) {
    /* a pointer beyond 48 bits: drop the tags for good */
    for (size_t i = 0; i < e->tab_cap; i++) e->tab[i] &= SLOT_PTR_MASK;
    e->tagged = 0;
  }
  if ((e->tab_n + 1) * 4 > e->tab_cap * 3) {
    size_t nc = e->tab_cap ? e->tab_cap * 2 : 1024;
    uint64_t *nt = calloc(nc, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < e->tab_cap; i++) {
      uint64_t s = e->tab[i];
      if (!s) continue;
      size_t j = slot_ptr(s)->hash & (nc - 1);
      while (nt[j]) j = (j + 1) & (nc - 1);
      nt[j] = s;
    }
    free(e->tab);
    e->tab = nt;
    e->tab_cap = nc;
  }
  size_t m = e->tab_cap - 1, i = d->hash & m;
  while (e->tab[i]) i = (i + 1) & m;
  e->tab[i] = slot_of(e, d);
  e->tab_n++;
  return 0;
}

static void tab_delete(dw_engine *e, dw_dossier *d) {
  size_t m = e->tab_cap - 1, i = d->hash & m;
  while (tab_at(e, i) != d) i = (i + 1) & m;
  /* backward-shift deletion keeps every probe chain unbroken */
  for (size_t j = i;;) {
    j = (j + 1) & m;
    uint64_t x = e->tab[j];
    if (!x) break;
    size_t k = slot_ptr(x)->hash & m;
    int stay = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
    if (stay) continue;
    e->tab[i] = x;
    i = j;
  }
  e->tab[i] = 0;
  e->tab_n--;
}

/* ---- alerts ---- */


/* The unit of name id as a unit of that type, resolved once. */
static dw_agg_unit *unit_for(dw_engine *e, dw_unit_type type, uint32_t id) {
  if (!id) return NULL; /* "": counted in no unit of that type */
  if (id >= e->unit_cap) {
    uint32_t nc = e->unit_cap ? e->unit_cap : 256;
    while (nc <= id) nc *= 2;
    for (int t = 0; t < DW_UNIT_PROVINCE; t++) {
      dw_agg_unit **nu = realloc(e->unit_of[t], nc * sizeof *nu);
      if (!nu) return dw_aggregates_unit(e->agg, type, e->names[id]);
      memset(nu + e->unit_cap, 0, (nc - e->unit_cap) * sizeof *nu);
      e->unit_of[t] = nu;
    }
    e->unit_cap = nc;
  }
  dw_agg_unit **slot = &e->unit_of[type][id];
  if (!*slot) *slot = dw_aggregates_unit(e->agg, type, e->names[id]);
  return *slot;
}

/* The units a count lands in: commune, agency and procedure by interned
 * name id (by the event's text when interning ran out of memory: id 0 with
 * a non-empty text; ev may be NULL), and the province. */
static void units_of(dw_engine *e, uint32_t commune, uint32_t agency, uint32_t procedure, const dw_event *ev,
                     dw_agg_units *u) {
  if (!e->province) e->province = dw_aggregates_unit(e->agg, DW_UNIT_PROVINCE, "all");
  const uint32_t id[DW_UNIT_PROVINCE] = {commune, agency, procedure};
  const char *const text[DW_UNIT_PROVINCE] = {ev ? ev->commune : "", ev ? ev->agency : "", ev ? ev->procedure : ""};
  for (int t = 0; t < DW_UNIT_PROVINCE; t++)
    u->u[t] = id[t] ? unit_for(e, (dw_unit_type)t, id[t]) : dw_aggregates_unit(e->agg, (dw_unit_type)t, text[t]);
  u->u[DW_UNIT_PROVINCE] = e->province;
}


/* The open-OVERDUE gauge of d's units, with the alert's agency. */
static void gauge_add(dw_engine *e, const dw_dossier *d, uint32_t agency, int delta) {
  dw_agg_units u;
  units_of(e, d->commune, agency, d->procedure, NULL, &u);
  dw_aggregates_open_overdue_units(e->agg, &u, delta);
}

typedef struct change {
  int64_t at; /* logical instant, for ordering */
  int seq;
  dw_alert_change kind;
  uint8_t rule, sev;
  int64_t raised_at, due_at, cleared_at, ref;
  uint32_t agency;
  int retracted;
  uint32_t old_agency; /* UPDATED: the agency before (the gauge moves with it) */
} change;

/* Appends the decimal digits of v (>= 0) at p; returns the end. */
static char *put_digits(char *p, uint64_t v, int width) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n < width) tmp[n++] = '0';
  while (n) *p++ = tmp[--n];
  return p;
}

/* dw_time_format without printf (it is on the path of every alert): the
 * same text for years 0..9999, else dw_time_format itself. */
static void time_format(int64_t ms, int off, char *buf, size_t bufsize) {
  if (ms == DW_TIME_NONE || bufsize < 32) {
    dw_time_format(ms, off, buf, bufsize);
    return;
  }
  int64_t local = ms + (int64_t)off * DW_MS_PER_MIN;
  int64_t days = local >= 0 ? local / DW_MS_PER_DAY : -((-local + DW_MS_PER_DAY - 1) / DW_MS_PER_DAY);
  int64_t rem = local - days * DW_MS_PER_DAY;
  int y, m, d;
  dw_civil_from_days(days, &y, &m, &d);
  if (y < 0 || y > 9999) {
    dw_time_format(ms, off, buf, bufsize);
    return;
  }
  int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
  int msec = (int)(rem % 1000);
  char *p = buf;
  p = put_digits(p, (uint64_t)y, 4);
  *p++ = '-';
  p = put_digits(p, (uint64_t)m, 2);
  *p++ = '-';
  p = put_digits(p, (uint64_t)d, 2);
  *p++ = 'T';
  p = put_digits(p, (uint64_t)h, 2);
  *p++ = ':';
  p = put_digits(p, (uint64_t)mi, 2);
  *p++ = ':';
  p = put_digits(p, (uint64_t)s, 2);
  if (msec) {
    *p++ = '.';
    p = put_digits(p, (uint64_t)msec, 3);
  }
  if (off == 0) {
    *p++ = 'Z';
  } else {
    int aoff = off < 0 ? -off : off;
    *p++ = off < 0 ? '-' : '+';
    p = put_digits(p, (uint64_t)(aoff / 60), 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)(aoff % 60), 2);
  }
  *p = 0;
}

/* Copies src after p, bounded by end (keeps room for the NUL); returns the end. */
static char *put_str(char *p, const char *end, const char *src) {
  while (*src && p < end) *p++ = *src++;
  return p;
}

static void detail_of(const dw_engine *e, const change *c, char *buf, size_t n) {
  char t[40];
  if (c->retracted) {
    snprintf(buf, n, "withdrawn: a late event changed the facts");
    return;
  }
  time_format(c->ref, e->utc, t, sizeof t);
  if (c->ref == DW_TIME_NONE) strcpy(t, "unknown");
  if (c->rule >= DW_RULE__COUNT) {
    buf[0] = 0;
    return;
  }
  /* the rule's detail text for its severity (dw_rules.def) */
  const dw_rule_detail *dt = &dw_rule_table[c->rule].detail[c->sev == DW_SEV_CRITICAL];
  const char *pre = dt->before, *post = dt->after;
  /* pre + t + post, as snprintf would (truncated to n - 1) */
  char *p = buf, *end = buf + n - 1;
  p = put_str(p, end, pre);
  p = put_str(p, end, t);
  p = put_str(p, end, post);
  *p = 0;
}

/* Bounded copy of len bytes and a NUL (the interned strings already fit:
 * events are bounded). */
static void copy_mem(char *dst, size_t n, const char *src, size_t len) {
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}

static void fill_alert(const dw_engine *e, const dw_dossier *d, const change *c, dw_alert *a) {
  {
    /* "<dossier_id>:<RULE>:<raised_at>" (as "%s:%s:%lld", without printf) */
    char *p = a->alert_id, *end = a->alert_id + sizeof a->alert_id - 1;
    memcpy(p, d->id, d->id_len); /* (an id is shorter than DW_ID_MAX, the alert id longer by 48) */
    p += d->id_len;
    p = put_str(p, end, ":");
    p = put_str(p, end, dw_rule_name((dw_rule)c->rule));
    p = put_str(p, end, ":");
    char num[24], *q = num;
    if (c->raised_at < 0) *q++ = '-';
    q = put_digits(q, c->raised_at < 0 ? -(uint64_t)c->raised_at : (uint64_t)c->raised_at, 1);
    *q = 0;
    p = put_str(p, end, num);
    *p = 0;
  }
  a->rule = (dw_rule)c->rule;
  copy_mem(a->dossier_id, sizeof a->dossier_id, d->id, d->id_len);
  copy_mem(a->commune, sizeof a->commune, e->names[d->commune], e->name_len[d->commune]);
  copy_mem(a->agency, sizeof a->agency, e->names[c->agency], e->name_len[c->agency]);
  copy_mem(a->procedure, sizeof a->procedure, e->names[d->procedure], e->name_len[d->procedure]);
  a->severity = (dw_severity)c->sev;
  a->raised_at = c->raised_at;
  a->due_at = c->due_at;
  a->cleared_at = c->cleared_at;
  detail_of(e, c, a->detail, sizeof a->detail);
}

static void emit(dw_engine *e, const dw_dossier *d, const change *c) {
  if (c->kind == DW_ALERT_RAISED) e->open_alerts++, e->open_by_rule[c->rule]++;
  if (c->kind == DW_ALERT_CLEARED) e->open_alerts--, e->open_by_rule[c->rule]--;
  if (c->rule == DW_RULE_OVERDUE && e->agg) {
    if (c->kind != DW_ALERT_UPDATED) {
      gauge_add(e, d, c->agency, c->kind == DW_ALERT_RAISED ? 1 : -1);
    } else if (c->old_agency != c->agency) {
      gauge_add(e, d, c->old_agency, -1);
      gauge_add(e, d, c->agency, 1);
    }
  }
  if (e->sink.alert) {
    dw_alert a;
    fill_alert(e, d, c, &a);
    e->sink.alert(e->sink.opaque, &a, c->kind);
  }
}

/* ---- aggregates: a dossier's per-dossier contribution ---- */

enum { CONTRIB_MAX = 12 }; /* contribs() adds at most one per counter it knows */

typedef struct contrib {
  int64_t at;
  uint32_t commune, agency, procedure;
  int counter;
} contrib;

static int contribs(const dw_engine *e, const dw_dossier *d, contrib *out) {
  int n = 0;
#define ADD(C, AT, AG) out[n++] = (contrib){(AT), d->commune, (AG), d->procedure, (C)}
  if (d->received_at != DW_TIME_NONE) {
    ADD(DW_C_RECEIVED, d->received_at, d->recv_agency);
    if (d->channel == DW_CH_ONLINE_PARTIAL || d->channel == DW_CH_ONLINE_FULL)
      ADD(DW_C_ONLINE, d->received_at, d->recv_agency);
    if (d->channel == DW_CH_ONLINE_FULL) ADD(DW_C_ONLINE_FULL, d->received_at, d->recv_agency);
  }
  if (d->digitized_at != DW_TIME_NONE) ADD(DW_C_INTAKE_DIGITIZED, d->digitized_at, d->dig_agency);
  if (d->reuse_at != DW_TIME_NONE) ADD(DW_C_DOSSIERS_WITH_REUSE, d->reuse_at, d->reuse_agency);
  if (d->issued_at != DW_TIME_NONE) ADD(DW_C_RESULTS_ISSUED, d->issued_at, d->issued_agency);
  int64_t rd = DW_TIME_NONE;
  uint32_t rda = 0;
  if (d->issued_at != DW_TIME_NONE && (d->flags & DW_DF_ISSUED_DIGITIZED)) {
    rd = d->issued_at;
    rda = d->issued_agency;
  }
  if (d->resdig_at != DW_TIME_NONE && (rd == DW_TIME_NONE || d->resdig_at < rd)) {
    rd = d->resdig_at;
    rda = d->resdig_agency;
  }
  if (rd != DW_TIME_NONE) ADD(DW_C_RESULTS_DIGITIZED, rd, rda);
  if (d->received_at != DW_TIME_NONE && (d->issued_at != DW_TIME_NONE || d->end_at != DW_TIME_NONE)) {
    dw_timeline tl;
    dw_rules_timeline(&e->rc, d, &tl);
    if (tl.close_kind == DW_CLOSE_ISSUED || tl.close_kind == DW_CLOSE_REJECTED) {
      int64_t due = dw_rules_due_at(d, &tl, tl.close_at);
      uint32_t ag = tl.close_kind == DW_CLOSE_ISSUED ? d->issued_agency : d->end_agency;
      if (due != DW_TIME_NONE) ADD(tl.close_at <= due ? DW_C_ON_TIME : DW_C_LATE, tl.close_at, ag);
    }
  }
#undef ADD
  return n;
}

static int contrib_eq(const contrib *a, const contrib *b) {
  return a->counter == b->counter && a->at == b->at && a->commune == b->commune && a->agency == b->agency &&
         a->procedure == b->procedure;
}

static int same_place(const contrib *a, const contrib *b) {
  return a->at == b->at && a->commune == b->commune && a->agency == b->agency && a->procedure == b->procedure;
}

/* Counts what changed between a dossier's old and new contributions: -1 for
 * each old one gone, +1 for each new one, those at the same instant and
 * units in one call (RECEIVED's received/online/online_full, RESULT_ISSUED's
 * results_issued and on_time share both). */
static void contrib_diff(dw_engine *e, const contrib *old, int no, const contrib *nw, int nn) {
  if (!e->agg) return;
  const contrib *ch[2 * CONTRIB_MAX];
  int64_t delta[2 * CONTRIB_MAX];
  int n = 0;
  for (int i = 0; i < no; i++) {
    int j = 0;
    while (j < nn && !contrib_eq(&old[i], &nw[j])) j++;
    if (j == nn) ch[n] = &old[i], delta[n++] = -1;
  }
  for (int j = 0; j < nn; j++) {
    int i = 0;
    while (i < no && !contrib_eq(&old[i], &nw[j])) i++;
    if (i == no) ch[n] = &nw[j], delta[n++] = +1;
  }
  unsigned done = 0;
  for (int i = 0; i < n; i++) {
    if (done & (1u << i)) continue;
    dw_counter c[2 * CONTRIB_MAX];
    int64_t d[2 * CONTRIB_MAX];
    int k = 0;
    for (int j = i; j < n; j++)
      if (!(done & (1u << j)) && same_place(ch[i], ch[j])) {
        c[k] = (dw_counter)ch[j]->counter, d[k++] = delta[j];
        done |= 1u << j;
      }
    dw_agg_units u;
    units_of(e, ch[i]->commune, ch[i]->agency, ch[i]->procedure, NULL, &u);
    dw_aggregates_add_units(e->agg, &u, ch[i]->at, c, d, k);
  }
}

/* ---- tombstones ---- */

static uint64_t tomb_key(const char *dossier_id) {
  uint64_t k = dw_hash_stable(dossier_id);
  return k ? k : 1;
}

/* Whether a tombstone protects the dossier now: one expires grace_ms after
 * it was made, by the clock. (Expired ones are only dropped when the table
 * grows, which happens at different moments in every engine: deciding by
 * their presence alone made a late event settle in one replay job layout,
 * or in watch, and rebuild the dossier in another.) */
static int tomb_has(const dw_engine *e, uint64_t k) {
  if (!e->tomb_cap) return 0;
  for (size_t i = k & (e->tomb_cap - 1);; i = (i + 1) & (e->tomb_cap - 1)) {
    if (e->tombs[i].key == k) return e->now == DW_TIME_NONE || e->tombs[i].at + e->grace_ms >= e->now;
    if (e->tombs[i].key == 0) return 0;
  }
}

static void tomb_put(struct tomb *t, size_t cap, uint64_t k, int64_t at) {
  size_t i = k & (cap - 1);
  while (t[i].key && t[i].key != k) i = (i + 1) & (cap - 1);
  t[i] = (struct tomb){k, at};
}

/* Records an evicted dossier; expired tombstones are dropped on rehash.
 * Out of memory only costs the protection, never correctness of the rest. */
static void tomb_add(dw_engine *e, uint64_t k, int64_t at) {
  if ((e->tomb_n + 1) * 2 > e->tomb_cap) {
    size_t live = 0;
    for (size_t i = 0; i < e->tomb_cap; i++)
      live += e->tombs[i].key && e->tombs[i].at + e->grace_ms >= at;
    size_t cap = 1024;
    while ((live + 1) * 2 > cap / 2) cap *= 2;
    struct tomb *t = calloc(cap, sizeof *t);
    if (!t) return;
    for (size_t i = 0; i < e->tomb_cap; i++)
      if (e->tombs[i].key && e->tombs[i].at + e->grace_ms >= at) tomb_put(t, cap, e->tombs[i].key, e->tombs[i].at);
    free(e->tombs);
    e->tombs = t;
    e->tomb_cap = cap;
    e->tomb_n = live;
  }
  size_t before = e->tomb_n;
  tomb_put(e->tombs, e->tomb_cap, k, at);
  e->tomb_n = before + 1; /* a re-put of the same key overcounts slightly: only rehashes earlier */
}

/* ---- removal ---- */

/* Drops a dossier from memory without emitting anything; keeps the gauge and
 * the open-alert count consistent. */
static void drop(dw_engine *e, dw_dossier *d) {
  dw_alert_rec *r = dw_dossier_recs(d);
  for (unsigned i = 0; i < d->n_rec; i++) {
    if (!r[i].open) continue;
    e->open_alerts--;
    e->open_by_rule[r[i].rule]--;
    if (r[i].rule == DW_RULE_OVERDUE && e->agg) gauge_add(e, d, r[i].agency, -1);
  }
  if (d->heap_idx != DW_TIMER_NO_INDEX) dw_timer_remove(&e->heap, d->heap_idx);
  tab_delete(e, d);
  e->dossier_bytes -= dw_dossier_bytes(d);
  dw_dossier_free(e->slab, d);
}

static void evict(dw_engine *e, dw_dossier *d) {
  size_t n = (size_t)d->id_len + 1;
  if (e->gone_len + n > e->gone_cap) {
    size_t nc = e->gone_cap ? e->gone_cap * 2 : 4096;
    while (nc < e->gone_len + n) nc *= 2;
    char *ng = realloc(e->gone, nc);
    if (ng) {
      e->gone = ng;
      e->gone_cap = nc;
    }
  }
  if (e->gone_len + n <= e->gone_cap) {
    memcpy(e->gone + e->gone_len, d->id, n);
    e->gone_len += n;
  }
  e->evicted++;
  tomb_add(e, tomb_key(d->id), e->now);
  drop(e, d);
}

/* When the dossier may leave memory: closed_grace_days after close (and a
 * dossier whose RECEIVED never came, that long after its latest event).
 * Not at RETURNED already, although the result rules are settled then: a
 * late event (a DIGITIZED, a RESULT_DIGITIZED) arriving within the grace
 * period must still find the dossier, or the outcome would depend on how
 * late it came relative to the clock, i.e. on delivery order. */
static int64_t evict_at(const dw_engine *e, const dw_dossier *d, const dw_timeline *tl, const dw_rule_out *o) {
  (void)o;
  if (!tl->received) return d->last_at + e->grace_ms;
  if (tl->close_at == DW_TIME_NONE) return DW_TIME_NONE;
  return tl->close_at + e->grace_ms;
}

/* ---- evaluation ---- */

static void add_change(change *ch, int *n, change c) {
  if (*n >= 64) return;
  c.seq = *n;
  ch[(*n)++] = c;
}

/* Evaluates d at instant t: emits what changed, reschedules it, and evicts it
 * when its time has come. Returns 1 if d was evicted. */
static int eval(dw_engine *e, dw_dossier *d, int64_t t) {
  dw_timeline tl;
  dw_rule_out out;
  dw_rules_timeline(&e->rc, d, &tl);
  dw_rules_derive(&e->rc, d, &tl, &out);
  change ch[64];
  int nch = 0;
  size_t before = dw_dossier_var_bytes(d); /* (the dossier block itself never changes size) */

  /* each rule's record, found in one pass (records are only ever appended,
   * so the positions hold while the loop adds some) */
  int8_t rec_at[DW_RULE__COUNT];
  memset(rec_at, -1, sizeof rec_at);
  {
    const dw_alert_rec *r = dw_dossier_recs(d);
    for (unsigned i = 0; i < d->n_rec; i++)
      if (r[i].rule < DW_RULE__COUNT) rec_at[r[i].rule] = (int8_t)i;
  }
  for (int rule = 0; rule < DW_RULE__COUNT; rule++) {
    dw_alert_rec *rec = rec_at[rule] >= 0 ? dw_dossier_recs(d) + rec_at[rule] : NULL;
    const dw_ival *iv = out.iv[rule];
    const int n = out.n[rule];
    int matched = -1;
    if (rec)
      for (int i = 0; i < n; i++)
        if (iv[i].r == rec->raised_at) matched = i;
    if (t != DW_TIME_NONE && rec && rec->open && matched < 0) { /* (no clock yet: nothing to say) */
      /* what was raised no longer follows from the facts: withdraw it now
       * (cleared_at = t), before anything else of this evaluation, so that a
       * replacement raised at an earlier logical instant never overlaps it */
      add_change(ch, &nch, (change){DW_TIME_NONE, 0, DW_ALERT_CLEARED, (uint8_t)rule, rec->sev, rec->raised_at, rec->due_at, t,
                                    DW_TIME_NONE, rec->agency, 1, rec->agency});
      rec->open = 0;
    }
    for (int i = 0; i < n; i++) {
      if (!dw_ival_raised(&iv[i], t)) break;
      int cl = dw_ival_cleared(&iv[i], t);
      uint8_t sev = dw_ival_sev(&iv[i], t);
      if (rec && i == matched && (rec->open || cl)) {
        if (!rec->open) continue; /* emitted and cleared before */
        if (cl) {
          uint8_t csev = dw_ival_sev(&iv[i], iv[i].c - 1);
          if (csev != rec->sev) {
            add_change(ch, &nch, (change){iv[i].sev_at, 0, DW_ALERT_UPDATED, (uint8_t)rule, csev, rec->raised_at,
                                          iv[i].due, DW_TIME_NONE, iv[i].ref, rec->agency, 0, rec->agency});
            rec->sev = csev;
          }
          add_change(ch, &nch, (change){iv[i].c, 0, DW_ALERT_CLEARED, (uint8_t)rule, rec->sev, rec->raised_at,
                                        iv[i].due, iv[i].c, iv[i].ref, rec->agency, 0, rec->agency});
          rec->open = 0;
        } else if (sev != rec->sev || iv[i].due != rec->due_at || rec->agency != d->agency) {
          /* severity, due or the dossier's current agency changed */
          int64_t at = sev != rec->sev && iv[i].sev_at != DW_TIME_NONE && iv[i].sev_at <= t ? iv[i].sev_at : t;
          uint32_t old_agency = rec->agency;
          rec->sev = sev;
          rec->due_at = iv[i].due;
          rec->agency = d->agency;
          add_change(ch, &nch, (change){at, 0, DW_ALERT_UPDATED, (uint8_t)rule, sev, rec->raised_at, rec->due_at,
                                        DW_TIME_NONE, iv[i].ref, rec->agency, 0, old_agency});
        }
        continue;
      }
      if (rec && cl && iv[i].r <= rec->raised_at) continue; /* history already told */
      /* a new alert (or an older one that holds again) */
      int64_t cleared_sev_t = cl ? iv[i].c - 1 : t;
      uint8_t rsev = dw_ival_sev(&iv[i], dw_ival_first(&iv[i]));
      dw_alert_rec nr = {iv[i].r, iv[i].due, d->agency, (uint8_t)rule, rsev, 1, 0};
      if (rec) {
        *rec = nr;
      } else {
        rec = dw_dossier_rec_add(e->slab, d, &nr);
        if (!rec) break;
      }
      add_change(ch, &nch, (change){iv[i].r, 0, DW_ALERT_RAISED, (uint8_t)rule, rsev, iv[i].r, iv[i].due,
                                    DW_TIME_NONE, iv[i].ref, d->agency, 0, d->agency});
      uint8_t later = dw_ival_sev(&iv[i], cleared_sev_t);
      if (later != rsev) {
        rec->sev = later;
        add_change(ch, &nch, (change){iv[i].sev_at, 0, DW_ALERT_UPDATED, (uint8_t)rule, later, iv[i].r, iv[i].due,
                                      DW_TIME_NONE, iv[i].ref, d->agency, 0, d->agency});
      }
      if (cl) {
        add_change(ch, &nch, (change){iv[i].c, 0, DW_ALERT_CLEARED, (uint8_t)rule, rec->sev, iv[i].r, iv[i].due,
                                      iv[i].c, iv[i].ref, d->agency, 0, d->agency});
        rec->open = 0;
      }
      matched = i;
    }
  }

  /* emit in logical-time order (stable) */
  for (int i = 1; i < nch; i++) {
    change c = ch[i];
    int j = i - 1;
    while (j >= 0 && (ch[j].at > c.at || (ch[j].at == c.at && ch[j].seq > c.seq))) {
      ch[j + 1] = ch[j];
      j--;
    }
    ch[j + 1] = c;
  }
  for (int i = 0; i < nch; i++) emit(e, d, &ch[i]);
  if (nch) d->flags |= DW_DF_DIRTY;
  e->dossier_bytes += dw_dossier_var_bytes(d) - before;

  /* next instant anything can change */
  int64_t next = INF;
  for (int rule = 0; rule < DW_RULE__COUNT; rule++)
    for (int i = 0; i < out.n[rule]; i++) {
      const dw_ival *iv = &out.iv[rule][i];
      int64_t f = dw_ival_first(iv);
      if (t == DW_TIME_NONE || f > t) {
        if (f < next) next = f;
        continue;
      }
      if (iv->c != DW_TIME_NONE && iv->c > t && iv->c < next) next = iv->c;
      if (iv->sev_at != DW_TIME_NONE && iv->sev_at > t && iv->sev_at < next) next = iv->sev_at;
    }
  int64_t ev = evict_at(e, d, &tl, &out);
  if (ev != DW_TIME_NONE) {
    if (t != DW_TIME_NONE && ev <= t) {
      evict(e, d);
      return 1;
    }
    if (ev < next) next = ev;
  }
  if (next == INF) {
    if (d->heap_idx != DW_TIMER_NO_INDEX) dw_timer_remove(&e->heap, d->heap_idx);
  } else {
    dw_timer_set(&e->heap, d, d->heap_idx, next);
  }
  return 0;
}

/* ---- public API ---- */

dw_engine *dw_engine_new(const dw_config *cfg, const dw_calendar *cal, dw_aggregates *agg, dw_engine_sink sink,
                         char *errstr, size_t errstr_size) {
  if (!cal) {
    snprintf(errstr, errstr_size, "engine: no calendar");
    return NULL;
  }
  dw_engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(errstr, errstr_size, "engine: out of memory");
    return NULL;
  }
  e->cal = cal;
  e->agg = agg;
  e->sink = sink;
  e->utc = dw_calendar_utc_offset_min(cal);
  e->now = DW_TIME_NONE;
  const int64_t day = dw_calendar_day_ms(cal);
  double soon = cfg ? dw_config_get_double(cfg, "rules.due_soon_days") : 1;
  double intake = cfg ? dw_config_get_double(cfg, "rules.intake_digitize_days") : 1;
  double result = cfg ? dw_config_get_double(cfg, "rules.result_digitize_days") : 1;
  int64_t grace = cfg ? dw_config_get_int(cfg, "rules.closed_grace_days") : 30;
  e->rc = (dw_rules_cfg){cal, llround(soon * (double)day), llround(intake * (double)day), llround(result * (double)day)};
  e->grace_ms = grace * DW_MS_PER_DAY;
  dw_timer_init(&e->heap, set_heap_index);
  e->cap_names = 64;
  e->names = malloc(e->cap_names * sizeof *e->names);
  e->name_len = calloc(e->cap_names, 1);
  e->slab = dw_slab_new();
  if (!e->slab || !e->names || !e->name_len || !(e->names[0] = strdup(""))) {
    free(e->names);
    free(e->name_len);
    dw_slab_destroy(e->slab);
    free(e);
    snprintf(errstr, errstr_size, "engine: out of memory");
    return NULL;
  }
  e->n_names = 1;
  e->tagged = 1;
  return e;
}

void dw_engine_destroy(dw_engine *e) {
  if (!e) return;
  for (size_t i = 0; i < e->tab_cap; i++) dw_dossier_free(e->slab, tab_at(e, i));
  dw_slab_destroy(e->slab);
  free(e->tab);
  dw_timer_free(&e->heap);
  for (uint32_t i = 0; i < e->n_names; i++) free(e->names[i]);
  free(e->names);
  free(e->name_len);
  free(e->nmap);
  for (int t = 0; t < DW_UNIT_PROVINCE; t++) free(e->unit_of[t]);
  free(e->gone);
  free(e->tombs);
  dw_buf_free(&e->blob);
  free(e);
}

/* Can this event move an input of contribs() (times and agencies of
 * RECEIVED, DIGITIZED, DOC_REUSED, RESULT_ISSUED/DIGITIZED, REJECTED/
 * WITHDRAWN, the pauses)? commune/procedure move only on a dossier without
 * RECEIVED, which the caller checks. */
static int contrib_inputs(const dw_event *ev) {
  switch (ev->type) {
  case DW_EV_PAPER_REQUESTED:
  case DW_EV_TRANSFERRED:
  case DW_EV_APOLOGY_ISSUED:
  case DW_EV_RETURNED:
  case DW_EV_PAYMENT:
  case DW_EV_RATED: return 0;
  default: return 1;
  }
}

/* Can this event move an input of the rules or of the eviction time other
 * than the current agency (which the caller compares)? The event types
 * some rule wakes on (dw_rules.def); a PAPER_REQUESTED that is not for a
 * paper in the warehouse changes no fact. */
static const unsigned rules_wake = 0
#define DW_RULE(name, sev, wakes, d_warning, d_critical) | (wakes)
#include "dw_rules.def"
#undef DW_RULE
    ;

static int rule_inputs(const dw_event *ev) {
  if (ev->type == DW_EV_PAPER_REQUESTED && !ev->in_warehouse) return 0;
  return (rules_wake >> ev->type) & 1u;
}

/* Counters that count events, not dossiers (CONTRACT §5), at the event's
 * own occurred_at. */
static void count_event(dw_engine *e, const dw_event *ev, const dw_dossier_ids *ids) {
  if (!e->agg) return;
  /* what this event counts (most types: nothing here) */
  dw_counter c[2];
  int64_t delta[2];
  int n = 0;
#define COUNT(C, D) (c[n] = (C), delta[n++] = (D))
  switch (ev->type) {
  case DW_EV_DOC_REUSED: COUNT(DW_C_REUSED_DOCS, 1); break;
  case DW_EV_PAPER_REQUESTED:
    if (ev->in_warehouse) COUNT(DW_C_PAPER_REQUESTS_FROM_WAREHOUSE, 1);
    break;
  case DW_EV_APOLOGY_ISSUED: COUNT(DW_C_APOLOGIES, 1); break;
  case DW_EV_PAYMENT:
    COUNT(DW_C_PAID, 1);
    if (ev->online) COUNT(DW_C_PAID_ONLINE, 1);
    break;
  case DW_EV_RATED:
    COUNT(DW_C_RATINGS, 1);
    COUNT(DW_C_RATING_SUM, ev->score);
    break;
  default: break;
  }
#undef COUNT
  if (!n) return;
  dw_agg_units u;
  units_of(e, ids->commune, ids->agency, ids->procedure, ev, &u);
  dw_aggregates_add_units(e->agg, &u, ev->occurred_at, c, delta, n);
}

dw_apply_status dw_engine_apply(dw_engine *e, const dw_event *ev, char *errstr, size_t errstr_size) {
  if (dw_event_validate(ev, errstr, errstr_size)) {
    e->errors++;
    return DW_APPLY_ERROR;
  }
  int64_t base_due = DW_TIME_NONE;
  if (ev->type == DW_EV_RECEIVED) {
    if (ev->due_at != DW_TIME_NONE) {
      base_due = ev->due_at;
    } else {
      char why[200];
      int64_t w = (int64_t)ev->processing_days * dw_calendar_day_ms(e->cal);
      if (dw_calendar_add_working(e->cal, ev->occurred_at, w, &base_due, why, sizeof why)) {
        snprintf(errstr, errstr_size, "event '%s': due time from processing_days: %s", ev->event_id, why);
        e->errors++;
        return DW_APPLY_ERROR;
      }
    }
  }
  const uint32_t h = id_hash(ev->dossier_id);
  const uint64_t eh = dw_hash_stable(ev->event_id);
  dw_dossier *d = lookup(e, ev->dossier_id, h);
  int created = 0;
  if (d && dw_dossier_has_seen(d, eh)) {
    e->duplicates++;
    return DW_APPLY_DUPLICATE;
  }
  dw_dossier_ids ids = {intern_hinted(e, ev->commune, d ? d->commune : 0),
                        intern_hinted(e, ev->agency, d ? d->agency : 0),
                        intern_hinted(e, ev->procedure, d ? d->procedure : 0), intern(e, ev->to_agency)};
  if (!d && tomb_has(e, tomb_key(ev->dossier_id))) {
    /* The dossier already left memory (its per-dossier counters and alerts
     * are settled): count what counts events, rebuild nothing. */
    count_event(e, ev, &ids);
    e->late_after_eviction++;
    e->applied++;
    return DW_APPLY_SETTLED;
  }
  if (!d) {
    d = dw_dossier_new(e->slab, ev->dossier_id, h);
    if (!d || tab_insert(e, d)) {
      dw_dossier_free(e->slab, d);
      snprintf(errstr, errstr_size, "event '%s': out of memory for dossier '%s'", ev->event_id, ev->dossier_id);
      e->errors++;
      return DW_APPLY_ERROR;
    }
    e->dossier_bytes += dw_dossier_bytes(d);
    created = 1;
  }
  /* Work that an event cannot change is skipped (same result, see
   * contrib_inputs/rule_inputs): per-dossier counters are re-derived only
   * when the event can move one of their inputs, and the rules only when it
   * can move one of theirs. */
  const int need_contrib = created || contrib_inputs(ev) || !(d->flags & DW_DF_FROM_RECEIVED);
  contrib old[CONTRIB_MAX], nw[CONTRIB_MAX];
  int no = need_contrib ? contribs(e, d, old) : 0;
  const uint32_t agency_before = d->agency;
  size_t before = dw_dossier_var_bytes(d);
  if (dw_dossier_apply(e->slab, d, ev, eh, &ids, base_due, (const char *const *)e->names)) {
    snprintf(errstr, errstr_size, "event '%s': dossier '%s' cannot hold more events", ev->event_id, ev->dossier_id);
    e->errors++;
    e->dossier_bytes += dw_dossier_var_bytes(d) - before;
    if (created) drop(e, d);
    return DW_APPLY_ERROR;
  }
  e->dossier_bytes += dw_dossier_var_bytes(d) - before;
  d->flags |= DW_DF_DIRTY;
  if (need_contrib) {
    int nn = contribs(e, d, nw);
    contrib_diff(e, old, no, nw, nn);
  }

  count_event(e, ev, &ids);
  e->applied++;
  /* The dossier was evaluated at its last event or timer, and no timer of
   * it is pending at now (advance ran first): if the event changed none of
   * the rules' inputs, evaluating again would find nothing new and the same
   * next deadline. */
  const int pending = d->heap_idx != DW_TIMER_NO_INDEX && e->heap.v[d->heap_idx].at <= e->now;
  if (created || e->now == DW_TIME_NONE || pending || d->received_at == DW_TIME_NONE || d->agency != agency_before ||
      rule_inputs(ev))
    eval(e, d, e->now);
  return DW_APPLY_OK;
}

void dw_engine_advance(dw_engine *e, int64_t now) {
  if (now == DW_TIME_NONE) return;
  if (e->now != DW_TIME_NONE && now < e->now) now = e->now;
  const dw_timer_entry *top;
  while ((top = dw_timer_peek(&e->heap)) && top->at <= now) {
    dw_dossier *d = top->item;
    int64_t t = top->at;
    if (e->now != DW_TIME_NONE && t < e->now) t = e->now;
    if (t == DW_TIME_NONE) t = now; /* restored before the clock started */
    e->now = t;
    eval(e, d, t);
  }
  e->now = now;
}

int64_t dw_engine_now(const dw_engine *e) { return e->now; }

int64_t dw_engine_next_deadline(const dw_engine *e) {
  const dw_timer_entry *top = dw_timer_peek(&e->heap);
  return top ? top->at : DW_TIME_NONE;
}

void dw_engine_foreach_open_alert(const dw_engine *e, void (*fn)(const dw_alert *a, void *opaque), void *opaque) {
  for (size_t i = 0; i < e->tab_cap; i++) {
    dw_dossier *d = tab_at(e, i);
    if (!d || !d->n_rec) continue;
    dw_alert_rec *r = dw_dossier_recs(d);
    int any = 0;
    for (unsigned k = 0; k < d->n_rec; k++) any |= r[k].open;
    if (!any) continue;
    dw_timeline tl;
    dw_rule_out out;
    dw_rules_timeline(&e->rc, d, &tl);
    dw_rules_derive(&e->rc, d, &tl, &out);
    for (unsigned k = 0; k < d->n_rec; k++) {
      if (!r[k].open) continue;
      change c = {0, 0, DW_ALERT_RAISED, r[k].rule, r[k].sev, r[k].raised_at, r[k].due_at, DW_TIME_NONE,
                  DW_TIME_NONE, r[k].agency, 0, r[k].agency};
      for (int j = 0; j < out.n[r[k].rule]; j++)
        if (out.iv[r[k].rule][j].r == r[k].raised_at) c.ref = out.iv[r[k].rule][j].ref;
      dw_alert a;
      fill_alert(e, d, &c, &a);
      fn(&a, opaque);
    }
  }
}

void dw_engine_stats_get(const dw_engine *e, dw_engine_stats *out) {
  memset(out, 0, sizeof *out);
  out->applied = e->applied;
  out->duplicates = e->duplicates;
  out->errors = e->errors;
  out->evicted = e->evicted;
  out->late_after_eviction = e->late_after_eviction;
  out->open_alerts = e->open_alerts;
  memcpy(out->open_by_rule, e->open_by_rule, sizeof out->open_by_rule);
  out->dossiers_in_memory = e->tab_n;
  for (size_t i = 0; i < e->tab_cap; i++) {
    const dw_dossier *d = tab_at(e, i);
    if (!d || d->received_at == DW_TIME_NONE) continue;
    int64_t c = d->issued_at;
    if (d->end_at != DW_TIME_NONE && (c == DW_TIME_NONE || d->end_at < c)) c = d->end_at;
    if (c == DW_TIME_NONE || (e->now != DW_TIME_NONE && c > e->now)) out->dossiers_open++;
  }
  out->state_bytes = e->dossier_bytes + e->tab_cap * sizeof(dw_dossier *) + dw_timer_bytes(&e->heap);
}

/* A tombstone blob: 'T', version 1, the 64-bit id hash and the clock when
 * the blob was made (a drain after the dossier left memory; little-endian).
 * Saved in place of the state, so that a restarted or rebalanced engine
 * still knows the dossier is settled. */

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int dw_engine_blob_is_tombstone(const void *blob, size_t len) {
  return blob && len == DW_ENGINE_TOMBSTONE_LEN && ((const uint8_t *)blob)[0] == 'T';
}

int64_t dw_engine_tombstone_retention_ms(const dw_config *cfg) {
  return 2 * (cfg ? dw_config_get_int(cfg, "rules.closed_grace_days") : 30) * DW_MS_PER_DAY;
}

size_t dw_engine_tombstone(const dw_engine *e, const char *dossier_id, uint8_t out[DW_ENGINE_TOMBSTONE_LEN]) {
  out[0] = 'T', out[1] = 1;
  put_le64(out + 2, tomb_key(dossier_id));
  put_le64(out + 10, (uint64_t)e->now);
  return DW_ENGINE_TOMBSTONE_LEN;
}

int dw_engine_holds(const dw_engine *e, const char *dossier_id) {
  return lookup(e, dossier_id, id_hash(dossier_id)) != NULL;
}

void dw_engine_drain_gone(dw_engine *e, void (*fn)(const char *dossier_id, void *opaque), void *opaque) {
  /* A dossier can leave memory, come back (a late event after its
   * tombstone expired makes it anew) and leave again between two drains:
   * it is told once, and not at all while it is back (its state is what
   * counts, and comes as dirty). The same key is the same dossier, as for
   * the tombstones themselves. Out of memory: told as listed. */
  dw_keyset seen = {0};
  for (size_t off = 0; off < e->gone_len; off += strlen(e->gone + off) + 1) {
    const char *id = e->gone + off;
    if (dw_engine_holds(e, id) || dw_keyset_add(&seen, tomb_key(id)) == 0) continue;
    fn(id, opaque);
  }
  dw_keyset_free(&seen);
  e->gone_len = 0;
}

typedef struct tomb_ctx {
  const dw_engine *e;
  void (*fn)(const char *dossier_id, const void *blob, size_t len, int open, void *opaque);
  void *opaque;
} tomb_ctx;

static void tell_tombstone(const char *id, void *opaque) {
  tomb_ctx *c = opaque;
  uint8_t tomb[DW_ENGINE_TOMBSTONE_LEN];
  c->fn(id, tomb, dw_engine_tombstone(c->e, id, tomb), 0, c->opaque);
}

void dw_engine_drain_dirty(dw_engine *e,
                           void (*fn)(const char *dossier_id, const void *blob, size_t len, int open, void *opaque),
                           void *opaque) {
  dw_engine_drain_gone(e, tell_tombstone, &(tomb_ctx){e, fn, opaque});
  for (size_t i = 0; i < e->tab_cap; i++) {
    dw_dossier *d = tab_at(e, i);
    if (!d || !(d->flags & DW_DF_DIRTY)) continue;
    const int open = d->received_at != DW_TIME_NONE && d->issued_at == DW_TIME_NONE && d->end_at == DW_TIME_NONE;
    if (dw_dossier_serialize(d, (const char *const *)e->names, &e->blob) == 0)
      fn(d->id, e->blob.data, e->blob.len, open, opaque);
    d->flags &= (uint8_t)~DW_DF_DIRTY;
  }
}

int dw_engine_restore(dw_engine *e, const void *blob, size_t len, int64_t as_of, char *errstr, size_t errstr_size) {
  if (blob && len >= 1 && ((const uint8_t *)blob)[0] == 'T') {
    if (!dw_engine_blob_is_tombstone(blob, len) || ((const uint8_t *)blob)[1] != 1) {
      snprintf(errstr, errstr_size, "tombstone blob: bad length %zu or version", len);
      return -1;
    }
    tomb_add(e, get_le64((const uint8_t *)blob + 2), (int64_t)get_le64((const uint8_t *)blob + 10));
    return 0;
  }
  dw_dossier *d = dw_dossier_deserialize(e->slab, blob, len, intern_cb, e, errstr, errstr_size);
  if (!d) return -1;
  d->hash = id_hash(d->id);
  dw_dossier *old = lookup(e, d->id, d->hash);
  if (old) drop(e, old);
  if (tab_insert(e, d)) {
    dw_dossier_free(e->slab, d);
    snprintf(errstr, errstr_size, "restore: out of memory");
    return -1;
  }
  e->dossier_bytes += dw_dossier_bytes(d);
  dw_alert_rec *r = dw_dossier_recs(d);
  for (unsigned i = 0; i < d->n_rec; i++) {
    if (!r[i].open) continue;
    e->open_alerts++;
    e->open_by_rule[r[i].rule]++;
    if (r[i].rule == DW_RULE_OVERDUE && e->agg) gauge_add(e, d, r[i].agency, 1);
  }
  /* evaluated at the next advance (time may have passed since it was
   * saved), but not before as_of (see dw_engine.h) */
  const bool ahead = as_of != DW_TIME_NONE && (e->now == DW_TIME_NONE || as_of > e->now);
  dw_timer_set(&e->heap, d, d->heap_idx, ahead ? as_of : e->now);
  return 0;
}

void dw_engine_forget(dw_engine *e, int (*keep)(const char *dossier_id, void *opaque), void *opaque) {
  size_t n = 0;
  dw_dossier **victims = malloc((e->tab_n + 1) * sizeof *victims);
  if (!victims) return;
  for (size_t i = 0; i < e->tab_cap; i++)
    if (e->tab[i] && !keep(tab_at(e, i)->id, opaque)) victims[n++] = tab_at(e, i);
  for (size_t i = 0; i < n; i++) drop(e, victims[i]);
  free(victims);
}
