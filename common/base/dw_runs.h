/* dw_runs: records put in any order and read back in the order of their
 * keys, holding at most a budget of bytes of them in memory. Past the
 * budget, the records held are sorted and written as one run to an
 * unlinked temp file (dw_tmpfile); reading back merges the runs and what is
 * still held, of one set or of several at once.
 *
 * Why: replay writes its output tables in key order because PostgreSQL
 * builds an index over rows already in its key order for a fraction of the
 * cost of rows in any order (its sort checks for sorted input first), and
 * the output may be far larger than memory (a national year's alerts).
 *
 * Keys compare as bytes (memcmp, a shorter prefix first): the order of
 * text under the C, POSIX and C.UTF-8 collations. Records of equal keys
 * come back by set, then in the order they were put. */
#ifndef DW_RUNS_H
#define DW_RUNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct dw_runs dw_runs;

/* name: the temp file's name part (dossierwatch-NAME-XXXXXX); budget: bytes
 * of records held before a run is written (each record costs its key, its
 * value and 16 bytes). NULL when out of memory. */
dw_runs *dw_runs_new(const char *name, size_t budget);
void dw_runs_destroy(dw_runs *r);

/* Adds a record (key, value), copied. 0, or -1 with errstr (out of memory,
 * or the run could not be written: TMPDIR named with the reason). */
int dw_runs_put(dw_runs *r, const void *key, size_t klen, const void *val, size_t vlen, char *errstr,
                size_t errstr_size);

/* Writes what is held as a run now (the memory it held is free again). 0,
 * or -1 with errstr. */
int dw_runs_flush(dw_runs *r, char *errstr, size_t errstr_size);

/* Records put, and of them written to runs. */
uint64_t dw_runs_count(const dw_runs *r);
uint64_t dw_runs_on_disk(const dw_runs *r);

/* fn for every record of the n sets, in key order. It may be called again
 * (the same records), and records may be put in between. 0, or -1 with
 * errstr (out of memory, a run cannot be read back). */
int dw_runs_each(dw_runs *const *sets, int n,
                 void (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *opaque), void *opaque,
                 char *errstr, size_t errstr_size);

#endif
