/* dw_replay_jobs: the jobs of a replay (see dw_replay_jobs.h). The caller's
 * thread fills one batch per job and hands full batches over through a
 * short queue per job; each job gives its batches back once applied, so the
 * batches in flight (and the memory) stay bounded and a slow job slows the
 * reader down instead of piling up events. What a job collects for the
 * output stays bounded too: its alerts are compact records
 * (dw_replay_alerts), and past replay.alerts_in_memory of them it moves
 * those that can no longer change, and the dossiers that left memory, to
 * unlinked temp files (its spill), read back when the output is written. */
#include "dw_replay_jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec.h"
#include "dw_engine.h"
#include "dw_hash.h"
#include "dw_log.h"
#include "dw_replay_alerts.h"
#include "dw_runs.h"
#include "dw_time.h"

#define BATCH_EVENTS 2048
#define BATCHES_PER_JOB 4 /* in the queue, being applied, being filled */

typedef struct rec {
  uint32_t off, len; /* the event's bytes in the arena */
  uint32_t doff;     /* its dossier_id, NUL-terminated, in the arena */
  int32_t partition;
  uint8_t is_json;
} rec;

typedef struct batch {
  rec *v;
  size_t n;
  char *arena;
  size_t alen, acap;
} batch;

typedef struct job {
  struct dw_jobs *owner;
  int index;
  pthread_t thread;
  bool started;
  dw_driver *drv;
  dw_avro *av;
  /* the queue (full batches) and the free batches */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  batch *queue[BATCHES_PER_JOB], *free[BATCHES_PER_JOB];
  size_t qhead, qn, nfree;
  bool end, done, go; /* no more batches; all applied; as_of given */
  int64_t as_of;
  batch *filling; /* the reader's */
  /* the alerts (the driver's sink), and the spill: settled alerts and
   * dossiers that left memory, moved out once spill_at alerts are held */
  dw_ralerts *alerts;
  dw_runs *gone; /* dossier_id -> tag (int32), one sorted run per spill */
  size_t spill_at;
  char spill_err[256]; /* the first failure (the output then fails) */
  /* results (read after done) */
  uint64_t events, undecodable, filtered;
  int64_t watermark;
  dw_event ev;
} job;

struct dw_jobs {
  job *v;
  int n;
  size_t spill_min; /* replay.alerts_in_memory */
  const dw_replay_filter *filter;
  int max_reported;
  atomic_int reported_undecodable, reported_errors;
  uint64_t added;
};

static void batch_free(batch *b) {
  if (!b) return;
  free(b->v);
  free(b->arena);
  free(b);
}

static batch *batch_new(void) {
  batch *b = calloc(1, sizeof *b);
  if (!b || !(b->v = malloc(BATCH_EVENTS * sizeof *b->v))) {
    batch_free(b);
    return NULL;
  }
  return b;
}

/* Decodes and applies one batch. */
static void apply_batch(job *jb, batch *b) {
  dw_jobs *js = jb->owner;
  char why[512];
  for (size_t i = 0; i < b->n; i++) {
    const size_t ahead = i + DW_ENGINE_PREFETCH_AHEAD;
    if (ahead < b->n) dw_driver_prefetch(jb->drv, b->arena + b->v[ahead].doff);
    const rec *r = &b->v[i];
    const char *bytes = b->arena + r->off;
    int bad = r->is_json ? dw_event_from_json(bytes, r->len, &jb->ev, why, sizeof why)
                         : dw_avro_decode_event(jb->av, bytes, r->len, &jb->ev, why, sizeof why);
    if (bad) {
      jb->undecodable++;
      if (atomic_fetch_add(&js->reported_undecodable, 1) < js->max_reported)
        DW_LOG_WARNING("archived event of dossier '%s' cannot be decoded: %s (not applied)", b->arena + r->doff, why);
      continue;
    }
    if (js->filter && !dw_replay_filter_match(js->filter, &jb->ev)) {
      jb->filtered++;
      continue;
    }
    dw_apply_status st = dw_driver_apply(jb->drv, &jb->ev, r->partition, why, sizeof why);
    if (jb->watermark == DW_TIME_NONE || jb->ev.occurred_at > jb->watermark) jb->watermark = jb->ev.occurred_at;
    jb->events++;
    if (st == DW_APPLY_ERROR && atomic_fetch_add(&js->reported_errors, 1) < js->max_reported)
      DW_LOG_ERR("event '%s' not applied: %s", jb->ev.event_id, why);
  }
}

