/* dw_dvcqg_internal: what the dvcqg files share behind dw_dvcqg.h (the
 * mapping of a parsed record, the envelope, JSON error text, the writer's
 * field names). Not for other modules. */
#ifndef DW_DVCQG_INTERNAL_H
#define DW_DVCQG_INTERNAL_H

#include <jansson.h>

#include "dw_dvcqg.h"

/* Every parse of input: duplicate keys make a record ambiguous. */
#define DVCQG_JSON_FLAGS JSON_REJECT_DUPLICATES

/* Maps a parsed record (its personal fields are blanked in place first).
 * Same returns as dw_dvcqg_record. */
int dvcqg_map_value(dw_dvcqg *m, json_t *rec, const char *madonvi, uint64_t record, uint64_t line,
                    const dw_dvcqg_sink *sink, dw_dvcqg_stats *st);
/* Refuses an input unit that is not valid JSON (why: position and reason,
 * quoting nothing of the input). Returns 1, or -1 if the sink stopped. */
int dvcqg_refuse_text(dw_dvcqg *m, uint64_t record, uint64_t line, const char *field, const char *why,
                      const dw_dvcqg_sink *sink, dw_dvcqg_stats *st);

/* Blanks (to "") every personal field at any depth of v. */
void dvcqg_blank_personal(json_t *v);

/* jansson's message without the part that quotes the input ("near '...'"),
 * at line/column offset by the unit's own start (line_base: the line the
 * parsed text starts on, col_base: its column there, both from 1). */
void dvcqg_json_error(const json_error_t *e, uint64_t line_base, uint64_t col_base, char *out, size_t n);

/* Is v an envelope ({"data": [...], ...})? 1 with *data and *madonvi (NULL
 * when absent), 0 when v is not one, -1 with why when it is a broken one. */
int dvcqg_envelope(json_t *v, json_t **data, const char **madonvi, char *why, size_t n);

/* yyyyMMddHHmmss (local, utc_offset_min) <-> ms. parse: 0, or -1 with why. */
int dvcqg_date_parse(const char *s, int utc_offset_min, int64_t *ms, char *why, size_t n);
void dvcqg_date_format(int64_t ms, int utc_offset_min, char out[15]);

#endif
