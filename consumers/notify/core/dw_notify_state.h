/* dw_notify_state: the grouping and notification state machine of notify,
 * after Alertmanager's dispatcher, aggregation groups and notification log,
 * with our escalations and digests. PURE: no I/O, no wall clock: every call
 * that depends on time takes `now`; the calendar is passed in. The I/O
 * (reading the outbox, PostgreSQL, SMTP, HTTP) is the caller's.
 *
 * Model:
 * - An alert (from the outbox: its full current row) is routed through the
 *   tree (dw_notify_route_match) into aggregation groups, one per route and
 *   values of its group_by labels (group key `ROUTE_ID:{label="v",...}`).
 *   Escalations are routes of their own: an alert joins once it has been
 *   open the escalation's working time on the calendar.
 * - A new group flushes group_wait after it was created, then every
 *   group_interval. At a flush, for each integration (email, webhook) of the
 *   group's receiver, the notification log entry of that integration (what
 *   it was last sent: firing ids, resolved ids, when) decides: send when an
 *   alert fires that the last message did not list, when an alert it was
 *   told of has resolved (send_resolved), or when repeat_interval has passed
 *   since the last message while alerts fire. Silenced and inhibited alerts
 *   are left out (they stay in the group). A muted route (mute/active time
 *   intervals, office_hours) defers the flush to the next unmuted instant,
 *   so what came in the evening goes out at the next working start.
 * - A message, once requested, is committed (the caller writes it to its
 *   notification log in the same transaction as this state) and delivered
 *   until it succeeds; while an integration of a group has a message not
 *   yet delivered, that integration is not flushed again (no pile of
 *   repeats while a receiver is down; nothing lost: the next message says
 *   what changed meanwhile).
 * - A resolved alert stays until every integration that was told it fires
 *   has been told it resolved (or, without send_resolved, has been flushed
 *   once after), then it is forgotten; an empty group is deleted.
 * - Digests: each working day (calendar) at their local time, once a day.
 *
 * Persistence: the caller drains what changed (alerts, groups, digests) and
 * writes it with the outbox cursor in one transaction; on start it restores
 * groups, digests and alerts, in that order. */
#ifndef DW_NOTIFY_STATE_H
#define DW_NOTIFY_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_alert.h"
#include "dw_calendar.h"
#include "dw_notify_config.h"
#include "dw_notify_metrics.h"

/* A silence (stored in PostgreSQL, see dw_silences.h): alerts matching all
 * its matchers are left out of notifications while starts_at <= now < ends_at. */
typedef struct dw_notify_silence {
  char id[40];
  dw_notify_matcher *matchers;
  size_t nmatchers;
  int64_t starts_at, ends_at;
} dw_notify_silence;

bool dw_notify_silence_active(const dw_notify_silence *s, int64_t now);
bool dw_notify_silence_matches(const dw_notify_silence *s, const dw_alert *a);

/* One integration's notification log entry: what its last message said. */
typedef struct dw_notify_nflog {
  char **firing; /* alert ids, sorted */
  size_t nfiring;
  char **resolved; /* alert ids, sorted */
  size_t nresolved;
  int64_t at;   /* when that message was requested; DW_TIME_NONE: never */
  bool pending; /* requested but not yet delivered */
} dw_notify_nflog;

typedef enum dw_notify_req_kind { DW_NREQ_ALERTS = 0, DW_NREQ_DIGEST } dw_notify_req_kind;

/* A message to send to one integration. Valid until the next call that
 * changes the state. */
typedef struct dw_notify_req {
  dw_notify_req_kind kind;
  const char *group_key; /* alerts: the group's key; digest: "digest/NAME/YYYY-MM-DD" */
  const dw_notify_route *route; /* alerts: the route (an escalation's for escalations) */
  const dw_notify_receiver *receiver;
  const dw_notify_integration *integ;
  int integ_index; /* index into receiver->integ */
  const char *labels[DW_NL__COUNT]; /* the group's labels (NULL: not grouped by it) */
  const dw_alert *const *firing; /* sorted by due_at (unknown last), then dossier_id */
  size_t nfiring;
  const dw_alert *const *resolved;
  size_t nresolved;
  int64_t at; /* now */
  /* digests */
  const dw_notify_digest *digest;
  int64_t local_day; /* the working day it is for */
} dw_notify_req;

