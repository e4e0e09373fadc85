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
 * deadline so a dossier goes overdue with no event arriving) or watermark
 * (max occurred_at seen, stored with the offsets: deterministic). */
#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <signal.h>
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
  int64_t maxp;   /* max occurred_at of the partition's events (watermark), DW_TIME_NONE */
  int64_t low, high; /* cached Kafka watermark offsets, -1 unknown */
} part_info;

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
  rd_kafka_t *consumer, *producer;
  dw_avro *av;
  dw_calendar *cal;
  dw_engine *eng;
  dw_aggregates *agg;
  dw_dlq *dlq;
  dw_publish *pub;

  dossier_ent *dossiers;
  part_info parts[MAX_PARTITIONS];
  int64_t watermark;
  bool need_rebuild;

  /* the batch */
  rd_kafka_message_t **msgs;
  size_t nmsgs;
  dw_event *events;
  uint8_t *decoded, *is_new, *apply_failed;
  char (*reasons)[256];

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
  uint64_t win_archived, win_batches, win_msgs;
  int64_t win_start;
  bool alerts_to_publish;
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
    size_t cap = w->cap_alerts ? w->cap_alerts * 2 : 256;
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
  for (size_t i = 0; i < w->nstates; i++) free((void *)w->states[i].blob);
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
  dossier_ent *d = dossier_note(w, dossier_id, partition);
  if (d) {
    d->received = open ? 1 : 0;
    d->closed = open ? 0 : 1;
  }
  return 0;
}

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
      pi->next = pi->stored = next[i];
      pi->maxp = wm[i];
      pi->low = pi->high = -1;
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

/* The event-time clock (--clock watermark): the minimum, over the assigned
 * partitions that still have messages to consume, of the latest occurred_at
 * seen in each; when every partition is caught up, the latest of all. Since
 * producers write each partition in event-time order, no event then arrives
 * behind the clock, so alerts never need withdrawing and the result does
 * not depend on how partitions interleave, on batch boundaries, on restarts
 * or on how many processes share the group. DW_TIME_NONE: cannot move yet
 * (a partition with messages pending has not delivered any). */
static bool part_pending(const part_info *pi, int64_t pos) {
  if (pi->high < 0) return true; /* not fetched yet: assume there is more */
  if (pos >= 0) return pos < pi->high;
  return pi->high > (pi->low >= 0 ? pi->low : 0);
}

