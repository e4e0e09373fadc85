/* dw_replay_out: a replay's result into PostgreSQL - the alerts, the
 * summed aggregate deltas and the dossier states of every job - either
 * into a new shadow schema (written over several connections at once) or,
 * in one transaction, into the live tables; and the swap of a shadow
 * schema into the live tables. */
#ifndef DW_REPLAY_OUT_H
#define DW_REPLAY_OUT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_replay_jobs.h"

/* The output tables, in the order of dw_replay_out_counts' per-table rows. */
#define DW_REPLAY_TABLES 3
extern const char *const dw_replay_tables[DW_REPLAY_TABLES]; /* alerts, aggregates, dossier_state */

typedef struct dw_replay_out_counts {
  uint64_t alerts, open_alerts, agg_rows, states;
} dw_replay_out_counts;

/* A schema name replay is willing to create or read: a plain identifier,
 * not public, pg_* or information_schema. */
bool dw_replay_schema_valid(const char *s);
int dw_replay_schema_exists(PGconn *pg, const char *schema, int *exists, char *err, size_t n);

/* Writes what the (finished) jobs hold. schema: a new schema to create
 * (it must not exist; conninfo opens the extra connections), or NULL for
 * the live tables (truncated and refilled in one transaction on pg). On
 * failure nothing is left behind: the live tables are rolled back, the
 * partial schema dropped. 0, or -1 with err. */
int dw_replay_out_write(PGconn *pg, const char *conninfo, dw_jobs *jobs, const char *schema,
                        dw_replay_out_counts *oc, char *err, size_t n);

#endif
