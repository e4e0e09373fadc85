/* dw_dossier: one dossier's order-independent facts and their persistence
 * blob (see dw_dossier.h). Every merge keeps "earliest"/"latest" facts with a
 * deterministic tie-break on the interned string, so any delivery order of
 * the same events gives the same state. */
#include "dw_dossier.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"

static size_t var_size(const dw_dossier *d) {
  return 8 * (size_t)d->n_seen + sizeof(dw_pause_ev) * d->n_pause + sizeof(dw_apology) * d->n_apol +
         sizeof(dw_alert_rec) * d->n_rec;
}

/* Var buffers grow in steps, not by one entry at a time: the capacity for
 * n bytes is the next of a few classes (every entry added used to cost a
 * realloc). The classes double: a typical dossier (five events seen, an
 * alert record or two) reaches 96 bytes in three moves instead of six
 * (engine +4 % for 6 % more bytes per dossier in memory; an open dossier
 * with one event keeps its 8 bytes in place). The capacity is a function
 * of the size, so it needs no field. */
static size_t var_cap(size_t n) {
  static const size_t classes[] = {24, 48, 96, 192, 384, 512};
  for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
    if (n <= classes[i]) return classes[i];
  return (n + 255) & ~(size_t)255;
}

size_t dw_dossier_var_cap(size_t n) { return var_cap(n); }

static void *var_alloc(dw_slab *slab, size_t n) { return slab ? dw_slab_alloc(slab, n) : malloc(n); }

static void var_free(dw_slab *slab, void *p, size_t n) {
  if (slab)
    dw_slab_free(slab, p, n);
  else
    free(p);
}

/* Opens a gap of `size` bytes at byte offset `off` of the var buffer. */
static uint8_t *var_insert(dw_slab *slab, dw_dossier *d, size_t off, size_t size) {
  size_t old = var_size(d);
  uint8_t *nv;
  if (old + size <= sizeof d->v.inl && (old == 0 || (d->flags & DW_DF_VAR_INLINE))) {
    d->flags |= DW_DF_VAR_INLINE; /* still fits in place */
    nv = (uint8_t *)&d->v.inl;
  } else if ((d->flags & DW_DF_VAR_INLINE) || !d->v.ptr) {
    nv = var_alloc(slab, var_cap(old + size)); /* leaves the inline bytes (or nothing) */
    if (!nv) return NULL;
    memcpy(nv, &d->v.inl, old);
    d->flags &= (uint8_t)~DW_DF_VAR_INLINE;
    d->v.ptr = nv;
  } else if (old + size <= var_cap(old)) {
    nv = d->v.ptr;
  } else {
    nv = var_alloc(slab, var_cap(old + size));
    if (!nv) return NULL;
    memcpy(nv, d->v.ptr, old);
    var_free(slab, d->v.ptr, var_cap(old));
    d->v.ptr = nv;
  }
  memmove(nv + off + size, nv + off, old - off);
  return nv + off;
}

/* The block: the struct up to its id, then the id (offsetof, not sizeof:
 * the struct's tail padding would cost bytes). */
static size_t block_size(size_t id_len) { return offsetof(dw_dossier, id) + id_len + 1; }

dw_dossier *dw_dossier_new(dw_slab *slab, const char *id, uint32_t hash) {
  size_t n = strlen(id);
  if (n >= DW_ID_MAX) return NULL;
  size_t sz = block_size(n);
  dw_dossier *d = slab ? dw_slab_alloc(slab, sz) : calloc(1, sz);
  if (!d) return NULL;
  d->received_at = d->base_due = d->digitized_at = d->reuse_at = d->issued_at = d->resdig_at = DW_TIME_NONE;
  d->returned_at = d->end_at = d->paper_at = d->last_at = DW_TIME_NONE;
  d->hash = hash;
  d->heap_idx = UINT32_MAX;
  d->channel = DW_CH_NONE;
  d->id_len = (uint8_t)n;
  memcpy(d->id, id, n + 1);
  return d;
}

