/* dw_alert: an alert (CONTRACT §4) as the engine raises, updates and clears it,
 * and as every output (audit JSON, Kafka Avro, PostgreSQL) receives it. */
#ifndef DW_ALERT_H
#define DW_ALERT_H

#include <stdint.h>

#include "dw_event.h"

typedef enum dw_severity { DW_SEV_WARNING = 0, DW_SEV_CRITICAL } dw_severity;

/* The rules, from the one table dw_rules.def. */
typedef enum dw_rule {
#define DW_RULE(name, sev, wakes, d_warning, d_critical) DW_RULE_##name,
#include "dw_rules.def"
#undef DW_RULE
  DW_RULE__COUNT
} dw_rule;

/* What dw_rules.def says of each rule. */
#define DW_WAKE(type) (1u << DW_EV_##type)
/* the events that move a dossier's timeline (receipt, due, pauses, close) */
#define DW_WAKE_TIMELINE                                                                                            \
  (DW_WAKE(RECEIVED) | DW_WAKE(SUPPLEMENT_REQUESTED) | DW_WAKE(SUPPLEMENT_RECEIVED) | DW_WAKE(RESULT_ISSUED) |     \
   DW_WAKE(REJECTED) | DW_WAKE(WITHDRAWN))
typedef struct dw_rule_detail {
  const char *before, *after; /* around the rule's own deadline */
} dw_rule_detail;
typedef struct dw_rule_info {
  const char *name;
  dw_severity severity;
  unsigned wakes; /* DW_WAKE bits */
  dw_rule_detail detail[2]; /* by severity */
} dw_rule_info;
extern const dw_rule_info dw_rule_table[DW_RULE__COUNT];

typedef enum dw_alert_change {
  DW_ALERT_RAISED = 0, /* a new open alert */
  DW_ALERT_UPDATED,    /* same alert, severity (or due_at/detail) changed */
  DW_ALERT_CLEARED,    /* cleared_at is set */
} dw_alert_change;

#define DW_ALERT_ID_MAX (DW_ID_MAX + 48)

typedef struct dw_alert {
  /* Deterministic, so replays and restarts produce the same ids:
   * "<dossier_id>:<RULE>:<raised_at ms>". */
  char alert_id[DW_ALERT_ID_MAX];
  dw_rule rule;
  char dossier_id[DW_ID_MAX];
  char commune[DW_CODE_MAX];
  char agency[DW_ID_MAX];
  char procedure[DW_CODE_MAX];
  dw_severity severity;
  int64_t raised_at;  /* the logical instant the condition began */
  int64_t due_at;     /* the dossier's due time then, DW_TIME_NONE if unknown */
  int64_t cleared_at; /* DW_TIME_NONE while open */
  char detail[256];   /* human text, e.g. the rule's own deadline */
} dw_alert;

const char *dw_rule_name(dw_rule r);       /* "DUE_SOON", ... */
const char *dw_severity_name(dw_severity s); /* "warning", "critical" */
int dw_rule_parse(const char *name, dw_rule *out);

#endif
