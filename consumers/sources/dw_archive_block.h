/* dw_archive_block: the archive's storage format (migration 011), shared by
 * the writer (consumers/sinks/dw_pg_archive) and the readers (dw_archive):
 * - archive_blocks: one row per block of up to DW_ARCHIVE_BLOCK_EVENTS
 *   events of one watch batch, in (occurred_at, event_id) order, their bytes
 *   one bytea (TOAST-compressed, lz4): per event a record
 *     uvarint h = ((kafka_partition + 1) << 2) | kind   (partition -1: unknown;
 *             kind DW_ARCHIVE_AVRO, _JSON or _SKIP)
 *     uvarint len
 *     len bytes: the event as it came (the Kafka value, single-object Avro),
 *                or its JSON Lines text for _JSON (archives converted from
 *                rows that had no Avro value)
 * - archive_events: one small row per event, the exact dedupe key
 *   (event_key, the first 128 bits of SHA-256 of event_id) with where the
 *   event is (block_id, seq: its position in the block) and what row-level
 *   security and the by-dossier read need (dossier_id, agency, commune as
 *   numbers of archive_units). */
#ifndef DW_ARCHIVE_BLOCK_H
#define DW_ARCHIVE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "dw_buf.h"

/* Events per block: large enough for lz4 to find the repeats between events
 * (a block compresses to ~37 % of its bytes), small enough that reading one
 * dossier's event fetches ~50 KB, not a whole batch. At most 32767 (seq). */
#define DW_ARCHIVE_BLOCK_EVENTS 512

/* The dedupe key of an event id: SHA-256's first 16 bytes, as the uuid
 * column archive_events.event_key (SQL: encode(substring(sha256(
 * convert_to(event_id, 'UTF8')) from 1 for 16), 'hex')::uuid). */
typedef struct dw_archive_key {
  unsigned char b[16];
} dw_archive_key;
void dw_archive_event_key(const char *event_id, size_t len, dw_archive_key *out);

enum { DW_ARCHIVE_AVRO = 0, DW_ARCHIVE_JSON = 1, DW_ARCHIVE_SKIP = 2 };

/* Appends one record to a block being built. */
void dw_archive_block_put(dw_buf *block, int32_t partition, int kind, const void *bytes, size_t len);

typedef struct dw_archive_record {
  int32_t partition; /* -1: unknown */
  int kind;          /* DW_ARCHIVE_AVRO, _JSON, _SKIP (no event) */
  const unsigned char *bytes;
  size_t len;
} dw_archive_record;
/* The record at *pos (advanced past it), skipped places included: 1, 0 at
 * the end, -1 when the block is malformed from *pos on (a message in errstr
 * names the byte). */
int dw_archive_block_next(const unsigned char *block, size_t len, size_t *pos, dw_archive_record *rec,
                          char *errstr, size_t errstr_size);

#endif
