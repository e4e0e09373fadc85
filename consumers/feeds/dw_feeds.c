/* dw_feeds: the runner of the outbox feeds (see dw_feed.h): one thread per
 * feed, its own connection, its advisory lock, its cursor, page after page. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_feed.h"
#include "dw_log.h"
#include "dw_metrics.h"
#include "dw_time.h"

#define PAGE_ROWS 5000
#define RETRY_MAX_MS 5000
#define LOCK_RETRY_MS 2000 /* a standby tries the lock this often */

typedef struct worker {
  struct dw_feeds *owner;
  const dw_feed *feed;
  void *st;
  PGconn *pg;
  int period_ms;
  bool holds_lock, started, kicked; /* kicked: guarded by owner->mu */
  pthread_t thread;
  pthread_cond_t cv;
  dw_feed_stats stats; /* guarded by owner->mu */
  dw_outbox_page page;
} worker;

struct dw_feeds {
  pthread_mutex_t mu;
  bool stop;       /* guarded by mu */
  int64_t now_ms;  /* guarded by mu; DW_TIME_NONE: wall clock */
  int64_t busy_ms; /* guarded by mu */
  char *conninfo;
  worker *w;
  int n;
};

static PGconn *worker_pg(worker *k, char *err, size_t n) {
  if (k->pg && PQstatus(k->pg) == CONNECTION_OK) return k->pg;
  if (k->pg) PQfinish(k->pg);
  k->holds_lock = false; /* a session lock dies with its session */
  k->pg = PQconnectdb(k->owner->conninfo);
  if (PQstatus(k->pg) != CONNECTION_OK) {
    snprintf(err, n, "cannot connect to PostgreSQL: %s", PQerrorMessage(k->pg));
    PQfinish(k->pg);
    k->pg = NULL;
    return NULL;
  }
  char sql[160];
  snprintf(sql, sizeof sql, "SET application_name = 'dossierwatch feed %s'; SET synchronous_commit = off",
           k->feed->name);
  PQclear(PQexec(k->pg, sql));
  return k->pg;
}

/* One round: pages until the outbox is drained, then the feed's round end.
 * Returns rows delivered, 0 when standing by, -1 with err. */
static long worker_round(worker *k, int64_t now, char *err, size_t n) {
  PGconn *pg = worker_pg(k, err, n);
  if (!pg) return -1;
  if (!k->holds_lock) {
    int held = dw_outbox_lock(pg, k->feed->name, err, n);
    if (held < 0) return -1;
    k->holds_lock = held == 1;
    if (!k->holds_lock) return 0; /* another process delivers this feed */
    DW_LOG_INF("feed %s: active", k->feed->name);
  }
  dw_outbox_cursor cur, next;
  dw_feed_round r = {pg, now == DW_TIME_NONE ? dw_now_ms() : now, false, false};
  if (dw_outbox_cursor_load(pg, k->feed->name, &cur, &r.legacy, err, n)) return -1;
  long total = 0, skipped = 0;
  for (;;) {
    if (dw_outbox_read(pg, k->feed->source, &cur, PAGE_ROWS, &k->page, &next, err, n)) return -1;
    if (k->page.n == 0 && k->page.skipped == 0) break;
    long sk = 0;
    if (k->page.n && k->feed->deliver(k->st, &k->page, &r, &sk, err, n)) return -1;
    if (dw_outbox_cursor_save(pg, k->feed->name, &next, err, n)) return -1;
    total += (long)k->page.n - sk;
    skipped += sk + k->page.skipped;
    cur = next;
    if (k->page.n + (size_t)k->page.skipped < PAGE_ROWS) break;
  }
  if (k->feed->round_end && k->feed->round_end(k->st, &r, err, n)) return -1;
  if (r.legacy && r.legacy_done && dw_outbox_legacy_done(pg, k->feed->name, err, n)) return -1;
  long backlog = dw_outbox_backlog(pg, k->feed->source, &cur, err, n);
  /* the metric (watch --http): registered by the process that exposes it */
  dw_metric *gauge = dw_metrics_find(dw_metrics_process(), "dossierwatch_publisher_backlog_rows");
  if (gauge && backlog >= 0) dw_metric_set_l(gauge, DW_LABELS(k->feed->name), (double)backlog);
  pthread_mutex_lock(&k->owner->mu);
  k->stats.delivered += (uint64_t)total;
  k->stats.skipped += (uint64_t)skipped;
  k->stats.backlog = backlog;
  k->stats.active = true;
  pthread_mutex_unlock(&k->owner->mu);
  return total;
}

static struct timespec abs_time(int64_t wall_ms) {
  struct timespec ts = {(time_t)(wall_ms / 1000), (long)(wall_ms % 1000) * 1000000L};
  return ts;
}

