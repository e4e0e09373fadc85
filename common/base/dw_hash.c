/* dw_hash: stable (persisted) and fast (in-memory) hashes (see dw_hash.h). */
#include "dw_hash.h"

uint64_t dw_hash_stable(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 offset basis */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}
