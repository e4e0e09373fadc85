/* watch: the live consumer (CONTRACT §4-6). Consumes topic.events in a
 * consumer group, runs every event through the engine and commits, per
 * batch and in ONE PostgreSQL transaction: the archive rows (new event ids
 * only), the dirty dossier states, the alert changes, the aggregate deltas
 * and the next Kafka offsets. Offsets live in PostgreSQL (kafka_offsets),
 * never in Kafka: on assignment the consumer loads them with the partitions'
 * dossier states and assigns from there, so a crash at any point replays
 * exactly the uncommitted tail (exactly-once into PostgreSQL). Any
 * PostgreSQL error rolls back and rebuilds the in-memory engine from
 * PostgreSQL, then seeks back to the stored offsets and retries with backoff.
 * Unreadable messages go to topic.dlq (confirmed before the offsets pass
 * them). Alerts and aggregates go to Kafka after the commit, at-least-once,
 * from the PostgreSQL outbox (dw_publish).
 * Clock: wall (default; the poll timeout is bounded by the engine's next
 * deadline so a dossier goes overdue with no event arriving) or watermark:
 * events wait in a reorder pool until the event-time watermark (min over
 * partitions with messages pending) passes them, then apply in event-time
 * order, so the output equals `audit` over the same events whatever the
 * interleaving, batching, restarts or number of processes (the clock of
 * each commit is stored with the offsets). Limitation: partitions moving
 * between two live processes mid-stream may see the new owner's clock ahead
 * of them (events then re-derive in the engine). */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "dw_aggregates.h"
#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_dlq.h"
#include "dw_engine.h"
#include "dw_kafka.h"
#include "dw_pg_sink.h"
#include "dw_pg_state.h"
#include "dw_publish.h"
#include "dw_time.h"

#define DRAIN_POLL_MS 2 /* poll timeout once a batch has begun */
#define TOMBSTONE_PURGE_INTERVAL_MS 3600000LL
#define LOG(...) dw_cli_error("watch", __VA_ARGS__)
#define MAX_PARTITIONS 4096
#define STATS_INTERVAL_MS 10000
#define DLQ_TIMEOUT_MS 30000

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct dossier_ent {
  char id[DW_ID_MAX];
  int32_t partition;
  uint8_t received, closed;
  UT_hash_handle hh;
} dossier_ent;

typedef struct part_info {
  bool assigned;
  int64_t next;   /* next offset to process; -1: from the beginning */
  int64_t stored; /* value in kafka_offsets when loaded/committed; -1: no row */
  int64_t recv;   /* next offset to receive (messages in the pool are received); -1 unknown */
  int64_t maxp;   /* latest occurred_at received in this partition, DW_TIME_NONE */
  int64_t low, high; /* cached Kafka watermark offsets, -1 unknown */
  bool paused;       /* fetching paused: too far ahead of the watermark */
} part_info;

/* A received message waiting in the reorder pool until it may be applied. */
typedef struct held {
  rd_kafka_message_t *m;
  int64_t at;    /* occurred_at */
  uint64_t seq;  /* arrival order */
  char *bad;     /* why it is not an event (it went to the DLQ), or NULL */
  bool examined; /* decoded once */
  bool in_chunk; /* in the chunk being committed */
} held;

typedef struct alert_slot {
  char id[DW_ALERT_ID_MAX];
  size_t index;
  UT_hash_handle hh;
} alert_slot;

typedef struct delta_row {
  dw_agg_row row;
  char unit[DW_ID_MAX];
} delta_row;

typedef struct watch {
  dw_config *cfg;
  const char *conninfo;
  char group[256], topic[256];
  bool watermark_clock;
  int64_t exit_when_idle_ms;
  int batch_max, batch_ms, publish_interval_ms, utc_offset;

  PGconn *pg;
  rd_kafka_t *consumer;
  dw_producer *producer; /* dead letters */
  dw_avro *av;
  dw_calendar *cal;
  dw_engine *eng;
  dw_aggregates *agg;
  dw_dlq *dlq;
  dw_publisher *pub; /* alerts and aggregates from the outbox, in the background */

  dossier_ent *dossiers;
  part_info parts[MAX_PARTITIONS];
  int64_t watermark;
  bool need_rebuild;

  /* the reorder pool and the chunk being committed */
  held *pool;
  size_t npool, pool_max, nfresh;
  uint64_t seq;
  size_t *cand;
  dw_event scratch;
  dw_event *events; /* per chunk position */
  uint8_t *is_new, *apply_failed;
  char (*reasons)[256];
  bool forced_logged;

  /* collected while the engine runs */
  dw_alert *alerts;
  size_t nalerts, cap_alerts;
  alert_slot *alert_index;
  dw_pg_state_row *states;
  size_t nstates, cap_states;
  delta_row *deltas;
  size_t ndeltas, cap_deltas;

  /* stats */
  uint64_t archived, duplicates, dlq_sent, apply_errors, batches, batch_msgs, commits, rebuilds;
  int64_t ms_poll, ms_process; /* where the time went, this stats window (publishing: dw_publisher) */
  uint64_t win_archived, win_batches, win_msgs;
  int64_t win_start;
  int64_t last_rebalance; /* for --exit-when-idle */
} watch;

/* ---------------------------------------------------------------- engine -- */

static void on_alert(void *opaque, const dw_alert *a, dw_alert_change change) {
  (void)change;
  watch *w = opaque;
  alert_slot *s;
  HASH_FIND_STR(w->alert_index, a->alert_id, s);
  if (s) { /* the latest version of an alert wins within a batch */
    w->alerts[s->index] = *a;
    return;
  }
  if (w->nalerts == w->cap_alerts) {
    size_t cap = w->cap_alerts ? w->cap_alerts * 2 : 64;
    dw_alert *p = realloc(w->alerts, cap * sizeof *p);
    if (!p) abort(); /* cannot record an alert change: losing it silently is worse */
    w->alerts = p;
    w->cap_alerts = cap;
  }
  s = calloc(1, sizeof *s);
  if (!s) abort();
  snprintf(s->id, sizeof s->id, "%s", a->alert_id);
  s->index = w->nalerts;
  HASH_ADD_STR(w->alert_index, id, s);
  w->alerts[w->nalerts++] = *a;
}

static void clear_collected(watch *w) {
  alert_slot *s, *tmp;
  HASH_ITER(hh, w->alert_index, s, tmp) {
    HASH_DEL(w->alert_index, s);
    free(s);
  }
  w->nalerts = 0;
  for (size_t i = 0; i < w->nstates; i++) {
    /* a dossier that left the engine leaves our partition map too, or the
     * map would grow with every dossier ever seen */
    if (dw_engine_blob_is_tombstone(w->states[i].blob, w->states[i].len)) {
      dossier_ent *d;
      HASH_FIND_STR(w->dossiers, w->states[i].dossier_id, d);
      if (d) {
        HASH_DEL(w->dossiers, d);
        free(d);
      }
    }
    free((void *)w->states[i].blob);
  }
  w->nstates = 0;
  w->ndeltas = 0;
}

