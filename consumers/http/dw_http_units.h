/* dw_http_units: the names of the units (communes, agencies, procedures,
 * the province) that events and aggregates name by code only. Read from a
 * units file, CSV with the header code,name,type,parent (UTF-8; a field
 * with a comma or quote is quoted, RFC 4180): deploy/units/NAME.csv are
 * compiled in and chosen by name (http.units = seed-letter), any other file
 * by path. Codes key on (type, code); the aggregates' province unit "all"
 * is the file's province row. Read-only after loading: shared by every
 * request thread without a lock. */
#ifndef DW_HTTP_UNITS_H
#define DW_HTTP_UNITS_H

#include <stddef.h>

typedef struct dw_units dw_units;

typedef struct dw_unit {
  const char *code, *name, *type, *parent; /* parent "" when none */
} dw_unit;

/* spec: NULL or "" (no names: an empty table), the name of a compiled-in
 * file ("seed-letter", "generated"), or a path to a .csv. NULL on error
 * with the reason naming file and line. */
dw_units *dw_units_load(const char *spec, char *errstr, size_t errstr_size);
/* From text (for tests); origin names it in errors. */
dw_units *dw_units_parse(const char *text, size_t len, const char *origin, char *errstr, size_t errstr_size);
void dw_units_destroy(dw_units *u);

/* The name of a unit, or NULL. type: "commune", "agency", "procedure",
 * "province" (code "all" is the province row). */
const char *dw_units_name(const dw_units *u, const char *type, const char *code);
size_t dw_units_count(const dw_units *u);
const dw_unit *dw_units_at(const dw_units *u, size_t i); /* in file order */

#endif