static int64_t watermark_now(const watch *w, const int64_t *pos) {
  int64_t lo = DW_TIME_NONE, hi = DW_TIME_NONE;
  bool any_pending = false;
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    const part_info *pi = &w->parts[p];
    if (!pi->assigned) continue;
    if (pi->maxp != DW_TIME_NONE && (hi == DW_TIME_NONE || pi->maxp > hi)) hi = pi->maxp;
    if (!part_pending(pi, pos ? pos[p] : pi->next)) continue;
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

/* Moves the engine clock to the watermark if it went forward. */
static void advance_watermark(watch *w, const int64_t *pos) {
  int64_t c = watermark_now(w, pos);
  if (c != DW_TIME_NONE && (w->watermark == DW_TIME_NONE || c > w->watermark)) {
    w->watermark = c;
    dw_engine_advance(w->eng, c);
  }
}

/* -------------------------------------------------------------- the batch -- */

static void drop_batch(watch *w) {
  for (size_t i = 0; i < w->nmsgs; i++) rd_kafka_message_destroy(w->msgs[i]);
  w->nmsgs = 0;
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
    size_t cap = w->cap_states ? w->cap_states * 2 : 1024;
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
  w->states[w->nstates++] = (dw_pg_state_row){d->id, d->partition, copy, len, d->received && !d->closed};
}

static void on_delta(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  (void)row;
  watch *w = opaque;
  if (delta->period_kind == DW_PERIOD_ROLLING30) return;
  if (w->ndeltas == w->cap_deltas) {
    size_t cap = w->cap_deltas ? w->cap_deltas * 2 : 1024;
    delta_row *p = realloc(w->deltas, cap * sizeof *p);
    if (!p) abort();
    w->deltas = p;
    w->cap_deltas = cap;
  }
  delta_row *d = &w->deltas[w->ndeltas++];
  d->row = *delta;
  snprintf(d->unit, sizeof d->unit, "%s", delta->unit ? delta->unit : row->unit);
  d->row.unit = d->unit;
}

static void on_delta_ignore(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  (void)row;
  (void)delta;
  (void)opaque;
}

static int ensure_batch_arrays(watch *w) {
  if (w->msgs) return 0;
  size_t n = (size_t)w->batch_max;
  w->msgs = calloc(n, sizeof *w->msgs);
  w->events = calloc(n, sizeof *w->events);
  w->decoded = calloc(n, 1);
  w->is_new = calloc(n, 1);
  w->apply_failed = calloc(n, 1);
  w->reasons = calloc(n, sizeof *w->reasons);
  return (w->msgs && w->events && w->decoded && w->is_new && w->apply_failed && w->reasons) ? 0 : -1;
}

/* Runs the batch (possibly empty: timers only) through DLQ, engine and one
 * PostgreSQL transaction. 0 on success (messages consumed), -1 on failure:
 * the caller rebuilds from PostgreSQL and re-consumes. */
static int process_batch(watch *w) {
  char err[1024];
  size_t n = w->nmsgs;

  /* 1. decode; unreadable messages to the DLQ, confirmed before anything
   *    commits past them */
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    rd_kafka_message_t *m = w->msgs[i];
    w->decoded[i] = 0;
    w->is_new[i] = 0;
    w->apply_failed[i] = 0;
    w->reasons[i][0] = '\0';
    if (dw_avro_decode_event(w->av, m->payload, m->len, &w->events[i], w->reasons[i], sizeof w->reasons[i]) == 0 &&
        dw_event_validate(&w->events[i], w->reasons[i], sizeof w->reasons[i]) == 0) {
      w->decoded[i] = 1;
      continue;
    }
    if (!w->reasons[i][0]) snprintf(w->reasons[i], sizeof w->reasons[i], "unreadable event");
    bad++;
    if (dw_dlq_send(w->dlq, w->topic, m->partition, m->offset, m->key, m->key_len, m->payload, m->len, w->reasons[i],
                    err, sizeof err)) {
      LOG("DLQ: %s", err);
      return -1;
    }
  }
  if (bad && dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, sizeof err)) {
    LOG("DLQ not confirmed, batch will be retried: %s", err);
    return -1;
  }

  if (!w->eng) return -1;
  bool with_tx = n > 0;
  if (with_tx) {
    if (pg_ensure(w, err, sizeof err)) goto pg_fail_notx;
    if (dw_pg_sink_begin(w->pg, err, sizeof err)) goto pg_fail;
    for (size_t i = 0; i < n; i++)
      if (!w->decoded[i]) {
        rd_kafka_message_t *m = w->msgs[i];
        if (dw_pg_sink_reject(w->pg, w->topic, m->partition, m->offset, "decode", w->reasons[i], m->key, m->key_len,
                              err, sizeof err))
          goto pg_fail;
      }
    /* 2. dedupe: only ids PostgreSQL has never seen go on */
    const char **ids = malloc((n ? n : 1) * sizeof *ids);
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    uint8_t *fresh = malloc(n ? n : 1);
    size_t k = 0;
    if (!ids || !idx || !fresh) {
      free(ids);
      free(idx);
      free(fresh);
      snprintf(err, sizeof err, "out of memory");
      goto pg_fail;
    }
    for (size_t i = 0; i < n; i++)
      if (w->decoded[i]) {
        ids[k] = w->events[i].event_id;
        idx[k++] = i;
      }
    int rc = dw_pg_sink_dedupe(w->pg, ids, k, fresh, err, sizeof err);
    for (size_t j = 0; j < k && rc == 0; j++) w->is_new[idx[j]] = fresh[j];
    free(ids);
    free(idx);
    free(fresh);
    if (rc) goto pg_fail;

    /* 3. archive rows of the new events */
    dw_pg_archive_row *rows = malloc((n ? n : 1) * sizeof *rows);
    char **jsons = calloc(n ? n : 1, sizeof *jsons);
    size_t nr = 0;
    if (!rows || !jsons) {
      free(rows);
      free(jsons);
      snprintf(err, sizeof err, "out of memory");
      goto pg_fail;
    }
    for (size_t i = 0; i < n; i++) {
      if (!w->is_new[i]) continue;
      rd_kafka_message_t *m = w->msgs[i];
      jsons[i] = dw_event_to_json(&w->events[i], w->utc_offset);
      rows[nr++] = (dw_pg_archive_row){&w->events[i], jsons[i] ? jsons[i] : "{}", m->payload, m->len,
                                       m->partition, m->offset};
    }
    rc = dw_pg_sink_archive(w->pg, rows, nr, err, sizeof err);
    for (size_t i = 0; i < n; i++) free(jsons[i]);
    free(jsons);
    free(rows);
    if (rc) goto pg_fail;
  }

  /* 4. the engine: clock first, then the new events. maxp/pos are
   *    tentative until the commit (a failed batch rebuilds them). */
  int64_t pos[MAX_PARTITIONS];
  for (int p = 0; p < MAX_PARTITIONS; p++) pos[p] = w->parts[p].next;
  if (w->watermark_clock) {
    refresh_kafka_watermarks(w);
    advance_watermark(w, pos);
  } else {
    dw_engine_advance(w->eng, dw_now_ms());
  }
  size_t applied = 0, dups = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t part = w->msgs[i]->partition;
    /* the clock moves while this message is still pending in its
     * partition, so it stays at or before the message's own time */
    if (w->watermark_clock && w->decoded[i] && w->is_new[i]) advance_watermark(w, pos);
    if (w->decoded[i]) {
      part_info *pi = &w->parts[part];
      if (pi->maxp == DW_TIME_NONE || w->events[i].occurred_at > pi->maxp) pi->maxp = w->events[i].occurred_at;
    }
    pos[part] = w->msgs[i]->offset + 1;
    if (!w->decoded[i]) continue;
    if (!w->is_new[i]) {
      dups++;
      continue;
    }
    dw_event *ev = &w->events[i];
    dossier_ent *d = dossier_note(w, ev->dossier_id, w->msgs[i]->partition);
    if (d) {
      if (ev->type == DW_EV_RECEIVED) d->received = 1;
      if (ev->type == DW_EV_RESULT_ISSUED || ev->type == DW_EV_REJECTED || ev->type == DW_EV_WITHDRAWN)
        d->closed = 1;
    }
    dw_apply_status st = dw_engine_apply(w->eng, ev, w->reasons[i], sizeof w->reasons[i]);
    if (st == DW_APPLY_OK) {
      applied++;
    } else if (st == DW_APPLY_DUPLICATE) {
      dups++;
    } else {
      w->apply_failed[i] = 1;
      if (!w->reasons[i][0]) snprintf(w->reasons[i], sizeof w->reasons[i], "event not applicable");
    }
  }

  if (w->watermark_clock) advance_watermark(w, pos);

  /* 5. what the engine changed */
  dw_engine_drain_dirty(w->eng, on_dirty, w);
  dw_aggregates_drain_changes(w->agg, 1, dw_engine_now(w->eng), on_delta, w);
  if (!with_tx && w->nalerts == 0 && w->nstates == 0 && w->ndeltas == 0) return 0; /* timers fired nothing */
  if (!with_tx) {
    if (pg_ensure(w, err, sizeof err)) goto pg_fail_notx;
    if (dw_pg_sink_begin(w->pg, err, sizeof err)) goto pg_fail;
  }
  for (size_t i = 0; i < n; i++)
    if (w->apply_failed[i]) {
      rd_kafka_message_t *m = w->msgs[i];
      if (dw_pg_sink_reject(w->pg, w->topic, m->partition, m->offset, "apply", w->reasons[i], m->key, m->key_len, err,
                            sizeof err))
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
    for (size_t i = 0; i < w->ndeltas; i++) rows[i] = w->deltas[i].row;
    int rc = dw_pg_sink_aggregates(w->pg, rows, w->ndeltas, err, sizeof err);
    free(rows);
    if (rc) goto pg_fail;
  }

  /* 6. offsets (fenced) of every assigned partition: the batch's ones move,
   *    the others only prove we still own them and carry the watermark */
  int64_t new_next[MAX_PARTITIONS];
  for (int p = 0; p < MAX_PARTITIONS; p++) new_next[p] = w->parts[p].next;
  for (size_t i = 0; i < n; i++) {
    int32_t p = w->msgs[i]->partition;
    if (w->msgs[i]->offset + 1 > new_next[p]) new_next[p] = w->msgs[i]->offset + 1;
  }
  for (int p = 0; p < MAX_PARTITIONS; p++) {
    if (!w->parts[p].assigned || new_next[p] < 0) continue;
    int rc = dw_pg_sink_offset(w->pg, w->group, w->topic, p, w->parts[p].stored, new_next[p], w->parts[p].maxp, err,
                               sizeof err);
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
  w->dlq_sent += bad;
  if (n) {
    w->batches++;
    w->batch_msgs += n;
    w->win_batches++;
    w->win_msgs += n;
  }
  if (w->nalerts) w->alerts_to_publish = true;
  /* events the engine refused: recorded in dlq_messages above; now to the
   * DLQ topic too (after the commit: at-least-once, like the other outputs) */
  size_t refused = 0;
  for (size_t i = 0; i < n; i++)
    if (w->apply_failed[i]) {
      rd_kafka_message_t *m = w->msgs[i];
      refused++;
      if (dw_dlq_send(w->dlq, w->topic, m->partition, m->offset, m->key, m->key_len, m->payload, m->len,
                      w->reasons[i], err, sizeof err))
        LOG("DLQ: %s", err);
    }
  if (refused) {
    w->apply_errors += refused;
    if (dw_dlq_flush(w->dlq, DLQ_TIMEOUT_MS, err, sizeof err)) LOG("DLQ (refused events): %s", err);
  }
  clear_collected(w);
  drop_batch(w);
  return 0;

pg_fail:
  dw_pg_sink_rollback(w->pg);
pg_fail_notx:
  LOG("PostgreSQL: %s; rolled back, rebuilding from PostgreSQL", err);
  return -1;
}