static void forget_all_dossiers(watch *w) {
  dossier_ent *d, *tmp;
  HASH_ITER(hh, w->dossiers, d, tmp) {
    HASH_DEL(w->dossiers, d);
    free(d);
  }
}

static void engine_destroy(watch *w) {
  dw_engine_destroy(w->eng);
  dw_aggregates_destroy(w->agg);
  w->eng = NULL;
  w->agg = NULL;
  forget_all_dossiers(w);
  clear_collected(w);
  w->watermark = DW_TIME_NONE;
}

static int engine_create(watch *w, char *err, size_t n) {
  w->agg = dw_aggregates_new(w->cfg, w->utc_offset);
  if (!w->agg) {
    snprintf(err, n, "cannot create aggregates");
    return -1;
  }
  dw_engine_sink sink = {on_alert, w};
  w->eng = dw_engine_new(w->cfg, w->cal, w->agg, sink, err, n);
  if (!w->eng) {
    dw_aggregates_destroy(w->agg);
    w->agg = NULL;
    return -1;
  }
  return 0;
}

static dossier_ent *dossier_note(watch *w, const char *id, int32_t partition) {
  dossier_ent *d;
  HASH_FIND_STR(w->dossiers, id, d);
  if (!d) {
    d = calloc(1, sizeof *d);
    if (!d) return NULL;
    snprintf(d->id, sizeof d->id, "%s", id);
    HASH_ADD_STR(w->dossiers, id, d);
  }
  d->partition = partition;
  return d;
}

/* ---------------------------------------------------------------- postgres -- */

static int pg_ensure(watch *w, char *err, size_t n) {
  if (w->pg && PQstatus(w->pg) == CONNECTION_OK) return 0;
  if (w->pg) PQfinish(w->pg);
  w->pg = PQconnectdb(w->conninfo);
  if (PQstatus(w->pg) != CONNECTION_OK) {
    snprintf(err, n, "cannot connect to PostgreSQL: %s", PQerrorMessage(w->pg));
    for (char *p = err; *p; p++)
      if (*p == '\n') *p = ' ';
    PQfinish(w->pg);
    w->pg = NULL;
    return -1;
  }
  PGresult *r = PQexec(w->pg, "SET application_name = 'dossierwatch watch'");
  PQclear(r);
  if (dw_pg_sink_prepare(w->pg, err, n)) {
    PQfinish(w->pg);
    w->pg = NULL;
    return -1;
  }
  return 0;
}

static int restore_one(const char *dossier_id, int32_t partition, const void *blob, size_t len, int open,
                       void *opaque) {
  watch *w = opaque;
  char err[256];
  if (dw_engine_restore(w->eng, blob, len, err, sizeof err)) {
    LOG("dossier %s: stored state not loaded: %s", dossier_id, err);
    return -1;
  }
  if (dw_engine_blob_is_tombstone(blob, len)) return 0; /* not in memory: no partition to remember */
  dossier_ent *d = dossier_note(w, dossier_id, partition);
  if (d) {
    d->received = open ? 1 : 0;
    d->closed = open ? 0 : 1;
  }
  return 0;
}

static void advance_to(watch *w, int64_t t);

/* Loads offsets, watermark and dossier states of the partitions into the
 * engine and w->parts. */
static int load_partitions(watch *w, const int32_t *ps, size_t n, char *err, size_t en) {
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
  if (rc == 0) {
    rows = dw_pg_state_load_dossiers(w->pg, ps, n, restore_one, w, &failed, err, en);
    if (rows < 0) rc = -1;
  }
  if (rc == 0) {
    for (size_t i = 0; i < n; i++) {
      part_info *pi = &w->parts[ps[i]];
      pi->next = pi->stored = pi->recv = next[i];
      pi->maxp = DW_TIME_NONE;
      pi->low = pi->high = -1;
      /* the clock of the last commit: everything not committed is after it */
      if (w->watermark_clock && wm[i] != DW_TIME_NONE) advance_to(w, wm[i]);
    }
    LOG("loaded %zu partition(s) of %s: %ld dossier states%s", n, w->topic, rows,
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

/* -------------------------------------------------------------- the clock -- */

/* The event-time clock (--clock watermark). Producers write each partition
 * in event-time order, so the watermark W = the minimum, over the assigned
 * partitions that still have messages in Kafka we have not received, of the
 * latest occurred_at received from each (every partition caught up: the
 * latest of all) bounds every event still to come. Received events wait in
 * the reorder pool until W passes them and are then applied in global
 * event-time order, the clock moved to each one's occurred_at first: watch
 * then gives what in-order delivery gives, whatever the interleaving of
 * partitions, the batch boundaries, restarts or the number of processes.
 * DW_TIME_NONE: W cannot move yet (a partition with messages pending has
 * delivered none). */
static bool part_pending(const part_info *pi) {
  if (pi->high < 0) return true; /* not fetched yet: assume there is more */
  if (pi->recv >= 0) return pi->recv < pi->high;
  return pi->high > (pi->low >= 0 ? pi->low : 0);
}

static int64_t watermark_now(const watch *w) {
  int64_t lo = DW_TIME_NONE, hi = DW_TIME_NONE;
  bool any_pending = false;
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    const part_info *pi = &w->parts[p];
    if (!pi->assigned) continue;
    if (pi->maxp != DW_TIME_NONE && (hi == DW_TIME_NONE || pi->maxp > hi)) hi = pi->maxp;
    if (!part_pending(pi)) continue;
    if (pi->maxp == DW_TIME_NONE) return DW_TIME_NONE;
    any_pending = true;
    if (lo == DW_TIME_NONE || pi->maxp < lo) lo = pi->maxp;
  }
  return any_pending ? lo : hi;
}

static void refresh_kafka_watermarks(watch *w) {
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    if (!w->parts[p].assigned) continue;
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(w->consumer, w->topic, p, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      w->parts[p].low = low;
      w->parts[p].high = high;
    }
  }
}

/* Moves the engine clock forward (never back) in watermark mode. */
static void advance_to(watch *w, int64_t t) {
  if (t == DW_TIME_NONE || (w->watermark != DW_TIME_NONE && t <= w->watermark)) return;
  w->watermark = t;
  dw_engine_advance(w->eng, t);
}

static void pause_resume(watch *w, int32_t p, bool pause) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, w->topic, p);
  rd_kafka_resp_err_t e = pause ? rd_kafka_pause_partitions(w->consumer, l) : rd_kafka_resume_partitions(w->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e)
    LOG("%s %s [%d]: %s", pause ? "pause" : "resume", w->topic, (int)p, rd_kafka_err2str(e));
  else
    w->parts[p].paused = pause;
}

