/* dw_pg_state: what watch reads back from PostgreSQL when it is assigned
 * Kafka partitions (or rebuilds after an error): the stored next offsets
 * (and engine watermark) per partition, and the dossier states of those
 * partitions, streamed row by row so that a large partition does not need
 * one huge result in memory. */
#ifndef DW_PG_STATE_H
#define DW_PG_STATE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* For each of parts[0..n): next_offsets[i] = stored next offset or -1 when
 * none, watermarks[i] = stored watermark or DW_TIME_NONE. Returns 0 or -1. */
int dw_pg_state_load_offsets(PGconn *pg, const char *group, const char *topic, const int32_t *parts, size_t n,
                             int64_t *next_offsets, int64_t *watermarks, char *errstr, size_t errstr_size);

/* Calls fn for every dossier_state row of the partitions; a non-zero return
 * from fn is counted (returned through *failed) but does not stop the load.
 * Returns the number of rows, or -1 on a PostgreSQL error. */
typedef int (*dw_pg_state_fn)(const char *dossier_id, int32_t partition, const void *blob, size_t len, int open,
                              void *opaque);
long dw_pg_state_load_dossiers(PGconn *pg, const int32_t *parts, size_t n, dw_pg_state_fn fn, void *opaque,
                               long *failed, char *errstr, size_t errstr_size);

#endif
