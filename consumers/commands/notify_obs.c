/* notify_obs: notify's metrics in the process registry and its ops
 * endpoints, when the build has them (see notify_obs.h). */
#include "notify_obs.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include("dw_metrics.h") && __has_include("dw_http_ops.h")
#define NOTIFY_OBS_REGISTRY 1
#include "dw_http_ops.h"
#include "dw_metrics.h"
#endif

#define MAX_SERIES 64

#ifdef NOTIFY_OBS_REGISTRY
typedef struct series {
  const char *name, *type, *help, *label, *value;
  double v;
} series;

typedef struct collect {
  series s[MAX_SERIES];
  int n;
} collect;

static void collect_one(const char *name, const char *type, const char *help, const char *label, const char *value,
                        double v, void *o) {
  collect *c = o;
  if (c->n < MAX_SERIES) c->s[c->n++] = (series){name, type, help, label, value, v};
}
#endif

struct notify_obs {
  dw_notify_metrics last;
  atomic_int ready;
#ifdef NOTIFY_OBS_REGISTRY
  dw_metric *fam[MAX_SERIES];
  dw_http_ops *ops;
#endif
};

#ifdef NOTIFY_OBS_REGISTRY
static int ready_fn(void *opaque, char *reason, size_t n) {
  notify_obs *o = opaque;
  if (atomic_load(&o->ready)) return 0;
  snprintf(reason, n, "PostgreSQL is not usable");
  return -1;
}
#endif

notify_obs *notify_obs_new(const char *listen, char *err, size_t n) {
  notify_obs *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
#ifdef NOTIFY_OBS_REGISTRY
  collect c = {0};
  dw_notify_metrics zero = {0};
  dw_notify_metrics_foreach(&zero, collect_one, &c);
  dw_metrics *reg = dw_metrics_process();
  const char *help = "";
  for (int i = 0; i < c.n; i++) {
    if (c.s[i].help) help = c.s[i].help;
    o->fam[i] = strcmp(c.s[i].type, "counter") == 0 ? dw_metrics_counter(reg, c.s[i].name, help, c.s[i].label)
                                                     : dw_metrics_gauge(reg, c.s[i].name, help, c.s[i].label);
  }
  if (listen && *listen && !(o->ops = dw_http_ops_start(listen, "notify", reg, ready_fn, o, err, n))) {
    free(o);
    return NULL;
  }
#else
  if (listen && *listen) {
    snprintf(err, n, "--http/notify.http_listen: this build has no HTTP server (consumers/http)");
    free(o);
    return NULL;
  }
#endif
  return o;
}

void notify_obs_update(notify_obs *o, const dw_notify_metrics *m, bool db_ok) {
  atomic_store(&o->ready, db_ok ? 1 : 0);
#ifdef NOTIFY_OBS_REGISTRY
  collect now = {0}, before = {0};
  dw_notify_metrics_foreach(m, collect_one, &now);
  dw_notify_metrics_foreach(&o->last, collect_one, &before);
  for (int i = 0; i < now.n; i++) {
    const char *const *labels = now.s[i].label ? DW_LABELS(now.s[i].value) : NULL;
    if (strcmp(now.s[i].type, "counter") == 0) {
      if (now.s[i].v >= before.s[i].v) dw_metric_add_l(o->fam[i], labels, now.s[i].v - before.s[i].v);
    } else {
      dw_metric_set_l(o->fam[i], labels, now.s[i].v);
    }
  }
#endif
  o->last = *m;
}

const char *notify_obs_address(const notify_obs *o) {
#ifdef NOTIFY_OBS_REGISTRY
  return o->ops ? dw_http_ops_address(o->ops) : "";
#else
  (void)o;
  return "";
#endif
}

void notify_obs_destroy(notify_obs *o) {
  if (!o) return;
#ifdef NOTIFY_OBS_REGISTRY
  dw_http_ops_stop(o->ops);
#endif
  free(o);
}
