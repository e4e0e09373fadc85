/* watch: the live consumer (CONTRACT §4-6). It consumes topic.events in a
 * consumer group (dw_group), runs every event through the one driver
 * (dw_driver: the clock discipline audit and replay share) and commits, per
 * batch and in ONE PostgreSQL transaction: the archive rows (new event ids
 * only), the dirty dossier states, the alert changes, the aggregate deltas
 * and the next Kafka offsets. Offsets live in PostgreSQL (kafka_offsets),
 * never in Kafka: on assignment watch loads them with the partitions'
 * dossier states and the group starts there, so a crash at any point
 * replays exactly the uncommitted tail (exactly-once into PostgreSQL). Any
 * PostgreSQL error rolls back and rebuilds the engine from PostgreSQL, then
 * seeks back to the stored offsets and retries with backoff. Unreadable
 * messages go to topic.dlq (confirmed before the offsets pass them).
 * Alerts and aggregates go to Kafka after the commit, at-least-once, from
 * the PostgreSQL outbox (the feeds).
 *
 * A batch is five named stages: examine (decode what arrived, dead-letter
 * the unreadable), choose (the chunk that may be applied: dw_pool), archive
 * (dedupe and archive in the transaction), apply (the driver), commit
 * (states, alerts, aggregates, fenced offsets). The bookkeeping they use is
 * pure and unit-tested (dw_pool); the rebalance protocol is dw_group's.
 *
 * Clock: wall (default; the poll timeout is bounded by the engine's next
 * deadline so a dossier goes overdue with no event arriving) or watermark:
 * events wait in the reorder pool until the event-time watermark passes
 * them, then apply in event-time order, so the output equals `audit` over
 * the same events whatever the interleaving, batching, restarts or number
 * of processes (the clock of each commit is stored with the offsets).
 * Limitation: partitions moving between two live processes mid-stream may
 * see the new owner's clock ahead of them (events then re-derive). */
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_dlq.h"
#include "dw_driver.h"
#include "dw_group.h"
#include "dw_log.h"
#include "dw_pg_archive.h"
#include "dw_pg_sink.h"
#include "dw_pg_state.h"
#include "dw_pool.h"
#include "dw_feed.h"
#include "dw_time.h"
#include "watch_obs.h"

#define CMD "watch"
#define DRAIN_POLL_MS 2 /* poll timeout once a batch has begun */
#define TOMBSTONE_PURGE_INTERVAL_MS 3600000LL
#define STATS_INTERVAL_MS 10000
#define DLQ_TIMEOUT_MS 30000
#define END_QUERY_TIMEOUT_MS 1000 /* asking the leaders where caught-up partitions end */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

/* What the current chunk holds, per chunk position. */
typedef struct chunk {
  size_t n;
  bool more;
  dw_event *events;
  uint8_t *is_new, *refused;
  char (*reasons)[256];
  size_t narchived; /* archive rows streamed, COPY result still pending */
  bool in_tx;
} chunk;

typedef struct counters {
  uint64_t archived, duplicates, dlq_sent, refused, batches, batch_msgs, commits, rebuilds;
  int64_t ms_poll, ms_process;                /* this stats window */
  uint64_t win_archived, win_batches, win_msgs; /* this stats window */
  int64_t win_start;
} counters;

typedef struct watch {
  dw_config *cfg;
  const char *conninfo;
  int64_t idle_tx_ms; /* watch.idle_tx_timeout_ms */
  char group[256], topic[256];
  bool event_clock;
  int64_t exit_when_idle_ms;
  int batch_max, batch_ms, utc_offset;

  PGconn *pg;
  dw_pg_archive *arch; /* the archive writer (its cache of unit numbers) */
  dw_avro *av;
  dw_calendar *cal;
  dw_driver *drv;
  dw_producer *producer; /* dead letters */
  dw_dlq *dlq;
  dw_feeds *pub; /* the outbox feeds, in the background */
  dw_group *grp;
  dw_pool pool;
  chunk ch;
  bool need_rebuild, full_logged;
  bool ends_unsettled; /* caught-up partitions whose end the broker has not confirmed */
  int64_t saved_clock[DW_MAX_PARTITIONS]; /* while loading: each partition's last commit clock */

  /* collected for the commit */
  dw_pg_state_row *states;
  size_t nstates, cap_states;
  dw_agg_row *deltas;
  char (*delta_units)[DW_ID_MAX];
  size_t ndeltas, cap_deltas;

  counters c;

  /* metrics and health (watch --http): watch_obs.h */
  watch_obs *obs;
  double tx_seconds;               /* the last chunk's transaction */
  int64_t obs_at;                  /* last gauge refresh */
  int64_t t[8]; /* stage instants of the current chunk (debug log) */
} watch;

static void free_msg(void *m) { rd_kafka_message_destroy(m); }
static rd_kafka_message_t *msg_of(const dw_held *h) { return h->msg; }

/* ---------------------------------------------------------------- engine -- */

static void clear_collected(watch *w) {
  dw_driver_clear_alerts(w->drv);
  for (size_t i = 0; i < w->nstates; i++) {
    free((void *)w->states[i].blob);
    free((void *)w->states[i].dossier_id);
  }
  w->nstates = 0;
  w->ndeltas = 0;
}

static int engine_create(watch *w, char *err, size_t n) {
  w->drv = dw_driver_new(w->cfg, w->cal, w->event_clock ? DW_CLOCK_EVENT : DW_CLOCK_WALL, err, n);
  return w->drv ? 0 : -1;
}

static void engine_destroy(watch *w) {
  if (w->drv) clear_collected(w);
  dw_driver_destroy(w->drv);
  w->drv = NULL;
}

