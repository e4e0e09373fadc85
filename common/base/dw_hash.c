/* dw_hash: stable (persisted) and fast (in-memory) hashes, a set of 64-bit
 * keys and a map of string keys to int32 (see dw_hash.h). */
#include "dw_hash.h"

#include <stdlib.h>

uint64_t dw_hash_stable(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 offset basis */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* ---- dw_keyset ---- */

static size_t keyset_slot(const uint64_t *v, size_t cap, uint64_t key) {
  size_t i = (size_t)(key ^ (key >> 29)) & (cap - 1);
  while (v[i] && v[i] != key) i = (i + 1) & (cap - 1);
  return i;
}

int dw_keyset_has(const dw_keyset *s, uint64_t key) { return s->cap && s->v[keyset_slot(s->v, s->cap, key)] == key; }

int dw_keyset_add(dw_keyset *s, uint64_t key) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    uint64_t *v = calloc(cap, sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < s->cap; i++)
      if (s->v[i]) v[keyset_slot(v, cap, s->v[i])] = s->v[i];
    free(s->v);
    s->v = v, s->cap = cap;
  }
  size_t i = keyset_slot(s->v, s->cap, key);
  if (s->v[i]) return 0;
  s->v[i] = key;
  s->n++;
  return 1;
}

void dw_keyset_free(dw_keyset *s) {
  free(s->v);
  *s = (dw_keyset){0};
}

/* ---- dw_keymap ---- */

dw_mapkey dw_mapkey_of(const void *p, size_t n) {
  XXH128_hash_t h = XXH3_128bits(p, n);
  dw_mapkey k = {h.low64, (uint32_t)h.high64};
  if (!k.lo && !k.hi) k.lo = 1; /* all zero marks an empty slot */
  return k;
}

static int slot_empty(const dw_keymap_slot *s) { return !s->lo && !s->hi; }
static int slot_is(const dw_keymap_slot *s, dw_mapkey k) { return s->lo == k.lo && s->hi == k.hi; }

/* k's slot, or the empty one where it would go. */
static size_t keymap_slot(const dw_keymap_slot *v, size_t cap, dw_mapkey k) {
  size_t i = (size_t)k.lo & (cap - 1);
  while (!slot_empty(&v[i]) && !slot_is(&v[i], k)) i = (i + 1) & (cap - 1);
  return i;
}

int32_t *dw_keymap_find(const dw_keymap *m, dw_mapkey k) {
  if (!m->cap) return NULL;
  dw_keymap_slot *s = &m->v[keymap_slot(m->v, m->cap, k)];
  return slot_empty(s) ? NULL : &s->val;
}

/* Moves every entry into a table of cap slots (those keep accepts, when
 * keep is given). */
static int keymap_rebuild(dw_keymap *m, size_t cap, int (*keep)(int32_t val, void *opaque), void *opaque) {
  dw_keymap_slot *v = calloc(cap, sizeof *v);
  if (!v) return -1;
  size_t n = 0;
  for (size_t i = 0; i < m->cap; i++) {
    const dw_keymap_slot *s = &m->v[i];
    if (slot_empty(s) || (keep && !keep(s->val, opaque))) continue;
    v[keymap_slot(v, cap, (dw_mapkey){s->lo, s->hi})] = *s;
    n++;
  }
  free(m->v);
  m->v = v, m->cap = cap, m->n = n;
  return 0;
}

int32_t *dw_keymap_put(dw_keymap *m, dw_mapkey k, int32_t init, int *created) {
  *created = 0;
  if (2 * (m->n + 1) > m->cap && keymap_rebuild(m, m->cap ? 2 * m->cap : 1024, NULL, NULL)) return NULL;
  dw_keymap_slot *s = &m->v[keymap_slot(m->v, m->cap, k)];
  if (slot_empty(s)) {
    *s = (dw_keymap_slot){k.lo, k.hi, init};
    m->n++;
    *created = 1;
  }
  return &s->val;
}

int dw_keymap_del(dw_keymap *m, dw_mapkey k) {
  if (!m->cap) return 0;
  const size_t mask = m->cap - 1;
  size_t i = keymap_slot(m->v, m->cap, k);
  if (slot_empty(&m->v[i])) return 0;
  /* backward shift: every later entry of the run whose home is not
   * between the hole and itself moves into the hole (no tombstones) */
  for (size_t j = (i + 1) & mask; !slot_empty(&m->v[j]); j = (j + 1) & mask) {
    const size_t home = (size_t)m->v[j].lo & mask;
    const int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    m->v[i] = m->v[j];
    i = j;
  }
  m->v[i] = (dw_keymap_slot){0};
  m->n--;
  return 1;
}

void dw_keymap_prefetch(const dw_keymap *m, dw_mapkey k) {
  if (m->cap) __builtin_prefetch(&m->v[(size_t)k.lo & (m->cap - 1)]);
}

int dw_keymap_retain(dw_keymap *m, int (*keep)(int32_t val, void *opaque), void *opaque) {
  return m->cap ? keymap_rebuild(m, m->cap, keep, opaque) : 0;
}

void dw_keymap_free(dw_keymap *m) {
  free(m->v);
  *m = (dw_keymap){0};
}