/* Watermark alignment: a partition whose fetches run ahead fills the pool
 * with events that wait for the slower ones; pause its fetching while it
 * holds more than its share of the pool (librdkafka drops its prefetched
 * messages and resumes after the last one we received). */
static void flow_control(watch *w) {
  size_t held_by[MAX_PARTITIONS] = {0}, nassigned = 0;
  for (size_t i = 0; i < w->npool; i++) held_by[w->pool[i].m->partition]++;
  for (int p = 0; p < MAX_PARTITIONS; p++) nassigned += w->parts[p].assigned;
  if (!nassigned) return;
  size_t share = w->pool_max / (2 * nassigned);
  if (share < 1) share = 1;
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    part_info *pi = &w->parts[p];
    if (!pi->assigned) continue;
    if (!pi->paused && w->watermark_clock && held_by[p] >= share)
      pause_resume(w, p, true);
    else if (pi->paused && held_by[p] < share / 2)
      pause_resume(w, p, false);
  }
}

static void resume_all(watch *w) {
  for (int p = 0; p < MAX_PARTITIONS; p++)
    if (w->parts[p].paused) pause_resume(w, p, false);
}

/* -------------------------------------------------------------- the batch -- */

static void drop_pool(watch *w) {
  for (size_t i = 0; i < w->npool; i++) {
    rd_kafka_message_destroy(w->pool[i].m);
    free(w->pool[i].bad);
  }
  w->npool = 0;
}

static void on_dirty(const char *dossier_id, const void *blob, size_t len, void *opaque) {
  watch *w = opaque;
  dossier_ent *d;
  HASH_FIND_STR(w->dossiers, dossier_id, d);
  if (!d) {
    /* Every dossier in memory came from an event or a restore of ours. */
    LOG("dossier %s changed but its partition is unknown; state not saved", dossier_id);
    return;
  }
  if (w->nstates == w->cap_states) {
    size_t cap = w->cap_states ? w->cap_states * 2 : 64;
    dw_pg_state_row *p = realloc(w->states, cap * sizeof *p);
    if (!p) abort();
    w->states = p;
    w->cap_states = cap;
  }
  void *copy = NULL;
  if (blob) {
    copy = malloc(len ? len : 1);
    if (!copy) abort();
    memcpy(copy, blob, len);
  }
  bool open = d->received && !d->closed && !dw_engine_blob_is_tombstone(blob, len);
  w->states[w->nstates++] = (dw_pg_state_row){d->id, d->partition, copy, len, open};
}

static void on_delta(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  (void)row;
  watch *w = opaque;
  if (delta->period_kind == DW_PERIOD_ROLLING30) return;
  if (w->ndeltas == w->cap_deltas) {
    size_t cap = w->cap_deltas ? w->cap_deltas * 2 : 64;
    delta_row *p = realloc(w->deltas, cap * sizeof *p);
    if (!p) abort();
    w->deltas = p;
    w->cap_deltas = cap;
  }
  delta_row *d = &w->deltas[w->ndeltas++];
  d->row = *delta;
  snprintf(d->unit, sizeof d->unit, "%s", delta->unit ? delta->unit : row->unit);
  d->row.unit = NULL; /* bound to d->unit when written: the array may move */
}

static void on_delta_ignore(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  (void)row;
  (void)delta;
  (void)opaque;
}

static int ensure_batch_arrays(watch *w) {
  if (w->pool) return 0;
  size_t n = (size_t)w->batch_max;
  w->pool = calloc(w->pool_max, sizeof *w->pool);
  w->cand = calloc(w->pool_max, sizeof *w->cand);
  w->events = calloc(n, sizeof *w->events);
  w->is_new = calloc(n, 1);
  w->apply_failed = calloc(n, 1);
  w->reasons = calloc(n, sizeof *w->reasons);
  return (w->pool && w->cand && w->events && w->is_new && w->apply_failed && w->reasons) ? 0 : -1;
}

static const watch *g_sort_w; /* qsort has no context argument in C11 */
static int cmp_by_time(const void *a, const void *b) {
  const held *x = &g_sort_w->pool[*(const size_t *)a], *y = &g_sort_w->pool[*(const size_t *)b];
  int64_t tx = x->bad ? INT64_MIN : x->at, ty = y->bad ? INT64_MIN : y->at;
  if (tx != ty) return tx < ty ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}