static void on_state(const dw_state_row *row, void *opaque) {
  watch *w = opaque;
  if (w->nstates == w->cap_states) {
    size_t cap = w->cap_states ? w->cap_states * 2 : 64;
    dw_pg_state_row *p = realloc(w->states, cap * sizeof *p);
    if (!p) abort(); /* a state not saved would be lost after a restart */
    w->states = p;
    w->cap_states = cap;
  }
  void *copy = malloc(row->len ? row->len : 1);
  char *id = strdup(row->dossier_id);
  if (!copy || !id) abort();
  memcpy(copy, row->blob, row->len);
  if (row->tag < 0) DW_LOG_WARNING("dossier %s changed but its partition is unknown", row->dossier_id);
  w->states[w->nstates++] = (dw_pg_state_row){id, row->tag, copy, row->len, row->open != 0, row->tombstone != 0};
}

static void on_delta(const dw_agg_row *delta, void *opaque) {
  watch *w = opaque;
  if (w->ndeltas == w->cap_deltas) {
    size_t cap = w->cap_deltas ? w->cap_deltas * 2 : 64;
    dw_agg_row *p = realloc(w->deltas, cap * sizeof *p);
    char(*u)[DW_ID_MAX] = p ? realloc(w->delta_units, cap * sizeof *u) : NULL;
    if (!p || !u) abort();
    w->deltas = p;
    w->delta_units = u;
    w->cap_deltas = cap;
  }
  w->deltas[w->ndeltas] = *delta;
  snprintf(w->delta_units[w->ndeltas], DW_ID_MAX, "%s", delta->unit);
  w->ndeltas++;
}

/* ---------------------------------------------------------------- postgres -- */

static int pg_ensure(watch *w, char *err, size_t n) {
  if (w->pg && PQstatus(w->pg) == CONNECTION_OK) return 0;
  if (w->pg) PQfinish(w->pg);
  w->pg = PQconnectdb(w->conninfo);
  if (PQstatus(w->pg) != CONNECTION_OK) {
    snprintf(err, n, "cannot connect to PostgreSQL: %s", PQerrorMessage(w->pg));
    PQfinish(w->pg);
    w->pg = NULL;
    return -1;
  }
  /* A watch stalled inside its transaction (paused, swapped out, its host
   * frozen) would keep the row lock of the outbox clock it ticked, and every
   * other watch's commit waits on that row (the clock is in commit order):
   * the server ends such a transaction (nothing of it is committed; the
   * stalled watch redoes the batch, fenced if its partitions moved). */
  char set[160]; /* the pid: which process a session (and its locks) belongs to */
  snprintf(set, sizeof set,
           "SET application_name = 'dossierwatch watch pid=%d'; SET idle_in_transaction_session_timeout = %lld",
           (int)getpid(), (long long)w->idle_tx_ms);
  PQclear(PQexec(w->pg, set));
  if (dw_pg_sink_prepare(w->pg, err, n)) {
    PQfinish(w->pg);
    w->pg = NULL;
    return -1;
  }
  return 0;
}

static int restore_one(const char *dossier_id, int32_t partition, const void *blob, size_t len, int open,
                       void *opaque) {
  (void)open;
  watch *w = opaque;
  char err[256];
  const int64_t as_of = partition >= 0 && partition < DW_MAX_PARTITIONS ? w->saved_clock[partition] : DW_TIME_NONE;
  if (dw_driver_restore(w->drv, dossier_id, blob, len, partition, as_of, err, sizeof err)) {
    DW_LOG_ERR("dossier %s: stored state not loaded: %s", dossier_id, err);
    return -1;
  }
  return 0;
}

/* The clock a process may start at over partitions whose last commits
 * carried clocks wm[0..n). A commit's clock bounds what its partition
 * still holds (nothing uncommitted there is at or before it); partitions
 * last committed by different processes (a rebalance) carry different
 * clocks, and only the least bounds them all; a partition never committed
 * with a clock bounds nothing (DW_TIME_NONE: the watermark decides). */
static int64_t least_clock(const int64_t *wm, size_t n) {
  int64_t least = DW_TIME_NONE;
  for (size_t i = 0; i < n; i++) {
    if (wm[i] == DW_TIME_NONE) return DW_TIME_NONE;
    if (least == DW_TIME_NONE || wm[i] < least) least = wm[i];
  }
  return least;
}

/* A fresh driver holding the offsets, clock and dossier states of
 * partitions ps (every partition assigned: assignment is eager and a
 * rebuild loads them all), and the partition table. Fresh, because the
 * clock never goes back and this process's may be ahead of what the
 * partitions still hold (their last owner was behind it). On failure the
 * driver may be gone (w->drv NULL): the caller rebuilds. */
