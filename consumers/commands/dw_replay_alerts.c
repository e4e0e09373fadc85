/* dw_replay_alerts: a replay job's alerts as compact records (see
 * dw_replay_alerts.h).
 *
 * Records lie back to back in one arena; an open-addressing index maps the
 * alert_id's hash to the offset of its latest version. A new version of
 * the same size overwrites the old one in place (the common case: clearing
 * changes times only); one of another size is appended and the old one
 * marked superseded. dw_ralerts_spill rebuilds the arena from what stays,
 * which also drops the superseded records. The spill is a dw_runs of the
 * same records keyed by alert_id: sorted runs on a temp file, merged back
 * in alert_id order (the order of the alerts table's primary key). */
#include "dw_replay_alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"
#include "dw_event.h"
#include "dw_hash.h"
#include "dw_runs.h"

enum { S_ALERT_ID, S_DOSSIER, S_COMMUNE, S_AGENCY, S_PROCEDURE, S_DETAIL, S__COUNT };

/* A record: this header, then its strings (without NUL) in S_ order. Read
 * and written by memcpy (records are not aligned). */
typedef struct rec_hdr {
  uint32_t size;    /* the header and the strings */
  int32_t rule;     /* SUPERSEDED: a later version follows (skipped) */
  int32_t severity;
  uint16_t len[S__COUNT];
  int64_t raised_at, due_at, cleared_at;
} rec_hdr;

#define SUPERSEDED (-1)
/* what the spill holds in memory before it writes a sorted run (each
 * spill ends with one; the alerts held at the end go through this budget) */
#define SPILL_BUDGET (16u << 20)
/* the longest record: every string at its field's size */
#define REC_MAX (sizeof(rec_hdr) + DW_ALERT_ID_MAX + 2 * DW_ID_MAX + 2 * DW_CODE_MAX + 256)
_Static_assert(REC_MAX <= DW_RALERTS_REC_MAX, "DW_RALERTS_REC_MAX too small");

typedef struct slot {
  uint64_t hash; /* 0: empty */
  uint64_t off;
} slot;

struct dw_ralerts {
  dw_buf arena;
  slot *index;
  size_t cap, n; /* n: records held (not superseded) */
  dw_runs *spill; /* created by the first spill or dw_ralerts_each */
  uint64_t spilled;
  char rec[REC_MAX]; /* the record being made or read */
};

dw_ralerts *dw_ralerts_new(void) { return calloc(1, sizeof(dw_ralerts)); }

void dw_ralerts_destroy(dw_ralerts *r) {
  if (!r) return;
  dw_buf_free(&r->arena);
  free(r->index);
  dw_runs_destroy(r->spill);
  free(r);
}

size_t dw_ralerts_held(const dw_ralerts *r) { return r->n; }
uint64_t dw_ralerts_spilled(const dw_ralerts *r) { return r->spilled; }

/* ---- records ---- */

static void strings_of(const dw_alert *a, const char *s[S__COUNT]) {
  s[S_ALERT_ID] = a->alert_id, s[S_DOSSIER] = a->dossier_id, s[S_COMMUNE] = a->commune;
  s[S_AGENCY] = a->agency, s[S_PROCEDURE] = a->procedure, s[S_DETAIL] = a->detail;
}

size_t dw_ralerts_pack(const dw_alert *a, char *rec) {
  const char *s[S__COUNT];
  strings_of(a, s);
  rec_hdr h = {0, (int32_t)a->rule, (int32_t)a->severity, {0}, a->raised_at, a->due_at, a->cleared_at};
  size_t at = sizeof h;
  for (int k = 0; k < S__COUNT; k++) {
    h.len[k] = (uint16_t)strlen(s[k]); /* each shorter than its field */
    memcpy(rec + at, s[k], h.len[k]);
    at += h.len[k];
  }
  h.size = (uint32_t)at;
  memcpy(rec, &h, sizeof h);
  return at;
}

static void put_field(char *dst, size_t cap, const char **src, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(dst, *src, len);
  dst[len] = '\0';
  *src += len;
}

