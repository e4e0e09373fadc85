/* dw_hash: the hash functions of dossierwatch, two on purpose:
 * - dw_hash_stable: FNV-1a 64 over a string. Its values are PERSISTED (event
 *   ids seen and tombstone keys inside dossier states in PostgreSQL), so it
 *   must never change, or stored state would stop matching.
 * - dw_hash_fast: XXH3-64 (libxxhash), several times faster on ids, for
 *   in-memory tables only (values never leave the process).
 * Hash tables themselves are uthash's (Debian's uthash-dev), except the
 * engine's own dossier and name tables, which are tuned for its hot path,
 * and dw_keyset below: a set of non-zero 64-bit keys at 8-16 bytes a key
 * (uthash spends ~60 on its handle), for sets of millions. */
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

#endif