static int load_partitions(watch *w, const int32_t *ps, size_t n, char *err, size_t en) {
  engine_destroy(w);
  if (engine_create(w, err, en)) return -1;
  if (n == 0) return 0;
  if (pg_ensure(w, err, en)) return -1;
  int64_t *next = calloc(n, sizeof *next), *wm = calloc(n, sizeof *wm);
  if (!next || !wm) {
    free(next);
    free(wm);
    snprintf(err, en, "out of memory");
    return -1;
  }
  int rc = dw_pg_state_load_offsets(w->pg, w->group, w->topic, ps, n, next, wm, err, en);
  long failed = 0, rows = 0;
  /* a dossier's state is as of its partition's last commit: it is not
   * evaluated before that clock (least_clock may start behind it) */
  for (size_t i = 0; i < n; i++) w->saved_clock[ps[i]] = w->event_clock ? wm[i] : DW_TIME_NONE;
  if (rc == 0 && (rows = dw_pg_state_load_dossiers(w->pg, ps, n, restore_one, w, &failed, err, en)) < 0) rc = -1;
  if (rc == 0) {
    dw_part *parts = dw_group_parts(w->grp);
    for (size_t i = 0; i < n; i++) {
      /* what was received before (a rebuild drops the pool) says nothing
       * of what comes now: the watermark starts afresh */
      parts[ps[i]].maxp = DW_TIME_NONE;
      parts[ps[i]].low = parts[ps[i]].high = -1;
      parts[ps[i]].end_confirmed = false;
      parts[ps[i]].next = parts[ps[i]].stored = parts[ps[i]].recv = next[i];
    }
    const int64_t clock = least_clock(wm, n);
    if (w->event_clock && clock != DW_TIME_NONE) dw_driver_advance(w->drv, clock);
    DW_LOG_INF("loaded %zu partition(s) of %s: %ld dossier states%s", n, w->topic, rows,
               failed ? " (some failed, see above)" : "");
  }
  free(next);
  free(wm);
  return rc;
}

