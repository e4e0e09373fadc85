/* watch_obs: what `watch --http ADDR` exposes: its metrics in the
 * process's registry (dw_metrics_process) and /healthz, /readyz, /metrics
 * on a small server of its own (dw_http_ops). watch.c reports to it at its
 * stages (a few calls per batch, never per event) and refreshes the gauges
 * about once a second; /readyz is answered from the last refresh. */
#ifndef WATCH_OBS_H
#define WATCH_OBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_alert.h"
#include "dw_config.h"
#include "dw_driver.h"
#include "dw_pool.h"

typedef struct watch_obs watch_obs;

/* Registers the families; starts the server when watch.http_listen is set.
 * NULL only when the server cannot start (reason in errstr); with no
 * address the families still exist (and cost nothing). */
watch_obs *watch_obs_new(const dw_config *cfg, char *errstr, size_t errstr_size);
void watch_obs_destroy(watch_obs *o);
const char *watch_obs_address(const watch_obs *o); /* "" without a server */

/* A chunk committed: messages in it, applied (archived), duplicates,
 * refused by the engine (to the DLQ), the transaction's duration, the
 * alerts it wrote with their changes (dw_driver_alert_changes). */
void watch_obs_committed(watch_obs *o, size_t messages, size_t archived, size_t duplicates, size_t refused,
                         double commit_seconds, const dw_alert *alerts, const dw_alert_counts *changes,
                         size_t nalerts);
/* Unreadable messages sent to the DLQ. */
void watch_obs_dead_letters(watch_obs *o, const char *reason, size_t n);
void watch_obs_rebuilt(watch_obs *o);
/* Seconds on a monotonic clock, for timing the transaction. */
double watch_obs_clock(void);

/* The state /readyz and the gauges show: partitions (for lag), PostgreSQL
 * usable, dossiers in memory, open alerts per rule (NULL: unchanged). */
void watch_obs_refresh(watch_obs *o, const dw_part *parts, int nparts, bool pg_ok, uint64_t dossiers,
                       const uint64_t *open_by_rule);

#endif
