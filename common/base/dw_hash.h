/* dw_hash: the hash functions of dossierwatch, two on purpose:
 * - dw_hash_stable: FNV-1a 64 over a string. Its values are PERSISTED (event
 *   ids seen and tombstone keys inside dossier states in PostgreSQL), so it
 *   must never change, or stored state would stop matching.
 * - dw_hash_fast: XXH3-64 (libxxhash), several times faster on ids, for
 *   in-memory tables only (values never leave the process).
 * Hash tables themselves are uthash's (Debian's uthash-dev), except the
 * engine's own dossier and name tables, which are tuned for its hot path,
 * and two below for millions of entries (uthash spends ~60 bytes on its
 * handle and a malloc per entry): dw_keyset, a set of non-zero 64-bit keys
 * at 8-16 bytes a key, and dw_keymap, string keys to an int32 at 16 bytes a
 * slot. */
#ifndef DW_HASH_H
#define DW_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t dw_hash_stable(const char *s);
/* inline: it is on the engine's path of every event */
static inline uint64_t dw_hash_fast(const void *p, size_t n) { return XXH3_64bits(p, n); }
static inline uint32_t dw_hash_fold32(uint64_t h) { return (uint32_t)(h ^ (h >> 32)); }

/* A set of non-zero 64-bit keys (open addressing, at most half full).
 * Zero-initialised it is empty. dw_keyset_add: 1 when added, 0 when it was
 * there, -1 when out of memory (not added). */
typedef struct dw_keyset {
  uint64_t *v;
  size_t n, cap;
} dw_keyset;
int dw_keyset_add(dw_keyset *s, uint64_t key);
int dw_keyset_has(const dw_keyset *s, uint64_t key);
void dw_keyset_free(dw_keyset *s);

/* A map from string keys (dossier ids) to an int32, open addressing (linear
 * probing, at most half full: 32-64 bytes a key, where a uthash entry with
 * its copy of the id costs ~110 and a miss more per lookup). A key is kept
 * as 96 bits of its XXH3-128, not as its bytes: two keys share them with
 * probability about n^2/2^97 (1e-13 for 150 M keys, far below the
 * hardware's own error rates; the archive's dedupe relies on a 128-bit
 * digest the same way). Zero-initialised it is empty. */
typedef struct dw_mapkey {
  uint64_t lo;
  uint32_t hi;
} dw_mapkey;
typedef struct dw_keymap_slot {
  uint64_t lo;
  uint32_t hi;
  int32_t val;
} dw_keymap_slot;
typedef struct dw_keymap {
  dw_keymap_slot *v;
  size_t n, cap;
} dw_keymap;
dw_mapkey dw_mapkey_of(const void *p, size_t n);
/* The value of k, NULL when absent. */
int32_t *dw_keymap_find(const dw_keymap *m, dw_mapkey k);
/* The value of k, added as init when absent (*created says which); NULL
 * when out of memory (nothing added). */
int32_t *dw_keymap_put(dw_keymap *m, dw_mapkey k, int32_t init, int *created);
/* 1 when k was there (removed), 0 when not. */
int dw_keymap_del(dw_keymap *m, dw_mapkey k);
/* Starts loading k's slot (a lookup soon after finds it in cache). */
void dw_keymap_prefetch(const dw_keymap *m, dw_mapkey k);
/* Keeps only the entries whose value keep accepts. 0, or -1 when out of
 * memory (nothing removed). */
int dw_keymap_retain(dw_keymap *m, int (*keep)(int32_t val, void *opaque), void *opaque);
void dw_keymap_free(dw_keymap *m);

#endif