static void backoff_sleep(int attempt) {
  int ms = 200;
  for (int i = 0; i < attempt && ms < 5000; i++) ms *= 2;
  if (ms > 5000) ms = 5000;
  for (int slept = 0; slept < ms && !g_stop; slept += 50) {
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* ------------------------------------------------------------ the stages -- */

/* 1. examine: what arrived gets its event time, or the reason it is no
 *    event; the unreadable go to the DLQ, confirmed before anything commits
 *    past them. */
static int stage_examine(watch *w, char *err, size_t n) {
  size_t bad_new = 0;
  dw_part *parts = dw_group_parts(w->grp);
  for (size_t i = 0; i < w->pool.n; i++) {
    dw_held *h = &w->pool.v[i];
    if (h->examined) continue;
    h->examined = true;
    const rd_kafka_message_t *m = msg_of(h);
    char why[256] = "";
    dw_event *scratch = &w->ch.events[0];
    if (dw_avro_decode_event(w->av, m->payload, m->len, scratch, why, sizeof why) == 0 &&
        dw_event_validate(scratch, why, sizeof why) == 0) {
      h->at = scratch->occurred_at;
      dw_part *pi = &parts[h->partition];
      if (pi->maxp == DW_TIME_NONE || h->at > pi->maxp) pi->maxp = h->at;
      continue;
    }
    if (!(h->bad = strdup(why[0] ? why : "unreadable event"))) abort();
    if (dw_dlq_send(w->dlq, w->topic, h->partition, h->offset, m->key, m->key_len, m->payload, m->len, h->bad, err,
                    n))
      return -1;
    bad_new++;
  }
  if (!bad_new) return 0;
  if (dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, n)) return -1;
  w->c.dlq_sent += bad_new;
  watch_obs_dead_letters(w->obs, "decode", bad_new); /* metrics */
  return 0;
}

/* 2. choose: the chunk that may be applied now (dw_pool_choose). Sets
 *    *wm and *inclusive (where the clock may go once it is applied). */
static void stage_choose(watch *w, int64_t *wm, bool *inclusive) {
  *wm = INT64_MAX;
  *inclusive = true;
  if (w->event_clock) {
    dw_group_refresh_offsets(w->grp);
    /* a partition at its cached end releases the watermark only on the
     * broker's word (dw_pool.h): the cache can be seconds old */
    w->ends_unsettled = dw_group_confirm_ends(w->grp, END_QUERY_TIMEOUT_MS) > 0;
    *wm = dw_parts_watermark(dw_group_parts(w->grp), DW_MAX_PARTITIONS, inclusive);
  }
  w->ch.n = dw_pool_choose(&w->pool, w->event_clock, *wm, (size_t)w->batch_max, &w->ch.more);
  if (!w->event_clock || w->pool.n < w->pool.max) {
    w->full_logged = false;
  } else if (w->ch.n == 0 && !w->full_logged) {
    /* a slow partition holds the watermark back: the others are paused
     * until it delivers (nothing is applied past the watermark) */
    DW_LOG_WARNING("reorder pool full (%zu messages): waiting for the partitions holding the watermark back",
                   w->pool.n);
    const dw_part *parts = dw_group_parts(w->grp);
    for (int p = 0; p < DW_MAX_PARTITIONS; p++)
      if (parts[p].assigned)
        DW_LOG_INF("  partition %d: received up to %lld of %lld, latest event %lld%s", p, (long long)parts[p].recv,
                   (long long)parts[p].high, (long long)parts[p].maxp,
                   dw_part_holds_watermark(parts, DW_MAX_PARTITIONS, p) ? " (holds the watermark)" : "");
    w->full_logged = true;
  }
}

static dw_held *chunk_held(watch *w, size_t k) { return &w->pool.v[w->pool.cand[k]]; }

/* 3. archive: opens the transaction; decode rejects go to dlq_messages;
 *    only event ids the archive has never seen go on, and their blocks and
 *    archive_events rows are streamed (the COPY completes while the engine
 *    runs). Unit codes new to the archive get their numbers first, outside
 *    the transaction (dw_pg_archive.h). */
static int stage_archive(watch *w, char *err, size_t en) {
  chunk *c = &w->ch;
  c->narchived = 0;
  c->in_tx = false;
  for (size_t k = 0; k < c->n; k++) {
    dw_held *h = chunk_held(w, k);
    c->is_new[k] = c->refused[k] = 0;
    c->reasons[k][0] = '\0';
    if (h->bad) continue;
    const rd_kafka_message_t *m = msg_of(h);
    if (dw_avro_decode_event(w->av, m->payload, m->len, &c->events[k], c->reasons[k], sizeof c->reasons[k])) {
      snprintf(err, en, "event at %s [%d] @%lld no longer decodes", w->topic, (int)h->partition, (long long)h->offset);
      return -1; /* decoded fine a moment ago: cannot happen */
    }
  }
  if (c->n == 0) return 0;
  const char **ids = malloc(c->n * sizeof *ids);
  size_t *idx = malloc(c->n * sizeof *idx);
  uint8_t *fresh = malloc(c->n);
  dw_pg_archive_row *rows = malloc(c->n * sizeof *rows);
  size_t k2 = 0, nr = 0;
  int rc = 0;
  if (!ids || !idx || !fresh || !rows) {
    snprintf(err, en, "out of memory");
    rc = -1;
  }
  for (size_t k = 0; k < c->n && rc == 0; k++) {
    dw_held *h = chunk_held(w, k);
    if (h->bad) continue;
    const rd_kafka_message_t *m = msg_of(h);
    rows[k2] = (dw_pg_archive_row){&c->events[k], m->payload, m->len, m->partition};
    ids[k2] = c->events[k].event_id;
    idx[k2++] = k;
  }
  if (rc == 0 && (pg_ensure(w, err, en) || dw_pg_archive_units(w->arch, w->pg, rows, k2, err, en))) rc = -1;
  if (rc == 0 && dw_pg_sink_begin(w->pg, err, en)) rc = -1;
  if (rc == 0) c->in_tx = true;
  for (size_t k = 0; k < c->n && rc == 0; k++) {
    dw_held *h = chunk_held(w, k);
    const rd_kafka_message_t *m = msg_of(h);
    if (h->bad)
      rc = dw_pg_sink_reject(w->pg, w->topic, h->partition, h->offset, "decode", h->bad, m->key, m->key_len, err, en);
  }
  if (rc == 0) rc = dw_pg_archive_dedupe_send(w->arch, w->pg, ids, k2, err, en);
  if (rc == 0) rc = dw_pg_archive_dedupe_recv(w->arch, w->pg, ids, k2, fresh, err, en);
  for (size_t j = 0; j < k2 && rc == 0; j++) {
    c->is_new[idx[j]] = fresh[j];
    if (fresh[j]) rows[nr++] = rows[j];
  }
  if (rc == 0 && (rc = dw_pg_archive_send(w->arch, w->pg, rows, nr, err, en)) == 0) c->narchived = nr;
  free(rows);
  free(ids);
  free(idx);
  free(fresh);
  return rc;
}

/* 4. apply: each new event through the driver (events at an instant
 *    before that instant's timers), then the clock as far as it may go. */
static void stage_apply(watch *w, int64_t wm, bool inclusive, size_t *applied, size_t *dups) {
  chunk *c = &w->ch;
  *applied = *dups = 0;
  for (size_t k = 0; k < c->n; k++) {
    const size_t ahead = k + DW_ENGINE_PREFETCH_AHEAD;
    if (ahead < c->n && !chunk_held(w, ahead)->bad) dw_driver_prefetch(w->drv, c->events[ahead].dossier_id);
    dw_held *h = chunk_held(w, k);
    if (h->bad) continue;
    if (!c->is_new[k]) {
      (*dups)++;
      continue;
    }
    dw_apply_status st = dw_driver_apply(w->drv, &c->events[k], h->partition, c->reasons[k], sizeof c->reasons[k]);
    if (st == DW_APPLY_OK || st == DW_APPLY_SETTLED) {
      (*applied)++;
    } else if (st == DW_APPLY_DUPLICATE) {
      (*dups)++;
    } else {
      c->refused[k] = 1;
      if (!c->reasons[k][0]) snprintf(c->reasons[k], sizeof c->reasons[k], "event not applicable");
    }
  }
  if (!w->event_clock) {
    dw_driver_advance(w->drv, dw_now_ms());
  } else if (!c->more && wm != DW_TIME_NONE) {
    /* everything at or before the watermark is applied: the clock may go
     * there, or just before it while events at it may still come */
    if (inclusive)
      dw_driver_advance(w->drv, wm);
    else
      dw_driver_advance_before(w->drv, wm);
  }
  dw_driver_drain_states(w->drv, on_state, w);
  dw_driver_drain_aggregates(w->drv, on_delta, w);
}

/* 5. commit: refusals, states, alerts, aggregates and the fenced offsets
 *    of every assigned partition in the transaction. Returns 1 when there
 *    was nothing to commit. */
static int stage_commit(watch *w, int64_t *next, char *err, size_t en) {
  chunk *c = &w->ch;
  size_t nalerts;
  const dw_alert *alerts = dw_driver_alerts(w->drv, &nalerts);
  if (dw_pg_archive_finish(w->arch, w->pg, c->narchived, err, en)) return -1;
  w->t[3] = w->t[4] = w->t[5] = dw_now_ms();
  if (!c->in_tx && nalerts == 0 && w->nstates == 0 && w->ndeltas == 0) return 1;
  if (!c->in_tx) {
    if (pg_ensure(w, err, en) || dw_pg_sink_begin(w->pg, err, en)) return -1;
    c->in_tx = true;
  }
  for (size_t k = 0; k < c->n; k++) {
    if (!c->refused[k]) continue;
    dw_held *h = chunk_held(w, k);
    const rd_kafka_message_t *m = msg_of(h);
    if (dw_pg_sink_reject(w->pg, w->topic, h->partition, h->offset, "apply", c->reasons[k], m->key, m->key_len, err,
                          en))
      return -1;
  }
  for (size_t i = 0; i < w->ndeltas; i++) w->deltas[i].unit = w->delta_units[i];
  if (dw_pg_sink_states(w->pg, w->states, w->nstates, err, en)) return -1;
  w->t[4] = dw_now_ms();
  /* alerts and aggregates for the feeds: the outbox clock is taken late,
   * as it serializes committers from here on */
  int64_t seq = 0;
  if ((nalerts || w->ndeltas) && dw_pg_sink_outbox_tick(w->pg, &seq, err, en)) return -1;
  if (dw_pg_sink_alerts(w->pg, alerts, nalerts, seq, err, en) ||
      dw_pg_sink_aggregates(w->pg, w->deltas, w->ndeltas, seq, err, en))
    return -1;
  w->t[5] = dw_now_ms();
  /* offsets: up to the first message still in the pool, else what was
   * received; the other rows only prove we still own them and carry the
   * clock */
  const dw_part *parts = dw_group_parts(w->grp);
  dw_pool_next_offsets(&w->pool, parts, DW_MAX_PARTITIONS, next);
  const int64_t clock = w->event_clock ? dw_driver_now(w->drv) : DW_TIME_NONE;
  for (int p = 0; p < DW_MAX_PARTITIONS; p++) {
    if (!parts[p].assigned || next[p] < 0) continue;
    int rc = dw_pg_sink_offset(w->pg, w->group, w->topic, p, parts[p].stored, next[p], clock, err, en);
    if (rc > 0) DW_LOG_ERR("fenced: %s", err);
    if (rc) return -1;
  }
  return dw_pg_sink_commit(w->pg, err, en);
}

/* After the commit: the offsets are ours, the alerts go out at once, the
 * refused events go to the DLQ topic too (at-least-once, like the other
 * outputs), and the chunk leaves the pool. */
static void committed(watch *w, const int64_t *next, size_t applied, size_t dups) {
  chunk *c = &w->ch;
  dw_part *parts = dw_group_parts(w->grp);
  for (int p = 0; p < DW_MAX_PARTITIONS; p++)
    if (parts[p].assigned && next[p] >= 0) parts[p].next = parts[p].stored = next[p];
  size_t nalerts;
  dw_driver_alerts(w->drv, &nalerts);
  if (nalerts && w->pub) dw_feeds_kick(w->pub, DW_OUTBOX_ALERTS);
  w->c.commits++;
  w->c.archived += applied;
  w->c.win_archived += applied;
  w->c.duplicates += dups;
  if (c->n) {
    w->c.batches++;
    w->c.batch_msgs += c->n;
    w->c.win_batches++;
    w->c.win_msgs += c->n;
  }
  size_t refused = 0;
  char err[512];
  for (size_t k = 0; k < c->n; k++) {
    if (!c->refused[k]) continue;
    dw_held *h = chunk_held(w, k);
    const rd_kafka_message_t *m = msg_of(h);
    refused++;
    if (dw_dlq_send(w->dlq, w->topic, h->partition, h->offset, m->key, m->key_len, m->payload, m->len, c->reasons[k],
                    err, sizeof err))
      DW_LOG_ERR("DLQ: %s", err);
  }
  if (refused) {
    w->c.refused += refused;
    if (dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, sizeof err)) DW_LOG_ERR("DLQ (refused events): %s", err);
  }
  /* metrics: what this commit made final */
  watch_obs_committed(w->obs, c->n, applied, dups, refused, w->tx_seconds, dw_driver_alerts(w->drv, &nalerts),
                      dw_driver_alert_changes(w->drv), nalerts);
  clear_collected(w);
  dw_pool_drop_chunk(&w->pool, free_msg);
}