typedef struct dw_notify_state dw_notify_state;

dw_notify_state *dw_notify_state_new(const dw_notify_config *cfg, const dw_calendar *cal, dw_notify_metrics *m);
void dw_notify_state_destroy(dw_notify_state *st);

/* A new configuration (after SIGHUP): every alert is routed again; groups
 * whose key remains keep their notification log, others go. cfg must
 * outlive the state or the next call. */
void dw_notify_state_set_config(dw_notify_state *st, const dw_notify_config *cfg, int64_t now);
/* The silences in force from now on (the array stays the caller's, valid
 * until the next call). */
void dw_notify_state_set_silences(dw_notify_state *st, const dw_notify_silence *s, size_t n);

/* ---- restoring (before any alert) ---- */
/* A group as persisted: its key and next flush, and a log entry per
 * integration of its receiver (copied). Unknown routes are dropped later. */
int dw_notify_state_restore_group(dw_notify_state *st, const char *key, int64_t next_flush, bool flushed,
                                  const dw_notify_nflog *logs, size_t nlogs);
int dw_notify_state_restore_digest(dw_notify_state *st, const char *name, int64_t last_day);
/* An alert as persisted (open, or resolved and still owed a notice): like
 * apply, but not reported as changed by the next drain. */
int dw_notify_state_restore_alert(dw_notify_state *st, const dw_alert *a, int64_t now);

/* ---- running ---- */
/* An alert's current row (new, updated or cleared). An alert cleared before
 * notify ever tracked it is ignored (nobody was told of it). Returns -1 only
 * when out of memory. */
int dw_notify_state_apply(dw_notify_state *st, const dw_alert *a, int64_t now);
/* The message of (group, integration) was delivered (or, at start, is still
 * to deliver: pending true). */
void dw_notify_state_set_pending(dw_notify_state *st, const char *group_key, int integ_index, bool pending);
/* Advances to now: escalations, flushes, digests, forgetting. *out gets the
 * messages to send (owned by the state, valid until the next call).
 * Returns how many, or -1 when out of memory. */
long dw_notify_state_tick(dw_notify_state *st, int64_t now, const dw_notify_req **out);
/* Every digest goes out at the next tick, whatever its time and the day
 * (notify --digest-now; keyed by the day, so once a day still). */
void dw_notify_state_force_digests(dw_notify_state *st);
/* The earliest instant something is due (a flush, an escalation, a
 * digest); DW_TIME_NONE: nothing. */
int64_t dw_notify_state_next_wake(const dw_notify_state *st);

/* ---- persistence ---- */
typedef struct dw_notify_sink {
  void (*alert_put)(const dw_alert *a, void *opaque);
  void (*alert_del)(const char *alert_id, void *opaque);
  /* logs is NULL (nlogs 0) when the log entries did not change since the
   * last drain: only the timers moved */
  void (*group_put)(const char *key, const char *receiver, int64_t next_flush, bool flushed,
                    const dw_notify_nflog *logs, size_t nlogs, void *opaque);
  void (*group_del)(const char *key, void *opaque);
  void (*digest_put)(const char *name, int64_t last_day, void *opaque);
} dw_notify_sink;
/* Calls the sink for everything changed since the last drain. */
void dw_notify_state_drain(dw_notify_state *st, const dw_notify_sink *sink, void *opaque);

/* ---- reading ---- */
/* Open alerts matching all matchers, sorted by due_at then dossier_id (for
 * digests). *out is owned by the state, valid until the next change. */
size_t dw_notify_state_open_alerts(dw_notify_state *st, const dw_notify_matcher *m, size_t nm,
                                   const dw_alert *const **out);
size_t dw_notify_state_tracked(const dw_notify_state *st);
size_t dw_notify_state_groups(const dw_notify_state *st);

/* Frees a log entry's arrays. */
void dw_notify_nflog_free(dw_notify_nflog *l);

#endif
