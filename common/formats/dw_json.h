/* dw_json: what the readers of JSON (events, dvcqg records) say about a
 * value of the wrong kind, in one wording: "expected a string, got an
 * array". */
#ifndef DW_JSON_H
#define DW_JSON_H

#include <jansson.h>

/* "an object", "an array", "a string", "an integer", "a number",
 * "a boolean" or "null". */
const char *dw_json_kind(const json_t *v);

#endif