/* One chunk through the five stages. *more: another chunk is ready. 0, or
 * -1 after a failure (rolled back; the caller rebuilds). */
static int process_chunk(watch *w, bool *more) {
  char err[1024];
  static int64_t next[DW_MAX_PARTITIONS];
  *more = false;
  if (!w->drv) return -1;
  if (stage_examine(w, err, sizeof err)) {
    DW_LOG_ERR("DLQ not confirmed, batch will be retried: %s", err);
    return -1;
  }
  int64_t wm;
  bool inclusive;
  stage_choose(w, &wm, &inclusive);
  *more = w->ch.more;
  const double t_tx = watch_obs_clock();
  w->t[0] = dw_now_ms();
  if (stage_archive(w, err, sizeof err)) goto fail;
  w->t[1] = dw_now_ms();
  size_t applied, dups;
  stage_apply(w, wm, inclusive, &applied, &dups);
  w->t[2] = dw_now_ms();
  int rc = stage_commit(w, next, err, sizeof err);
  if (rc < 0) goto fail;
  w->tx_seconds = watch_obs_clock() - t_tx;
  if (rc == 0 && w->ch.n && dw_log_enabled(DW_LOG_DEBUG))
    DW_LOG_DBG("chunk of %zu: archive %lld ms, apply %lld ms, commit %lld ms (archive COPY %lld, states %zu in %lld,"
               " alerts+aggregates %lld, offsets+commit %lld)",
               w->ch.n, (long long)(w->t[1] - w->t[0]), (long long)(w->t[2] - w->t[1]),
               (long long)(dw_now_ms() - w->t[2]), (long long)(w->t[3] - w->t[2]), w->nstates,
               (long long)(w->t[4] - w->t[3]), (long long)(w->t[5] - w->t[4]), (long long)(dw_now_ms() - w->t[5]));
  if (rc == 0) committed(w, next, applied, dups);
  return 0;
fail:
  if (w->ch.in_tx) dw_pg_sink_rollback(w->pg);
  DW_LOG_ERR("PostgreSQL: %s; rolled back, rebuilding from PostgreSQL", err);
  return -1;
}

/* Processes chunks until nothing more is ready. */
static int process_ready(watch *w) {
  bool more = true;
  while (more)
    if (process_chunk(w, &more)) return -1;
  return 0;
}