void dw_ralerts_unpack(const void *record, dw_alert *a) {
  const char *rec = record;
  rec_hdr h;
  memcpy(&h, rec, sizeof h);
  const char *p = rec + sizeof h;
  put_field(a->alert_id, sizeof a->alert_id, &p, h.len[S_ALERT_ID]);
  put_field(a->dossier_id, sizeof a->dossier_id, &p, h.len[S_DOSSIER]);
  put_field(a->commune, sizeof a->commune, &p, h.len[S_COMMUNE]);
  put_field(a->agency, sizeof a->agency, &p, h.len[S_AGENCY]);
  put_field(a->procedure, sizeof a->procedure, &p, h.len[S_PROCEDURE]);
  put_field(a->detail, sizeof a->detail, &p, h.len[S_DETAIL]);
  a->rule = (dw_rule)h.rule, a->severity = (dw_severity)h.severity;
  a->raised_at = h.raised_at, a->due_at = h.due_at, a->cleared_at = h.cleared_at;
}

static uint64_t id_hash(const char *id, size_t len) {
  uint64_t h = dw_hash_fast(id, len);
  return h ? h : 1;
}

/* ---- the index ---- */

/* The slot of hash/id in index (its own, or the empty one where it goes). */
static slot *find(slot *index, size_t cap, const char *arena, uint64_t hash, const char *id, size_t len) {
  for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
    slot *s = &index[i];
    if (!s->hash) return s;
    if (s->hash != hash) continue;
    rec_hdr h;
    memcpy(&h, arena + s->off, sizeof h);
    if (h.len[S_ALERT_ID] == len && memcmp(arena + s->off + sizeof h, id, len) == 0) return s;
  }
}

/* An empty index with room for n records (at most half full). */
static int index_make(slot **index, size_t *cap, size_t n) {
  size_t c = 1024;
  while (c < 2 * (n + 1)) c *= 2;
  slot *v = calloc(c, sizeof *v);
  if (!v) return -1;
  *index = v, *cap = c;
  return 0;
}

static int index_grow(dw_ralerts *r) {
  slot *v;
  size_t cap;
  if (index_make(&v, &cap, 2 * r->cap)) return -1;
  for (size_t i = 0; i < r->cap; i++)
    if (r->index[i].hash) {
      size_t j = r->index[i].hash & (cap - 1);
      while (v[j].hash) j = (j + 1) & (cap - 1);
      v[j] = r->index[i];
    }
  free(r->index);
  r->index = v, r->cap = cap;
  return 0;
}

int dw_ralerts_put(dw_ralerts *r, const dw_alert *a) {
  if ((!r->index || 2 * (r->n + 1) > r->cap) && (r->index ? index_grow(r) : index_make(&r->index, &r->cap, 0)))
    return -1;
  const size_t idl = strlen(a->alert_id);
  const uint64_t hash = id_hash(a->alert_id, idl);
  slot *s = find(r->index, r->cap, r->arena.data, hash, a->alert_id, idl);
  const size_t size = dw_ralerts_pack(a, r->rec);
  if (s->hash) {
    rec_hdr old;
    memcpy(&old, r->arena.data + s->off, sizeof old);
    if (old.size == size) { /* in place */
      memcpy(r->arena.data + s->off, r->rec, size);
      return 0;
    }
  }
  const size_t off = r->arena.len;
  dw_buf_put(&r->arena, r->rec, size);
  if (r->arena.oom) return -1;
  if (s->hash) { /* the old version stays, marked */
    const int32_t superseded = SUPERSEDED;
    memcpy(r->arena.data + s->off + offsetof(rec_hdr, rule), &superseded, sizeof superseded);
  } else {
    s->hash = hash;
    r->n++;
  }
  s->off = off;
  return 0;
}

/* ---- the spill ---- */

/* The spill, made on first use. */
static int spill_open(dw_ralerts *r, char *err, size_t n) {
  if (!r->spill && !(r->spill = dw_runs_new("replay-alerts", SPILL_BUDGET))) return snprintf(err, n, "out of memory"), -1;
  return 0;
}

static int spill_put(dw_ralerts *r, const char *rec, const rec_hdr *h, char *err, size_t n) {
  return dw_runs_put(r->spill, rec + sizeof *h, h->len[S_ALERT_ID], rec, h->size, err, n);
}

