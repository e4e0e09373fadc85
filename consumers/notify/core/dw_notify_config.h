/* dw_notify_config: the configuration of `dossierwatch notify` (one YAML
 * file, notify.routes), in Alertmanager's key names and matcher syntax where
 * they mean the same thing, plus what our domain needs beyond it
 * (office_hours on the working calendar, escalations, digests).
 *
 * What is here is pure: parsing (libyaml), matchers on alert labels, and
 * time intervals on a clock and calendar that are passed in. Every error
 * names FILE:LINE and the key's path ("route.routes[1].group_wait") and the
 * reason; unknown keys are errors (a typo never silently means a default).
 * The parsed configuration is immutable; a reload parses a new one and
 * swaps it whole (a bad file keeps the old one). */
#ifndef DW_NOTIFY_CONFIG_H
#define DW_NOTIFY_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_alert.h"
#include "dw_buf.h"
#include "dw_calendar.h"

/* ---- labels and matchers ---- */

/* The labels of an alert that matchers, group_by, inhibit_rules' equal and
 * silences may name (its contract fields). */
typedef enum dw_notify_label {
  DW_NL_RULE = 0,
  DW_NL_SEVERITY,
  DW_NL_DOSSIER_ID,
  DW_NL_COMMUNE,
  DW_NL_AGENCY,
  DW_NL_PROCEDURE,
  DW_NL__COUNT
} dw_notify_label;
#define DW_NL_ALL ((1u << DW_NL__COUNT) - 1)

const char *dw_notify_label_name(dw_notify_label l);
int dw_notify_label_parse(const char *name, dw_notify_label *out);
/* The alert's value of label l ("OVERDUE", "critical", its codes). */
const char *dw_notify_label_value(const dw_alert *a, dw_notify_label l);

typedef enum dw_notify_op { DW_NOP_EQ = 0, DW_NOP_NE, DW_NOP_RE, DW_NOP_NRE } dw_notify_op;

/* One matcher: `commune="30412"`, `rule!=DUE_SOON`, `agency=~"UBND-304.*"`,
 * `severity!~"warn.*"`. Regular expressions are POSIX extended, anchored at
 * both ends as Alertmanager's are. */
typedef struct dw_notify_matcher {
  dw_notify_label label;
  dw_notify_op op;
  char *value;
  regex_t re; /* for =~ and !~ */
  bool has_re;
} dw_notify_matcher;

/* Parses one matcher (Alertmanager's syntax: label, operator, a value in
 * double quotes or bare; spaces around are allowed). 0, or -1 with the
 * reason. */
int dw_notify_matcher_parse(const char *text, dw_notify_matcher *m, char *errstr, size_t errstr_size);
void dw_notify_matcher_free(dw_notify_matcher *m);
bool dw_notify_matcher_matches(const dw_notify_matcher *m, const dw_alert *a);
/* All of them match (true for n == 0). */
bool dw_notify_matchers_match(const dw_notify_matcher *m, size_t n, const dw_alert *a);
/* The canonical text: label="value" with the operator. */
void dw_notify_matcher_format(const dw_notify_matcher *m, dw_buf *out);
const char *dw_notify_op_name(dw_notify_op op);

/* ---- time intervals (Alertmanager's time_intervals) ---- */

typedef struct dw_notify_range {
  int lo, hi; /* inclusive */
} dw_notify_range;

typedef struct dw_notify_timespec {
  dw_notify_range *times; /* minutes of the day, [lo, hi) */
  size_t ntimes;
  dw_notify_range *weekdays; /* 0 = Sunday .. 6 = Saturday (Alertmanager's order) */
  size_t nweekdays;
  dw_notify_range *days_of_month; /* 1..31, or negative from the end (-1 = last) */
  size_t ndays_of_month;
  dw_notify_range *months; /* 1..12 */
  size_t nmonths;
  dw_notify_range *years;
  size_t nyears;
  int utc_offset_min; /* location: fixed offsets only (UTC, Local, Asia/Ho_Chi_Minh) */
} dw_notify_timespec;

typedef struct dw_notify_interval {
  char *name;
  dw_notify_timespec *specs;
  size_t nspecs;
} dw_notify_interval;

/* Is t inside the interval (any of its specs)? */
bool dw_notify_interval_contains(const dw_notify_interval *iv, int64_t t);

/* ---- receivers ---- */

typedef enum dw_notify_kind { DW_NK_EMAIL = 0, DW_NK_WEBHOOK } dw_notify_kind;

typedef struct dw_notify_tls {
  char *ca_file, *cert_file, *key_file, *server_name;
  bool insecure_skip_verify;
} dw_notify_tls;

typedef struct dw_notify_integration {
  dw_notify_kind kind;
  int index;          /* its position among the receiver's integrations of this kind */
  bool send_resolved; /* email: false by default, webhook: true (as Alertmanager) */
  int64_t timeout_ms;
  dw_notify_tls tls;
  /* email */
  char **to; /* the addresses of `to` (comma-separated there) */
  size_t nto;
  char *from, *smarthost, *hello, *auth_username, *auth_password, *auth_identity;
  bool require_tls;
  /* webhook */
  char *url, *bearer_token;
  int max_alerts; /* 0: all */
} dw_notify_integration;

