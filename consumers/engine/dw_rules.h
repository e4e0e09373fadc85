/* dw_rules: the alert rules of CONTRACT §4 as pure functions of a dossier's
 * facts. From the facts we derive the dossier's timeline (unpaused open
 * stretches, each with the due time in force) and, per rule, the alert
 * intervals [raised_at, cleared_at) it implies over all time. The rules are
 * causal (an interval's start depends only on facts at or before it), so the
 * engine gets the state "as of now" by looking at which intervals have begun
 * by now: facts later than now have not happened yet.
 *
 * Visibility convention: a "strict" interval (condition "now > T", e.g.
 * OVERDUE) is raised at T but first holds at T+1 ms; an inclusive one
 * (triggered by an event or a window start) holds from raised_at. An
 * interval is cleared for every now >= cleared_at. Intervals that would be
 * cleared before (or at) the instant they first hold are dropped. */
#ifndef DW_RULES_H
#define DW_RULES_H

#include <stdint.h>

#include "dw_alert.h"
#include "dw_calendar.h"
#include "dw_dossier.h"

#define DW_MAX_STRETCH 130
#define DW_RULE_MAX_IVALS 8 /* per rule; older DUE_SOON intervals beyond this are history */

typedef struct dw_rules_cfg {
  const dw_calendar *cal;
  int64_t due_soon_ms, intake_ms, result_ms; /* windows as working time */
} dw_rules_cfg;

/* An unpaused open stretch [a, b) with the due time d in force. */
typedef struct dw_stretch {
  int64_t a, b, due;
  uint8_t end; /* DW_END_* */
} dw_stretch;
enum { DW_END_NONE = 0, DW_END_PAUSE, DW_END_CLOSE };

enum { DW_CLOSE_NONE = 0, DW_CLOSE_ISSUED, DW_CLOSE_REJECTED, DW_CLOSE_WITHDRAWN };

typedef struct dw_timeline {
  int received;    /* 0: no RECEIVED yet (no stretches) */
  int64_t close_at; /* DW_TIME_NONE while open */
  int close_kind;   /* DW_CLOSE_* */
  int n;
  dw_stretch s[DW_MAX_STRETCH];
} dw_timeline;

typedef struct dw_ival {
  int64_t r;      /* raised_at */
  int64_t c;      /* cleared_at or DW_TIME_NONE */
  int64_t due;    /* the dossier's due time at r */
  int64_t ref;    /* the rule's own deadline (detail) */
  int64_t sev_at; /* from this instant the severity is sev1 (DW_TIME_NONE: never) */
  uint8_t strict, sev0, sev1;
} dw_ival;

typedef struct dw_rule_out {
  int n[DW_RULE__COUNT];
  dw_ival iv[DW_RULE__COUNT][DW_RULE_MAX_IVALS];
} dw_rule_out;

/* Builds the timeline. Calendar failures leave the affected due unknown. */
void dw_rules_timeline(const dw_rules_cfg *cfg, const dw_dossier *d, dw_timeline *tl);
/* The due time in force at t (the due of the last stretch begun by t). */
int64_t dw_rules_due_at(const dw_dossier *d, const dw_timeline *tl, int64_t t);
/* Every rule's intervals. */
void dw_rules_derive(const dw_rules_cfg *cfg, const dw_dossier *d, const dw_timeline *tl, dw_rule_out *out);

/* Visibility helpers (see the convention above). */
static inline int64_t dw_ival_first(const dw_ival *iv) { return iv->strict ? iv->r + 1 : iv->r; }
static inline int dw_ival_raised(const dw_ival *iv, int64_t now) { return now != DW_TIME_NONE && now >= dw_ival_first(iv); }
static inline int dw_ival_cleared(const dw_ival *iv, int64_t now) { return iv->c != DW_TIME_NONE && now >= iv->c; }
static inline uint8_t dw_ival_sev(const dw_ival *iv, int64_t now) {
  return (iv->sev_at != DW_TIME_NONE && now >= iv->sev_at) ? iv->sev1 : iv->sev0;
}

#endif
