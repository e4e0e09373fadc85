/* dw_http_pool: mutex + condition variable over a fixed array of slots
 * (see dw_http_pool.h). Connecting happens outside the lock, so one slow
 * connect does not hold up requests that find an idle connection. */
#include "dw_http_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_pg.h"

typedef struct slot {
  PGconn *conn; /* NULL: not open */
  bool busy;
} slot;

struct dw_pgpool {
  dw_pgpool_options opt;
  char *conninfo;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot *slots;
};

dw_pgpool *dw_pgpool_new(const dw_pgpool_options *opt) {
  dw_pgpool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->opt = *opt;
  if (p->opt.size <= 0) p->opt.size = 8;
  if (p->opt.acquire_timeout_ms <= 0) p->opt.acquire_timeout_ms = 2000;
  p->conninfo = strdup(opt->conninfo ? opt->conninfo : "");
  p->slots = calloc((size_t)p->opt.size, sizeof *p->slots);
  if (!p->conninfo || !p->slots) {
    free(p->conninfo);
    free(p->slots);
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&p->cv, &ca);
  pthread_condattr_destroy(&ca);
  return p;
}

void dw_pgpool_destroy(dw_pgpool *p) {
  if (!p) return;
  for (int i = 0; i < p->opt.size; i++)
    if (p->slots[i].conn) PQfinish(p->slots[i].conn);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p->slots);
  free(p->conninfo);
  free(p);
}

PGconn *dw_pgpool_acquire(dw_pgpool *p, char *err, size_t n) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += p->opt.acquire_timeout_ms / 1000;
  deadline.tv_nsec += (long)(p->opt.acquire_timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&p->mu);
  int idx = -1;
  while (idx < 0) {
    int empty = -1;
    for (int i = 0; i < p->opt.size && idx < 0; i++) {
      if (p->slots[i].busy) continue;
      if (p->slots[i].conn) idx = i;
      else if (empty < 0) empty = i;
    }
    if (idx < 0 && empty >= 0) idx = empty;
    if (idx >= 0) break;
    if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->mu);
      snprintf(err, n, "all %d database connections busy for %d ms", p->opt.size, p->opt.acquire_timeout_ms);
      return NULL;
    }
  }
  slot *s = &p->slots[idx];
  s->busy = true;
  PGconn *c = s->conn;
  pthread_mutex_unlock(&p->mu);
  if (c && PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    c = NULL;
  }
  if (!c) {
    c = dw_pg_connect(p->conninfo, 0, err, n);
    if (c && p->opt.setup && p->opt.setup(c, p->opt.opaque, err, n)) {
      PQfinish(c);
      c = NULL;
    }
  }
  pthread_mutex_lock(&p->mu);
  s->conn = c;
  if (!c) {
    s->busy = false;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return c;
}

void dw_pgpool_release(dw_pgpool *p, PGconn *conn, bool broken) {
  if (!conn) return;
  if (!broken && PQtransactionStatus(conn) != PQTRANS_IDLE) broken = true; /* a transaction left open */
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->opt.size; i++) {
    if (p->slots[i].conn != conn) continue;
    if (broken) {
      PQfinish(conn);
      p->slots[i].conn = NULL;
    }
    p->slots[i].busy = false;
    break;
  }
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

void dw_pgpool_stats(dw_pgpool *p, int *open, int *in_use) {
  *open = *in_use = 0;
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->opt.size; i++) {
    *open += p->slots[i].conn != NULL;
    *in_use += p->slots[i].busy;
  }
  pthread_mutex_unlock(&p->mu);
}
