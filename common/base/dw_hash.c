/* dw_hash: stable (persisted) and fast (in-memory) hashes, and a set of
 * 64-bit keys (see dw_hash.h). */
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
