/* dw_http_api: serve's internal API, what the route handlers call: each
 * function reads PostgreSQL on a connection whose transaction already
 * carries the request's scope (row-level security filters every row it
 * sees) and writes the reply's JSON into a dw_buf. Numbers follow `audit`
 * (CONTRACT §8): rates and scores with two decimals computed from the
 * counters by the engine's own dw_aggregates_rates, times RFC 3339 at
 * calendar.utc_offset_min (+07:00). Names come from the units file.
 *
 * Returns: 0 done; 1 nothing to show (dossier: not found or not in the
 * scope, which the reply does not distinguish); -1 a database error,
 * reason in errstr for the log only (the client gets 503, never SQL). */
#ifndef DW_HTTP_API_H
#define DW_HTTP_API_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_buf.h"
#include "dw_config.h"
#include "dw_http_token.h"
#include "dw_http_units.h"

#define DW_API_MAX_FILTER 64

typedef struct dw_api dw_api;

/* cfg: calendar.* and score.* (rates, the dossier's due time); units
 * borrowed. NULL with the reason (calendar files). */
dw_api *dw_api_new(const dw_config *cfg, const dw_units *units, char *errstr, size_t errstr_size);
void dw_api_destroy(dw_api *api);
int dw_api_utc_offset(const dw_api *api);

/* Periods of the aggregates: one ("current" or its name in the kind's
 * syntax: day 2025-04-29, month 2025-04, quarter 2025-Q2, year 2025,
 * rolling30 its last day), or a range from..to of one kind (not
 * rolling30), e.g. the months of a unit's chart. */
typedef struct dw_api_period {
  dw_unit_type unit_type;
  dw_period_kind kind;
  char from[16], to[16]; /* equal for one period */
  char cur[16];          /* the current period of that kind (open_overdue is counted only there) */
  bool range;
} dw_api_period;
/* One period: 0, or -1 with why ("must look like 2025-Q2"). */
int dw_api_period_resolve(const dw_api *api, const char *unit_type, const char *kind, const char *period,
                          int64_t now, dw_api_period *out, char *why, size_t why_size);
/* A range (from <= to, same syntax; "current" allowed for either end). */
int dw_api_period_range(const dw_api *api, const char *unit_type, const char *kind, const char *from,
                        const char *to, int64_t now, dw_api_period *out, char *why, size_t why_size);

/* {"unit_type","period_kind","period" (or "from","to"),"current","rows":
 * [audit's aggregate object + "name"]} sorted by unit, period; units: only
 * these (n 0: all visible). */
int dw_api_aggregates(dw_api *api, PGconn *c, const dw_api_period *p, char units[][64], int nunits, dw_buf *out,
                      char *errstr, size_t errstr_size);

/* Ranking keys: the rates, open_overdue, score, score_100. */
int dw_api_ranking_key_valid(const char *by);
#define DW_API_RANKING_KEYS                                                                                       \
  "result_digitized_rate|intake_digitized_rate|on_time_rate|online_rate|reuse_rate|paid_online_rate|rating_avg|" \
  "open_overdue|score|score_100"
/* {"unit_type","period_kind","period","current","by","order","rows":[{"rank",
 * "unit","name","received","results_issued", the rates, "open_overdue",
 * "score","score_100"}]}, worst first (lowest rate / most open overdue;
 * units without a value last), or best first. */
int dw_api_ranking(dw_api *api, PGconn *c, const dw_api_period *p, const char *by, bool best_first, dw_buf *out,
                   char *errstr, size_t errstr_size);

typedef struct dw_api_alert_query {
  const char *state; /* open, cleared, all */
  char agencies[DW_API_MAX_FILTER][64], communes[DW_API_MAX_FILTER][64], rules[DW_API_MAX_FILTER][64];
  int nagencies, ncommunes, nrules;
  const char *severity; /* NULL: both */
  bool has_after;       /* keyset cursor: strictly older than (after_ms, after_id) */
  int64_t after_ms;
  char after_id[160];
  int limit;
} dw_api_alert_query;
/* The cursor text of a reply's "next" / an "after" parameter:
 * "<raised_at ms>:<alert_id>". 0, or -1 when malformed. */
int dw_api_cursor_parse(const char *s, int64_t *ms, char *id, size_t id_size);
/* {"alerts":[{alert_id, rule, severity, dossier_id, commune, agency,
 * procedure, raised_at, due_at, cleared_at, detail}], "next": cursor|null},
 * newest raised first. */
int dw_api_alerts(dw_api *api, PGconn *c, const dw_api_alert_query *q, dw_buf *out, char *errstr,
                  size_t errstr_size);

/* {"dossier_id","state":{...}|null,"events":[archived JSON events, in
 * event time],"alerts":[...]}; 1 when nothing of it is visible. */
int dw_api_dossier(dw_api *api, PGconn *c, const char *dossier_id, dw_buf *out, char *errstr, size_t errstr_size);

/* {"units":[{"code","name","type","parent"}]}: the units file's rows the
 * scope covers (dw_scope_covers), optionally of one type. */
void dw_api_units(const dw_api *api, const dw_scope *scope, const char *type, dw_buf *out);

#endif
