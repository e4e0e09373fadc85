/* dw_alert: rule and severity names. */
#include "dw_alert.h"

#include <string.h>

static const char *const rule_names[DW_RULE__COUNT] = {
  "DUE_SOON", "OVERDUE", "APOLOGY_MISSING", "PROMISE_MISSED",
  "INTAKE_NOT_DIGITIZED", "RESULT_NOT_DIGITIZED", "PAPER_REQUESTED_FROM_WAREHOUSE",
};

const char *dw_rule_name(dw_rule r) { return (r >= 0 && r < DW_RULE__COUNT) ? rule_names[r] : "?"; }

const char *dw_severity_name(dw_severity s) { return s == DW_SEV_CRITICAL ? "critical" : "warning"; }

int dw_rule_parse(const char *name, dw_rule *out) {
  for (int i = 0; i < DW_RULE__COUNT; i++)
    if (strcmp(name, rule_names[i]) == 0) {
      *out = (dw_rule)i;
      return 0;
    }
  return -1;
}