/* Engine and offsets back to what PostgreSQL holds; seek there. */
static int rebuild(watch *w) {
  char err[1024];
  drop_batch(w);
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
  if (!w->need_rebuild && w->eng && process_batch(w)) w->need_rebuild = true;
  drop_batch(w);
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (p >= 0 && p < MAX_PARTITIONS && strcmp(l->elems[i].topic, w->topic) == 0) w->parts[p].assigned = false;
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
    for (size_t i = 0; i < n; i++) w->parts[ps[i]].next = w->parts[ps[i]].stored = -1;
  }
  for (int i = 0; i < l->cnt; i++) {
    int32_t p = l->elems[i].partition;
    if (p >= 0 && p < MAX_PARTITIONS)
      l->elems[i].offset = w->parts[p].next >= 0 ? w->parts[p].next : RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(w->consumer, l);
  if (e) LOG("assign: %s", rd_kafka_err2str(e));
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

static void publish_outputs(watch *w, bool aggregates) {
  char err[1024];
  if (!w->pg || PQstatus(w->pg) != CONNECTION_OK) return;
  if (w->alerts_to_publish) {
    if (dw_publish_alerts(w->pub, w->pg, err, sizeof err) < 0)
      LOG("publish alerts (will retry): %s", err);
    else
      w->alerts_to_publish = false;
  }
  if (aggregates && w->agg) {
    int64_t now = w->watermark_clock && w->watermark != DW_TIME_NONE ? w->watermark : dw_now_ms();
    /* Reader 0 only tells which rows changed; the outbox in PostgreSQL
     * knows that too and survives restarts, so its marks are just dropped
     * here to keep them from accumulating. */
    dw_aggregates_drain_changes(w->agg, 0, now, on_delta_ignore, NULL);
    if (dw_publish_aggregates(w->pub, w->pg, w->agg, now, err, sizeof err) < 0)
      LOG("publish aggregates (will retry): %s", err);
  }
}

static void log_stats(watch *w, int64_t now) {
  double secs = (double)(now - w->win_start) / 1000.0;
  if (secs <= 0) secs = 1;
  dw_engine_stats st = {0};
  if (w->eng) dw_engine_stats_get(w->eng, &st);
  size_t assigned = 0;
  for (int p = 0; p < MAX_PARTITIONS; p++) assigned += w->parts[p].assigned;
  LOG("stats: %.1f events/s archived, %llu archived, %llu duplicates, %llu dlq, %llu refused, "
      "%llu open alerts, %llu dossiers, avg batch %.1f, %llu commits, %llu rebuilds, %zu partitions",
      (double)w->win_archived / secs, (unsigned long long)w->archived, (unsigned long long)w->duplicates,
      (unsigned long long)w->dlq_sent, (unsigned long long)w->apply_errors, (unsigned long long)st.open_alerts,
      (unsigned long long)st.dossiers_in_memory, w->win_batches ? (double)w->win_msgs / (double)w->win_batches : 0.0,
      (unsigned long long)w->commits, (unsigned long long)w->rebuilds, assigned);
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
  drop_batch(w);
  free(w->msgs);
  free(w->events);
  free(w->decoded);
  free(w->is_new);
  free(w->apply_failed);
  free(w->reasons);
  free(w->alerts);
  free(w->states);
  free(w->deltas);
  if (w->pub) dw_publish_destroy(w->pub);
  if (w->dlq) dw_dlq_destroy(w->dlq);
  if (w->producer) {
    rd_kafka_flush(w->producer, 10000);
    rd_kafka_destroy(w->producer);
  }
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
  for (int p = 0; p < MAX_PARTITIONS; p++) w->parts[p] = (part_info){false, -1, -1, DW_TIME_NONE, -1, -1};

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
  if (!(w->producer = dw_publish_producer_new(cfg, err, sizeof err))) {
    LOG("producer: %s", err);
    goto out;
  }
  w->dlq = dw_dlq_new(w->producer, dw_config_get(cfg, "topic.dlq"));
  w->pub = dw_publish_new(w->producer, w->av, cfg);
  if (!w->dlq || !w->pub) goto out;

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

  int64_t last_activity = dw_now_ms(), last_publish = dw_now_ms();
  w->win_start = dw_now_ms();
  int fail_streak = 0;
  while (!g_stop) {
    if (w->need_rebuild) {
      if (rebuild(w)) {
        backoff_sleep(fail_streak++);
        continue;
      }
    }
    /* gather a batch: up to batch_max messages or batch_ms after the first */
    int64_t first_at = 0;
    bool timers_due = false;
    while (w->nmsgs < (size_t)w->batch_max && !g_stop && !w->need_rebuild) {
      int64_t now = dw_now_ms();
      int64_t timeout = w->nmsgs == 0 ? 500 : first_at + w->batch_ms - now;
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
      if (!m) {
        if (w->nmsgs == 0) break; /* idle: go do the periodic work */
        continue;
      }
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) LOG("consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        continue;
      }
      int32_t p = m->partition;
      if (p < 0 || p >= MAX_PARTITIONS || !w->parts[p].assigned || strcmp(rd_kafka_topic_name(m->rkt), w->topic) != 0 ||
          (w->parts[p].next >= 0 && m->offset < w->parts[p].next)) {
        rd_kafka_message_destroy(m); /* already committed, or not ours any more */
        continue;
      }
      if (w->nmsgs == 0) first_at = dw_now_ms();
      w->msgs[w->nmsgs++] = m;
      last_activity = dw_now_ms();
    }
    if (w->need_rebuild) continue;
    if (w->nmsgs > 0 || timers_due) {
      if (process_batch(w)) {
        w->need_rebuild = true;
        backoff_sleep(fail_streak++);
        continue;
      }
      fail_streak = 0;
    }
    int64_t now = dw_now_ms();
    bool agg_due = now - last_publish >= w->publish_interval_ms;
    if (w->alerts_to_publish || agg_due) publish_outputs(w, agg_due);
    if (agg_due) last_publish = now;
    if (now - w->win_start >= STATS_INTERVAL_MS) log_stats(w, now);
    if (w->exit_when_idle_ms > 0 && w->nmsgs == 0) {
      /* Idle counts from the last message or rebalance; with nothing
       * assigned yet (a group still waiting for a dead member's session to
       * expire) wait at least 30 s for an assignment. */
      int64_t since = last_activity > w->last_rebalance ? last_activity : w->last_rebalance;
      size_t assigned = 0;
      for (int p = 0; p < MAX_PARTITIONS; p++) assigned += w->parts[p].assigned;
      int64_t limit = w->exit_when_idle_ms;
      if (!assigned && limit < 30000) limit = 30000;
      if (now - since >= limit) {
        LOG("idle for %.1f s, exiting", (double)(now - since) / 1000.0);
        break;
      }
    }
  }
  /* clean shutdown: commit what we hold, publish, leave the group */
  if (w->nmsgs > 0 && !w->need_rebuild && process_batch(w)) LOG("last batch not committed; it will be re-consumed");
  publish_outputs(w, true);
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
