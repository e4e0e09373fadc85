/* dw_replay_jobs: the jobs of a replay (see dw_replay_jobs.h). The caller's
 * thread fills one batch per job and hands full batches over through a
 * short queue per job; each job gives its batches back once applied, so the
 * batches in flight (and the memory) stay bounded and a slow job slows the
 * reader down instead of piling up events. What a job collects for the
 * output stays bounded too: past replay.alerts_in_memory alert versions it
 * moves those that can no longer change to an unlinked temp file (its
 * spill), read back when the output is written. */
#include "dw_replay_jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_codec.h"
#include "dw_engine.h"
#include "dw_hash.h"
#include "dw_log.h"
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
  /* the spill: settled alerts and dossiers that left memory, moved out
   * once the driver holds spill_at alert versions */
  FILE *spill_alerts, *spill_gone;
  size_t spill_at;
  uint64_t spilled_alerts, spilled_gone;
  dw_keyset gone_keys; /* dw_hash_stable of every spilled dossier: each goes once */
  int spill_errno; /* the first write error (the output then fails) */
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

/* A spilled alert: this header, then its strings (without NUL). */
typedef struct spilled_alert {
  int64_t raised_at, due_at, cleared_at;
  int32_t rule, severity;
  uint16_t len[6];
} spilled_alert;

typedef struct spilled_gone {
  int32_t tag;
  uint16_t len;
} spilled_gone;

/* An unlinked temp file in $TMPDIR (else /tmp): gone with the process,
 * however it ends. */
static FILE *spill_open(void) {
  const char *dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/dossierwatch-replay-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  unlink(path);
  FILE *f = fdopen(fd, "w+b");
  if (!f) close(fd);
  return f;
}

static void spill_write(job *jb, FILE **f, const void *p, size_t n) {
  if (jb->spill_errno) return;
  errno = 0;
  if (!*f && !(*f = spill_open())) {
    jb->spill_errno = errno ? errno : EIO;
    return;
  }
  if (n && fwrite(p, n, 1, *f) != 1) jb->spill_errno = errno ? errno : EIO;
}

static void spill_alert(const dw_alert *a, void *opaque) {
  job *jb = opaque;
  const char *str[6] = {a->alert_id, a->dossier_id, a->commune, a->agency, a->procedure, a->detail};
  spilled_alert h = {a->raised_at, a->due_at, a->cleared_at, (int32_t)a->rule, (int32_t)a->severity, {0}};
  for (int k = 0; k < 6; k++) h.len[k] = (uint16_t)strlen(str[k]); /* each shorter than its field */
  spill_write(jb, &jb->spill_alerts, &h, sizeof h);
  for (int k = 0; k < 6; k++) spill_write(jb, &jb->spill_alerts, str[k], h.len[k]);
  jb->spilled_alerts++;
}

static uint64_t gone_key(const char *dossier_id) {
  uint64_t k = dw_hash_stable(dossier_id);
  return k ? k : 1;
}

static void spill_gone(const char *dossier_id, int32_t tag, void *opaque) {
  job *jb = opaque;
  /* one that came back and left again since an earlier spill is there
   * already (its row: the same tombstone) */
  int added = dw_keyset_add(&jb->gone_keys, gone_key(dossier_id));
  if (added == 0) return;
  if (added < 0 && !jb->spill_errno) jb->spill_errno = ENOMEM;
  spilled_gone h = {tag, (uint16_t)strlen(dossier_id)};
  spill_write(jb, &jb->spill_gone, &h, sizeof h);
  spill_write(jb, &jb->spill_gone, dossier_id, h.len);
  jb->spilled_gone++;
}

/* After a batch: the settled part out once spill_at versions are held; the
 * next time at twice what stayed (each alert is looked at a bounded number
 * of times on average), at least replay.alerts_in_memory. */
static void spill_maybe(job *jb) {
  size_t n;
  dw_driver_alerts(jb->drv, &n);
  if (n < jb->spill_at) return;
  dw_driver_drain_settled(jb->drv, spill_alert, spill_gone, jb);
  dw_driver_alerts(jb->drv, &n);
  jb->spill_at = 2 * n > jb->owner->spill_min ? 2 * n : jb->owner->spill_min;
}

/* A spill to read back from its start: 1, 0 when nothing was spilled, -1
 * (errstr) when writing it failed or it cannot be rewound. */