static int cmp_by_seq(const void *a, const void *b) {
  const held *x = &g_sort_w->pool[*(const size_t *)a], *y = &g_sort_w->pool[*(const size_t *)b];
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Takes the next chunk of the pool that may be applied (all of it on the
 * wall clock; events at or before the watermark, oldest first, otherwise),
 * runs it through the DLQ, the engine and one PostgreSQL transaction, and
 * removes it from the pool. An empty chunk still commits what timers changed.
 * *more: another chunk is ready. 0 on success, -1 on failure (the caller
 * rebuilds from PostgreSQL and re-consumes). */
static int process_pool(watch *w, bool *more) {
  char err[1024];
  *more = false;

  /* 1. look at what arrived: event time, or why it is unreadable; the
   *    unreadable go to the DLQ, confirmed before anything commits past them */
  size_t bad_new = 0;
  for (size_t i = 0; i < w->npool; i++) {
    held *h = &w->pool[i];
    if (h->examined) continue;
    h->examined = true;
    char why[256] = "";
    if (dw_avro_decode_event(w->av, h->m->payload, h->m->len, &w->scratch, why, sizeof why) == 0 &&
        dw_event_validate(&w->scratch, why, sizeof why) == 0) {
      h->at = w->scratch.occurred_at;
      part_info *pi = &w->parts[h->m->partition];
      if (pi->maxp == DW_TIME_NONE || h->at > pi->maxp) pi->maxp = h->at;
      continue;
    }
    h->bad = strdup(why[0] ? why : "unreadable event");
    if (!h->bad) abort();
    if (dw_dlq_send(w->dlq, w->topic, h->m->partition, h->m->offset, h->m->key, h->m->key_len, h->m->payload,
                    h->m->len, h->bad, err, sizeof err)) {
      LOG("DLQ: %s", err);
      return -1;
    }
    bad_new++;
  }
  if (bad_new) {
    if (dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, sizeof err)) {
      LOG("DLQ not confirmed, batch will be retried: %s", err);
      return -1;
    }
    w->dlq_sent += bad_new;
  }

  /* 2. the chunk */
  int64_t wm = INT64_MAX;
  if (w->watermark_clock) {
    refresh_kafka_watermarks(w);
    wm = watermark_now(w);
  }
  size_t ncand = 0;
  for (size_t i = 0; i < w->npool; i++) {
    held *h = &w->pool[i];
    if (h->bad || (wm != DW_TIME_NONE && h->at <= wm)) w->cand[ncand++] = i;
  }
  bool forced = false;
  if (w->watermark_clock && w->npool >= w->pool_max && ncand < (size_t)w->batch_max) {
    /* The pool is full and the watermark is held back by a slow partition:
     * apply the oldest anyway (they may now be ahead of the slow one). */
    ncand = 0;
    for (size_t i = 0; i < w->npool; i++) w->cand[ncand++] = i;
    forced = true;
    if (!w->forced_logged) {
      LOG("reorder pool full (%zu messages): applying ahead of the watermark", w->npool);
      for (int p = 0; p < MAX_PARTITIONS; p++)
        if (w->parts[p].assigned)
          LOG("  partition %d: received up to %lld of %lld, latest event %lld", p, (long long)w->parts[p].recv,
              (long long)w->parts[p].high, (long long)w->parts[p].maxp);
    }
    w->forced_logged = true;
  }
  g_sort_w = w;
  if (ncand) qsort(w->cand, ncand, sizeof *w->cand, w->watermark_clock ? cmp_by_time : cmp_by_seq);
  size_t n = ncand < (size_t)w->batch_max ? ncand : (size_t)w->batch_max;
  *more = ncand > n && !forced;
  for (size_t i = 0; i < w->npool; i++) w->pool[i].in_chunk = false;
  for (size_t k = 0; k < n; k++) w->pool[w->cand[k]].in_chunk = true;
  if (!w->eng) return -1;

  /* 3. the transaction: rejects, dedupe, archive */
  bool with_tx = n > 0;
  for (size_t k = 0; k < n; k++) {
    held *h = &w->pool[w->cand[k]];
    w->is_new[k] = 0;
    w->apply_failed[k] = 0;
    w->reasons[k][0] = '\0';
    if (h->bad) continue;
    if (dw_avro_decode_event(w->av, h->m->payload, h->m->len, &w->events[k], w->reasons[k], sizeof w->reasons[k])) {
      /* decoded fine a moment ago: cannot happen; treat as a failure */
      snprintf(err, sizeof err, "event at %s [%d] @%lld no longer decodes", w->topic, (int)h->m->partition,
               (long long)h->m->offset);
      goto pg_fail_notx;
    }
  }
  /* While PostgreSQL dedupes, the JSON forms are built (for every event:
   * duplicates are rare); while it copies the archive rows, the engine
   * runs: the round trips overlap with our own work. */
  size_t narchived = 0; /* archive rows streamed, COPY result still pending */
  if (with_tx) {
    if (pg_ensure(w, err, sizeof err)) goto pg_fail_notx;
    if (dw_pg_sink_begin(w->pg, err, sizeof err)) goto pg_fail;
    const char **ids = malloc(n * sizeof *ids);
    size_t *idx = malloc(n * sizeof *idx);
    uint8_t *fresh = malloc(n);
    dw_pg_archive_row *rows = malloc(n * sizeof *rows);
    char **jsons = calloc(n, sizeof *jsons);
    size_t k2 = 0, nr = 0;
    int rc = 0;
    if (!ids || !idx || !fresh || !rows || !jsons) {
      snprintf(err, sizeof err, "out of memory");
      rc = -1;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
      held *h = &w->pool[w->cand[k]];
      if (h->bad) {
        rc = dw_pg_sink_reject(w->pg, w->topic, h->m->partition, h->m->offset, "decode", h->bad, h->m->key,
                               h->m->key_len, err, sizeof err);
        continue;
      }
      ids[k2] = w->events[k].event_id;
      idx[k2++] = k;
    }
    /* only ids PostgreSQL has never seen go on */
    if (rc == 0) rc = dw_pg_sink_dedupe_send(w->pg, ids, k2, err, sizeof err);
    for (size_t j = 0; j < k2 && rc == 0; j++) jsons[idx[j]] = dw_event_to_json(&w->events[idx[j]], w->utc_offset);
    if (rc == 0) rc = dw_pg_sink_dedupe_recv(w->pg, ids, k2, fresh, err, sizeof err);
    for (size_t j = 0; j < k2 && rc == 0; j++) w->is_new[idx[j]] = fresh[j];
    for (size_t k = 0; k < n && rc == 0; k++) {
      if (!w->is_new[k]) continue;
      held *h = &w->pool[w->cand[k]];
      rows[nr++] = (dw_pg_archive_row){&w->events[k], jsons[k] ? jsons[k] : "{}", h->m->payload, h->m->len,
                                       h->m->partition, h->m->offset};
    }
    if (rc == 0) rc = dw_pg_sink_archive_send(w->pg, rows, nr, err, sizeof err);
    if (rc == 0) narchived = nr;
    for (size_t k = 0; jsons && k < n; k++) free(jsons[k]);
    free(jsons);
    free(rows);
    free(ids);
    free(idx);
    free(fresh);
    if (rc) goto pg_fail;
  }

  /* 4. the engine: clock first, then each new event */
  if (!w->watermark_clock) dw_engine_advance(w->eng, dw_now_ms());
  size_t applied = 0, dups = 0;
  for (size_t k = 0; k < n; k++) {
    const size_t ahead = k + DW_ENGINE_PREFETCH_AHEAD;
    if (ahead < n && !w->pool[w->cand[ahead]].bad) dw_engine_prefetch(w->eng, w->events[ahead].dossier_id);
    held *h = &w->pool[w->cand[k]];
    if (h->bad) continue;
    if (!w->is_new[k]) {
      dups++;
      continue;
    }
    dw_event *ev = &w->events[k];
    if (w->watermark_clock) advance_to(w, ev->occurred_at);
    dossier_ent *d = dossier_note(w, ev->dossier_id, h->m->partition);
    if (d) {
      if (ev->type == DW_EV_RECEIVED) d->received = 1;
      if (ev->type == DW_EV_RESULT_ISSUED || ev->type == DW_EV_REJECTED || ev->type == DW_EV_WITHDRAWN)
        d->closed = 1;
    }
    dw_apply_status st = dw_engine_apply(w->eng, ev, w->reasons[k], sizeof w->reasons[k]);
    if (st == DW_APPLY_OK) {
      applied++;
    } else if (st == DW_APPLY_DUPLICATE) {
      dups++;
    } else {
      w->apply_failed[k] = 1;
      if (!w->reasons[k][0]) snprintf(w->reasons[k], sizeof w->reasons[k], "event not applicable");
    }
  }
  /* everything at or before the watermark is applied: the clock may go there */
  if (w->watermark_clock && !*more && !forced && wm != DW_TIME_NONE) advance_to(w, wm);

  /* 5. what the engine changed */
  dw_engine_drain_dirty(w->eng, on_dirty, w);
  {
    /* `now` only marks current periods (the gauge, not stored): any valid
     * instant will do before the event-time clock has started */
    int64_t now = dw_engine_now(w->eng);
    dw_aggregates_drain_changes(w->agg, 1, now == DW_TIME_NONE ? dw_now_ms() : now, on_delta, w);
  }
  if (dw_pg_sink_archive_finish(w->pg, narchived, err, sizeof err)) goto pg_fail;
  if (!with_tx && w->nalerts == 0 && w->nstates == 0 && w->ndeltas == 0) return 0; /* nothing to commit */
  if (!with_tx) {
    if (pg_ensure(w, err, sizeof err)) goto pg_fail_notx;
    if (dw_pg_sink_begin(w->pg, err, sizeof err)) goto pg_fail;
  }
  for (size_t k = 0; k < n; k++)
    if (w->apply_failed[k]) {
      held *h = &w->pool[w->cand[k]];
      if (dw_pg_sink_reject(w->pg, w->topic, h->m->partition, h->m->offset, "apply", w->reasons[k], h->m->key,
                            h->m->key_len, err, sizeof err))
        goto pg_fail;
    }
  if (dw_pg_sink_states(w->pg, w->states, w->nstates, err, sizeof err)) goto pg_fail;
  if (dw_pg_sink_alerts(w->pg, w->alerts, w->nalerts, err, sizeof err)) goto pg_fail;
  {
    dw_agg_row *rows = malloc((w->ndeltas ? w->ndeltas : 1) * sizeof *rows);
    if (!rows) {
      snprintf(err, sizeof err, "out of memory");
      goto pg_fail;
    }
    for (size_t i = 0; i < w->ndeltas; i++) {
      rows[i] = w->deltas[i].row;
      rows[i].unit = w->deltas[i].unit;
    }
    int rc = dw_pg_sink_aggregates(w->pg, rows, w->ndeltas, err, sizeof err);
    free(rows);
    if (rc) goto pg_fail;
  }

  /* 6. offsets (fenced) of every assigned partition: up to the first
   *    message still in the pool (it is re-consumed after a crash), else up
   *    to what was received; the other rows only prove we still own them
   *    and carry the clock */
  int64_t new_next[MAX_PARTITIONS];
  for (int p = 0; p < MAX_PARTITIONS; p++) new_next[p] = w->parts[p].recv;
  for (size_t i = 0; i < w->npool; i++) {
    held *h = &w->pool[i];
    if (!h->in_chunk && h->m->offset < new_next[h->m->partition]) new_next[h->m->partition] = h->m->offset;
  }
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    if (!w->parts[p].assigned || new_next[p] < 0) continue;
    int rc = dw_pg_sink_offset(w->pg, w->group, w->topic, p, w->parts[p].stored, new_next[p],
                               w->watermark_clock ? w->watermark : DW_TIME_NONE, err, sizeof err);
    if (rc) {
      if (rc > 0) LOG("fenced: %s", err);
      goto pg_fail;
    }
  }
  if (dw_pg_sink_commit(w->pg, err, sizeof err)) goto pg_fail;

  /* committed */
  for (int p = 0; p < MAX_PARTITIONS; p++)
    if (w->parts[p].assigned && new_next[p] >= 0) w->parts[p].next = w->parts[p].stored = new_next[p];
  w->commits++;
  w->archived += applied;
  w->win_archived += applied;
  w->duplicates += dups;
  if (n) {
    w->batches++;
    w->batch_msgs += n;
    w->win_batches++;
    w->win_msgs += n;
  }
  if (w->nalerts) dw_publisher_kick_alerts(w->pub); /* committed: out they go, at once */
  /* events the engine refused: recorded in dlq_messages above; now to the
   * DLQ topic too (after the commit: at-least-once, like the other outputs) */
  size_t refused = 0;
  for (size_t k = 0; k < n; k++)
    if (w->apply_failed[k]) {
      held *h = &w->pool[w->cand[k]];
      refused++;
      if (dw_dlq_send(w->dlq, w->topic, h->m->partition, h->m->offset, h->m->key, h->m->key_len, h->m->payload,
                      h->m->len, w->reasons[k], err, sizeof err))
        LOG("DLQ: %s", err);
    }
  if (refused) {
    w->apply_errors += refused;
    if (dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, sizeof err)) LOG("DLQ (refused events): %s", err);
  }
  clear_collected(w);
  /* drop the chunk from the pool, keeping the order of the rest */
  size_t keep = 0;
  for (size_t i = 0; i < w->npool; i++) {
    if (w->pool[i].in_chunk) {
      rd_kafka_message_destroy(w->pool[i].m);
      free(w->pool[i].bad);
    } else {
      w->pool[keep++] = w->pool[i];
    }
  }
  w->npool = keep;
  return 0;