static void *worker_main(void *arg) {
  worker *k = arg;
  dw_feeds *F = k->owner;
  char err[1024];
  int64_t due = 0; /* the first round at once: leftovers of a previous run */
  int fails = 0;
  for (;;) {
    pthread_mutex_lock(&F->mu);
    while (!F->stop && !k->kicked && dw_now_ms() < due) {
      struct timespec ts = abs_time(due);
      pthread_cond_timedwait(&k->cv, &F->mu, &ts);
    }
    bool last = F->stop;
    int64_t now = F->now_ms;
    k->kicked = false;
    pthread_mutex_unlock(&F->mu);

    int64_t t0 = dw_now_ms();
    long rc = worker_round(k, now, err, sizeof err);
    int64_t t1 = dw_now_ms();
    pthread_mutex_lock(&F->mu);
    F->busy_ms += t1 - t0;
    if (rc < 0) k->stats.failed_rounds++;
    k->stats.active = k->holds_lock;
    pthread_mutex_unlock(&F->mu);
    if (rc < 0) {
      DW_LOG_WARNING("feed %s (will retry): %s", k->feed->name, err);
      int backoff = 200 << (fails < 5 ? fails : 5);
      fails++;
      due = t1 + (backoff < RETRY_MAX_MS ? backoff : RETRY_MAX_MS);
      if (k->period_ms < due - t1) due = t1 + k->period_ms;
    } else {
      fails = 0;
      due = t1 + (k->holds_lock ? k->period_ms : LOCK_RETRY_MS);
    }
    if (last) break;
  }
  return NULL;
}

static void worker_free(worker *k) {
  if (k->st) k->feed->close(k->st);
  if (k->pg) PQfinish(k->pg);
  dw_outbox_page_free(&k->page);
  pthread_cond_destroy(&k->cv);
}

dw_feeds *dw_feeds_start(const dw_config *cfg, const char *conninfo, char *err, size_t n) {
  dw_feeds *F = calloc(1, sizeof *F);
  int count = 0;
  while (dw_feed_plugins[count]) count++;
  if (!F || !(F->w = calloc((size_t)count + 1, sizeof *F->w)) || !(F->conninfo = strdup(conninfo))) {
    snprintf(err, n, "out of memory");
    if (F) free(F->w);
    free(F);
    return NULL;
  }
  pthread_mutex_init(&F->mu, NULL);
  F->now_ms = DW_TIME_NONE;
  for (int i = 0; i < count; i++) {
    worker *k = &F->w[F->n];
    k->owner = F;
    k->feed = dw_feed_plugins[i];
    k->stats.name = k->feed->name;
    k->stats.backlog = -1;
    pthread_cond_init(&k->cv, NULL);
    F->n++;
    k->period_ms = k->feed->period_key ? (int)dw_config_get_int(cfg, k->feed->period_key) : k->feed->period_ms;
    if (!(k->st = k->feed->open(cfg, err, n))) {
      dw_feeds_stop(F);
      return NULL;
    }
  }
  /* Signals are the main thread's business (SIGTERM = commit and stop). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int bad = 0;
  for (int i = 0; i < F->n && !bad; i++) {
    int e = pthread_create(&F->w[i].thread, NULL, worker_main, &F->w[i]);
    if (e) {
      snprintf(err, n, "cannot start the feed %s: %s", F->w[i].feed->name, strerror(e));
      bad = 1;
    } else {
      F->w[i].started = true;
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (bad) {
    dw_feeds_stop(F);
    return NULL;
  }
  return F;
}

void dw_feeds_kick(dw_feeds *F, dw_outbox_source src) {
  pthread_mutex_lock(&F->mu);
  for (int i = 0; i < F->n; i++)
    if (F->w[i].feed->source == src && F->w[i].feed->kicked_by_commits) {
      F->w[i].kicked = true;
      pthread_cond_signal(&F->w[i].cv);
    }
  pthread_mutex_unlock(&F->mu);
}

void dw_feeds_set_now(dw_feeds *F, int64_t now_ms) {
  pthread_mutex_lock(&F->mu);
  F->now_ms = now_ms;
  pthread_mutex_unlock(&F->mu);
}

int64_t dw_feeds_take_busy_ms(dw_feeds *F) {
  pthread_mutex_lock(&F->mu);
  int64_t ms = F->busy_ms;
  F->busy_ms = 0;
  pthread_mutex_unlock(&F->mu);
  return ms;
}

void dw_feeds_stats(dw_feeds *F, void (*fn)(const dw_feed_stats *s, void *opaque), void *opaque) {
  pthread_mutex_lock(&F->mu);
  dw_feed_stats copy[32];
  int n = F->n < 32 ? F->n : 32;
  for (int i = 0; i < n; i++) copy[i] = F->w[i].stats;
  pthread_mutex_unlock(&F->mu);
  for (int i = 0; i < n; i++) fn(&copy[i], opaque);
}

void dw_feeds_stop(dw_feeds *F) {
  if (!F) return;
  pthread_mutex_lock(&F->mu);
  F->stop = true;
  for (int i = 0; i < F->n; i++) pthread_cond_signal(&F->w[i].cv);
  pthread_mutex_unlock(&F->mu);
  for (int i = 0; i < F->n; i++)
    if (F->w[i].started) pthread_join(F->w[i].thread, NULL);
  for (int i = 0; i < F->n; i++) worker_free(&F->w[i]);
  pthread_mutex_destroy(&F->mu);
  free(F->w);
  free(F->conninfo);
  free(F);
}
