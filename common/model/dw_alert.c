/* dw_alert: the rules table (from dw_rules.def) and rule and severity names. */
#include "dw_alert.h"

#include <string.h>

#define DW_DETAIL(before, after) {before, after}
const dw_rule_info dw_rule_table[DW_RULE__COUNT] = {
#define DW_RULE(name, sev, wakes, d_warning, d_critical) {#name, DW_SEV_##sev, wakes, {d_warning, d_critical}},
#include "dw_rules.def"
#undef DW_RULE
};

const char *dw_rule_name(dw_rule r) { return (r >= 0 && r < DW_RULE__COUNT) ? dw_rule_table[r].name : "?"; }

const char *dw_severity_name(dw_severity s) { return s == DW_SEV_CRITICAL ? "critical" : "warning"; }

int dw_rule_parse(const char *name, dw_rule *out) {
  for (int i = 0; i < DW_RULE__COUNT; i++)
    if (strcmp(name, dw_rule_table[i].name) == 0) {
      *out = (dw_rule)i;
      return 0;
    }
  return -1;
}