void dw_dossier_free(dw_slab *slab, dw_dossier *d) {
  if (!d) return;
  if (!(d->flags & DW_DF_VAR_INLINE) && d->v.ptr) var_free(slab, d->v.ptr, var_cap(var_size(d)));
  if (slab)
    dw_slab_free(slab, d, block_size(d->id_len));
  else
    free(d);
}

size_t dw_dossier_bytes(const dw_dossier *d) { return dw_slab_block_size(block_size(d->id_len)) + dw_dossier_var_bytes(d); }

int dw_dossier_has_seen(const dw_dossier *d, uint64_t h) {
  const uint64_t *s = dw_dossier_seen(d);
  size_t lo = 0, hi = d->n_seen;
  while (lo < hi) {
    size_t m = (lo + hi) / 2;
    if (s[m] == h) return 1;
    if (s[m] < h)
      lo = m + 1;
    else
      hi = m;
  }
  return 0;
}

static int add_seen(dw_slab *slab, dw_dossier *d, uint64_t h) {
  if (d->n_seen == UINT16_MAX) return -1;
  const uint64_t *s = dw_dossier_seen(d);
  size_t i = 0;
  while (i < d->n_seen && s[i] < h) i++;
  uint8_t *p = var_insert(slab, d, (size_t)((const uint8_t *)(s + i) - dw_dossier_var(d)), 8);
  if (!p) return -1;
  memcpy(p, &h, 8);
  d->n_seen++;
  return 0;
}

static int pause_cmp(const dw_pause_ev *a, const dw_pause_ev *b) {
  /* by time, a request before a receipt at the same instant, then by due */
  if (a->at != b->at) return a->at < b->at ? -1 : 1;
  int ka = a->due != DW_PAUSE_REQ, kb = b->due != DW_PAUSE_REQ;
  if (ka != kb) return ka - kb;
  return a->due < b->due ? -1 : a->due > b->due;
}

static int add_pause(dw_slab *slab, dw_dossier *d, dw_pause_ev e) {
  if (d->n_pause == UINT8_MAX) return -1;
  const dw_pause_ev *p = dw_dossier_pauses(d);
  size_t i = 0;
  while (i < d->n_pause && pause_cmp(&p[i], &e) <= 0) i++;
  uint8_t *w = var_insert(slab, d, sizeof e * i, sizeof e);
  if (!w) return -1;
  memcpy(w, &e, sizeof e);
  d->n_pause++;
  return 0;
}

static int add_apology(dw_slab *slab, dw_dossier *d, dw_apology e) {
  if (d->n_apol == UINT8_MAX) return -1;
  const dw_apology *p = dw_dossier_apologies(d);
  size_t i = 0;
  while (i < d->n_apol && (p[i].at < e.at || (p[i].at == e.at && p[i].promised <= e.promised))) i++;
  uint8_t *w = var_insert(slab, d, sizeof(dw_pause_ev) * d->n_pause + sizeof e * i, sizeof e);
  if (!w) return -1;
  memcpy(w, &e, sizeof e);
  d->n_apol++;
  return 0;
}

dw_alert_rec *dw_dossier_rec(dw_dossier *d, int rule) {
  dw_alert_rec *r = dw_dossier_recs(d);
  for (unsigned i = 0; i < d->n_rec; i++)
    if (r[i].rule == rule) return &r[i];
  return NULL;
}

dw_alert_rec *dw_dossier_rec_add(dw_slab *slab, dw_dossier *d, const dw_alert_rec *r) {
  uint8_t *w = var_insert(slab, d, (size_t)((const uint8_t *)dw_dossier_seen(d) - dw_dossier_var(d)), sizeof *r);
  if (!w) return NULL;
  memcpy(w, r, sizeof *r);
  d->n_rec++;
  return (dw_alert_rec *)w;
}

/* Keeps the earliest (at, agency) with ties broken by agency name. Returns 1
 * when it changed. */
static int earliest(int64_t *at, uint32_t *ag, int64_t t, uint32_t a, const char *const *names) {
  if (*at == DW_TIME_NONE || t < *at || (t == *at && strcmp(names[a], names[*ag]) < 0)) {
    *at = t;
    *ag = a;
    return 1;
  }
  return 0;
}

