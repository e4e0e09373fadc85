/* watch_obs: watch's metric families and readiness (see watch_obs.h). */
#include "watch_obs.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_http_ops.h"
#include "dw_driver.h"
#include "dw_metrics.h"

struct watch_obs {
  dw_http_ops *ops;
  char *conninfo; /* for /readyz's own probe (PQping: is the server accepting connections?) */
  int64_t max_lag;
  dw_metric *consumed, *archived, *duplicates, *dlq, *lag, *batch, *commit, *raised, *cleared, *open, *backlog,
    *dossiers, *rebuilds, *assigned, *pg_up;
  /* the readiness snapshot, written by the main loop, read by HTTP threads */
  pthread_mutex_t mu;
  bool refreshed, pg_ok;
  size_t nassigned;
  int64_t worst_lag;
  int worst_partition;
};

static const double batch_bounds[] = {1, 10, 100, 1000, 5000, 10000, 20000, 50000};
static const double commit_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static int ready(void *opaque, char *reason, size_t n) {
  watch_obs *o = opaque;
  pthread_mutex_lock(&o->mu);
  int rc = 0;
  if (!o->refreshed)
    rc = snprintf(reason, n, "starting");
  else if (!o->nassigned)
    rc = snprintf(reason, n, "no partition assigned (group still joining, or more members than partitions)");
  else if (!o->pg_ok)
    rc = snprintf(reason, n, "PostgreSQL: watch's connection failed (retrying)");
  else if (o->worst_lag > o->max_lag)
    rc = snprintf(reason, n, "partition %d lags %lld messages (watch.ready_max_lag %lld)", o->worst_partition,
                  (long long)o->worst_lag, (long long)o->max_lag);
  pthread_mutex_unlock(&o->mu);
  /* watch notices a dead server only when it next commits: ask it now */
  if (rc <= 0 && o->conninfo && PQping(o->conninfo) != PQPING_OK)
    rc = snprintf(reason, n, "PostgreSQL not reachable (it does not accept connections)");
  return rc > 0 ? -1 : 0;
}

watch_obs *watch_obs_new(const dw_config *cfg, char *err, size_t n) {
  watch_obs *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&o->mu, NULL);
  o->max_lag = dw_config_get_int(cfg, "watch.ready_max_lag");
  const char *ci = dw_config_get(cfg, "db.conninfo");
  if (ci && !(o->conninfo = strdup(ci))) {
    free(o);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  dw_metrics *m = dw_metrics_process();
  o->consumed = dw_metrics_counter(m, "dossierwatch_events_consumed_total", "Messages taken from the events topic and committed", NULL);
  o->archived = dw_metrics_counter(m, "dossierwatch_events_archived_total", "New events applied and archived in PostgreSQL", NULL);
  o->duplicates = dw_metrics_counter(m, "dossierwatch_events_duplicates_total", "Events whose event_id was seen before (ignored)", NULL);
  o->dlq = dw_metrics_counter(m, "dossierwatch_events_dlq_total",
                              "Messages sent to the dead-letter topic, by reason (decode: not a readable event; apply: refused by the engine)",
                              "reason");
  o->lag = dw_metrics_gauge(m, "dossierwatch_consumer_lag_messages", "Messages of a partition not yet committed (high watermark - next offset)", "partition");
  o->batch = dw_metrics_histogram(m, "dossierwatch_batch_size_messages", "Messages per committed chunk", NULL, batch_bounds,
                                  sizeof batch_bounds / sizeof *batch_bounds);
  o->commit = dw_metrics_histogram(m, "dossierwatch_commit_latency_seconds",
                                   "Time of a chunk's PostgreSQL transaction (archive, apply, states, alerts, aggregates, offsets)", NULL,
                                   commit_bounds, sizeof commit_bounds / sizeof *commit_bounds);
  o->raised = dw_metrics_counter(m, "dossierwatch_alerts_raised_total", "Alerts raised (committed), by rule and severity", "rule,severity");
  o->cleared = dw_metrics_counter(m, "dossierwatch_alerts_cleared_total", "Alerts cleared (committed), by rule and severity", "rule,severity");
  o->open = dw_metrics_gauge(m, "dossierwatch_open_alerts", "Open alerts of the dossiers this process holds in memory, by rule", "rule");
  o->backlog = dw_metrics_gauge(m, "dossierwatch_publisher_backlog_rows",
                                "Outbox rows committed but not yet confirmed on Kafka, by feed (set by the publisher)", "feed");
  o->dossiers = dw_metrics_gauge(m, "dossierwatch_engine_dossiers_in_memory", "Dossiers the engine holds in memory", NULL);
  o->rebuilds = dw_metrics_counter(m, "dossierwatch_pg_rebuilds_total", "Rebuilds of the engine from PostgreSQL after a failure", NULL);
  o->assigned = dw_metrics_gauge(m, "dossierwatch_partitions_assigned", "Partitions of the events topic assigned to this process", NULL);
  o->pg_up = dw_metrics_gauge(m, "dossierwatch_pg_up", "1 when PostgreSQL was usable at the last look, else 0", NULL);
  for (int r = 0; r < DW_RULE__COUNT; r++) dw_metric_set_l(o->open, DW_LABELS(dw_rule_name((dw_rule)r)), 0);
  const char *listen = dw_config_get(cfg, "watch.http_listen");
  if (listen && *listen && !(o->ops = dw_http_ops_start(listen, "watch", m, ready, o, err, n))) {
    pthread_mutex_destroy(&o->mu);
    free(o->conninfo);
    free(o);
    return NULL;
  }
  return o;
}

