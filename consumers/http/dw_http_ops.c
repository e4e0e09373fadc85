/* dw_http_ops: /metrics, /healthz, /readyz (see dw_http_ops.h). */
#include "dw_http_ops.h"

#include <stdio.h>
#include <stdlib.h>

int dw_http_ops_metrics(dw_http_resp *resp, dw_metrics *m) {
  resp->status = 200;
  resp->content_type = DW_METRICS_CONTENT_TYPE;
  dw_metrics_render(m, &resp->body);
  return 0;
}

int dw_http_ops_healthz(dw_http_resp *resp, const char *command) {
  resp->status = 200;
  dw_buf_puts(&resp->body, "{\"status\":\"ok\",\"command\":");
  dw_buf_json_string(&resp->body, command);
  dw_buf_puts(&resp->body, "}");
  return 0;
}

int dw_http_ops_readyz(dw_http_resp *resp, dw_http_ready_fn ready, void *opaque) {
  char reason[512] = "";
  if (ready && ready(opaque, reason, sizeof reason)) {
    resp->status = 503;
    dw_buf_puts(&resp->body, "{\"status\":\"not ready\",\"reason\":");
    dw_buf_json_string(&resp->body, reason[0] ? reason : "not ready");
    dw_buf_puts(&resp->body, "}");
    return 0;
  }
  resp->status = 200;
  dw_buf_puts(&resp->body, "{\"status\":\"ready\"}");
  return 0;
}

struct dw_http_ops {
  dw_http_server *srv;
  dw_metrics *metrics;
  dw_http_ready_fn ready;
  void *opaque;
  const char *command;
};

static int h_metrics(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  return dw_http_ops_metrics(resp, ((dw_http_ops *)app)->metrics);
}
static int h_healthz(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  return dw_http_ops_healthz(resp, ((dw_http_ops *)app)->command);
}
static int h_readyz(dw_http_req *req, dw_http_resp *resp, void *app) {
  (void)req;
  dw_http_ops *o = app;
  return dw_http_ops_readyz(resp, o->ready, o->opaque);
}

static const dw_http_route ops_routes[] = {
  {"GET", "/metrics", h_metrics, 0, "Prometheus metrics"},
  {"GET", "/healthz", h_healthz, 0, "the process is alive"},
  {"GET", "/readyz", h_readyz, 0, "ready for work (503 with the reason otherwise)"},
};

dw_http_ops *dw_http_ops_start(const char *listen, const char *command, dw_metrics *m, dw_http_ready_fn ready,
                               void *opaque, char *err, size_t n) {
  dw_http_ops *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  *o = (dw_http_ops){NULL, m, ready, opaque, command};
  dw_http_options opt = {.listen = listen,
                         .routes = ops_routes,
                         .nroutes = sizeof ops_routes / sizeof *ops_routes,
                         .app = o,
                         .max_connections = 32,
                         .metrics = m,
                         .name = command};
  if (!(o->srv = dw_http_start(&opt, err, n))) {
    free(o);
    return NULL;
  }
  return o;
}

const char *dw_http_ops_address(const dw_http_ops *o) { return o ? dw_http_address(o->srv) : ""; }

void dw_http_ops_stop(dw_http_ops *o) {
  if (!o) return;
  dw_http_stop(o->srv);
  free(o);
}
