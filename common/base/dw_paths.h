/* dw_paths: where an installed dossierwatch finds its data files. The
 * binary carries what it needs compiled in (dw_embedded.h); an installed
 * tree (`cmake --install`: PREFIX/bin/dossierwatch and
 * PREFIX/share/dossierwatch/) also holds editable copies, e.g. the working
 * calendars, which ops may correct without a rebuild. Nothing is looked up
 * in the source tree at run time. */
#ifndef DW_PATHS_H
#define DW_PATHS_H

/* PREFIX/share/dossierwatch next to the running binary (found from
 * /proc/self/exe), or NULL when it does not exist (e.g. the build tree).
 * DW_DATA_DIR overrides it. */
const char *dw_paths_share_dir(void);
/* dw_paths_share_dir()/sub when that folder exists, else NULL. */
const char *dw_paths_share_sub(const char *sub, char *buf, int bufsize);

#include <stddef.h>
#include <stdio.h>

/* A temp file for what does not fit in memory (replay's spill), opened for
 * writing and reading: created in $TMPDIR (else /tmp) as
 * dossierwatch-NAME-XXXXXX and unlinked at once, so that it is gone with
 * the process however it ends. NULL with errno set. */
FILE *dw_tmpfile(const char *name);

/* A whole text file, NUL-terminated (caller frees); NULs inside are refused
 * (they would cut the text short). NULL with errstr naming the file. */
char *dw_read_text_file(const char *path, size_t *len, char *errstr, size_t errstr_size);

#endif
