/* dw_embedded: files compiled into the binary (CMakeLists.txt, dw_embed):
 * schemas, migrations, calendars, simulator presets, scripts, dashboard
 * assets. Each set is a table dw_embedded_<set>[] ending with a NULL name;
 * data is NUL-terminated after its len bytes (text can be used as is). */
#ifndef DW_EMBEDDED_H
#define DW_EMBEDDED_H

#include <stddef.h>
#include <string.h>

typedef struct dw_embedded_file {
  const char *name; /* file name, e.g. "vn-2025.txt" */
  const char *data;
  size_t len;
} dw_embedded_file;

static inline const dw_embedded_file *dw_embedded_find(const dw_embedded_file *set, const char *name) {
  for (; set && set->name; set++)
    if (strcmp(set->name, name) == 0) return set;
  return NULL;
}

#endif
