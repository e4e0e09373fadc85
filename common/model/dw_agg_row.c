/* dw_agg_row: contract names of counters, unit types and period kinds. */
#include "dw_agg_row.h"

#include <string.h>

static const char *const counter_names[DW_C__COUNT] = {
  "received", "online", "online_full", "intake_digitized", "reused_docs", "dossiers_with_reuse",
  "paper_requests_from_warehouse", "results_issued", "results_digitized", "on_time", "late",
  "apologies", "paid", "paid_online", "ratings", "rating_sum",
};
static const char *const unit_names[DW_UNIT__COUNT] = {"commune", "agency", "procedure", "province"};
static const char *const period_names[DW_PERIOD__COUNT] = {"day", "month", "quarter", "year", "rolling30"};

const char *dw_counter_name(dw_counter c) { return (unsigned)c < DW_C__COUNT ? counter_names[c] : "?"; }
const char *dw_unit_type_name(dw_unit_type u) { return (unsigned)u < DW_UNIT__COUNT ? unit_names[u] : "?"; }
const char *dw_period_kind_name(dw_period_kind p) {
  return (unsigned)p < DW_PERIOD__COUNT ? period_names[p] : "?";
}


#define PARSE(fn, type, count, namefn)              \
  int fn(const char *name, type *out) {             \
    for (int i = 0; i < (count); i++)               \
      if (strcmp(name, namefn((type)i)) == 0) {     \
        *out = (type)i;                             \
        return 0;                                   \
      }                                             \
    return -1;                                      \
  }
PARSE(dw_counter_parse, dw_counter, DW_C__COUNT, dw_counter_name)
PARSE(dw_unit_type_parse, dw_unit_type, DW_UNIT__COUNT, dw_unit_type_name)
PARSE(dw_period_kind_parse, dw_period_kind, DW_PERIOD__COUNT, dw_period_kind_name)