static int spill_rewind(const job *jb, FILE *f, const char *what, char *err, size_t n) {
  errno = 0;
  if (jb->spill_errno) {
    snprintf(err, n, "job %d: %s: temp file (TMPDIR): %s", jb->index, what, strerror(jb->spill_errno));
    return -1;
  }
  if (!f) return 0;
  if (fflush(f) == 0 && fseek(f, 0, SEEK_SET) == 0) return 1;
  snprintf(err, n, "job %d: %s: temp file (TMPDIR): %s", jb->index, what, strerror(errno ? errno : EIO));
  return -1;
}

/* Reads a spill from its start: the header of size hsize, then body bytes
 * that body_len(header) says. */
static int spill_read(FILE *f, void *h, size_t hsize, char *body, size_t cap, size_t (*body_len)(const void *h),
                      int *end) {
  *end = 0;
  size_t got = fread(h, 1, hsize, f);
  if (got == 0 && feof(f)) return *end = 1, 0;
  if (got != hsize) return -1;
  size_t len = body_len(h);
  if (len >= cap || (len && fread(body, len, 1, f) != 1)) return -1;
  body[len] = '\0';
  return 0;
}

static size_t alert_body(const void *p) {
  const spilled_alert *h = p;
  size_t n = 0;
  for (int k = 0; k < 6; k++) n += h->len[k];
  return n;
}

static size_t gone_body(const void *p) { return ((const spilled_gone *)p)->len; }

static void put_field(char *dst, size_t cap, const char **src, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(dst, *src, len);
  dst[len] = '\0';
  *src += len;
}

int dw_jobs_each_spilled_alert(dw_jobs *js, int i, void (*fn)(const dw_alert *a, void *opaque), void *opaque,
                               char *err, size_t n) {
  job *jb = &js->v[i];
  int rc = spill_rewind(jb, jb->spill_alerts, "spilled alerts", err, n);
  if (rc <= 0) return rc;
  dw_alert a;
  memset(&a, 0, sizeof a);
  char body[sizeof a];
  for (;;) {
    spilled_alert h;
    int end;
    if (spill_read(jb->spill_alerts, &h, sizeof h, body, sizeof body, alert_body, &end)) goto bad;
    if (end) return 0;
    const char *p = body;
    put_field(a.alert_id, sizeof a.alert_id, &p, h.len[0]);
    put_field(a.dossier_id, sizeof a.dossier_id, &p, h.len[1]);
    put_field(a.commune, sizeof a.commune, &p, h.len[2]);
    put_field(a.agency, sizeof a.agency, &p, h.len[3]);
    put_field(a.procedure, sizeof a.procedure, &p, h.len[4]);
    put_field(a.detail, sizeof a.detail, &p, h.len[5]);
    a.rule = (dw_rule)h.rule, a.severity = (dw_severity)h.severity;
    a.raised_at = h.raised_at, a.due_at = h.due_at, a.cleared_at = h.cleared_at;
    fn(&a, opaque);
  }
bad:
  snprintf(err, n, "job %d: reading back its spilled alerts: %s", i, errno ? strerror(errno) : "short record");
  return -1;
}

int dw_jobs_each_gone(dw_jobs *js, int i, void (*fn)(const char *dossier_id, int32_t tag, void *opaque), void *opaque,
                      char *err, size_t n) {
  job *jb = &js->v[i];
  int rc = spill_rewind(jb, jb->spill_gone, "spilled dossiers", err, n);
  if (rc <= 0) return rc;
  char id[DW_ID_MAX + 1];
  for (;;) {
    spilled_gone h;
    int end;
    if (spill_read(jb->spill_gone, &h, sizeof h, id, sizeof id, gone_body, &end)) goto bad;
    if (end) return 0;
    fn(id, h.tag, opaque);
  }
bad:
  snprintf(err, n, "job %d: reading back its dossiers that left memory: %s", i, errno ? strerror(errno) : "short record");
  return -1;
}

int dw_jobs_spilled(const dw_jobs *js, int i, const char *dossier_id) {
  return dw_keyset_has(&js->v[i].gone_keys, gone_key(dossier_id));
}

void dw_jobs_spill_stats(const dw_jobs *js, uint64_t *alerts, uint64_t *gone) {
  *alerts = *gone = 0;
  for (int i = 0; i < js->n; i++) *alerts += js->v[i].spilled_alerts, *gone += js->v[i].spilled_gone;
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
    if (jb->spill_alerts) fclose(jb->spill_alerts);
    if (jb->spill_gone) fclose(jb->spill_gone);
    dw_keyset_free(&jb->gone_keys);
    if (jb->av) dw_avro_destroy(jb->av);
    pthread_mutex_destroy(&jb->mu);
    pthread_cond_destroy(&jb->cv);
  }
  free(js->v);
  free(js);
}