int dw_dossier_apply(dw_slab *slab, dw_dossier *d, const dw_event *ev, uint64_t h, const dw_dossier_ids *ids,
                     int64_t base_due, const char *const *names) {
  const int64_t t = ev->occurred_at;
  /* reserve what can fail first, so a failure leaves the facts untouched */
  if (ev->type == DW_EV_SUPPLEMENT_REQUESTED || ev->type == DW_EV_SUPPLEMENT_RECEIVED) {
    if (d->n_pause == UINT8_MAX) return -1;
    dw_pause_ev pe = {t, ev->type == DW_EV_SUPPLEMENT_REQUESTED ? DW_PAUSE_REQ : ev->due_at};
    if (ev->type == DW_EV_SUPPLEMENT_RECEIVED && pe.due == DW_PAUSE_REQ) pe.due = DW_TIME_NONE; /* reserved marker */
    if (add_pause(slab, d, pe)) return -1;
  } else if (ev->type == DW_EV_APOLOGY_ISSUED) {
    if (add_apology(slab, d, (dw_apology){t, ev->new_due_at})) return -1;
  }
  if (add_seen(slab, d, h)) return -1;

  if (!(d->flags & DW_DF_FROM_RECEIVED)) {
    if (!d->commune) d->commune = ids->commune;
    if (!d->procedure) d->procedure = ids->procedure;
  }
  uint32_t cur = ev->type == DW_EV_TRANSFERRED ? ids->to_agency : ids->agency;
  if (d->last_at == DW_TIME_NONE || t > d->last_at || (t == d->last_at && strcmp(names[cur], names[d->agency]) > 0)) {
    d->last_at = t;
    d->agency = cur;
  }

  switch (ev->type) {
  case DW_EV_RECEIVED:
    if (earliest(&d->received_at, &d->recv_agency, t, ids->agency, names)) {
      d->base_due = base_due;
      d->channel = (int8_t)ev->channel;
      d->commune = ids->commune;
      d->procedure = ids->procedure;
      d->flags |= DW_DF_FROM_RECEIVED;
    }
    break;
  case DW_EV_DIGITIZED:
    earliest(&d->digitized_at, &d->dig_agency, t, ids->agency, names);
    break;
  case DW_EV_DOC_REUSED:
    earliest(&d->reuse_at, &d->reuse_agency, t, ids->agency, names);
    break;
  case DW_EV_PAPER_REQUESTED:
    if (ev->in_warehouse && (d->paper_at == DW_TIME_NONE || t < d->paper_at)) d->paper_at = t;
    break;
  case DW_EV_RESULT_ISSUED:
    if (d->issued_at == DW_TIME_NONE || t < d->issued_at) {
      d->issued_at = t;
      d->issued_agency = ids->agency;
      d->flags = (uint8_t)((d->flags & ~DW_DF_ISSUED_DIGITIZED) | (ev->digitized ? DW_DF_ISSUED_DIGITIZED : 0));
    } else if (t == d->issued_at) {
      /* same instant twice: digitized wins, then the smaller agency name */
      if (ev->digitized) d->flags |= DW_DF_ISSUED_DIGITIZED;
      if (strcmp(names[ids->agency], names[d->issued_agency]) < 0) d->issued_agency = ids->agency;
    }
    break;
  case DW_EV_RESULT_DIGITIZED:
    earliest(&d->resdig_at, &d->resdig_agency, t, ids->agency, names);
    break;
  case DW_EV_RETURNED:
    if (d->returned_at == DW_TIME_NONE || t < d->returned_at) d->returned_at = t;
    break;
  case DW_EV_REJECTED:
  case DW_EV_WITHDRAWN: {
    int rej = ev->type == DW_EV_REJECTED;
    int cur_rej = (d->flags & DW_DF_END_REJECTED) != 0;
    if (d->end_at == DW_TIME_NONE || t < d->end_at || (t == d->end_at && rej > cur_rej) ||
        (t == d->end_at && rej == cur_rej && strcmp(names[ids->agency], names[d->end_agency]) < 0)) {
      d->end_at = t;
      d->end_agency = ids->agency;
      d->flags = (uint8_t)((d->flags & ~DW_DF_END_REJECTED) | (rej ? DW_DF_END_REJECTED : 0));
    }
    break;
  }
  default:
    break;
  }
  return 0;
}

