/* dw_publish: alerts and aggregates to Kafka from the PostgreSQL outbox
 * (at-least-once; see dw_publish.h). */
#include "dw_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_kafka.h"
#include "dw_pg_sink.h"
#include "dw_time.h"

#define PAGE_ROWS 5000
#define DELIVERY_TIMEOUT_MS 30000

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  dw_delivery *d = m->_private;
  if (!d) return;
  d->pending--;
  if (m->err) {
    d->failed++;
    snprintf(d->error, sizeof d->error, "%s [%d]: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
             rd_kafka_err2str(m->err));
  } else {
    d->delivered++;
  }
}

/* The kafka.* keys are shared by consumers and producers; librdkafka warns
 * (CONFWARN) about consumer-only ones on a producer. Everything else is
 * logged as librdkafka would. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "consumer property")) return;
  fprintf(stderr, "%%%d|%s|%s| %s\n", level, fac, rk ? rd_kafka_name(rk) : "", buf);
}

rd_kafka_t *dw_publish_producer_new(const dw_config *cfg, char *errstr, size_t n) {
  rd_kafka_conf_t *conf = dw_kafka_conf_new(cfg, errstr, n);
  if (!conf) return NULL;
  const char *props[][2] = {{"enable.idempotence", "true"}, {"acks", "all"}, {"linger.ms", "5"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, n) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, n);
  if (!rk) rd_kafka_conf_destroy(conf);
  return rk;
}

int dw_publish_produce(rd_kafka_t *rk, const char *topic, const void *key, size_t key_len, const void *value,
                       size_t value_len, rd_kafka_headers_t *hdrs, dw_delivery *d, char *errstr, size_t n) {
  for (int attempt = 0;; attempt++) {
    rd_kafka_resp_err_t err;
    if (hdrs)
      err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    else
      err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
    if (!err) {
      d->pending++;
      return 0;
    }
    /* A full local queue drains as reports are served: wait a little. */
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && attempt < 100) {
      rd_kafka_poll(rk, 100);
      continue;
    }
    if (hdrs) rd_kafka_headers_destroy(hdrs);
    snprintf(errstr, n, "produce to %s: %s", topic, rd_kafka_err2str(err));
    return -1;
  }
}

int dw_publish_wait(rd_kafka_t *rk, dw_delivery *d, int timeout_ms, char *errstr, size_t n) {
  int64_t end = dw_now_ms() + timeout_ms;
  while (d->pending > 0 && dw_now_ms() < end) rd_kafka_poll(rk, 50);
  if (d->pending > 0) {
    snprintf(errstr, n, "%ld messages not confirmed after %d ms", d->pending, timeout_ms);
    return -1;
  }
  if (d->failed > 0) {
    snprintf(errstr, n, "%ld messages failed, last: %s", d->failed, d->error);
    return -1;
  }
  return 0;
}

/* ---- publisher ---- */

struct dw_publish {
  rd_kafka_t *rk;
  dw_avro *av;
  char alerts_topic[256];
  char agg_topic[256];
  int utc_offset_min;
  dw_delivery d;
};

dw_publish *dw_publish_new(rd_kafka_t *rk, dw_avro *av, const dw_config *cfg) {
  dw_publish *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->rk = rk;
  p->av = av;
  snprintf(p->alerts_topic, sizeof p->alerts_topic, "%s", dw_config_get(cfg, "topic.alerts"));
  snprintf(p->agg_topic, sizeof p->agg_topic, "%s", dw_config_get(cfg, "topic.aggregates"));
  p->utc_offset_min = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  return p;
}

void dw_publish_destroy(dw_publish *p) { free(p); }

static void one_line(char *s) {
  for (; *s; s++)
    if (*s == '\n') *s = ' ';
}

static int64_t ms_or_none(const PGresult *res, int r, int c) {
  return PQgetisnull(res, r, c) ? DW_TIME_NONE : atoll(PQgetvalue(res, r, c));
}

