/* dw_agg_row: the vocabulary of the compliance aggregates (CONTRACT §5) that
 * every layer shares: counters, unit types, period kinds with their contract
 * names, and one aggregate row with its rates as outputs receive it. The
 * arithmetic (where a count lands, rates, score) is the engine's
 * (dw_aggregates); encoders and sinks only need these types. */
#ifndef DW_AGG_ROW_H
#define DW_AGG_ROW_H

#include <stdint.h>

typedef enum dw_counter {
  DW_C_RECEIVED = 0,
  DW_C_ONLINE,
  DW_C_ONLINE_FULL,
  DW_C_INTAKE_DIGITIZED,
  DW_C_REUSED_DOCS,
  DW_C_DOSSIERS_WITH_REUSE, /* dossiers with >= 1 DOC_REUSED, at the first one (score's reuse rate) */
  DW_C_PAPER_REQUESTS_FROM_WAREHOUSE,
  DW_C_RESULTS_ISSUED,
  DW_C_RESULTS_DIGITIZED,
  DW_C_ON_TIME,
  DW_C_LATE,
  DW_C_APOLOGIES,
  DW_C_PAID,
  DW_C_PAID_ONLINE,
  DW_C_RATINGS,
  DW_C_RATING_SUM,
  DW_C__COUNT
} dw_counter;

typedef enum dw_unit_type { DW_UNIT_COMMUNE = 0, DW_UNIT_AGENCY, DW_UNIT_PROCEDURE, DW_UNIT_PROVINCE, DW_UNIT__COUNT } dw_unit_type;
typedef enum dw_period_kind { DW_PERIOD_DAY = 0, DW_PERIOD_MONTH, DW_PERIOD_QUARTER, DW_PERIOD_YEAR, DW_PERIOD_ROLLING30, DW_PERIOD__COUNT } dw_period_kind;

/* Contract names: "received", ..., "commune", ..., "day", "rolling30". */
const char *dw_counter_name(dw_counter c);
const char *dw_unit_type_name(dw_unit_type u);
const char *dw_period_kind_name(dw_period_kind p);

/* One aggregate row, as read out. */
typedef struct dw_agg_row {
  dw_unit_type unit_type;
  const char *unit;
  dw_period_kind period_kind;
  char period[16]; /* "2025-04-29", "2025-04", "2025-Q2", "2025"; rolling30: its last day */
  int64_t counters[DW_C__COUNT];
  int64_t open_overdue; /* gauge; non-zero only on rows of the current periods */
} dw_agg_row;

/* Rates (0..100, two decimals, half away from zero) and score of a row.
 * A rate is NAN when its denominator is 0 (printed as null). */
typedef struct dw_agg_rates {
  double on_time_rate, intake_digitized_rate, result_digitized_rate, online_rate, rating_avg;
  double reuse_rate, paid_online_rate;
  double score;     /* out of the points covered (82 by default) */
  double score_100; /* scaled to 100 */
} dw_agg_rates;

/* Contract name -> value; 0, or -1 for an unknown name. */
int dw_counter_parse(const char *name, dw_counter *out);
int dw_unit_type_parse(const char *name, dw_unit_type *out);
int dw_period_kind_parse(const char *name, dw_period_kind *out);

#endif