typedef struct dw_notify_receiver {
  char *name;
  char *language; /* "vi" (default) or "en" */
  dw_notify_integration *integ;
  size_t ninteg;
} dw_notify_receiver;

/* ---- the routing tree, escalations, inhibition, digests ---- */

typedef struct dw_notify_route dw_notify_route;
struct dw_notify_route {
  char *id;     /* "{}/{commune=\"30412\"}": its place in the tree, part of group keys */
  int line;     /* where it is in the file */
  int receiver; /* index into receivers */
  dw_notify_matcher *matchers;
  size_t nmatchers;
  unsigned group_by; /* DW_NL bits; group_by_all: '...' */
  bool group_by_all;
  int64_t group_wait_ms, group_interval_ms, repeat_interval_ms;
  bool cont;
  bool office_hours; /* ours: deliver only in working time on the calendar */
  int *mute, *active; /* indexes into intervals */
  size_t nmute, nactive;
  dw_notify_route *children;
  size_t nchildren;
  /* escalations are routes of their own, outside the tree: an alert joins
   * once it has been open that much working time on the calendar
   * (dw_notify_escalation_after) */
  bool escalation;
  int64_t escalate_days_x100; /* working days x 100 ("2d": 200) */
  int64_t escalate_hours_ms;  /* or working hours, in ms ("6h") */
};

typedef struct dw_notify_inhibit {
  dw_notify_matcher *source, *target;
  size_t nsource, ntarget;
  unsigned equal; /* DW_NL bits */
} dw_notify_inhibit;

typedef struct dw_notify_digest {
  char *name;
  int receiver;
  int at_min; /* local minutes after midnight, on each working day */
  dw_notify_matcher *matchers;
  size_t nmatchers;
  dw_unit_type unit_type; /* whose compliance rates: commune, agency or procedure */
  int top;                /* at most this many units (worst first) */
} dw_notify_digest;

typedef struct dw_notify_unit_name {
  char *code, *name;
} dw_notify_unit_label;

typedef struct dw_notify_config {
  char *file;
  char *external_url; /* links: EXTERNAL_URL/#dossier=ID */
  int dossiers_per_message;
  dw_notify_receiver *receivers;
  size_t nreceivers;
  dw_notify_route route; /* the root */
  dw_notify_route *escalations;
  char **escalation_names;
  size_t nescalations;
  dw_notify_inhibit *inhibits;
  size_t ninhibits;
  dw_notify_interval *intervals;
  size_t nintervals;
  dw_notify_digest *digests;
  size_t ndigests;
  dw_notify_unit_label *unit_names;
  size_t nunit_names;
} dw_notify_config;

/* Parses FILE. NULL on error, with "FILE:LINE: KEY: reason" in errstr. */
dw_notify_config *dw_notify_config_load(const char *path, char *errstr, size_t errstr_size);
/* The same from text in memory (file names the source in errors). */
dw_notify_config *dw_notify_config_parse(const char *text, size_t len, const char *file, char *errstr,
                                         size_t errstr_size);
void dw_notify_config_destroy(dw_notify_config *cfg);

/* The unit's display name from unit_names, or NULL. */
const char *dw_notify_unit_name(const dw_notify_config *cfg, const char *code);
/* Durations in Prometheus's syntax: "30s", "5m", "4h", "1d", "1h30m", "500ms". */
int dw_notify_duration_parse(const char *s, int64_t *ms);

/* Is the route muted at t: inside one of its mute_time_intervals, outside
 * all of its active_time_intervals (when it has some), or, with
 * office_hours, outside working time on the calendar? */
bool dw_notify_route_muted(const dw_notify_config *cfg, const dw_notify_route *r, const dw_calendar *cal, int64_t t);
/* The first instant >= t at which the route is not muted (searched minute by
 * minute up to 60 days ahead; office_hours alone is exact); DW_TIME_NONE
 * when there is none in that time. */
int64_t dw_notify_route_next_unmuted(const dw_notify_config *cfg, const dw_notify_route *r, const dw_calendar *cal,
                                     int64_t t);

/* An escalation's working time, in ms, for the calendar's working day. */
int64_t dw_notify_escalation_after(const dw_notify_route *r, const dw_calendar *cal);

/* Calls fn for every route of the tree, depth first (the root first). */
void dw_notify_routes_foreach(const dw_notify_route *root, void (*fn)(const dw_notify_route *r, void *opaque),
                              void *opaque);
/* The routes an alert goes to (Alertmanager's matching: depth first, the
 * deepest matching routes, siblings after a match only with continue; the
 * root when no child matches). Fills out[] (at most max), returns how many. */
size_t dw_notify_route_match(const dw_notify_route *root, const dw_alert *a, const dw_notify_route **out, size_t max);

#endif