/* Marks rows published at the version read: ids/versions as array literals. */
static int mark(PGconn *pg, const char *sql, dw_pgbuf *ids, dw_pgbuf *vers, char *errstr, size_t n) {
  const char *params[2] = {ids->data, vers->data};
  PGresult *res = PQexecParams(pg, sql, 2, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    snprintf(errstr, n, "mark published: %s", PQresultErrorMessage(res));
    one_line(errstr);
    rc = -1;
  }
  PQclear(res);
  return rc;
}

long dw_publish_alerts(dw_publish *p, PGconn *pg, char *errstr, size_t n) {
  long total = 0;
  dw_pgbuf ids = {0}, vers = {0};
  for (;;) {
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT alert_id, rule, dossier_id, commune, agency, procedure, severity,"
             " (extract(epoch FROM raised_at) * 1000)::bigint, (extract(epoch FROM due_at) * 1000)::bigint,"
             " (extract(epoch FROM cleared_at) * 1000)::bigint, detail, version"
             " FROM alerts WHERE version > published_version ORDER BY alert_id LIMIT %d",
             PAGE_ROWS);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      snprintf(errstr, n, "read alerts to publish: %s", PQresultErrorMessage(res));
      one_line(errstr);
      PQclear(res);
      total = -1;
      break;
    }
    int rows = PQntuples(res);
    dw_pgbuf_reset(&ids);
    dw_pgbuf_reset(&vers);
    dw_pgbuf_puts(&ids, "{");
    dw_pgbuf_puts(&vers, "{");
    memset(&p->d, 0, sizeof p->d);
    int bad = 0;
    for (int r = 0; r < rows && !bad; r++) {
      dw_alert a;
      memset(&a, 0, sizeof a);
      snprintf(a.alert_id, sizeof a.alert_id, "%s", PQgetvalue(res, r, 0));
      if (dw_rule_parse(PQgetvalue(res, r, 1), &a.rule)) a.rule = DW_RULE_OVERDUE;
      snprintf(a.dossier_id, sizeof a.dossier_id, "%s", PQgetvalue(res, r, 2));
      snprintf(a.commune, sizeof a.commune, "%s", PQgetvalue(res, r, 3));
      snprintf(a.agency, sizeof a.agency, "%s", PQgetvalue(res, r, 4));
      snprintf(a.procedure, sizeof a.procedure, "%s", PQgetvalue(res, r, 5));
      a.severity = strcmp(PQgetvalue(res, r, 6), "critical") == 0 ? DW_SEV_CRITICAL : DW_SEV_WARNING;
      a.raised_at = ms_or_none(res, r, 7);
      a.due_at = ms_or_none(res, r, 8);
      a.cleared_at = ms_or_none(res, r, 9);
      snprintf(a.detail, sizeof a.detail, "%s", PQgetvalue(res, r, 10));
      const void *out;
      size_t len;
      char why[256];
      if (dw_avro_encode_alert(p->av, &a, &out, &len, why, sizeof why)) {
        /* Cannot happen for rows we wrote; skip it rather than block the
         * outbox forever, and say so. */
        fprintf(stderr, "dossierwatch watch: alert %s not publishable: %s\n", a.alert_id, why);
      } else if (dw_publish_produce(p->rk, p->alerts_topic, a.agency, strlen(a.agency), out, len, NULL, &p->d,
                                    errstr, n)) {
        bad = 1;
        break;
      }
      if (r) {
        dw_pgbuf_puts(&ids, ",");
        dw_pgbuf_puts(&vers, ",");
      }
      dw_pgbuf_array_elem(&ids, a.alert_id);
      dw_pgbuf_puts(&vers, PQgetvalue(res, r, 11));
    }
    PQclear(res);
    dw_pgbuf_puts(&ids, "}");
    dw_pgbuf_puts(&vers, "}");
    if (bad || dw_publish_wait(p->rk, &p->d, DELIVERY_TIMEOUT_MS, errstr, n)) {
      total = -1;
      break;
    }
    if (rows == 0) break;
    if (mark(pg,
             "UPDATE alerts a SET published_version = v.ver FROM unnest($1::text[], $2::bigint[]) AS v(id, ver)"
             " WHERE a.alert_id = v.id AND a.published_version < v.ver",
             &ids, &vers, errstr, n)) {
      total = -1;
      break;
    }
    total += rows;
    if (rows < PAGE_ROWS) break;
  }
  dw_pgbuf_free(&ids);
  dw_pgbuf_free(&vers);
  return total;
}