void watch_obs_destroy(watch_obs *o) {
  if (!o) return;
  dw_http_ops_stop(o->ops);
  pthread_mutex_destroy(&o->mu);
  free(o->conninfo);
  free(o);
}

const char *watch_obs_address(const watch_obs *o) { return o && o->ops ? dw_http_ops_address(o->ops) : ""; }

void watch_obs_committed(watch_obs *o, size_t messages, size_t archived, size_t duplicates, size_t refused,
                         double secs, const dw_alert *alerts, const dw_alert_counts *changes, size_t nalerts) {
  if (!o) return;
  dw_metric_add(o->consumed, (double)messages);
  dw_metric_add(o->archived, (double)archived);
  dw_metric_add(o->duplicates, (double)duplicates);
  if (refused) dw_metric_add_l(o->dlq, DW_LABELS("apply"), (double)refused);
  if (messages) dw_metric_observe(o->batch, (double)messages);
  dw_metric_observe(o->commit, secs);
  for (size_t i = 0; changes && i < nalerts; i++) {
    const char *const l[] = {dw_rule_name(alerts[i].rule), dw_severity_name(alerts[i].severity)};
    if (changes[i].raised) dw_metric_add_l(o->raised, l, changes[i].raised);
    if (changes[i].cleared) dw_metric_add_l(o->cleared, l, changes[i].cleared);
  }
}

void watch_obs_dead_letters(watch_obs *o, const char *reason, size_t n) {
  if (o && n) dw_metric_add_l(o->dlq, DW_LABELS(reason), (double)n);
}

double watch_obs_clock(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void watch_obs_rebuilt(watch_obs *o) {
  if (o) dw_metric_inc(o->rebuilds);
}

void watch_obs_refresh(watch_obs *o, const dw_part *parts, int nparts, bool pg_ok, uint64_t dossiers,
                       const uint64_t *open_by_rule) {
  if (!o) return;
  size_t nassigned = 0;
  int64_t worst = 0;
  int worst_p = -1;
  dw_metric_clear(o->lag); /* revoked partitions leave the family */
  for (int p = 0; p < nparts; p++) {
    if (!parts[p].assigned) continue;
    nassigned++;
    if (parts[p].high < 0) continue;
    int64_t from = parts[p].next >= 0 ? parts[p].next : parts[p].low >= 0 ? parts[p].low : 0;
    int64_t lag = parts[p].high > from ? parts[p].high - from : 0;
    char label[16];
    snprintf(label, sizeof label, "%d", p);
    dw_metric_set_l(o->lag, DW_LABELS(label), (double)lag);
    if (lag > worst || worst_p < 0) {
      worst = lag;
      worst_p = p;
    }
  }
  dw_metric_set(o->assigned, (double)nassigned);
  dw_metric_set(o->pg_up, pg_ok ? 1 : 0);
  dw_metric_set(o->dossiers, (double)dossiers);
  for (int r = 0; open_by_rule && r < DW_RULE__COUNT; r++)
    dw_metric_set_l(o->open, DW_LABELS(dw_rule_name((dw_rule)r)), (double)open_by_rule[r]);
  pthread_mutex_lock(&o->mu);
  o->refreshed = true;
  o->pg_ok = pg_ok;
  o->nassigned = nassigned;
  o->worst_lag = worst;
  o->worst_partition = worst_p;
  pthread_mutex_unlock(&o->mu);
}