/* ---- the spill ---- */

/* A dossier that left memory: its id and tag to the spill. One that came
 * back and left again since an earlier spill goes again (the same row: the
 * output keeps one row per dossier, see dw_jobs_each_gone). */
static void spill_gone(const char *dossier_id, int32_t tag, void *opaque) {
  job *jb = opaque;
  if (jb->spill_err[0]) return;
  dw_runs_put(jb->gone, dossier_id, strlen(dossier_id), &tag, sizeof tag, jb->spill_err, sizeof jb->spill_err);
}

/* The driver's alert sink: every change kept as its alert's latest version. */
static void on_alert_change(const dw_alert *a, dw_alert_change change, void *opaque) {
  (void)change;
  job *jb = opaque;
  if (dw_ralerts_put(jb->alerts, a)) abort(); /* losing an alert change silently would be worse */
}

/* A dossier that left memory changes no alert (see dw_replay_alerts.h). */
static int alert_settled(const char *dossier_id, void *opaque) {
  const job *jb = opaque;
  return !dw_engine_holds(dw_driver_engine(jb->drv), dossier_id);
}

/* After a batch: the settled part out once spill_at alerts are held; the
 * next time at twice what stayed (each alert is looked at a bounded number
 * of times on average), at least replay.alerts_in_memory. */
static void spill_maybe(job *jb) {
  if (dw_ralerts_held(jb->alerts) < jb->spill_at || jb->spill_err[0]) return;
  dw_driver_drain_gone(jb->drv, spill_gone, jb);
  if (!jb->spill_err[0]) dw_runs_flush(jb->gone, jb->spill_err, sizeof jb->spill_err);
  if (!jb->spill_err[0]) dw_ralerts_spill(jb->alerts, alert_settled, jb, jb->spill_err, sizeof jb->spill_err);
  const size_t n = dw_ralerts_held(jb->alerts);
  jb->spill_at = 2 * n > jb->owner->spill_min ? 2 * n : jb->owner->spill_min;
}

static int spill_failed(const job *jb, char *err, size_t n) {
  if (!jb->spill_err[0]) return 0;
  snprintf(err, n, "job %d: %s", jb->index, jb->spill_err);
  return -1;
}

int dw_jobs_each_alert(dw_jobs *js, void (*fn)(const dw_alert *a, void *opaque), void *opaque, char *err, size_t n) {
  dw_ralerts *v[js->n > 0 ? js->n : 1];
  for (int i = 0; i < js->n; i++) {
    if (spill_failed(&js->v[i], err, n)) return -1;
    v[i] = js->v[i].alerts;
  }
  return dw_ralerts_each(v, js->n, fn, opaque, err, n);
}

typedef struct gone_ctx {
  void (*fn)(const char *dossier_id, int32_t tag, void *opaque);
  void *opaque;
} gone_ctx;

static void gone_rec(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  const gone_ctx *c = opaque;
  char id[DW_ID_MAX + 1];
  int32_t tag;
  if (klen >= sizeof id || vlen != sizeof tag) return; /* put by spill_gone: cannot happen */
  memcpy(id, key, klen);
  id[klen] = '\0';
  memcpy(&tag, val, sizeof tag);
  c->fn(id, tag, c->opaque);
}

int dw_jobs_each_gone(dw_jobs *js, int i, void (*fn)(const char *dossier_id, int32_t tag, void *opaque), void *opaque,
                      char *err, size_t n) {
  job *jb = &js->v[i];
  if (spill_failed(jb, err, n)) return -1;
  gone_ctx c = {fn, opaque};
  if (dw_runs_each(&jb->gone, 1, gone_rec, &c, err, n) == 0) return 0;
  char why[512];
  snprintf(why, sizeof why, "%s", err);
  snprintf(err, n, "job %d: %s", i, why);
  return -1;
}

void dw_jobs_spill_stats(const dw_jobs *js, uint64_t *alerts, uint64_t *gone) {
  *alerts = *gone = 0;
  for (int i = 0; i < js->n; i++) *alerts += dw_ralerts_spilled(js->v[i].alerts), *gone += dw_runs_count(js->v[i].gone);
}

/* ---- the jobs ---- */