typedef struct gauge {
  char key[DW_ID_MAX + 16];
  int64_t open_overdue;
  UT_hash_handle hh;
} gauge;

static int parse_unit_type(const char *s, dw_unit_type *out) {
  for (int u = 0; u < DW_UNIT__COUNT; u++)
    if (strcmp(s, dw_unit_type_name((dw_unit_type)u)) == 0) {
      *out = (dw_unit_type)u;
      return 0;
    }
  return -1;
}

static int parse_period_kind(const char *s, dw_period_kind *out) {
  for (int k = 0; k < DW_PERIOD__COUNT; k++)
    if (strcmp(s, dw_period_kind_name((dw_period_kind)k)) == 0) {
      *out = (dw_period_kind)k;
      return 0;
    }
  return -1;
}

long dw_publish_aggregates(dw_publish *p, PGconn *pg, const dw_aggregates *agg, int64_t now, char *errstr,
                           size_t n) {
  /* The current periods at `now` (local time) carry the open_overdue gauge. */
  char cur[DW_PERIOD_YEAR + 1][40];
  {
    int y, m, d;
    dw_civil_from_days(dw_local_day(now, p->utc_offset_min), &y, &m, &d);
    snprintf(cur[DW_PERIOD_DAY], sizeof cur[0], "%04d-%02d-%02d", y, m, d);
    snprintf(cur[DW_PERIOD_MONTH], sizeof cur[0], "%04d-%02d", y, m);
    snprintf(cur[DW_PERIOD_QUARTER], sizeof cur[0], "%04d-Q%d", y, (m - 1) / 3 + 1);
    snprintf(cur[DW_PERIOD_YEAR], sizeof cur[0], "%04d", y);
  }
  gauge *gauges = NULL;
  long total = 0;
  dw_pgbuf ids[4] = {{0}}, vers = {0}, sql = {0};
  PGresult *res = PQexec(pg, "SELECT unit_type, unit, open_overdue FROM v_open_overdue");
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    snprintf(errstr, n, "read open overdue: %s", PQresultErrorMessage(res));
    one_line(errstr);
    PQclear(res);
    return -1;
  }
  for (int r = 0; r < PQntuples(res); r++) {
    gauge *g = calloc(1, sizeof *g);
    if (!g) break;
    snprintf(g->key, sizeof g->key, "%s|%s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
    g->open_overdue = atoll(PQgetvalue(res, r, 2));
    HASH_ADD_STR(gauges, key, g);
  }
  PQclear(res);

  dw_pgbuf_puts(&sql, "SELECT unit_type, unit, period_kind, period, version");
  for (int c = 0; c < DW_C__COUNT; c++) dw_pgbuf_printf(&sql, ", %s", dw_counter_name((dw_counter)c));
  dw_pgbuf_printf(&sql,
                  " FROM aggregates WHERE version > published_version"
                  " ORDER BY unit_type, unit, period_kind, period LIMIT %d",
                  PAGE_ROWS);
  for (;;) {
    res = PQexec(pg, sql.data);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      snprintf(errstr, n, "read aggregates to publish: %s", PQresultErrorMessage(res));
      one_line(errstr);
      PQclear(res);
      total = -1;
      break;
    }
    int rows = PQntuples(res);
    for (int i = 0; i < 4; i++) {
      dw_pgbuf_reset(&ids[i]);
      dw_pgbuf_puts(&ids[i], "{");
    }
    dw_pgbuf_reset(&vers);
    dw_pgbuf_puts(&vers, "{");
    memset(&p->d, 0, sizeof p->d);
    int bad = 0, listed = 0;
    for (int r = 0; r < rows; r++) {
      dw_agg_row row;
      memset(&row, 0, sizeof row);
      if (parse_unit_type(PQgetvalue(res, r, 0), &row.unit_type) ||
          parse_period_kind(PQgetvalue(res, r, 2), &row.period_kind))
        continue;
      row.unit = PQgetvalue(res, r, 1);
      snprintf(row.period, sizeof row.period, "%s", PQgetvalue(res, r, 3));
      for (int c = 0; c < DW_C__COUNT; c++) row.counters[c] = atoll(PQgetvalue(res, r, 5 + c));
      if (row.period_kind <= DW_PERIOD_YEAR && strcmp(row.period, cur[row.period_kind]) == 0) {
        char key[DW_ID_MAX + 16];
        snprintf(key, sizeof key, "%s|%s", PQgetvalue(res, r, 0), row.unit);
        gauge *g;
        HASH_FIND_STR(gauges, key, g);
        row.open_overdue = g ? g->open_overdue : 0;
      }
      dw_agg_rates rates;
      dw_aggregates_rates(agg, &row, &rates);
      const void *out;
      size_t len;
      char why[256];
      char key[DW_ID_MAX + 48];
      int klen = snprintf(key, sizeof key, "%s|%s|%s", PQgetvalue(res, r, 0), row.unit, row.period);
      if (dw_avro_encode_aggregate(p->av, &row, &rates, &out, &len, why, sizeof why)) {
        fprintf(stderr, "dossierwatch watch: aggregate %s not publishable: %s\n", key, why);
      } else if (dw_publish_produce(p->rk, p->agg_topic, key, (size_t)klen, out, len, NULL, &p->d, errstr, n)) {
        bad = 1;
        break;
      }
      for (int i = 0; i < 4; i++) {
        if (listed) dw_pgbuf_puts(&ids[i], ",");
        dw_pgbuf_array_elem(&ids[i], PQgetvalue(res, r, i));
      }
      if (listed) dw_pgbuf_puts(&vers, ",");
      dw_pgbuf_puts(&vers, PQgetvalue(res, r, 4));
      listed++;
    }
    PQclear(res);
    for (int i = 0; i < 4; i++) dw_pgbuf_puts(&ids[i], "}");
    dw_pgbuf_puts(&vers, "}");
    if (bad || dw_publish_wait(p->rk, &p->d, DELIVERY_TIMEOUT_MS, errstr, n)) {
      total = -1;
      break;
    }
    if (rows == 0) break;
    const char *params[5] = {ids[0].data, ids[1].data, ids[2].data, ids[3].data, vers.data};
    res = PQexecParams(pg,
                       "UPDATE aggregates a SET published_version = v.ver"
                       " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
                       " AS v(ut, u, pk, p, ver)"
                       " WHERE a.unit_type = v.ut AND a.unit = v.u AND a.period_kind = v.pk AND a.period = v.p"
                       " AND a.published_version < v.ver",
                       5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      snprintf(errstr, n, "mark aggregates published: %s", PQresultErrorMessage(res));
      one_line(errstr);
      PQclear(res);
      total = -1;
      break;
    }
    PQclear(res);
    total += rows;
    if (rows < PAGE_ROWS) break;
  }
  gauge *g, *tmp;
  HASH_ITER(hh, gauges, g, tmp) {
    HASH_DEL(gauges, g);
    free(g);
  }
  for (int i = 0; i < 4; i++) dw_pgbuf_free(&ids[i]);
  dw_pgbuf_free(&vers);
  dw_pgbuf_free(&sql);
  return total;
}