int dw_ralerts_spill(dw_ralerts *r, int (*settled)(const char *dossier_id, void *opaque), void *opaque, char *err,
                     size_t n) {
  dw_buf kept = DW_BUF_INIT;
  slot *index = NULL;
  size_t cap = 0, held = 0;
  if (spill_open(r, err, n)) return -1;
  if (index_make(&index, &cap, r->n)) goto oom;
  for (size_t off = 0; off < r->arena.len;) {
    const char *rec = r->arena.data + off;
    rec_hdr h;
    memcpy(&h, rec, sizeof h);
    off += h.size;
    if (h.rule == SUPERSEDED) continue;
    char dossier[DW_ID_MAX + 1];
    const char *p = rec + sizeof h + h.len[S_ALERT_ID];
    put_field(dossier, sizeof dossier, &p, h.len[S_DOSSIER]);
    if (settled(dossier, opaque)) {
      if (spill_put(r, rec, &h, err, n)) goto fail;
      r->spilled++;
      continue;
    }
    const char *id = rec + sizeof h;
    const uint64_t hash = id_hash(id, h.len[S_ALERT_ID]);
    slot *s = find(index, cap, kept.data, hash, id, h.len[S_ALERT_ID]);
    s->hash = hash;
    s->off = kept.len;
    dw_buf_put(&kept, rec, h.size);
    if (kept.oom) goto oom;
    held++;
  }
  /* one sorted run per spill: what moved out holds no memory */
  if (dw_runs_flush(r->spill, err, n)) goto fail;
  dw_buf_free(&r->arena);
  free(r->index);
  r->arena = kept, r->index = index, r->cap = cap, r->n = held;
  return 0;
oom:
  snprintf(err, n, "out of memory");
fail:
  dw_buf_free(&kept);
  free(index);
  return -1;
}

/* Every record held moves to the spill (the records it has are the latest
 * versions: nothing is put after). */
static int spill_all(dw_ralerts *r, char *err, size_t n) {
  if (spill_open(r, err, n)) return -1;
  for (size_t off = 0; off < r->arena.len;) {
    const char *rec = r->arena.data + off;
    rec_hdr h;
    memcpy(&h, rec, sizeof h);
    off += h.size;
    if (h.rule != SUPERSEDED && spill_put(r, rec, &h, err, n)) return -1;
  }
  dw_buf_free(&r->arena);
  free(r->index);
  r->index = NULL, r->cap = r->n = 0;
  return 0;
}

/* Records of one alert_id come together, in the order they went to the
 * spill; only the last is given. Two versions of one alert are there when
 * a dossier that left memory (its alerts spilled) was made anew by a late
 * event and raised an alert of the same id: the later version wins, as
 * watch's upsert of it would. */
typedef struct each_ctx {
  void (*fn)(const dw_alert *a, void *opaque);
  void *opaque;
  int have; /* a record waits in a (its id in id) */
  dw_alert a;
  char id[DW_ALERT_ID_MAX + 1];
  size_t idl;
} each_ctx;

static void each_rec(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  (void)vlen;
  each_ctx *c = opaque;
  if (c->have && !(klen == c->idl && memcmp(key, c->id, klen) == 0)) c->fn(&c->a, c->opaque);
  dw_ralerts_unpack(val, &c->a);
  c->idl = klen < sizeof c->id ? klen : sizeof c->id - 1;
  memcpy(c->id, key, c->idl);
  c->have = 1;
}

int dw_ralerts_each(dw_ralerts *const *v, int nv, void (*fn)(const dw_alert *a, void *opaque), void *opaque, char *err,
                    size_t n) {
  dw_runs *sets[nv > 0 ? nv : 1];
  for (int i = 0; i < nv; i++) {
    if (spill_all(v[i], err, n)) return -1;
    sets[i] = v[i]->spill;
  }
  each_ctx *c = calloc(1, sizeof *c);
  if (!c) return snprintf(err, n, "out of memory"), -1;
  c->fn = fn, c->opaque = opaque;
  int rc = dw_runs_each(sets, nv, each_rec, c, err, n);
  if (rc == 0 && c->have) c->fn(&c->a, c->opaque);
  free(c);
  return rc;
}
