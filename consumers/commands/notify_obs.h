/* notify_obs: notify's metrics for ops. notify counts in its own struct
 * (dw_notify_metrics: --metrics-file, the stats line); when the build has
 * the process metrics registry and the ops endpoints (common/base/dw_metrics.h
 * and consumers/http/dw_http_ops.h, from the HTTP work), the same numbers
 * also go to dw_metrics_process() after every round, and `notify --http
 * ADDR` (notify.http_listen) serves /metrics, /healthz and /readyz (ready:
 * PostgreSQL usable) as `watch --http` does. Without them (__has_include),
 * --http is refused and the rest is unchanged. */
#ifndef NOTIFY_OBS_H
#define NOTIFY_OBS_H

#include <stdbool.h>
#include <stddef.h>

#include "dw_notify_metrics.h"

typedef struct notify_obs notify_obs;

/* listen: NULL for no server. NULL on error (reason in errstr). */
notify_obs *notify_obs_new(const char *listen, char *errstr, size_t errstr_size);
void notify_obs_destroy(notify_obs *o);
/* After a round: the counters' increase and the gauges; db_ok for /readyz. */
void notify_obs_update(notify_obs *o, const dw_notify_metrics *m, bool db_ok);
/* The server's address ("" without one). */
const char *notify_obs_address(const notify_obs *o);

#endif