pg_fail:
  dw_pg_sink_rollback(w->pg);
pg_fail_notx:
  LOG("PostgreSQL: %s; rolled back, rebuilding from PostgreSQL", err);
  return -1;
}

/* Processes chunks until nothing more is ready. */
static int process_ready(watch *w) {
  bool more = true;
  while (more)
    if (process_pool(w, &more)) return -1;
  return 0;
}

/* Engine and offsets back to what PostgreSQL holds; seek there. */
static int rebuild(watch *w) {
  char err[1024];
  drop_pool(w);
  resume_all(w);
  engine_destroy(w);
  if (engine_create(w, err, sizeof err)) {
    LOG("%s", err);
    return -1;
  }
  int32_t ps[MAX_PARTITIONS];
  size_t n = 0;
  for (int p = 0; p < MAX_PARTITIONS; p++)
    if (w->parts[p].assigned) ps[n++] = p;
  if (load_partitions(w, ps, n, err, sizeof err)) {
    LOG("rebuild: %s", err);
    engine_destroy(w);
    return -1;
  }
  if (n) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
      rd_kafka_topic_partition_list_add(l, w->topic, ps[i])->offset =
          w->parts[ps[i]].next >= 0 ? w->parts[ps[i]].next : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(w->consumer, l, 10000);
    int bad = 0;
    if (e) {
      LOG("seek: %s", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      bad = 1;
    }
    for (int i = 0; i < l->cnt && !bad; i++)
      if (l->elems[i].err) {
        LOG("seek %s [%d]: %s", w->topic, (int)l->elems[i].partition, rd_kafka_err2str(l->elems[i].err));
        bad = 1;
      }
    rd_kafka_topic_partition_list_destroy(l);
    if (bad) {
      engine_destroy(w);
      return -1;
    }
  }
  w->rebuilds++;
  w->need_rebuild = false;
  LOG("rebuilt from PostgreSQL (%zu partition(s))", n);
  return 0;
}