/* ---- blob ---- */

/* The blob is written into the caller's dw_buf (the one buffer). */
typedef dw_buf wbuf;
static void put(wbuf *w, const void *p, size_t n) { dw_buf_put(w, p, n); }

static void put_u64(wbuf *w, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  put(w, b, 8);
}
static void put_u8(wbuf *w, uint8_t v) { put(w, &v, 1); }
static void put_u16(wbuf *w, uint16_t v) {
  uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  put(w, b, 2);
}
static void put_str(wbuf *w, const char *s) {
  size_t n = strlen(s);
  put_u8(w, (uint8_t)n);
  put(w, s, n);
}

int dw_dossier_serialize(const dw_dossier *d, const char *const *names, dw_buf *out) {
  dw_buf_reset(out);
  wbuf *w = out;
  put_u8(w, 'D');
  put_u8(w, DW_BLOB_VERSION);
  put_str(w, d->id);
  const int64_t times[] = {d->received_at, d->base_due, d->digitized_at, d->reuse_at, d->issued_at,
                           d->resdig_at,   d->returned_at, d->end_at,     d->paper_at, d->last_at};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) put_u64(w, (uint64_t)times[i]);
  const uint32_t strs[] = {d->commune,      d->procedure,     d->agency,        d->recv_agency, d->dig_agency,
                           d->reuse_agency, d->issued_agency, d->resdig_agency, d->end_agency};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) put_str(w, names[strs[i]]);
  put_u8(w, (uint8_t)d->channel);
  put_u8(w, (uint8_t)(d->flags & ~(DW_DF_DIRTY | DW_DF_VAR_INLINE)));
  put_u16(w, d->n_seen);
  for (unsigned i = 0; i < d->n_seen; i++) put_u64(w, dw_dossier_seen(d)[i]);
  put_u8(w, d->n_pause);
  for (unsigned i = 0; i < d->n_pause; i++) {
    put_u64(w, (uint64_t)dw_dossier_pauses(d)[i].at);
    put_u64(w, (uint64_t)dw_dossier_pauses(d)[i].due);
  }
  put_u8(w, d->n_apol);
  for (unsigned i = 0; i < d->n_apol; i++) {
    put_u64(w, (uint64_t)dw_dossier_apologies(d)[i].at);
    put_u64(w, (uint64_t)dw_dossier_apologies(d)[i].promised);
  }
  put_u8(w, d->n_rec);
  const dw_alert_rec *r = dw_dossier_recs((dw_dossier *)d);
  for (unsigned i = 0; i < d->n_rec; i++) {
    put_u8(w, r[i].rule);
    put_u8(w, r[i].sev);
    put_u8(w, r[i].open);
    put_u64(w, (uint64_t)r[i].raised_at);
    put_u64(w, (uint64_t)r[i].due_at);
    put_str(w, names[r[i].agency]);
  }
  return out->oom ? -1 : 0;
}

typedef struct rbuf {
  const uint8_t *p;
  size_t len, off;
  int err;
} rbuf;

static const uint8_t *take(rbuf *r, size_t n) {
  if (r->err || r->len - r->off < n) {
    r->err = 1;
    return NULL;
  }
  const uint8_t *p = r->p + r->off;
  r->off += n;
  return p;
}
static uint8_t get_u8(rbuf *r) {
  const uint8_t *p = take(r, 1);
  return p ? p[0] : 0;
}
static uint16_t get_u16(rbuf *r) {
  const uint8_t *p = take(r, 2);
  return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}
static uint64_t get_u64(rbuf *r) {
  const uint8_t *p = take(r, 8);
  uint64_t v = 0;
  if (p)
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}
static void get_str(rbuf *r, char *out, size_t outsz) {
  size_t n = get_u8(r);
  const uint8_t *p = take(r, n);
  if (!p || n >= outsz) {
    r->err = 1;
    out[0] = 0;
    return;
  }
  memcpy(out, p, n);
  out[n] = 0;
}

