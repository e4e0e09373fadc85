/* dw_http_ingest: serve's POST /api/dvcqg/DongBoHoSoMC behind its checks
 * (see dw_http_ingest.h). With the dvcqg format in the build
 * (common/formats/dvcqg, dw_dvcqg.h) a request body is mapped to events by
 * the one dvcqg mapper, each produced to topic.events (Avro, key =
 * dossier_id) and confirmed by Kafka before the reply: 200 with the
 * portal-style reply ("error_code" "0", or "1" listing refused records),
 * 400 for a body that is not records, 503 when Kafka did not confirm (the
 * mapper's memory is rolled back, so the same body sent again is mapped
 * afresh). One mapper and one producer, under one lock (neither is
 * thread-safe). Ingest is on when http.dvcqg_units names the portal's unit
 * keys file (key,commune,agency); else the route answers 501. */
#include "dw_http_ingest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_log.h"

#include "dw_codec.h"
#include "dw_dvcqg.h"
#include "dw_producer.h"

#define INGEST_CONFIRM_MS 30000

struct dw_http_ingest {
  pthread_mutex_t mu;
  dw_dvcqg_units *units;
  dw_dvcqg *m; /* NULL: ingest is off */
  dw_avro *av;
  dw_producer *prod;
  char topic[256];
};

typedef struct ingest_ctx {
  dw_http_ingest *ing;
  dw_dvcqg_reply *reply;
  dw_delivery d;
  char err[256];
} ingest_ctx;

static int on_event(const dw_event *ev, uint64_t record, void *opaque) {
  (void)record;
  ingest_ctx *x = opaque;
  const void *val;
  size_t len;
  if (dw_avro_encode_event(x->ing->av, ev, &val, &len, x->err, sizeof x->err)) return -1;
  dw_message msg = {x->ing->topic, ev->dossier_id, strlen(ev->dossier_id), val, len, 0, NULL};
  return dw_producer_send(x->ing->prod, &msg, &x->d, x->err, sizeof x->err);
}

static int on_reject(const dw_dvcqg_reject *rej, void *opaque) {
  ingest_ctx *x = opaque;
  DW_LOG_WARNING("dvcqg ingest: record %llu refused: %s", (unsigned long long)rej->record, rej->reason);
  return dw_dvcqg_reply_add(x->reply, rej);
}

dw_http_ingest *dw_http_ingest_new(const dw_config *cfg, char *err, size_t n) {
  dw_http_ingest *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&g->mu, NULL);
  const char *path = dw_config_get(cfg, "http.dvcqg_units");
  if (!path || !*path) return g; /* off: 501 */
  snprintf(g->topic, sizeof g->topic, "%s", dw_config_get(cfg, "topic.events"));
  char why[512];
  if (!(g->units = dw_dvcqg_units_load(path, why, sizeof why))) {
    snprintf(err, n, "http.dvcqg_units: %s", why);
  } else if (!dw_config_get(cfg, "kafka.bootstrap.servers")) {
    snprintf(err, n, "the dvcqg ingest route (http.dvcqg_units) needs Kafka: --bootstrap or DW_BOOTSTRAP");
  } else if (!(g->av = dw_avro_new(why, sizeof why))) {
    snprintf(err, n, "avro: %s", why);
  } else if (!(g->prod = dw_producer_new(cfg, "serve (dvcqg ingest)", (const char *const[]){"linger.ms", "5", NULL},
                                         why, sizeof why))) {
    snprintf(err, n, "%s", why);
  } else if (!(g->m = dw_dvcqg_new(g->units, (int)dw_config_get_int(cfg, "calendar.utc_offset_min"), 1000000))) {
    snprintf(err, n, "out of memory");
  } else {
    return g;
  }
  dw_http_ingest_destroy(g);
  return NULL;
}

void dw_http_ingest_destroy(dw_http_ingest *g) {
  if (!g) return;
  dw_dvcqg_destroy(g->m);
  if (g->prod) dw_producer_destroy(g->prod);
  if (g->av) dw_avro_destroy(g->av);
  dw_dvcqg_units_destroy(g->units);
  pthread_mutex_destroy(&g->mu);
  free(g);
}

int dw_http_ingest_dvcqg(dw_http_ingest *g, const char *body, size_t len, const char *token_name, dw_buf *reply) {
  if (!g->m) {
    dw_buf_puts(reply, "{\"error\":\"dvcqg ingest is off on this server (set http.dvcqg_units)\"}");
    return 501;
  }
  ingest_ctx x = {.ing = g, .reply = dw_dvcqg_reply_new()};
  if (!x.reply) return dw_buf_puts(reply, "{\"error\":\"out of memory\"}"), 503;
  dw_dvcqg_sink sink = {on_event, on_reject, NULL, &x};
  dw_dvcqg_stats st = {0};
  char err[512] = "";
  int status;
  char *text;
  pthread_mutex_lock(&g->mu);
  dw_dvcqg_begin(g->m);
  int rc = dw_dvcqg_body(g->m, body, len, &sink, &st, err, sizeof err);
  if (rc == -1) {
    dw_dvcqg_rollback(g->m);
    text = dw_dvcqg_reply_error(err);
    status = 400;
  } else if (rc == -2 || dw_producer_wait(g->prod, &x.d, INGEST_CONFIRM_MS, err, sizeof err)) {
    dw_dvcqg_rollback(g->m);
    if (rc == -2) snprintf(err, sizeof err, "%s", x.err[0] ? x.err : "mapping stopped");
    text = dw_dvcqg_reply_json(x.reply, &st, err);
    status = 503;
  } else {
    dw_dvcqg_commit(g->m);
    text = dw_dvcqg_reply_json(x.reply, &st, NULL);
    status = 200;
  }
  pthread_mutex_unlock(&g->mu);
  DW_LOG_INF("dvcqg ingest from token '%s': %llu records, %llu events, %llu duplicates, %llu refused -> %d",
             token_name, (unsigned long long)st.records, (unsigned long long)st.events,
             (unsigned long long)st.duplicates, (unsigned long long)st.rejects, status);
  if (text)
    dw_buf_puts(reply, text);
  else
    dw_buf_puts(reply, "{\"error\":\"out of memory\"}");
  free(text);
  dw_dvcqg_reply_destroy(x.reply);
  return status;
}
