/* dw_http_ops: what ops scrape and probe on any long-running command:
 * GET /metrics (the process's dw_metrics, Prometheus text format), GET
 * /healthz (the process is alive and answering: always 200), GET /readyz
 * (the command's own readiness check: 200 {"status":"ready"}, or 503
 * {"status":"not ready","reason":"..."}). serve mounts the three handlers
 * in its own route table; `watch --http ADDR` runs them alone on a small
 * server of its own (dw_http_ops_start). None needs a token: put them
 * behind the network's own access control (see NOTES "For ops"). */
#ifndef DW_HTTP_OPS_H
#define DW_HTTP_OPS_H

#include <stddef.h>

#include "dw_http.h"
#include "dw_metrics.h"

/* 0 ready, else not ready with the reason. Called from HTTP threads: it
 * must only read state the command publishes for it (thread-safe). */
typedef int (*dw_http_ready_fn)(void *opaque, char *reason, size_t reason_size);

int dw_http_ops_metrics(dw_http_resp *resp, dw_metrics *metrics);
int dw_http_ops_healthz(dw_http_resp *resp, const char *command);
int dw_http_ops_readyz(dw_http_resp *resp, dw_http_ready_fn ready, void *opaque);

typedef struct dw_http_ops dw_http_ops;
/* A server with just those three routes. NULL with the reason. */
dw_http_ops *dw_http_ops_start(const char *listen, const char *command, dw_metrics *metrics, dw_http_ready_fn ready,
                               void *opaque, char *errstr, size_t errstr_size);
const char *dw_http_ops_address(const dw_http_ops *ops);
void dw_http_ops_stop(dw_http_ops *ops);

#endif