/* Engine and offsets back to what PostgreSQL holds; seek there. */
static int rebuild(watch *w) {
  char err[1024];
  dw_pool_clear(&w->pool, free_msg);
  dw_group_resume_all(w->grp);
  int32_t ps[DW_MAX_PARTITIONS];
  size_t n = 0;
  const dw_part *parts = dw_group_parts(w->grp);
  for (int p = 0; p < DW_MAX_PARTITIONS; p++)
    if (parts[p].assigned) ps[n++] = p;
  if (load_partitions(w, ps, n, err, sizeof err) || dw_group_seek(w->grp, err, sizeof err)) {
    DW_LOG_ERR("rebuild: %s", err);
    engine_destroy(w);
    return -1;
  }
  w->c.rebuilds++;
  watch_obs_rebuilt(w->obs);
  w->need_rebuild = false;
  DW_LOG_INF("rebuilt from PostgreSQL (%zu partition(s))", n);
  return 0;
}

/* -------------------------------------------------------------- rebalance -- */

static int on_assigned(void *opaque, const int32_t *ps, size_t n) {
  watch *w = opaque;
  char err[1024];
  /* With the engine in doubt (or PostgreSQL down) the rebuild in the main
   * loop loads everything assigned, with retries; a partial load would
   * leave half the states in memory, so it also goes through the rebuild. */
  if (w->need_rebuild || !w->drv) return -1;
  if (load_partitions(w, ps, n, err, sizeof err)) {
    DW_LOG_ERR("assignment: %s; will rebuild", err);
    w->need_rebuild = true;
    return -1;
  }
  return 0;
}

static void on_revoking(void *opaque, const int32_t *ps, size_t n) {
  (void)ps;
  (void)n;
  watch *w = opaque;
  /* commit what we hold, so the next owner starts exactly after it; if
   * that fails, the next owner re-consumes. What still waits for the
   * watermark was not committed: the next owner re-consumes it too. */
  if (!w->need_rebuild && w->drv && process_ready(w)) w->need_rebuild = true;
  dw_pool_clear(&w->pool, free_msg);
}

static int keep_partition(int32_t tag, void *opaque) {
  const dw_part *parts = opaque;
  return tag >= 0 && tag < DW_MAX_PARTITIONS && parts[tag].assigned;
}

static void on_revoked(void *opaque) {
  watch *w = opaque;
  if (!w->drv) return;
  dw_driver_forget(w->drv, keep_partition, dw_group_parts(w->grp));
  clear_collected(w); /* forgetting is not a change to save */
}

/* ------------------------------------------------------------ housekeeping -- */

/* The feeds read the outbox in PostgreSQL; what they need from here is the
 * clock that decides the current periods. */
static void publish_clock(watch *w) {
  if (w->event_clock && w->drv && dw_driver_now(w->drv) != DW_TIME_NONE)
    dw_feeds_set_now(w->pub, dw_driver_now(w->drv));
}

/* Tombstones of dossiers that left memory (dw_engine.h) guard against late
 * events; after the engine's retention they have done their job and their
 * rows go, so dossier_state does not grow with every dossier ever closed.
 * Its own short transaction; a failure is only logged (next round retries). */
static void purge_tombstones(watch *w) {
  if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) return;
  char sql[256], err[512];
  snprintf(sql, sizeof sql,
           "DELETE FROM dossier_state WHERE tombstone_at < now() - interval '%lld milliseconds'",
           (long long)dw_engine_tombstone_retention_ms(w->cfg));
  if (dw_pg_exec(w->pg, sql, err, sizeof err)) DW_LOG_WARNING("purging old tombstones (will retry): %s", err);
}

static void log_stats(watch *w, int64_t now) {
  counters *c = &w->c;
  double secs = (double)(now - c->win_start) / 1000.0;
  if (secs <= 0) secs = 1;
  dw_engine_stats st = {0};
  if (w->drv) dw_engine_stats_get(dw_driver_engine(w->drv), &st);
  DW_LOG_INF("stats: %.1f events/s archived, %llu archived, %llu duplicates, %llu dlq, %llu refused, "
             "%llu open alerts, %llu dossiers, avg batch %.1f, %llu commits, %llu rebuilds, %zu partitions; "
             "ms polling %lld, processing+PostgreSQL %lld, publishing %lld",
             (double)c->win_archived / secs, (unsigned long long)c->archived, (unsigned long long)c->duplicates,
             (unsigned long long)c->dlq_sent, (unsigned long long)c->refused, (unsigned long long)st.open_alerts,
             (unsigned long long)st.dossiers_in_memory, c->win_batches ? (double)c->win_msgs / (double)c->win_batches : 0.0,
             (unsigned long long)c->commits, (unsigned long long)c->rebuilds, w->grp ? dw_group_assigned(w->grp) : 0,
             (long long)c->ms_poll, (long long)c->ms_process, (long long)(w->pub ? dw_feeds_take_busy_ms(w->pub) : 0));
  c->ms_poll = c->ms_process = 0;
  c->win_archived = c->win_batches = c->win_msgs = 0;
  c->win_start = now;
}

/* ------------------------------------------------- metrics and health -- */

/* The gauges and /readyz's view, about once a second. Reads only this
 * thread's state (the broker's offsets as librdkafka cached them). */
