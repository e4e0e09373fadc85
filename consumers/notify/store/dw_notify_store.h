/* dw_notify_store: notify's PostgreSQL edge (migration 009). One connection
 * per notify process; the group's feed "notify:GROUP" in feed_cursors and
 * its advisory lock (dw_outbox.h) make one process the active one.
 *
 * A round: read the alerts outbox after the cursor (dw_notify_store_read),
 * apply it to the state machine, tick, render, then dw_notify_store_commit
 * writes in ONE transaction what changed in the state (alerts tracked,
 * groups and their notification log entries, digests), the messages to
 * send (notify_log rows, status pending), the cursor and the status row.
 * Then each pending message is sent and its outcome recorded
 * (dw_notify_store_result: attempts, last_error, sent). */
#ifndef DW_NOTIFY_STORE_H
#define DW_NOTIFY_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_aggregates.h"
#include "dw_notify_msg.h"
#include "dw_notify_state.h"
#include "dw_outbox.h"

typedef struct dw_notify_store dw_notify_store;

/* Connects (retrying while the server starts, retry_seconds). */
dw_notify_store *dw_notify_store_open(const char *conninfo, const char *group, int retry_seconds, char *errstr,
                                      size_t errstr_size);
void dw_notify_store_close(dw_notify_store *s);
PGconn *dw_notify_store_pg(dw_notify_store *s);
/* Is the connection still usable? */
bool dw_notify_store_ok(dw_notify_store *s);
/* The group's lock: 1 held (this session), 0 another process holds it, -1 error. */
int dw_notify_store_lock(dw_notify_store *s, char *errstr, size_t errstr_size);

/* Loads the group's state into ns (groups, their logs, digests, pending
 * messages, then the alerts, applied at now) and its cursor. */
int dw_notify_store_restore(dw_notify_store *s, dw_notify_state *ns, int64_t now, dw_outbox_cursor *cur,
                            char *errstr, size_t errstr_size);
/* A page of the alerts outbox after cur. */
int dw_notify_store_read(dw_notify_store *s, const dw_outbox_cursor *cur, int limit, dw_outbox_page *page,
                         dw_outbox_cursor *next, char *errstr, size_t errstr_size);

/* A message decided this round, rendered. */
typedef struct dw_notify_out {
  const dw_notify_req *q;
  dw_notify_message m;
} dw_notify_out;

/* The round's transaction (see above); clock: notify's now. */
int dw_notify_store_commit(dw_notify_store *s, dw_notify_state *ns, const dw_outbox_cursor *cur,
                           const dw_notify_out *out, size_t nout, int64_t clock, const char *holder, char *errstr,
                           size_t errstr_size);

/* A message still to deliver. */
typedef struct dw_notify_pending {
  int64_t id;
  char receiver[128];
  int integration;
  char kind[16]; /* email, webhook */
  char what[16]; /* alerts, escalation, digest */
  char group_key[512];
  char *body;
  int attempts;
} dw_notify_pending;

/* Pending messages of the group, oldest first. */
int dw_notify_store_pending(dw_notify_store *s, dw_notify_pending **out, size_t *n, char *errstr, size_t errstr_size);
void dw_notify_store_pending_free(dw_notify_pending *v, size_t n);
/* Before an attempt: 1 the message is still pending (and this session, the
 * lock holder's, can still write: a connection that died since the lock
 * went elsewhere fails here instead of sending what the new holder sends),
 * 0 it is not pending any more, -1 error. */
int dw_notify_store_claim(dw_notify_store *s, int64_t id, char *errstr, size_t errstr_size);
/* One attempt's outcome: sent, or failed with error (kept pending). */
int dw_notify_store_result(dw_notify_store *s, int64_t id, bool sent, const char *error, char *errstr,
                           size_t errstr_size);
/* A message that can no longer be sent (its receiver left the
 * configuration): status abandoned, with why. */
int dw_notify_store_abandon(dw_notify_store *s, int64_t id, const char *why, char *errstr, size_t errstr_size);

/* The compliance rates of a digest's units for the month of now (unit type
 * and matchers of d) and of the province, rates by agg's score config. The
 * open alerts are the caller's (the state machine's). Free with
 * dw_notify_store_digest_free. */
int dw_notify_store_digest_data(dw_notify_store *s, const dw_notify_digest *d, const dw_aggregates *agg, int64_t now,
                                int utc_offset_min, dw_notify_digest_data *out, char *errstr, size_t errstr_size);
void dw_notify_store_digest_free(dw_notify_digest_data *d);

/* The clock "watermark": watch's event-time clock at its last commit
 * (kafka_offsets.watermark_ms, the largest); DW_TIME_NONE when unknown. */
int64_t dw_notify_store_watermark(dw_notify_store *s, char *errstr, size_t errstr_size);

#endif
