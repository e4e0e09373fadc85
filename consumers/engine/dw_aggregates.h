/* dw_aggregates: rolling compliance aggregates (CONTRACT §5). Additive
 * counters per unit (commune, agency, procedure, province="all") x period
 * (day, month, quarter, year; rolling30 derived from day rows at read time),
 * attributed by the local date (Asia/Ho_Chi_Minh) of the instant given.
 * The engine decides WHAT to count and WHEN (with +1/-1 deltas, so a late
 * event can move a count between periods); this module decides WHERE it
 * lands, keeps the numbers, and derives rates and the score. */
#ifndef DW_AGGREGATES_H
#define DW_AGGREGATES_H

#include <stdbool.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_config.h"

/* Where a count lands: the dossier's commune, the agency responsible, the
 * procedure (province is implied). */
typedef struct dw_agg_source {
  const char *commune;
  const char *agency;
  const char *procedure;
} dw_agg_source;

/* The names of the periods containing instant `at` in local time
 * (utc_offset_min): names[DW_PERIOD_DAY] "2025-04-29", [MONTH] "2025-04",
 * [QUARTER] "2025-Q2", [YEAR] "2025", [ROLLING30] the day's. */
void dw_aggregates_period_names(int64_t at, int utc_offset_min, char names[DW_PERIOD__COUNT][16]);

typedef struct dw_aggregates dw_aggregates;

dw_aggregates *dw_aggregates_new(const dw_config *cfg, int utc_offset_min);
void dw_aggregates_destroy(dw_aggregates *agg);

/* Adds delta to counter c for every unit of src, in the day/month/quarter/
 * year periods containing instant `at`. Marks those rows changed. (The
 * month/quarter/year rows are brought up to date when read: foreach and
 * drain_changes see every count added before them.) */
void dw_aggregates_add(dw_aggregates *agg, const dw_agg_source *src, dw_counter c, int64_t at, int64_t delta);

/* The same with the units resolved beforehand, for a caller that counts
 * into the same units again and again (the engine keeps one per interned
 * name): no lookup by code per call. u[unit type] (NULL entries skipped). */
typedef struct agg_unit dw_agg_unit;
typedef struct dw_agg_units {
  dw_agg_unit *u[DW_UNIT__COUNT];
} dw_agg_units;
/* The unit of that type and code, created when new; valid as long as the
 * aggregates. NULL for an empty code (or out of memory). */
dw_agg_unit *dw_aggregates_unit(dw_aggregates *agg, dw_unit_type type, const char *code);
/* delta[k] to counter c[k] for k < n, all at the same instant (one lookup
 * of each unit's day row for the lot). */
void dw_aggregates_add_units(dw_aggregates *agg, const dw_agg_units *units, int64_t at, const dw_counter *c,
                             const int64_t *delta, int n);
/* Asks the CPU ahead of time for what counting into u will touch (it
 * changes nothing): step 0 the unit; step 1, once the unit has arrived, the
 * day row it counted in last (most counts land on the current day). For a
 * caller that knows its next units a few events ahead (the engine). */
void dw_aggregates_prefetch(const dw_agg_unit *u, int step);

/* Open OVERDUE alerts gauge: +1 when one is raised, -1 when cleared. */
void dw_aggregates_open_overdue(dw_aggregates *agg, const dw_agg_source *src, int delta);
void dw_aggregates_open_overdue_units(dw_aggregates *agg, const dw_agg_units *units, int delta);

/* Rates and score of a row, with the points and thresholds of the config. */
void dw_aggregates_rates(const dw_aggregates *agg, const dw_agg_row *row, dw_agg_rates *out);

/* Calls fn for every row, sorted by unit_type, unit, period_kind, period;
 * `now` decides which rows are current (for open_overdue) and the day whose
 * rolling30 rows are produced. */
void dw_aggregates_foreach(dw_aggregates *agg, int64_t now, void (*fn)(const dw_agg_row *row, void *opaque),
                           void *opaque);

/* Calls fn for each row changed since the last call with the same `reader`
 * (0: the Kafka publisher, 1: the PostgreSQL writer), with `delta` holding
 * what changed since then, and forgets those changes for that reader. */
void dw_aggregates_drain_changes(dw_aggregates *agg, int reader, int64_t now,
                                 void (*fn)(const dw_agg_row *row, const dw_agg_row *delta, void *opaque),
                                 void *opaque);

#endif