/* -------------------------------------------------------------- rebalance -- */

static int keep_dossier(const char *dossier_id, void *opaque) {
  watch *w = opaque;
  dossier_ent *d;
  HASH_FIND_STR(w->dossiers, dossier_id, d);
  return d && d->partition >= 0 && d->partition < MAX_PARTITIONS && w->parts[d->partition].assigned;
}

static void on_revoke(watch *w, rd_kafka_topic_partition_list_t *l) {
  /* Commit what we hold for these partitions first, so the next owner
   * starts exactly after it; if that fails, the next owner re-consumes. */
  if (!w->need_rebuild && w->eng && process_ready(w)) w->need_rebuild = true;
  /* What is still waiting for the watermark was not committed: the next
   * owner re-consumes it from the stored offsets. */
  drop_pool(w);
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (p >= 0 && p < MAX_PARTITIONS && strcmp(l->elems[i].topic, w->topic) == 0) {
      w->parts[p].assigned = false;
      w->parts[p].recv = w->parts[p].next;
      w->parts[p].paused = false;
    }
  }
  if (w->eng) {
    dw_engine_forget(w->eng, keep_dossier, w);
    dossier_ent *d, *tmp;
    HASH_ITER(hh, w->dossiers, d, tmp) {
      if (!keep_dossier(d->id, w)) {
        HASH_DEL(w->dossiers, d);
        free(d);
      }
    }
    /* forgetting is not a change to save */
    clear_collected(w);
  }
  w->last_rebalance = dw_now_ms();
  LOG("revoked %d partition(s)", l->cnt);
}

static void on_assign(watch *w, rd_kafka_topic_partition_list_t *l) {
  char err[1024];
  int32_t ps[MAX_PARTITIONS];
  size_t n = 0;
  for (int i = 0; i < l->cnt && n < MAX_PARTITIONS; i++) {
    int32_t p = l->elems[i].partition;
    if (p < 0 || p >= MAX_PARTITIONS) {
      LOG("partition %d out of range, ignored", (int)p);
      continue;
    }
    ps[n++] = p;
  }
  /* With the engine in doubt (or PostgreSQL down) the rebuild in the main
   * loop loads everything assigned, with retries; a partial load would
   * leave half the states in memory, so it also goes through the rebuild. */
  if (!w->need_rebuild && w->eng && load_partitions(w, ps, n, err, sizeof err)) {
    LOG("assignment: %s; will rebuild", err);
    w->need_rebuild = true;
  }
  for (size_t i = 0; i < n; i++) w->parts[ps[i]].assigned = true;
  if (w->need_rebuild) {
    /* The rebuild (main loop) loads offsets and seeks; until then start
     * from the beginning, which is filtered by offsets once known. */
    for (size_t i = 0; i < n; i++) w->parts[ps[i]].next = w->parts[ps[i]].stored = w->parts[ps[i]].recv = -1;
  }
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (p >= 0 && p < MAX_PARTITIONS)
      l->elems[i].offset = w->parts[p].next >= 0 ? w->parts[p].next : RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(w->consumer, l);
  if (e) LOG("assign: %s", rd_kafka_err2str(e));
  /* a pause outlives a reassignment in librdkafka: start unpaused */
  rd_kafka_resume_partitions(w->consumer, l);
  for (size_t i = 0; i < n; i++) w->parts[ps[i]].paused = false;
  w->last_rebalance = dw_now_ms();
  LOG("assigned %d partition(s) of %s", l->cnt, w->topic);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l, void *opaque) {
  watch *w = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    on_assign(w, l);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    on_revoke(w, l);
    rd_kafka_assign(rk, NULL);
  } else {
    LOG("rebalance error: %s", rd_kafka_err2str(err));
    on_revoke(w, l);
    rd_kafka_assign(rk, NULL);
  }
}

/* ------------------------------------------------------------------ main -- */

/* The publisher threads read the outbox in PostgreSQL; what they need
 * from here is the clock that decides the current periods. Reader 0 of
 * the aggregates only tells which rows changed, which the outbox knows too
 * (and across restarts), so its marks are just dropped to keep them from
 * accumulating. */
static void publish_clock(watch *w) {
  if (w->watermark_clock && w->watermark != DW_TIME_NONE) dw_publisher_set_now(w->pub, w->watermark);
}

static void publish_housekeeping(watch *w) {
  int64_t now = w->watermark_clock && w->watermark != DW_TIME_NONE ? w->watermark : dw_now_ms();
  if (w->agg) dw_aggregates_drain_changes(w->agg, 0, now, on_delta_ignore, NULL);
}

/* Tombstones of dossiers that left memory (see dw_engine.h) guard against
 * late events; once twice the grace period has passed in wall time they
 * have done their job and their rows go, so dossier_state does not grow
 * with every dossier ever closed. Its own short transaction; a failure is
 * only logged (the next round retries). */
static void purge_tombstones(watch *w) {
  if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) return;
  char sql[512], err[512];
  snprintf(sql, sizeof sql,
           "DELETE FROM dossier_state WHERE NOT open AND octet_length(state) = 18 AND get_byte(state, 0) = 84"
           " AND updated_at < now() - interval '%lld days'",
           2 * (long long)dw_config_get_int(w->cfg, "rules.closed_grace_days"));
  if (dw_pg_exec(w->pg, sql, err, sizeof err)) LOG("purging old tombstones (will retry): %s", err);
}

