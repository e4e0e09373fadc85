/* dw_archive_block: records of an archive block and the dedupe key (see
 * dw_archive_block.h). */
#include "dw_archive_block.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>

void dw_archive_event_key(const char *event_id, size_t len, dw_archive_key *out) {
  struct sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, len, (const uint8_t *)event_id);
  sha256_digest(&c, sizeof out->b, out->b); /* the first 128 bits */
}

static void put_uvarint(dw_buf *b, uint64_t v) {
  unsigned char t[10];
  int n = 0;
  do {
    t[n] = (unsigned char)(v & 0x7f);
    v >>= 7;
    if (v) t[n] |= 0x80;
    n++;
  } while (v);
  dw_buf_put(b, t, (size_t)n);
}

void dw_archive_block_put(dw_buf *block, int32_t partition, int kind, const void *bytes, size_t len) {
  uint64_t part = partition < 0 ? 0 : (uint64_t)partition + 1;
  put_uvarint(block, (part << 2) | ((uint64_t)kind & 3));
  put_uvarint(block, len);
  dw_buf_put(block, bytes, len);
}

static int get_uvarint(const unsigned char *p, size_t len, size_t *pos, uint64_t *v) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= len) return -1;
    unsigned char c = p[(*pos)++];
    x |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

int dw_archive_block_next(const unsigned char *block, size_t len, size_t *pos, dw_archive_record *rec, char *err,
                          size_t n) {
  if (*pos >= len) return 0;
  size_t at = *pos;
  uint64_t h, l;
  if (get_uvarint(block, len, pos, &h) || get_uvarint(block, len, pos, &l) || l > len - *pos || (h >> 2) > INT32_MAX ||
      (h & 3) == 3) {
    snprintf(err, n, "archive block: malformed record at byte %zu of %zu", at, len);
    return -1;
  }
  rec->partition = (int32_t)(h >> 2) - 1;
  rec->kind = (int)(h & 3);
  rec->bytes = block + *pos;
  rec->len = (size_t)l;
  *pos += (size_t)l;
  return 1;
}
