/* dw_hash: the hash functions of dossierwatch, two on purpose:
 * - dw_hash_stable: FNV-1a 64 over a string. Its values are PERSISTED (event
 *   ids seen and tombstone keys inside dossier states in PostgreSQL), so it
 *   must never change, or stored state would stop matching.
 * - dw_hash_fast: XXH3-64 (libxxhash), several times faster on ids, for
 *   in-memory tables only (values never leave the process).
 * Hash tables themselves are uthash's (Debian's uthash-dev), except the
 * engine's own dossier and name tables, which are tuned for its hot path. */
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

#endif