static void obs_refresh(watch *w, int64_t now) {
  if (now - w->obs_at < 1000) return;
  w->obs_at = now;
  dw_engine_stats st = {0};
  if (w->drv) dw_engine_stats_get(dw_driver_engine(w->drv), &st);
  if (w->grp) dw_group_refresh_offsets(w->grp);
  bool pg_ok = w->pg && PQstatus(w->pg) == CONNECTION_OK && !w->need_rebuild;
  watch_obs_refresh(w->obs, w->grp ? dw_group_parts(w->grp) : NULL, w->grp ? DW_MAX_PARTITIONS : 0, pg_ok,
                    st.dossiers_in_memory, w->drv ? st.open_by_rule : NULL);
}

/* ------------------------------------------------------------------ loop -- */

/* Gathers up to batch_max new messages (or batch_ms after the first)
 * without overfilling the pool. Adaptive: once a batch has begun, take what
 * librdkafka has already fetched and process as soon as its queue runs dry,
 * so that under load batches fill up (throughput) and when quiet an event
 * is committed within milliseconds (alert latency). *timers_due: the wall
 * clock reached the engine's next deadline. Returns messages gathered. */
static size_t gather(watch *w, bool *timers_due, int64_t *last_activity) {
  size_t fresh = 0;
  int64_t first_at = 0;
  *timers_due = false;
  /* with the event clock a full pool still takes what the partitions
   * holding the watermark back deliver (flow control paused the others) */
  while (fresh < (size_t)w->batch_max && (w->pool.n < w->pool.max || w->event_clock) && !g_stop && !w->need_rebuild) {
    int64_t now = dw_now_ms();
    int64_t timeout = fresh == 0 ? 500 : first_at + w->batch_ms - now;
    if (fresh > 0 && timeout > DRAIN_POLL_MS) timeout = DRAIN_POLL_MS;
    if (!w->event_clock && w->drv) {
      int64_t due = dw_driver_next_deadline(w->drv);
      if (due != DW_TIME_NONE) {
        if (due <= now) {
          *timers_due = true;
          break;
        }
        if (due - now < timeout) timeout = due - now;
      }
    }
    if (timeout <= 0) break;
    rd_kafka_message_t *m = dw_group_poll(w->grp, (int)timeout);
    if (!m) break; /* idle, or the fetched messages are drained: process */
    if (fresh == 0) first_at = dw_now_ms();
    dw_pool_add(&w->pool, m, m->partition, m->offset);
    fresh++;
    *last_activity = dw_now_ms();
  }
  return fresh;
}

/* --exit-when-idle: idle counts from the last message or rebalance; with
 * nothing assigned yet (a group still waiting for a dead member's session
 * to expire) wait at least 30 s for an assignment. */
static bool idle_enough(watch *w, int64_t now, int64_t last_activity) {
  if (w->exit_when_idle_ms <= 0) return false;
  int64_t since = last_activity > dw_group_last_rebalance(w->grp) ? last_activity : dw_group_last_rebalance(w->grp);
  int64_t limit = w->exit_when_idle_ms;
  if (!dw_group_assigned(w->grp) && limit < 30000) limit = 30000;
  if (w->pool.n > 0) limit *= 3; /* held back by the watermark: give it time */
  if (now - since < limit) return false;
  DW_LOG_INF("idle for %.1f s, exiting", (double)(now - since) / 1000.0);
  return true;
}

static void run(watch *w) {
  int64_t last_activity = dw_now_ms(), last_purge = 0;
  w->c.win_start = dw_now_ms();
  int fail_streak = 0;
  while (!g_stop) {
    if (w->need_rebuild && rebuild(w)) {
      backoff_sleep(fail_streak++);
      continue;
    }
    int64_t t_gather = dw_now_ms();
    bool timers_due;
    size_t fresh = gather(w, &timers_due, &last_activity);
    if (w->need_rebuild) continue;
    int64_t t_process = dw_now_ms();
    w->c.ms_poll += t_process - t_gather;
    /* with messages waiting for the watermark, or a partition's end not
     * yet confirmed, look again even with nothing new: a partition reaching
     * its end moves the watermark */
    if (fresh > 0 || timers_due || w->pool.n > 0 || w->ends_unsettled) {
      int rc = process_ready(w);
      w->c.ms_process += dw_now_ms() - t_process;
      if (rc) {
        w->need_rebuild = true;
        backoff_sleep(fail_streak++);
        continue;
      }
      fail_streak = 0;
    }
    dw_group_flow(w->grp, &w->pool, w->event_clock);
    publish_clock(w);
    int64_t now = dw_now_ms();
    if (now - w->c.win_start >= STATS_INTERVAL_MS) log_stats(w, now);
    obs_refresh(w, now); /* metrics */
    if (now - last_purge >= TOMBSTONE_PURGE_INTERVAL_MS) {
      purge_tombstones(w);
      last_purge = now;
    }
    if (idle_enough(w, now, last_activity)) break;
  }
  /* clean shutdown: commit what we hold, publish, leave the group */
  if (w->pool.n > 0 && !w->need_rebuild && process_ready(w)) DW_LOG_WARNING("last batch not committed; it will be re-consumed");
  publish_clock(w);
}

/* ------------------------------------------------------------------ main -- */

static const char description[] =
  "Consumes topic.events (consumer group), applies the rules, archives every\n"
  "event and writes state, alerts, aggregates and offsets to PostgreSQL in one\n"
  "transaction per batch (exactly-once into PostgreSQL); publishes alerts and\n"
  "aggregates to Kafka after each commit (at-least-once). Unreadable messages go\n"
  "to topic.dlq with a dw.error header.";

