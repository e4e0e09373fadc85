/* dw_publish: alerts and aggregates to Kafka from the PostgreSQL outbox
 * (at-least-once; see dw_publish.h). */
#include "dw_publish.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "dw_kafka.h"
#include "dw_pg_sink.h"
#include "dw_time.h"

#define PAGE_ROWS 5000
#define DELIVERY_TIMEOUT_MS 30000

/* ---- publisher ---- */

struct dw_publish {
  dw_producer *rk;
  dw_avro *av;
  char alerts_topic[256];
  char agg_topic[256];
  int utc_offset_min;
  dw_delivery d;
};

dw_publish *dw_publish_new(dw_producer *rk, dw_avro *av, const dw_config *cfg) {
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

/* Marking a row published after its delivery report is the outbox's
 * bookkeeping. The mark finds each row by the physical address (ctid) the
 * outbox read gave, checked against its key (a ctid can be reused after a
 * vacuum): no index lookup per row. Rows a batch transaction is writing
 * right now are skipped, not waited for: waiting on each other's row
 * locks could deadlock with it, and such a row is about to get a new
 * version (published next round) or, if that transaction rolls back, is
 * published again (a duplicate, never a loss). A row updated since the
 * read has moved (new ctid, higher version) and is left for the next round
 * too. Setting published_version = the version delivered is only ever a
 * true statement, whatever happened to the row meanwhile. */
typedef struct marks {
  dw_buf tids, vers, keys[4];
  int n;
} marks;

static void marks_reset(marks *m) {
  dw_buf *all[6] = {&m->tids, &m->vers, &m->keys[0], &m->keys[1], &m->keys[2], &m->keys[3]};
  for (int i = 0; i < 6; i++) {
    dw_buf_reset(all[i]);
    dw_buf_puts(all[i], "{");
  }
  m->n = 0;
}

/* One row: its ctid, the version delivered and nkeys key columns. */
static void marks_add(marks *m, const char *tid, const char *ver, const char *const *keys, int nkeys) {
  const char *sep = m->n ? "," : "";
  dw_buf_puts(&m->tids, sep);
  dw_pg_array_elem(&m->tids, tid);
  dw_buf_puts(&m->vers, sep);
  dw_buf_puts(&m->vers, ver);
  for (int i = 0; i < nkeys; i++) {
    dw_buf_puts(&m->keys[i], sep);
    dw_pg_array_elem(&m->keys[i], keys[i]);
  }
  m->n++;
}

static void marks_free(marks *m) {
  dw_buf_free(&m->tids);
  dw_buf_free(&m->vers);
  for (int i = 0; i < 4; i++) dw_buf_free(&m->keys[i]);
}

static int marks_apply(PGconn *pg, const char *sql, marks *m, int nkeys, char *errstr, size_t n) {
  if (m->n == 0) return 0;
  dw_buf *all[6] = {&m->tids, &m->vers, &m->keys[0], &m->keys[1], &m->keys[2], &m->keys[3]};
  const char *params[6];
  for (int i = 0; i < 2 + nkeys; i++) {
    dw_buf_puts(all[i], "}");
    if (all[i]->oom) {
      snprintf(errstr, n, "mark published: out of memory");
      return -1;
    }
    params[i] = all[i]->data;
  }
  PGresult *res = PQexecParams(pg, sql, 2 + nkeys, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    snprintf(errstr, n, "mark published: %s", PQresultErrorMessage(res));
    one_line(errstr);
    rc = -1;
  }
  PQclear(res);
  return rc;
}

static const char MARK_ALERTS[] =
  "WITH l AS (SELECT a.ctid AS tid, v.ver FROM unnest($1::tid[], $2::bigint[], $3::text[]) AS v(tid, ver, id)"
  " JOIN alerts a ON a.ctid = v.tid AND a.alert_id = v.id WHERE a.published_version < v.ver"
  " FOR UPDATE OF a SKIP LOCKED)"
  " UPDATE alerts a SET published_version = l.ver FROM l WHERE a.ctid = l.tid";

static const char MARK_AGGREGATES[] =
  "WITH l AS (SELECT a.ctid AS tid, v.ver"
  " FROM unnest($1::tid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) AS v(tid, ver, ut, u, pk, p)"
  " JOIN aggregates a ON a.ctid = v.tid AND a.unit_type = v.ut AND a.unit = v.u AND a.period_kind = v.pk"
  " AND a.period = v.p WHERE a.published_version < v.ver FOR UPDATE OF a SKIP LOCKED)"
  " UPDATE aggregates a SET published_version = l.ver FROM l WHERE a.ctid = l.tid";

/* The alert in row r of the outbox read. */
static void alert_from_row(const PGresult *res, int r, dw_alert *a) {
  memset(a, 0, sizeof *a);
  snprintf(a->alert_id, sizeof a->alert_id, "%s", PQgetvalue(res, r, 0));
  if (dw_rule_parse(PQgetvalue(res, r, 1), &a->rule)) a->rule = DW_RULE_OVERDUE;
  snprintf(a->dossier_id, sizeof a->dossier_id, "%s", PQgetvalue(res, r, 2));
  snprintf(a->commune, sizeof a->commune, "%s", PQgetvalue(res, r, 3));
  snprintf(a->agency, sizeof a->agency, "%s", PQgetvalue(res, r, 4));
  snprintf(a->procedure, sizeof a->procedure, "%s", PQgetvalue(res, r, 5));
  a->severity = strcmp(PQgetvalue(res, r, 6), "critical") == 0 ? DW_SEV_CRITICAL : DW_SEV_WARNING;
  a->raised_at = ms_or_none(res, r, 7);
  a->due_at = ms_or_none(res, r, 8);
  a->cleared_at = ms_or_none(res, r, 9);
  snprintf(a->detail, sizeof a->detail, "%s", PQgetvalue(res, r, 10));
}

/* One kind of outbox row: how to turn row r of the read into a Kafka
 * message (produce returns -1 only when producing failed; a row that
 * cannot be encoded is reported on stderr and counted as done, or it would
 * block the outbox for ever) and which columns identify it for the mark. */
typedef struct outbox {
  const char *what; /* "alerts", "aggregates": for errors */
  const char *mark_sql;
  int nkeys, tid_col, ver_col; /* key columns are 0 .. nkeys - 1 */
  int (*produce)(dw_publish *p, const PGresult *res, int r, void *ctx, char *errstr, size_t n);
  void *ctx;
} outbox;

/* Reads the outbox page by page (select_sql ends with LIMIT PAGE_ROWS),
 * produces every row, waits for the delivery reports, then marks the page
 * published. Returns the rows published, or -1 with errstr. */
static long publish_pages(dw_publish *p, PGconn *pg, const char *select_sql, const outbox *o, char *errstr,
                          size_t n) {
  long total = 0;
  marks m = {0};
  for (;;) {
    PGresult *res = PQexec(pg, select_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      snprintf(errstr, n, "read %s to publish: %s", o->what, PQresultErrorMessage(res));
      one_line(errstr);
      PQclear(res);
      total = -1;
      break;
    }
    int rows = PQntuples(res);
    marks_reset(&m);
    memset(&p->d, 0, sizeof p->d);
    int bad = 0;
    for (int r = 0; r < rows && !bad; r++) {
      if (o->produce(p, res, r, o->ctx, errstr, n)) {
        bad = 1;
        break;
      }
      const char *keys[4];
      for (int k = 0; k < o->nkeys; k++) keys[k] = PQgetvalue(res, r, k);
      marks_add(&m, PQgetvalue(res, r, o->tid_col), PQgetvalue(res, r, o->ver_col), keys, o->nkeys);
    }
    PQclear(res);
    if (bad || dw_producer_wait(p->rk, &p->d, DELIVERY_TIMEOUT_MS, errstr, n)) {
      total = -1;
      break;
    }
    if (rows == 0) break;
    if (marks_apply(pg, o->mark_sql, &m, o->nkeys, errstr, n)) {
      total = -1;
      break;
    }
    total += rows;
    if (rows < PAGE_ROWS) break;
  }
  marks_free(&m);
  return total;
}

static int produce_alert(dw_publish *p, const PGresult *res, int r, void *ctx, char *errstr, size_t n) {
  (void)ctx;
  dw_alert a;
  alert_from_row(res, r, &a);
  const void *out;
  size_t len;
  char why[256];
  if (dw_avro_encode_alert(p->av, &a, &out, &len, why, sizeof why)) {
    fprintf(stderr, "dossierwatch watch: alert %s not publishable: %s\n", a.alert_id, why);
    return 0;
  }
  const dw_message m = {p->alerts_topic, a.agency, strlen(a.agency), out, len, 0, NULL};
  return dw_producer_send(p->rk, &m, &p->d, errstr, n);
}

long dw_publish_alerts(dw_publish *p, PGconn *pg, char *errstr, size_t n) {
  char sql[768];
  snprintf(sql, sizeof sql,
           "SELECT alert_id, rule, dossier_id, commune, agency, procedure, severity,"
           " (extract(epoch FROM raised_at) * 1000)::bigint, (extract(epoch FROM due_at) * 1000)::bigint,"
           " (extract(epoch FROM cleared_at) * 1000)::bigint, detail, version, ctid"
           " FROM alerts WHERE version > published_version ORDER BY alert_id LIMIT %d",
           PAGE_ROWS);
  const outbox o = {"alerts", MARK_ALERTS, 1, 12, 11, produce_alert, NULL};
  return publish_pages(p, pg, sql, &o, errstr, n);
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

typedef struct agg_ctx {
  const dw_aggregates *agg;                 /* rates and score */
  char cur[DW_PERIOD__COUNT][16];           /* the current periods: they carry the gauge */
  gauge *gauges;                            /* open OVERDUE alerts by "unit_type|unit" */
} agg_ctx;

/* Columns: unit_type, unit, period_kind, period, version, counters..., ctid. */
static int produce_aggregate(dw_publish *p, const PGresult *res, int r, void *ctx, char *errstr, size_t n) {
  const agg_ctx *c = ctx;
  char key[DW_ID_MAX + 48];
  int klen = snprintf(key, sizeof key, "%s|%s|%s", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
                      PQgetvalue(res, r, 3));
  dw_agg_row row;
  memset(&row, 0, sizeof row);
  if (parse_unit_type(PQgetvalue(res, r, 0), &row.unit_type) ||
      parse_period_kind(PQgetvalue(res, r, 2), &row.period_kind)) {
    fprintf(stderr, "dossierwatch watch: aggregate %s not publishable: unknown unit type or period kind\n", key);
    return 0;
  }
  row.unit = PQgetvalue(res, r, 1);
  snprintf(row.period, sizeof row.period, "%s", PQgetvalue(res, r, 3));
  for (int k = 0; k < DW_C__COUNT; k++) row.counters[k] = atoll(PQgetvalue(res, r, 5 + k));
  if (row.period_kind <= DW_PERIOD_YEAR && strcmp(row.period, c->cur[row.period_kind]) == 0) {
    char gkey[DW_ID_MAX + 16];
    snprintf(gkey, sizeof gkey, "%s|%s", PQgetvalue(res, r, 0), row.unit);
    gauge *g;
    HASH_FIND_STR(c->gauges, gkey, g);
    row.open_overdue = g ? g->open_overdue : 0;
  }
  dw_agg_rates rates;
  dw_aggregates_rates(c->agg, &row, &rates);
  const void *out;
  size_t len;
  char why[256];
  if (dw_avro_encode_aggregate(p->av, &row, &rates, &out, &len, why, sizeof why)) {
    fprintf(stderr, "dossierwatch watch: aggregate %s not publishable: %s\n", key, why);
    return 0;
  }
  const dw_message m = {p->agg_topic, key, (size_t)klen, out, len, 0, NULL};
  return dw_producer_send(p->rk, &m, &p->d, errstr, n);
}

long dw_publish_aggregates(dw_publish *p, PGconn *pg, const dw_aggregates *agg, int64_t now, char *errstr,
                           size_t n) {
  agg_ctx c = {agg, {{0}}, NULL};
  dw_aggregates_period_names(now, p->utc_offset_min, c.cur);
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
    HASH_ADD_STR(c.gauges, key, g);
  }
  PQclear(res);

  dw_buf sql = {0};
  dw_buf_puts(&sql, "SELECT unit_type, unit, period_kind, period, version");
  for (int k = 0; k < DW_C__COUNT; k++) dw_buf_printf(&sql, ", %s", dw_counter_name((dw_counter)k));
  dw_buf_printf(&sql,
                  ", ctid FROM aggregates WHERE version > published_version"
                  " ORDER BY unit_type, unit, period_kind, period LIMIT %d",
                  PAGE_ROWS);
  long total;
  if (sql.oom) {
    snprintf(errstr, n, "publish aggregates: out of memory");
    total = -1;
  } else {
    const outbox o = {"aggregates", MARK_AGGREGATES, 4, 5 + DW_C__COUNT, 4, produce_aggregate, &c};
    total = publish_pages(p, pg, sql.data, &o, errstr, n);
  }
  gauge *g, *tmp;
  HASH_ITER(hh, c.gauges, g, tmp) {
    HASH_DEL(c.gauges, g);
    free(g);
  }
  dw_buf_free(&sql);
  return total;
}

/* ---- dw_publisher ---- */

#define ALERT_SWEEP_MS 1000    /* leftovers (failed round, previous run) */
#define RETRY_MAX_MS 5000
#define WARMUP_TIMEOUT_MS 5000

typedef struct worker {
  struct dw_publisher *owner;
  bool alerts; /* else aggregates */
  const char *name;
  int period_ms;
  dw_producer *rk;
  dw_avro *av;
  dw_aggregates *agg; /* rates and score only (never fed events) */
  dw_publish *pub;
  PGconn *pg;
  pthread_t thread;
  bool started;
  pthread_cond_t cv;
  bool kicked; /* guarded by owner->mu */
} worker;

struct dw_publisher {
  pthread_mutex_t mu;
  bool stop;       /* guarded by mu */
  int64_t now_ms;  /* guarded by mu; DW_TIME_NONE: wall clock */
  int64_t busy_ms; /* guarded by mu */
  char *conninfo;
  worker w[2];
};

static PGconn *worker_pg(worker *k, char *err, size_t n) {
  if (k->pg && PQstatus(k->pg) == CONNECTION_OK) return k->pg;
  if (k->pg) PQfinish(k->pg);
  k->pg = PQconnectdb(k->owner->conninfo);
  if (PQstatus(k->pg) != CONNECTION_OK) {
    snprintf(err, n, "cannot connect to PostgreSQL: %s", PQerrorMessage(k->pg));
    one_line(err);
    PQfinish(k->pg);
    k->pg = NULL;
    return NULL;
  }
  char sql[128];
  snprintf(sql, sizeof sql, "SET application_name = 'dossierwatch publish %s'; SET synchronous_commit = off", k->name);
  PGresult *r = PQexec(k->pg, sql);
  PQclear(r);
  return k->pg;
}

/* The first message to a topic would otherwise wait for its metadata
 * (leaders) to arrive: ask for it up front. Best effort. */
static void warm_up(worker *k) {
  const char *topic = k->alerts ? k->pub->alerts_topic : k->pub->agg_topic;
  rd_kafka_topic_t *t = rd_kafka_topic_new(dw_producer_handle(k->rk), topic, NULL);
  if (!t) return;
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(dw_producer_handle(k->rk), 0, t, &md, WARMUP_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
}

/* One publish round: 0, or -1 with the reason in err. */
static int worker_round(worker *k, int64_t now, char *err, size_t n) {
  PGconn *pg = worker_pg(k, err, n);
  if (!pg) return -1;
  long rc = k->alerts ? dw_publish_alerts(k->pub, pg, err, n)
                      : dw_publish_aggregates(k->pub, pg, k->agg, now == DW_TIME_NONE ? dw_now_ms() : now, err, n);
  /* Let librdkafka serve anything else it has queued (errors, stats). */
  dw_producer_poll(k->rk, 0);
  return rc < 0 ? -1 : 0;
}

static struct timespec abs_time(int64_t wall_ms) {
  struct timespec ts = {(time_t)(wall_ms / 1000), (long)(wall_ms % 1000) * 1000000L};
  return ts;
}

static void *worker_main(void *arg) {
  worker *k = arg;
  dw_publisher *P = k->owner;
  char err[1024];
  warm_up(k);
  int64_t due = 0; /* the first round at once: leftovers of a previous run */
  int fails = 0;
  for (;;) {
    pthread_mutex_lock(&P->mu);
    while (!P->stop && !k->kicked && dw_now_ms() < due) {
      struct timespec ts = abs_time(due);
      pthread_cond_timedwait(&k->cv, &P->mu, &ts);
    }
    bool last = P->stop;
    int64_t now = P->now_ms;
    k->kicked = false;
    pthread_mutex_unlock(&P->mu);

    int64_t t0 = dw_now_ms();
    int rc = worker_round(k, now, err, sizeof err);
    int64_t t1 = dw_now_ms();
    pthread_mutex_lock(&P->mu);
    P->busy_ms += t1 - t0;
    pthread_mutex_unlock(&P->mu);
    if (rc) {
      fprintf(stderr, "dossierwatch watch: publish %s (will retry): %s\n", k->name, err);
      int backoff = 200 << (fails < 5 ? fails : 5);
      fails++;
      due = t1 + (backoff < RETRY_MAX_MS ? backoff : RETRY_MAX_MS);
      if (!k->alerts && k->period_ms < due - t1) due = t1 + k->period_ms;
    } else {
      fails = 0;
      due = t1 + k->period_ms;
    }
    if (last) break;
  }
  return NULL;
}

static void worker_free(worker *k) {
  dw_producer_destroy(k->rk);
  if (k->pub) dw_publish_destroy(k->pub);
  if (k->agg) dw_aggregates_destroy(k->agg);
  if (k->av) dw_avro_destroy(k->av);
  if (k->pg) PQfinish(k->pg);
  pthread_cond_destroy(&k->cv);
}

static int worker_init(dw_publisher *P, worker *k, bool alerts, const dw_config *cfg, char *err, size_t n) {
  k->owner = P;
  k->alerts = alerts;
  k->name = alerts ? "alerts" : "aggregates";
  pthread_cond_init(&k->cv, NULL);
  /* Alerts leave at once (latency); aggregates may wait a little to share
   * requests (they are many and not urgent). */
  const char *const props[] = {"linger.ms", alerts ? "0" : "5", NULL};
  if (!(k->rk = dw_producer_new(cfg, alerts ? "publish alerts" : "publish aggregates", props, err, n))) return -1;
  if (!(k->av = dw_avro_new(err, n))) return -1;
  if (!alerts && !(k->agg = dw_aggregates_new(cfg, (int)dw_config_get_int(cfg, "calendar.utc_offset_min")))) {
    snprintf(err, n, "cannot create aggregates");
    return -1;
  }
  if (!(k->pub = dw_publish_new(k->rk, k->av, cfg))) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  k->period_ms = alerts ? ALERT_SWEEP_MS : (int)dw_config_get_int(cfg, "aggregates.publish_interval_ms");
  return 0;
}

dw_publisher *dw_publisher_start(const dw_config *cfg, const char *conninfo, char *err, size_t n) {
  dw_publisher *P = calloc(1, sizeof *P);
  if (!P) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&P->mu, NULL);
  P->now_ms = DW_TIME_NONE;
  P->conninfo = strdup(conninfo);
  if (!P->conninfo || worker_init(P, &P->w[0], true, cfg, err, n) || worker_init(P, &P->w[1], false, cfg, err, n)) {
    if (!P->conninfo) snprintf(err, n, "out of memory");
    dw_publisher_stop(P);
    return NULL;
  }
  /* Signals are the main thread's business (SIGTERM = commit and stop). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < 2; i++) {
    int e = pthread_create(&P->w[i].thread, NULL, worker_main, &P->w[i]);
    if (e) {
      snprintf(err, n, "cannot start the %s publisher: %s", P->w[i].name, strerror(e));
      break;
    }
    P->w[i].started = true;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!P->w[0].started || !P->w[1].started) {
    dw_publisher_stop(P);
    return NULL;
  }
  return P;
}

void dw_publisher_kick_alerts(dw_publisher *P) {
  pthread_mutex_lock(&P->mu);
  P->w[0].kicked = true;
  pthread_cond_signal(&P->w[0].cv);
  pthread_mutex_unlock(&P->mu);
}

void dw_publisher_set_now(dw_publisher *P, int64_t now_ms) {
  pthread_mutex_lock(&P->mu);
  P->now_ms = now_ms;
  pthread_mutex_unlock(&P->mu);
}

int64_t dw_publisher_take_busy_ms(dw_publisher *P) {
  pthread_mutex_lock(&P->mu);
  int64_t ms = P->busy_ms;
  P->busy_ms = 0;
  pthread_mutex_unlock(&P->mu);
  return ms;
}

void dw_publisher_stop(dw_publisher *P) {
  if (!P) return;
  pthread_mutex_lock(&P->mu);
  P->stop = true;
  for (int i = 0; i < 2; i++) pthread_cond_signal(&P->w[i].cv);
  pthread_mutex_unlock(&P->mu);
  for (int i = 0; i < 2; i++)
    if (P->w[i].started) pthread_join(P->w[i].thread, NULL);
  for (int i = 0; i < 2; i++)
    if (P->w[i].owner) worker_free(&P->w[i]);
  pthread_mutex_destroy(&P->mu);
  free(P->conninfo);
  free(P);
}
