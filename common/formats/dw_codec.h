/* dw_codec: dossier events between JSON Lines, the in-memory dw_event and
 * Avro (single-object encoding on Kafka: C3 01 + 8-byte little-endian
 * CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form +
 * binary body; object container files for files). avro-c and jansson do
 * the encoding; this module maps fields and validates strictly. Every error
 * names the field and reason; callers add the line number or
 * topic/partition/offset. Alerts and aggregate rows have encoders too. */
#ifndef DW_CODEC_H
#define DW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_alert.h"
#include "dw_event.h"

/* ---- JSON Lines (times RFC 3339; written at utc_offset_min) ---- */
int dw_event_from_json(const char *text, size_t len, dw_event *ev, char *errstr, size_t errstr_size);
/* Returns a malloc'd NUL-terminated line without '\n', or NULL on OOM. */
char *dw_event_to_json(const dw_event *ev, int utc_offset_min);

/* ---- Avro ---- */
typedef struct dw_avro dw_avro;

/* Does the alert schema's Rule enum list the rules of the rules table
 * (dw_rules.def) in its order? 0, or -1 naming the first difference.
 * (dw_avro_new checks the embedded schema and fails when it does not.) */
int dw_avro_check_rules(const char *alert_schema_json, char *errstr, size_t errstr_size);

/* Loads the reader schemas (the .avsc files of schemas/, embedded at build time) and
 * registers every known writer schema by fingerprint. */
dw_avro *dw_avro_new(char *errstr, size_t errstr_size);
/* A codec whose reader (and writer) schema is the given event schema text,
 * still knowing the embedded one as a writer (schema evolution tests). */
dw_avro *dw_avro_new_with_event_schema(const char *schema_json, char *errstr, size_t errstr_size);
void dw_avro_destroy(dw_avro *av);
/* Teaches the decoder another writer schema version (idempotent). */
int dw_avro_register_writer_schema(dw_avro *av, const char *schema_json, char *errstr, size_t errstr_size);
/* CRC-64-AVRO fingerprint of the codec's event writer schema. */
uint64_t dw_avro_event_fingerprint(const dw_avro *av);

/* Single-object encoding of an event. *out points into av's buffer, valid
 * until the next call on av. Returns 0 or -1. */
int dw_avro_encode_event(dw_avro *av, const dw_event *ev, const void **out, size_t *len,
                         char *errstr, size_t errstr_size);
/* Decodes single-object bytes of any known writer schema version into ev
 * (resolving to the reader schema). Returns 0 or -1 (bad magic, unknown
 * fingerprint, truncated, invalid field...). */
int dw_avro_decode_event(dw_avro *av, const void *buf, size_t len, dw_event *ev,
                         char *errstr, size_t errstr_size);

/* The fields that order an event (occurred_at, event_id) and route it
 * (dossier_id), without the rest of the decoding: for merging archive
 * blocks. The strings point into buf when the writer schema has a resolved
 * decoder, else into av (valid until the next call on av); they are not
 * NUL-terminated and not validated (a full decode still decides whether the
 * event is valid). 0, or -1 with the reason (what a full decode would say
 * about bytes it cannot even read, or a required order field missing). */
int dw_avro_peek_event(dw_avro *av, const void *buf, size_t len, int64_t *occurred_at, const char **event_id,
                       size_t *event_id_len, const char **dossier_id, size_t *dossier_id_len, char *errstr,
                       size_t errstr_size);

int dw_avro_encode_alert(dw_avro *av, const dw_alert *a, const void **out, size_t *len,
                         char *errstr, size_t errstr_size);
int dw_avro_encode_aggregate(dw_avro *av, const dw_agg_row *row, const dw_agg_rates *rates,
                             const void **out, size_t *len, char *errstr, size_t errstr_size);

/* ---- Avro object container files of events ---- */
typedef struct dw_avro_file dw_avro_file;
dw_avro_file *dw_avro_file_create(dw_avro *av, const char *path, char *errstr, size_t errstr_size);
dw_avro_file *dw_avro_file_open(dw_avro *av, const char *path, char *errstr, size_t errstr_size);
int dw_avro_file_write(dw_avro_file *f, const dw_event *ev, char *errstr, size_t errstr_size);
/* 1 = an event read, 0 = end of file, -1 = error. */
int dw_avro_file_read(dw_avro_file *f, dw_event *ev, char *errstr, size_t errstr_size);
int dw_avro_file_close(dw_avro_file *f); /* -1: the written file is incomplete */
/* True if the file starts with the Avro container magic "Obj\1". */
int dw_avro_file_sniff(const char *path);

/* ---- Avro schema fingerprints (Avro specification) ---- */
/* Parsing Canonical Form of a JSON schema text; malloc'd, NULL on error. */
char *dw_avro_canonical_form(const char *schema_json, char *errstr, size_t errstr_size);
/* CRC-64-AVRO (Rabin) fingerprint of bytes. */
uint64_t dw_avro_crc64(const void *buf, size_t len);

#endif
