/* dw_rejects: the one reject file of dossierwatch. `import` and `audit`
 * (and any reader of files) write each refused input unit as one JSON
 * object per line:
 *   {"file":"in.jsonl","line":12,"reason":"field 'occurred_at': ...","raw":"<the line>"}
 * ("record" instead of "line" for record formats; "raw_base64" when the
 * input is not valid UTF-8; no raw when there is nothing printable). The raw
 * text is what the reader kept, so formats that carry personal data (the
 * dvcqg sync records) hand it over with those fields blanked. The file is
 * created at the first reject, so a clean run leaves none behind (a file
 * of that name from an earlier run is removed unless appending). */
#ifndef DW_REJECTS_H
#define DW_REJECTS_H

#include <stdint.h>

#include "dw_reader.h"

typedef struct dw_rejects dw_rejects;

/* path: where to write (NULL: count only); append: add to an existing file
 * instead of replacing it. */
dw_rejects *dw_rejects_new(const char *path, int append);
/* Writes one; 0, or -1 with errstr when the file cannot be written. */
int dw_rejects_add(dw_rejects *r, const char *file, const dw_reject *rej, char *errstr, size_t errstr_size);
uint64_t dw_rejects_count(const dw_rejects *r);
const char *dw_rejects_path(const dw_rejects *r);
/* Closes (and frees); -1 with errstr when the file is incomplete. */
int dw_rejects_close(dw_rejects *r, char *errstr, size_t errstr_size);

#endif