static void log_stats(watch *w, int64_t now) {
  double secs = (double)(now - w->win_start) / 1000.0;
  if (secs <= 0) secs = 1;
  dw_engine_stats st = {0};
  if (w->eng) dw_engine_stats_get(w->eng, &st);
  size_t assigned = 0;
  for (int p = 0; p < MAX_PARTITIONS; p++) assigned += w->parts[p].assigned;
  LOG("stats: %.1f events/s archived, %llu archived, %llu duplicates, %llu dlq, %llu refused, "
      "%llu open alerts, %llu dossiers, avg batch %.1f, %llu commits, %llu rebuilds, %zu partitions; "
      "ms polling %lld, processing+PostgreSQL %lld, publishing %lld",
      (double)w->win_archived / secs, (unsigned long long)w->archived, (unsigned long long)w->duplicates,
      (unsigned long long)w->dlq_sent, (unsigned long long)w->apply_errors, (unsigned long long)st.open_alerts,
      (unsigned long long)st.dossiers_in_memory, w->win_batches ? (double)w->win_msgs / (double)w->win_batches : 0.0,
      (unsigned long long)w->commits, (unsigned long long)w->rebuilds, assigned, (long long)w->ms_poll,
      (long long)w->ms_process, (long long)(w->pub ? dw_publisher_take_busy_ms(w->pub) : 0));
  w->ms_poll = w->ms_process = 0;
  w->win_archived = w->win_batches = w->win_msgs = 0;
  w->win_start = now;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: dossierwatch watch [OPTIONS]\n"
          "Consumes topic.events (consumer group), applies the rules, archives every\n"
          "event and writes state, alerts, aggregates and offsets to PostgreSQL in one\n"
          "transaction per batch (exactly-once into PostgreSQL); publishes alerts and\n"
          "aggregates to Kafka after each commit (at-least-once). Unreadable messages go\n"
          "to topic.dlq with a dw.error header.\n\n"
          "  --group ID               consumer group (kafka.group.id, default dossierwatch)\n"
          "  --clock wall|watermark   time rules on the wall clock (default) or the\n"
          "                           event-time watermark (deterministic)\n"
          "  --exit-when-idle SECONDS exit 0 after that long with no message (tests)\n" DW_CLI_COMMON_HELP);
}

static void watch_free(watch *w) {
  if (w->eng || w->agg) engine_destroy(w);
  clear_collected(w);
  drop_pool(w);
  free(w->pool);
  free(w->cand);
  free(w->events);
  free(w->is_new);
  free(w->apply_failed);
  free(w->reasons);
  free(w->alerts);
  free(w->states);
  free(w->deltas);
  dw_publisher_stop(w->pub);
  if (w->dlq) dw_dlq_destroy(w->dlq);
  dw_producer_destroy(w->producer);
  if (w->av) dw_avro_destroy(w->av);
  if (w->cal) dw_calendar_destroy(w->cal);
  if (w->pg) PQfinish(w->pg);
}