static void *job_main(void *arg) {
  job *jb = arg;
  for (;;) {
    pthread_mutex_lock(&jb->mu);
    while (jb->qn == 0 && !jb->end) pthread_cond_wait(&jb->cv, &jb->mu);
    if (jb->qn == 0) { /* end, all applied */
      jb->done = true;
      pthread_cond_broadcast(&jb->cv);
      while (!jb->go) pthread_cond_wait(&jb->cv, &jb->mu);
      pthread_mutex_unlock(&jb->mu);
      break;
    }
    batch *b = jb->queue[jb->qhead];
    jb->qhead = (jb->qhead + 1) % BATCHES_PER_JOB;
    jb->qn--;
    pthread_mutex_unlock(&jb->mu);
    apply_batch(jb, b);
    spill_maybe(jb);
    b->n = b->alen = 0;
    pthread_mutex_lock(&jb->mu);
    jb->free[jb->nfree++] = b;
    pthread_cond_broadcast(&jb->cv);
    pthread_mutex_unlock(&jb->mu);
  }
  /* timers up to as_of, in parallel with the other jobs */
  dw_driver_advance(jb->drv, jb->as_of);
  return NULL;
}

dw_jobs *dw_jobs_new(const dw_config *cfg, const dw_calendar *cal, int njobs, const dw_replay_filter *filter,
                     int max_reported, char *err, size_t n) {
  if (njobs < 1) njobs = 1;
  dw_jobs *js = calloc(1, sizeof *js);
  if (!js || !(js->v = calloc((size_t)njobs, sizeof *js->v))) {
    free(js);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  js->n = njobs;
  js->filter = filter && (filter->n_communes || filter->from != DW_TIME_NONE || filter->to != DW_TIME_NONE) ? filter : NULL;
  js->max_reported = max_reported;
  js->spill_min = (size_t)dw_config_get_int(cfg, "replay.alerts_in_memory");
  for (int i = 0; i < njobs; i++) {
    job *jb = &js->v[i];
    jb->owner = js;
    jb->index = i;
    jb->watermark = DW_TIME_NONE;
    jb->spill_at = js->spill_min;
    pthread_mutex_init(&jb->mu, NULL);
    pthread_cond_init(&jb->cv, NULL);
  }
  for (int i = 0; i < njobs; i++) {
    job *jb = &js->v[i];
    if (!(jb->drv = dw_driver_new(cfg, cal, DW_CLOCK_EVENT, err, n)) || !(jb->av = dw_avro_new(err, n))) goto fail;
    if (!(jb->alerts = dw_ralerts_new()) || !(jb->gone = dw_runs_new("replay-dossiers", 1u << 20))) goto oom;
    dw_driver_set_alert_sink(jb->drv, on_alert_change, jb);
    for (int k = 0; k < BATCHES_PER_JOB; k++)
      if (!(jb->free[jb->nfree++] = batch_new())) goto oom;
    if (pthread_create(&jb->thread, NULL, job_main, jb)) {
      snprintf(err, n, "cannot start job thread %d", i);
      goto fail;
    }
    jb->started = true;
  }
  return js;
oom:
  snprintf(err, n, "out of memory");
fail:
  dw_jobs_destroy(js);
  return NULL;
}

/* Hands the job's filling batch over (waits while its queue is full). */
static void submit(job *jb) {
  batch *b = jb->filling;
  jb->filling = NULL;
  if (!b) return;
  if (b->n == 0) { /* nothing in it: back to the free list */
    pthread_mutex_lock(&jb->mu);
    jb->free[jb->nfree++] = b;
    pthread_mutex_unlock(&jb->mu);
    return;
  }
  pthread_mutex_lock(&jb->mu);
  jb->queue[(jb->qhead + jb->qn) % BATCHES_PER_JOB] = b;
  jb->qn++;
  pthread_cond_broadcast(&jb->cv);
  pthread_mutex_unlock(&jb->mu);
}

static batch *take_free(job *jb) {
  pthread_mutex_lock(&jb->mu);
  while (jb->nfree == 0) pthread_cond_wait(&jb->cv, &jb->mu);
  batch *b = jb->free[--jb->nfree];
  pthread_mutex_unlock(&jb->mu);
  return b;
}

int dw_jobs_add(dw_jobs *js, const void *bytes, size_t len, int is_json, int32_t partition, const char *dossier_id,
                size_t dossier_id_len) {
  /* high bits: the engine's own table uses the low bits of the same hash */
  int k = js->n == 1 ? 0 : (int)((dw_hash_fast(dossier_id, dossier_id_len) >> 40) % (uint64_t)js->n);
  job *jb = &js->v[k];
  if (!jb->filling) jb->filling = take_free(jb);
  batch *b = jb->filling;
  size_t need = b->alen + len + dossier_id_len + 1;
  if (need > b->acap) {
    size_t cap = b->acap ? b->acap : 1 << 18;
    while (cap < need) cap *= 2;
    char *a = realloc(b->arena, cap);
    if (!a) return -1;
    b->arena = a;
    b->acap = cap;
  }
  rec *r = &b->v[b->n++];
  r->off = (uint32_t)b->alen;
  r->len = (uint32_t)len;
  memcpy(b->arena + b->alen, bytes, len);
  b->alen += len;
  r->doff = (uint32_t)b->alen;
  memcpy(b->arena + b->alen, dossier_id, dossier_id_len);
  b->arena[b->alen + dossier_id_len] = '\0';
  b->alen += dossier_id_len + 1;
  r->partition = partition;
  r->is_json = (uint8_t)(is_json != 0);
  js->added++;
  if (b->n == BATCH_EVENTS) submit(jb);
  return 0;
}

void dw_jobs_finish(dw_jobs *js, int64_t as_of, int64_t *as_of_out) {
  for (int i = 0; i < js->n; i++) {
    job *jb = &js->v[i];
    submit(jb);
    pthread_mutex_lock(&jb->mu);
    jb->end = true;
    pthread_cond_broadcast(&jb->cv);
    pthread_mutex_unlock(&jb->mu);
  }
  int64_t wm = DW_TIME_NONE;
  for (int i = 0; i < js->n; i++) {
    job *jb = &js->v[i];
    pthread_mutex_lock(&jb->mu);
    while (!jb->done) pthread_cond_wait(&jb->cv, &jb->mu);
    pthread_mutex_unlock(&jb->mu);
    if (jb->watermark != DW_TIME_NONE && (wm == DW_TIME_NONE || jb->watermark > wm)) wm = jb->watermark;
  }
  if (as_of == DW_TIME_NONE) as_of = wm;
  for (int i = 0; i < js->n; i++) {
    job *jb = &js->v[i];
    pthread_mutex_lock(&jb->mu);
    jb->as_of = as_of;
    jb->go = true;
    pthread_cond_broadcast(&jb->cv);
    pthread_mutex_unlock(&jb->mu);
  }
  for (int i = 0; i < js->n; i++) {
    pthread_join(js->v[i].thread, NULL);
    js->v[i].started = false;
  }
  if (as_of_out) *as_of_out = as_of;
}

int dw_jobs_count(const dw_jobs *js) { return js->n; }
dw_driver *dw_jobs_driver(dw_jobs *js, int i) { return js->v[i].drv; }
uint64_t dw_jobs_added(const dw_jobs *js) { return js->added; }

void dw_jobs_stats_get(const dw_jobs *js, dw_jobs_stats *out) {
  memset(out, 0, sizeof *out);
  out->watermark = DW_TIME_NONE;
  for (int i = 0; i < js->n; i++) {
    const job *jb = &js->v[i];
    out->events += jb->events;
    out->undecodable += jb->undecodable;
    out->filtered += jb->filtered;
    if (jb->watermark != DW_TIME_NONE && (out->watermark == DW_TIME_NONE || jb->watermark > out->watermark))
      out->watermark = jb->watermark;
  }
}

void dw_jobs_destroy(dw_jobs *js) {
  if (!js) return;
  for (int i = 0; i < js->n; i++) {
    job *jb = &js->v[i];
    if (jb->started) { /* not finished: stop the thread first */
      pthread_mutex_lock(&jb->mu);
      jb->end = jb->go = true;
      jb->as_of = DW_TIME_NONE;
      pthread_cond_broadcast(&jb->cv);
      pthread_mutex_unlock(&jb->mu);
      pthread_join(jb->thread, NULL);
    }
    batch_free(jb->filling);
    for (size_t k = 0; k < jb->qn; k++) batch_free(jb->queue[(jb->qhead + k) % BATCHES_PER_JOB]);
    for (size_t k = 0; k < jb->nfree; k++) batch_free(jb->free[k]);
    dw_driver_destroy(jb->drv);
    dw_ralerts_destroy(jb->alerts);
    dw_runs_destroy(jb->gone);
    if (jb->av) dw_avro_destroy(jb->av);
    pthread_mutex_destroy(&jb->mu);
    pthread_cond_destroy(&jb->cv);
  }
  free(js->v);
  free(js);
}