dw_dossier *dw_dossier_deserialize(dw_slab *slab, const void *blob, size_t len,
                                   uint32_t (*intern)(void *opaque, const char *s), void *opaque, char *errstr,
                                   size_t errstr_size) {
  rbuf r = {blob, len, 0, 0};
  char s[DW_ID_MAX];
  if (get_u8(&r) != 'D') {
    snprintf(errstr, errstr_size, "dossier blob: bad magic at offset 0");
    return NULL;
  }
  uint8_t ver = get_u8(&r);
  if (ver != DW_BLOB_VERSION) {
    snprintf(errstr, errstr_size, "dossier blob: unsupported version %u at offset 1", ver);
    return NULL;
  }
  get_str(&r, s, sizeof s);
  if (r.err || !s[0]) {
    snprintf(errstr, errstr_size, "dossier blob: bad dossier_id at offset 2");
    return NULL;
  }
  dw_dossier *d = dw_dossier_new(slab, s, 0);
  if (!d) {
    snprintf(errstr, errstr_size, "dossier blob: out of memory");
    return NULL;
  }
  int64_t *times[] = {&d->received_at, &d->base_due, &d->digitized_at, &d->reuse_at, &d->issued_at,
                      &d->resdig_at,   &d->returned_at, &d->end_at,     &d->paper_at, &d->last_at};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) *times[i] = (int64_t)get_u64(&r);
  uint32_t *strs[] = {&d->commune,      &d->procedure,     &d->agency,        &d->recv_agency, &d->dig_agency,
                      &d->reuse_agency, &d->issued_agency, &d->resdig_agency, &d->end_agency};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
    get_str(&r, s, sizeof s);
    *strs[i] = r.err ? 0 : intern(opaque, s);
  }
  d->channel = (int8_t)get_u8(&r);
  d->flags = get_u8(&r) & (uint8_t)~(DW_DF_DIRTY | DW_DF_VAR_INLINE);
  unsigned ns = get_u16(&r);
  if (!r.err && r.len - r.off >= 8 * (size_t)ns) {
    /* the var buffer is rebuilt section by section in its final order */
    for (unsigned i = 0; i < ns && !r.err; i++)
      if (add_seen(slab, d, get_u64(&r))) r.err = 1;
    unsigned np = get_u8(&r);
    for (unsigned i = 0; i < np && !r.err; i++) {
      dw_pause_ev e;
      e.at = (int64_t)get_u64(&r);
      e.due = (int64_t)get_u64(&r);
      if (!r.err && add_pause(slab, d, e)) r.err = 1;
    }
    unsigned na = get_u8(&r);
    for (unsigned i = 0; i < na && !r.err; i++) {
      dw_apology e;
      e.at = (int64_t)get_u64(&r);
      e.promised = (int64_t)get_u64(&r);
      if (!r.err && add_apology(slab, d, e)) r.err = 1;
    }
    unsigned nr = get_u8(&r);
    for (unsigned i = 0; i < nr && !r.err; i++) {
      dw_alert_rec e = {0};
      e.rule = get_u8(&r);
      e.sev = get_u8(&r);
      e.open = get_u8(&r);
      e.raised_at = (int64_t)get_u64(&r);
      e.due_at = (int64_t)get_u64(&r);
      get_str(&r, s, sizeof s);
      if (r.err) break;
      if (e.rule >= DW_RULE__COUNT || dw_dossier_rec(d, e.rule)) {
        r.err = 1;
        break;
      }
      e.agency = intern(opaque, s);
      if (!dw_dossier_rec_add(slab, d, &e)) r.err = 1;
    }
  } else {
    r.err = 1;
  }
  if (r.err || r.off != r.len) {
    snprintf(errstr, errstr_size, "dossier blob for '%s': truncated or malformed near offset %zu of %zu", d->id,
             r.off, r.len);
    dw_dossier_free(slab, d);
    return NULL;
  }
  d->hash = (uint32_t)dw_hash_stable(d->id);
  return d;
}