int dw_cmd_watch(int argc, char **argv) {
  static const struct option opts[] = {
    {"group", required_argument, 0, 'g'},
    {"clock", required_argument, 0, 'c'},
    {"exit-when-idle", required_argument, 0, 'i'},
    DW_CLI_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  dw_config *cfg = dw_cli_config(cli);
  const char *group = NULL, *clock = NULL;
  double idle = 0;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (opt == 'h') {
      usage(stdout);
      dw_cli_destroy(cli);
      return DW_EXIT_OK;
    } else if (opt == 'g') {
      group = optarg;
    } else if (opt == 'c') {
      clock = optarg;
    } else if (opt == 'i') {
      char *end;
      idle = strtod(optarg, &end);
      if (*end || idle <= 0) {
        LOG("--exit-when-idle wants a positive number of seconds, got '%s'", optarg);
        dw_cli_destroy(cli);
        return DW_EXIT_USAGE;
      }
    } else {
      int r = dw_cli_option(cli, opt, optarg);
      if (r <= 0) {
        if (r == 0) usage(stderr);
        dw_cli_destroy(cli);
        return DW_EXIT_USAGE;
      }
    }
  }
  if (optind < argc) {
    LOG("unexpected argument '%s'", argv[optind]);
    usage(stderr);
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  if (dw_cli_finish(cli)) {
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  char err[1024];
  if (group && dw_config_set(cfg, "kafka.group.id", group, err, sizeof err)) {
    LOG("%s", err);
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  if (!dw_config_get(cfg, "kafka.group.id")) dw_config_set(cfg, "kafka.group.id", "dossierwatch", err, sizeof err);
  if (clock && dw_config_set(cfg, "watch.clock", clock, err, sizeof err)) {
    LOG("%s", err);
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  const char *clk = dw_config_get(cfg, "watch.clock");
  if (strcmp(clk, "wall") != 0 && strcmp(clk, "watermark") != 0) {
    LOG("--clock/watch.clock must be wall or watermark, got '%s'", clk);
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  if (!dw_config_get(cfg, "db.conninfo")) {
    LOG("no PostgreSQL: give --db, db.conninfo or DW_DB");
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }

  watch *w = calloc(1, sizeof *w);
  if (!w) {
    dw_cli_destroy(cli);
    return DW_EXIT_FAIL;
  }
  int rc = DW_EXIT_FAIL;
  w->cfg = cfg;
  w->conninfo = dw_config_get(cfg, "db.conninfo");
  snprintf(w->group, sizeof w->group, "%s", dw_config_get(cfg, "kafka.group.id"));
  snprintf(w->topic, sizeof w->topic, "%s", dw_config_get(cfg, "topic.events"));
  w->watermark_clock = strcmp(clk, "watermark") == 0;
  w->exit_when_idle_ms = (int64_t)(idle * 1000);
  w->batch_max = (int)dw_config_get_int(cfg, "watch.batch_max");
  w->batch_ms = (int)dw_config_get_int(cfg, "watch.batch_ms");
  w->publish_interval_ms = (int)dw_config_get_int(cfg, "aggregates.publish_interval_ms");
  w->utc_offset = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  w->watermark = DW_TIME_NONE;
  w->pool_max = (size_t)w->batch_max * 8 > 20000 ? (size_t)w->batch_max * 8 : 20000;
  for (int p = 0; p < MAX_PARTITIONS; p++) w->parts[p] = (part_info){false, -1, -1, -1, DW_TIME_NONE, -1, -1, false};

  const char *caldir = dw_config_get(cfg, "calendar.dir");
  w->cal = dw_calendar_new(caldir ? caldir : dw_calendar_default_dir(), dw_config_get(cfg, "calendar.hours"),
                           w->utc_offset, err, sizeof err);
  if (!w->cal) {
    LOG("calendar: %s", err);
    goto out;
  }
  if (!(w->av = dw_avro_new(err, sizeof err))) {
    LOG("avro: %s", err);
    goto out;
  }
  if (ensure_batch_arrays(w) || engine_create(w, err, sizeof err)) {
    LOG("engine: %s", err);
    goto out;
  }
  if (pg_ensure(w, err, sizeof err)) LOG("%s (will retry)", err);
  const char *const dlq_props[] = {"linger.ms", "5", NULL};
  if (!(w->producer = dw_producer_new(cfg, "watch (dead letters)", dlq_props, err, sizeof err))) {
    LOG("producer: %s", err);
    goto out;
  }
  w->dlq = dw_dlq_new(w->producer, dw_config_get(cfg, "topic.dlq"));
  if (!w->dlq) goto out;
  if (!(w->pub = dw_publisher_start(cfg, w->conninfo, err, sizeof err))) {
    LOG("publisher: %s", err);
    goto out;
  }

  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, err, sizeof err);
  if (!conf) {
    LOG("%s", err);
    goto out;
  }
  /* Offsets are ours (PostgreSQL); eager assignment so that a revoke is a
   * full stop we can commit at. */
  const char *props[][2] = {{"enable.auto.commit", "false"},
                            {"enable.auto.offset.store", "false"},
                            {"auto.offset.reset", "earliest"},
                            {"partition.assignment.strategy", "range"},
                            {"enable.partition.eof", "false"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
      LOG("%s", err);
      rd_kafka_conf_destroy(conf);
      goto out;
    }
  /* A broker holds an empty fetch up to fetch.wait.max.ms (500 ms by
   * default); a shorter wait keeps alert latency low after a quiet spell. */
  if (!dw_config_get(cfg, "kafka.fetch.wait.max.ms") &&
      rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", err, sizeof err) != RD_KAFKA_CONF_OK) {
    LOG("%s", err);
    rd_kafka_conf_destroy(conf);
    goto out;
  }
  /* Smaller per-partition fetches interleave partitions more finely, so
   * the reorder pool holds less while the watermark catches up. */
  if (!dw_config_get(cfg, "kafka.max.partition.fetch.bytes") &&
      rd_kafka_conf_set(conf, "max.partition.fetch.bytes", "262144", err, sizeof err) != RD_KAFKA_CONF_OK) {
    LOG("%s", err);
    rd_kafka_conf_destroy(conf);
    goto out;
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
  rd_kafka_conf_set_opaque(conf, w);
  if (!(w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
    LOG("consumer: %s", err);
    rd_kafka_conf_destroy(conf);
    goto out;
  }
  rd_kafka_poll_set_consumer(w->consumer);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, w->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t se = rd_kafka_subscribe(w->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (se) {
    LOG("subscribe to %s: %s", w->topic, rd_kafka_err2str(se));
    goto out;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  LOG("group %s, topic %s, clock %s, batch %d msgs / %d ms", w->group, w->topic, clk, w->batch_max, w->batch_ms);

  int64_t last_activity = dw_now_ms(), last_publish = dw_now_ms(), last_purge = 0;
  w->win_start = dw_now_ms();
  int fail_streak = 0;
  while (!g_stop) {
    if (w->need_rebuild) {
      if (rebuild(w)) {
        backoff_sleep(fail_streak++);
        continue;
      }
    }
    /* gather: up to batch_max new messages or batch_ms after the first,
     * without overfilling the reorder pool */
    int64_t first_at = 0, t_gather = dw_now_ms();
    bool timers_due = false;
    w->nfresh = 0;
    while (w->nfresh < (size_t)w->batch_max && w->npool < w->pool_max && !g_stop && !w->need_rebuild) {
      int64_t now = dw_now_ms();
      /* Adaptive batching: once a batch has begun, take what librdkafka has
       * already fetched and commit as soon as its queue runs dry, so that
       * under load batches fill up (throughput) and when quiet an event is
       * committed within milliseconds (alert latency); batch_ms bounds the
       * wait when messages trickle in. */
      int64_t timeout = w->nfresh == 0 ? 500 : first_at + w->batch_ms - now;
      if (w->nfresh > 0 && timeout > DRAIN_POLL_MS) timeout = DRAIN_POLL_MS;
      if (!w->watermark_clock && w->eng) {
        int64_t due = dw_engine_next_deadline(w->eng);
        if (due != DW_TIME_NONE) {
          if (due <= now) {
            timers_due = true;
            break;
          }
          if (due - now < timeout) timeout = due - now;
        }
      }
      if (timeout <= 0) break;
      rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, (int)timeout);
      if (!m) break; /* idle, or the fetched messages are drained: process */
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) LOG("consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        continue;
      }
      int32_t p = m->partition;
      if (p < 0 || p >= MAX_PARTITIONS || !w->parts[p].assigned || strcmp(rd_kafka_topic_name(m->rkt), w->topic) != 0 ||
          (w->parts[p].recv >= 0 && m->offset < w->parts[p].recv)) {
        rd_kafka_message_destroy(m); /* already received or committed, or not ours any more */
        continue;
      }
      w->parts[p].recv = m->offset + 1;
      if (w->nfresh == 0) first_at = dw_now_ms();
      w->pool[w->npool++] = (held){m, DW_TIME_NONE, w->seq++, NULL, false, false};
      w->nfresh++;
      last_activity = dw_now_ms();
    }
    if (w->need_rebuild) continue;
    /* with messages waiting for the watermark, look again even with
     * nothing new: a partition reaching its end moves the watermark */
    int64_t t_process = dw_now_ms();
    w->ms_poll += t_process - t_gather;
    if (w->nfresh > 0 || timers_due || w->npool > 0) {
      int rc = process_ready(w);
      w->ms_process += dw_now_ms() - t_process;
      if (rc) {
        w->need_rebuild = true;
        backoff_sleep(fail_streak++);
        continue;
      }
      fail_streak = 0;
    }
    flow_control(w);
    publish_clock(w);
    int64_t now = dw_now_ms();
    if (now - last_publish >= w->publish_interval_ms) {
      publish_housekeeping(w);
      last_publish = now;
    }
    if (now - w->win_start >= STATS_INTERVAL_MS) log_stats(w, now);
    if (now - last_purge >= TOMBSTONE_PURGE_INTERVAL_MS) {
      purge_tombstones(w);
      last_purge = now;
    }
    if (w->exit_when_idle_ms > 0) {
      /* Idle counts from the last message or rebalance; with nothing
       * assigned yet (a group still waiting for a dead member's session to
       * expire) wait at least 30 s for an assignment. */
      int64_t since = last_activity > w->last_rebalance ? last_activity : w->last_rebalance;
      size_t assigned = 0;
      for (int p = 0; p < MAX_PARTITIONS; p++) assigned += w->parts[p].assigned;
      int64_t limit = w->exit_when_idle_ms;
      if (!assigned && limit < 30000) limit = 30000;
      if (w->npool > 0) limit *= 3; /* held back by the watermark: give it time */
      if (now - since >= limit) {
        LOG("idle for %.1f s, exiting", (double)(now - since) / 1000.0);
        break;
      }
    }
  }
  /* clean shutdown: commit what we hold, publish, leave the group */
  if (w->npool > 0 && !w->need_rebuild && process_ready(w)) LOG("last batch not committed; it will be re-consumed");
  publish_clock(w);
  dw_publisher_stop(w->pub); /* a last round of both: everything committed goes out */
  w->pub = NULL;
  rd_kafka_consumer_close(w->consumer);
  log_stats(w, dw_now_ms());
  rc = DW_EXIT_OK;
out:
  if (w->consumer) rd_kafka_destroy(w->consumer);
  w->consumer = NULL;
  watch_free(w);
  free(w);
  dw_cli_destroy(cli);
  return rc;
}