static int setup(watch *w, char *err, size_t n) {
  if (!(w->obs = watch_obs_new(w->cfg, err, n))) return -1; /* metrics and health */
  if (!(w->cal = dw_calendar_from_config(w->cfg, err, n))) return -1;
  if (!(w->av = dw_avro_new(err, n))) return -1;
  if (!(w->arch = dw_pg_archive_new())) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  size_t pool_max = (size_t)dw_config_get_int(w->cfg, "watch.reorder_max");
  if (pool_max == 0) pool_max = (size_t)w->batch_max * 8 > 20000 ? (size_t)w->batch_max * 8 : 20000;
  if (dw_pool_init(&w->pool, pool_max)) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  size_t bm = (size_t)w->batch_max;
  w->ch.events = calloc(bm, sizeof *w->ch.events);
  w->ch.is_new = calloc(bm, 1);
  w->ch.refused = calloc(bm, 1);
  w->ch.reasons = calloc(bm, sizeof *w->ch.reasons);
  if (!w->ch.events || !w->ch.is_new || !w->ch.refused || !w->ch.reasons) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (engine_create(w, err, n)) return -1;
  if (pg_ensure(w, err, n)) DW_LOG_WARNING("%s (will retry)", err);
  const char *const dlq_props[] = {"linger.ms", "5", NULL};
  if (!(w->producer = dw_producer_new(w->cfg, "watch (dead letters)", dlq_props, err, n))) return -1;
  if (!(w->dlq = dw_dlq_new(w->producer, dw_config_get(w->cfg, "topic.dlq")))) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (!(w->pub = dw_feeds_start(w->cfg, w->conninfo, err, n))) return -1;
  dw_group_hooks hooks = {on_assigned, on_revoking, on_revoked, w};
  if (!(w->grp = dw_group_new(w->cfg, hooks, err, n))) return -1;
  return 0;
}

static void watch_free(watch *w) {
  engine_destroy(w);
  dw_pool_free(&w->pool, free_msg);
  free(w->ch.events);
  free(w->ch.is_new);
  free(w->ch.refused);
  free(w->ch.reasons);
  free(w->states);
  free(w->deltas);
  free(w->delta_units);
  dw_feeds_stop(w->pub);
  if (w->dlq) dw_dlq_destroy(w->dlq);
  dw_producer_destroy(w->producer);
  if (w->av) dw_avro_destroy(w->av);
  dw_pg_archive_destroy(w->arch);
  if (w->cal) dw_calendar_destroy(w->cal);
  if (w->pg) PQfinish(w->pg);
  watch_obs_destroy(w->obs);
}

int dw_cmd_watch(int argc, char **argv) {
  double idle = 0;
  const dw_opt opts[] = {
    {"group", DW_OPT_CONF, NULL, "ID", "consumer group (default dossierwatch)", "kafka.group.id"},
    {"clock", DW_OPT_CONF, NULL, "wall|watermark", "time rules on the wall clock (default) or the\n"
     "event-time watermark (deterministic)", "watch.clock"},
    {"exit-when-idle", DW_OPT_NUM, &idle, "SECONDS", "exit 0 after that long with no message (tests)", NULL},
    {"http", DW_OPT_CONF, NULL, "ADDR", "serve /metrics, /healthz and /readyz on ADDR, e.g. 127.0.0.1:9464", "watch.http_listen"},
    {0},
  };
  const dw_command_spec spec = {CMD, "[OPTIONS]", description, opts, 0, 0, DW_CLI_KAFKA | DW_CLI_DB, NULL};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc >= 0) {
    dw_cli_destroy(cli);
    return rc;
  }
  dw_config *cfg = dw_cli_config(cli);
  char err[1024];
  if (dw_cli_given(cli, "exit-when-idle") && idle <= 0) {
    DW_LOG_ERR("--exit-when-idle wants a positive number of seconds");
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  if (!dw_config_get(cfg, "kafka.group.id")) dw_config_set(cfg, "kafka.group.id", "dossierwatch", err, sizeof err);
  const char *clk = dw_config_get(cfg, "watch.clock");
  if (strcmp(clk, "wall") != 0 && strcmp(clk, "watermark") != 0) {
    DW_LOG_ERR("--clock/watch.clock must be wall or watermark, got '%s'", clk);
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  if (!dw_config_get(cfg, "db.conninfo")) {
    DW_LOG_ERR("no PostgreSQL: give --db, db.conninfo or DW_DB");
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  watch *w = calloc(1, sizeof *w);
  if (!w) {
    dw_cli_destroy(cli);
    return DW_EXIT_FAIL;
  }
  rc = DW_EXIT_FAIL;
  w->cfg = cfg;
  w->conninfo = dw_config_get(cfg, "db.conninfo");
  snprintf(w->group, sizeof w->group, "%s", dw_config_get(cfg, "kafka.group.id"));
  snprintf(w->topic, sizeof w->topic, "%s", dw_config_get(cfg, "topic.events"));
  w->event_clock = strcmp(clk, "watermark") == 0;
  w->exit_when_idle_ms = (int64_t)(idle * 1000);
  w->batch_max = (int)dw_config_get_int(cfg, "watch.batch_max");
  w->batch_ms = (int)dw_config_get_int(cfg, "watch.batch_ms");
  w->idle_tx_ms = dw_config_get_int(cfg, "watch.idle_tx_timeout_ms");
  w->utc_offset = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  if (setup(w, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    goto out;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  DW_LOG_INF("group %s, topic %s, clock %s, batch %d msgs / %d ms", w->group, w->topic, clk, w->batch_max, w->batch_ms);
  run(w);
  dw_group_close(w->grp); /* leaves the group: the revoking hook commits what is held */
  w->grp = NULL;
  dw_feeds_stop(w->pub); /* a last round of both: everything committed goes out */
  w->pub = NULL;
  log_stats(w, dw_now_ms());
  rc = DW_EXIT_OK;
out:
  dw_group_close(w->grp);
  watch_free(w);
  free(w);
  dw_cli_destroy(cli);
  return rc;
}
