/* dw_replay_out: a replay's output tables (see dw_replay_out.h).
 *
 * The output tables are new (a shadow schema) or emptied in the writing
 * transaction (the live tables), and what the jobs give is unique (a state
 * per dossier, a version per alert, the aggregate deltas summed here): rows
 * go straight in by binary COPY, no staging table, no ON CONFLICT. Their
 * indexes, primary keys included, are dropped first and built again after
 * the load (a sorted build costs a fraction of maintaining them row by row;
 * a duplicate key would fail the primary key's build).
 *
 * A shadow schema is written in parallel, because the server's work (COPY
 * parsing, then a dozen index builds) is most of a replay's time once the
 * jobs have applied: one connection per table creates its table and COPYs
 * into it with FREEZE in one transaction (no hint bits to set by the index
 * builds afterwards), then every connection builds the next index of any
 * table already loaded. The schema is built under a partial name
 * (replay_partial_<pid>_<seconds>) whose session advisory lock the
 * replay holds; the last transaction attaches the primary keys and renames
 * it to the target, so the target appears whole or not at all. A failed
 * write drops the partial schema; one left by a killed replay is dropped by
 * the next (nobody holds its lock any more).
 * The live tables are written by one connection in one transaction: readers
 * see the old rows until its commit. */
#include "dw_replay_out.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "dw_aggregates.h"
#include "dw_buf.h"
#include "dw_driver.h"
#include "dw_engine.h"
#include "dw_log.h"
#include "dw_pg.h"
#include "dw_pg_sink.h"
#include "dw_runs.h"
#include "dw_time.h"

const char *const dw_replay_tables[DW_REPLAY_TABLES] = {"alerts", "aggregates", "dossier_state"};
enum { T_ALERTS, T_AGGREGATES, T_STATES };

#define PARTIAL_PREFIX "replay_partial_"

bool dw_replay_schema_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return strcmp(s, "public") != 0 && strncmp(s, "pg_", 3) != 0 && strcmp(s, "information_schema") != 0;
}

int dw_replay_schema_exists(PGconn *pg, const char *schema, int *exists, char *err, size_t n) {
  const char *params[1] = {schema};
  PGresult *res = dw_pg_query(pg, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, params, err, n);
  if (!res) return -1;
  *exists = PQntuples(res) > 0;
  PQclear(res);
  return 0;
}

/* ---- indexes: dropped before the load, built after it ---- */

/* One index to build again: create builds it (NULL for a constraint that
 * has no index of its own to build first), attach turns it into its
 * constraint (primary key or unique: USING INDEX; any other: the whole
 * ADD CONSTRAINT), run after every create. */
typedef struct out_index {
  int table;
  char *create, *attach;
  bool taken;
} out_index;

typedef struct out_indexes {
  out_index *v;
  size_t n, cap;
} out_indexes;

static void indexes_free(out_indexes *ix) {
  for (size_t i = 0; i < ix->n; i++) free(ix->v[i].create), free(ix->v[i].attach);
  free(ix->v);
  *ix = (out_indexes){0};
}

/* Room for extra more entries. */
static int indexes_reserve(out_indexes *ix, size_t extra) {
  if (ix->n + extra <= ix->cap) return 0;
  size_t cap = ix->cap * 2 >= ix->n + extra ? ix->cap * 2 : ix->n + extra + 16;
  out_index *v = realloc(ix->v, cap * sizeof *v);
  if (!v) return -1;
  ix->v = v, ix->cap = cap;
  return 0;
}

/* Appends an entry owning create's and attach's text (NULL when empty). */
static int indexes_push(out_indexes *ix, int table, dw_buf *create, dw_buf *attach) {
  if (indexes_reserve(ix, 1)) return -1;
  ix->v[ix->n++] = (out_index){table, create->len ? create->data : NULL, attach->len ? attach->data : NULL, false};
  if (!create->len) dw_buf_free(create);
  if (!attach->len) dw_buf_free(attach);
  return 0;
}

/* Appends from's entries to *to (from is left empty). */
static int indexes_move(out_indexes *to, out_indexes *from) {
  if (indexes_reserve(to, from->n)) return -1;
  if (from->n) memcpy(to->v + to->n, from->v, from->n * sizeof *from->v);
  to->n += from->n;
  free(from->v);
  *from = (out_indexes){0};
  return 0;
}

/* Drops every index of schema.table, the primary key's too (its
 * constraint; one that a foreign key needs is kept), and appends what
 * builds them again to *ix. */
static int indexes_take(PGconn *pg, const char *schema, int table, out_indexes *ix, char *err, size_t n) {
  const char *params[2] = {schema, dw_replay_tables[table]};
  PGresult *res = dw_pg_query(pg,
                              "SELECT pg_get_indexdef(i.indexrelid), quote_ident(ci.relname), quote_ident(k.conname), k.contype,"
                              " pg_get_constraintdef(k.oid), quote_ident(n.nspname) || '.' || quote_ident(c.relname),"
                              " EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid),"
                              " quote_ident(n.nspname) || '.' || quote_ident(ci.relname)"
                              " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
                              " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                              " LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = c.oid"
                              " WHERE n.nspname = $1 AND c.relname = $2",
                              2, params, err, n);
  if (!res) return -1;
  dw_buf drop = DW_BUF_INIT;
  int rc = 0;
  for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
    if (PQgetvalue(res, i, 6)[0] == 't') continue; /* a foreign key needs it */
    const char *qtable = PQgetvalue(res, i, 5);
    dw_buf create = DW_BUF_INIT, attach = DW_BUF_INIT;
    if (!PQgetisnull(res, i, 2)) {
      const char *con = PQgetvalue(res, i, 2), type = PQgetvalue(res, i, 3)[0];
      dw_buf_printf(&drop, "ALTER TABLE %s DROP CONSTRAINT %s;", qtable, con);
      if (type == 'p' || type == 'u') {
        dw_buf_puts(&create, PQgetvalue(res, i, 0));
        dw_buf_printf(&attach, "ALTER TABLE %s ADD CONSTRAINT %s %s USING INDEX %s", qtable, con,
                      type == 'p' ? "PRIMARY KEY" : "UNIQUE", PQgetvalue(res, i, 1));
      } else {
        dw_buf_printf(&attach, "ALTER TABLE %s ADD CONSTRAINT %s %s", qtable, con, PQgetvalue(res, i, 4));
      }
    } else {
      dw_buf_printf(&drop, "DROP INDEX %s;", PQgetvalue(res, i, 7));
      dw_buf_puts(&create, PQgetvalue(res, i, 0));
    }
    if (create.oom || attach.oom || indexes_push(ix, table, &create, &attach)) {
      dw_buf_free(&create), dw_buf_free(&attach);
      rc = -1;
    }
  }
  PQclear(res);
  if (rc || drop.oom) {
    snprintf(err, n, "out of memory");
    rc = -1;
  } else if (drop.len) {
    rc = dw_pg_exec(pg, drop.data, err, n);
  }
  dw_buf_free(&drop);
  return rc;
}

/* ---- the rows ---- */

/* Aggregate deltas of all jobs, summed by key. */
typedef struct agg_sum {
  dw_agg_row row;
  UT_hash_handle hh;
  char key[]; /* unit_type|unit|period_kind|period; row.unit points into it */
} agg_sum;

typedef struct agg_ctx {
  agg_sum *map;
  bool oom;
} agg_ctx;

static void on_agg(const dw_agg_row *delta, void *opaque) {
  agg_ctx *a = opaque;
  if (a->oom) return;
  char key[DW_ID_MAX + 64];
  int kl = snprintf(key, sizeof key, "%d|%s|%d|%s", (int)delta->unit_type, delta->unit, (int)delta->period_kind,
                    delta->period);
  if (kl < 0 || (size_t)kl >= sizeof key) kl = (int)strlen(key);
  agg_sum *x;
  HASH_FIND(hh, a->map, key, (size_t)kl, x);
  if (x) {
    for (int c = 0; c < DW_C__COUNT; c++) x->row.counters[c] += delta->counters[c];
    return;
  }
  if (!(x = malloc(sizeof *x + (size_t)kl + 1 + strlen(delta->unit) + 1))) {
    a->oom = true;
    return;
  }
  memcpy(x->key, key, (size_t)kl + 1);
  char *unit = x->key + kl + 1;
  strcpy(unit, delta->unit);
  x->row = *delta;
  x->row.unit = unit;
  HASH_ADD(hh, a->map, key, (size_t)kl, x);
}

static void agg_free(agg_ctx *a) {
  agg_sum *x, *t;
  HASH_ITER(hh, a->map, x, t) {
    HASH_DEL(a->map, x);
    free(x);
  }
}

/* Every job's aggregate deltas, summed (the jobs' dossiers are disjoint,
 * their deltas add up). */
static int agg_collect(dw_jobs *jobs, agg_ctx *a, char *err, size_t n) {
  for (int j = 0; j < dw_jobs_count(jobs); j++) dw_driver_drain_aggregates(dw_jobs_driver(jobs, j), on_agg, a);
  if (!a->oom) return 0;
  agg_free(a);
  snprintf(err, n, "out of memory collecting aggregate rows");
  return -1;
}

/* Ends a COPY that rc (a failure of the caller's, err says why) or a
 * failed send (its reason in why) may have cut short: cut short, the COPY
 * is ended with an error (nothing of it is kept) and err keeps the first
 * reason. */
static int close_stream(dw_pg_copy_stream *cs, int rc, const char *why, char *err, size_t n) {
  char first[1024] = "";
  if (rc) snprintf(first, sizeof first, "%s", err), cs->failed = 1;
  else if (cs->failed) snprintf(first, sizeof first, "%s", why);
  if (dw_pg_copy_close(cs, err, n) == 0) return 0;
  if (first[0]) snprintf(err, n, "%s", first);
  return -1;
}

/* The COPY statement's options: FREEZE when the table was created or
 * emptied in the same transaction and nobody else can see it yet. */
#define COPY_OPTS(freeze) ((freeze) ? " FROM STDIN (FORMAT binary, FREEZE)" : " FROM STDIN (FORMAT binary)")

typedef struct alert_out {
  dw_pg_copy_stream cs;
  int64_t seq;
  dw_replay_out_counts *oc;
  char err[1024];
} alert_out;

static void put_alert(const dw_alert *a, void *opaque) {
  alert_out *o = opaque;
  if (o->cs.failed) return;
  const char *texts[] = {a->alert_id, a->dossier_id, a->commune, a->agency, a->procedure};
  const char *names[] = {dw_rule_name(a->rule), dw_severity_name(a->severity)};
  dw_buf *b = &o->cs.buf;
  dw_pg_bin_row(b, 12);
  dw_pg_bin_bytes(b, texts[0], strlen(texts[0]));
  dw_pg_bin_bytes(b, names[0], strlen(names[0]));
  for (size_t k = 1; k < 5; k++) dw_pg_bin_bytes(b, texts[k], strlen(texts[k]));
  dw_pg_bin_bytes(b, names[1], strlen(names[1]));
  dw_pg_bin_time(b, a->raised_at);
  dw_pg_bin_time(b, a->due_at);
  dw_pg_bin_time(b, a->cleared_at);
  dw_pg_bin_bytes(b, a->detail, strlen(a->detail));
  dw_pg_bin_int8(b, o->seq);
  o->oc->alerts++;
  o->oc->open_alerts += a->cleared_at == DW_TIME_NONE;
  dw_pg_copy_flush(&o->cs, 0, o->err, sizeof o->err);
}

/* Every job's alerts (dw_jobs_each_alert), in alert_id order. */
static int copy_alerts(PGconn *pg, dw_jobs *jobs, int64_t seq, bool freeze, dw_replay_out_counts *oc, char *err,
                       size_t n) {
  char sql[256];
  snprintf(sql, sizeof sql, "COPY alerts (alert_id, rule, dossier_id, commune, agency, procedure, severity, raised_at,"
           " due_at, cleared_at, detail, change_seq)%s", COPY_OPTS(freeze));
  alert_out o = {.seq = seq, .oc = oc};
  if (dw_pg_copy_open(&o.cs, pg, sql, 1, err, n)) return -1;
  int rc = dw_jobs_each_alert(jobs, put_alert, &o, err, n);
  return close_stream(&o.cs, rc, o.err, err, n);
}

/* Aggregate rows in the primary key's order (unit_type, unit, period_kind,
 * period: texts, compared as bytes). */
static int cmp_agg(const void *x, const void *y) {
  const dw_agg_row *a = &(*(agg_sum *const *)x)->row, *b = &(*(agg_sum *const *)y)->row;
  int c = strcmp(dw_unit_type_name(a->unit_type), dw_unit_type_name(b->unit_type));
  if (!c) c = strcmp(a->unit, b->unit);
  if (!c) c = strcmp(dw_period_kind_name(a->period_kind), dw_period_kind_name(b->period_kind));
  return c ? c : strcmp(a->period, b->period);
}

static int copy_aggregates(PGconn *pg, const agg_ctx *a, int64_t seq, bool freeze, dw_replay_out_counts *oc,
                           char *err, size_t n) {
  size_t nrows = HASH_COUNT(a->map), k = 0;
  agg_sum **rows = malloc((nrows ? nrows : 1) * sizeof *rows);
  if (!rows) return snprintf(err, n, "out of memory"), -1;
  for (agg_sum *x = a->map; x; x = x->hh.next) rows[k++] = x;
  qsort(rows, nrows, sizeof *rows, cmp_agg);
  dw_buf sql = DW_BUF_INIT;
  dw_buf_puts(&sql, "COPY aggregates (unit_type, unit, period_kind, period");
  for (int c = 0; c < DW_C__COUNT; c++) dw_buf_printf(&sql, ", %s", dw_counter_name((dw_counter)c));
  dw_buf_printf(&sql, ", change_seq)%s", COPY_OPTS(freeze));
  dw_pg_copy_stream cs;
  int rc = sql.oom ? -1 : dw_pg_copy_open(&cs, pg, sql.data, 1, err, n);
  dw_buf_free(&sql);
  if (rc) {
    free(rows);
    return -1;
  }
  for (k = 0; k < nrows && !cs.failed; k++) {
    const dw_agg_row *d = &rows[k]->row;
    bool any = false; /* a row whose deltas summed to nothing says nothing (as the sink) */
    for (int c = 0; c < DW_C__COUNT; c++) any |= d->counters[c] != 0;
    if (!any || d->period_kind == DW_PERIOD_ROLLING30) continue;
    const char *key[] = {dw_unit_type_name(d->unit_type), d->unit, dw_period_kind_name(d->period_kind), d->period};
    dw_pg_bin_row(&cs.buf, 4 + DW_C__COUNT + 1);
    for (int i = 0; i < 4; i++) dw_pg_bin_bytes(&cs.buf, key[i], strlen(key[i]));
    for (int c = 0; c < DW_C__COUNT; c++) dw_pg_bin_int8(&cs.buf, d->counters[c]);
    dw_pg_bin_int8(&cs.buf, seq);
    oc->agg_rows++;
    dw_pg_copy_flush(&cs, 0, err, n);
  }
  free(rows);
  return dw_pg_copy_close(&cs, err, n);
}

/* The states go in by dossier_id (the primary key's order): their COPY rows
 * are collected in a dw_runs keyed by it, then sent merged. */
typedef struct state_out {
  dw_pg_copy_stream cs;
  dw_runs *sorted;
  dw_buf row; /* the row being made */
  char last[DW_ID_MAX]; /* the dossier_id last sent */
  size_t last_len;
  dw_driver *drv; /* whose rows are being collected */
  int64_t now;
  uint64_t written;
  char err[1024];
} state_out;

static void on_state(const dw_state_row *row, void *opaque) {
  state_out *o = opaque;
  if (o->cs.failed) return;
  dw_buf *b = &o->row;
  dw_buf_reset(b);
  dw_pg_bin_row(b, 6);
  dw_pg_bin_bytes(b, row->dossier_id, strlen(row->dossier_id));
  dw_pg_bin_int4(b, row->tag);
  dw_pg_bin_bytes(b, row->blob ? row->blob : "", row->len);
  dw_pg_bin_bool(b, row->open);
  dw_pg_bin_bool(b, row->tombstone);
  dw_pg_bin_time(b, row->tombstone ? o->now : DW_TIME_NONE); /* tombstone_at: when it was written (migration 012) */
  if (b->oom) snprintf(o->err, sizeof o->err, "out of memory"), o->cs.failed = 1;
  else if (dw_runs_put(o->sorted, row->dossier_id, strlen(row->dossier_id), b->data, b->len, o->err, sizeof o->err))
    o->cs.failed = 1;
}

/* A spilled dossier's row: the tombstone dw_driver_drain_states would
 * have given it, made at the job's final clock; none when it is in memory
 * again (a late event after its tombstone expired made it anew: its state
 * comes from the final drain). */
static void on_gone(const char *dossier_id, int32_t tag, void *opaque) {
  state_out *o = opaque;
  if (dw_engine_holds(dw_driver_engine(o->drv), dossier_id)) return;
  uint8_t blob[DW_ENGINE_TOMBSTONE_LEN];
  size_t len = dw_engine_tombstone(dw_driver_engine(o->drv), dossier_id, blob);
  on_state(&(dw_state_row){dossier_id, tag, blob, len, 0, 1}, o);
}

/* One row per dossier, the first put: a dossier that left memory more
 * than once was moved out each time, and one moved out comes again as a
 * tombstone from the final drain, without its tag (forgotten when it was
 * moved out); the spilled rows are put first, and every tombstone of one
 * dossier is made at the same final clock. */
static void send_state(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  state_out *o = opaque;
  if (o->cs.failed) return;
  if (klen == o->last_len && memcmp(key, o->last, klen) == 0) return;
  o->last_len = klen < sizeof o->last ? klen : 0;
  memcpy(o->last, key, o->last_len);
  dw_buf_put(&o->cs.buf, val, vlen);
  o->written++;
  dw_pg_copy_flush(&o->cs, 0, o->err, sizeof o->err);
}

/* what the sorted states hold in memory before they write a run */
#define STATES_SORT_BUDGET (32u << 20)

static int copy_states(PGconn *pg, dw_jobs *jobs, bool freeze, dw_replay_out_counts *oc, char *err, size_t n) {
  char sql[160];
  snprintf(sql, sizeof sql, "COPY dossier_state (dossier_id, kafka_partition, state, open, tombstone, tombstone_at)%s",
           COPY_OPTS(freeze));
  state_out o = {.now = dw_now_ms(), .row = DW_BUF_INIT};
  if (!(o.sorted = dw_runs_new("replay-states", STATES_SORT_BUDGET))) return snprintf(err, n, "out of memory"), -1;
  if (dw_pg_copy_open(&o.cs, pg, sql, 1, err, n)) {
    dw_runs_destroy(o.sorted);
    return -1;
  }
  int rc = 0;
  for (int j = 0; j < dw_jobs_count(jobs) && !rc && !o.cs.failed; j++) {
    o.drv = dw_jobs_driver(jobs, j);
    if (!(rc = dw_jobs_each_gone(jobs, j, on_gone, &o, err, n))) dw_driver_drain_states(o.drv, on_state, &o);
  }
  if (!rc && !o.cs.failed) rc = dw_runs_each(&o.sorted, 1, send_state, &o, err, n);
  dw_runs_destroy(o.sorted);
  dw_buf_free(&o.row);
  if (close_stream(&o.cs, rc, o.err, err, n)) return -1;
  oc->states = o.written;
  return 0;
}

/* One table's rows, by its own COPY. */
static int copy_table(PGconn *pg, int table, dw_jobs *jobs, const agg_ctx *agg, int64_t seq, bool freeze,
                      dw_replay_out_counts *oc, char *err, size_t n) {
  switch (table) {
  case T_ALERTS: return copy_alerts(pg, jobs, seq, freeze, oc, err, n);
  case T_AGGREGATES: return copy_aggregates(pg, agg, seq, freeze, oc, err, n);
  default: return copy_states(pg, jobs, freeze, oc, err, n);
  }
}

static void counts_add(dw_replay_out_counts *to, const dw_replay_out_counts *c) {
  to->alerts += c->alerts, to->open_alerts += c->open_alerts, to->agg_rows += c->agg_rows, to->states += c->states;
}

/* ---- the live tables: one connection, one transaction ---- */

static int write_live(PGconn *pg, dw_jobs *jobs, const agg_ctx *agg, dw_replay_out_counts *oc, char *err, size_t n) {
  out_indexes ix = {0};
  int64_t seq = 0;
  int rc = -1;
  if (dw_pg_exec(pg, "BEGIN", err, n)) goto out;
  if (dw_pg_exec(pg, "TRUNCATE public.alerts, public.aggregates, public.dossier_state", err, n) ||
      dw_pg_exec(pg, "SET LOCAL search_path = public", err, n))
    goto out;
  for (int t = 0; t < DW_REPLAY_TABLES; t++)
    if (indexes_take(pg, "public", t, &ix, err, n)) goto out;
  /* rows the feeds must deliver carry the outbox clock */
  if (dw_pg_sink_outbox_tick(pg, &seq, err, n)) goto out;
  for (int t = 0; t < DW_REPLAY_TABLES; t++)
    if (copy_table(pg, t, jobs, agg, seq, false, oc, err, n)) goto out;
  for (size_t i = 0; i < ix.n; i++)
    if (ix.v[i].create && dw_pg_exec(pg, ix.v[i].create, err, n)) goto out;
  for (size_t i = 0; i < ix.n; i++)
    if (ix.v[i].attach && dw_pg_exec(pg, ix.v[i].attach, err, n)) goto out;
  rc = dw_pg_exec(pg, "COMMIT", err, n);
out:
  if (rc) PQclear(PQexec(pg, "ROLLBACK"));
  indexes_free(&ix);
  return rc;
}

/* ---- a shadow schema: a connection per table, then every connection on
 * the index builds ---- */

typedef struct shadow {
  const char *conninfo, *partial;
  dw_jobs *jobs;
  const agg_ctx *agg;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  out_indexes ix;                /* every table's, appended as each is created */
  bool loaded[DW_REPLAY_TABLES]; /* committed: its indexes may be built */
  int pending;                   /* tables not loaded yet */
  bool failed;
  char err[1024];
} shadow;

typedef struct loader {
  shadow *s;
  int table;
  pthread_t thread;
  dw_replay_out_counts oc;
} loader;

static void shadow_fail(shadow *s, const char *what, const char *err) {
  pthread_mutex_lock(&s->mu);
  if (!s->failed) snprintf(s->err, sizeof s->err, "%s: %s", what, err);
  s->failed = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* The next index to build: one of a loaded table, not taken; NULL when
 * there is none left (or the write failed). Waits while tables load. */
static const char *next_index(shadow *s) {
  pthread_mutex_lock(&s->mu);
  const char *sql = NULL;
  while (!s->failed) {
    for (size_t i = 0; i < s->ix.n && !sql; i++) {
      out_index *x = &s->ix.v[i];
      if (!x->taken && x->create && s->loaded[x->table]) x->taken = true, sql = x->create;
    }
    if (sql) break;
    bool left = s->pending > 0; /* a table still loading may add indexes */
    if (!left) break;
    pthread_cond_wait(&s->cv, &s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return sql;
}

/* Creates the table in the partial schema, takes its indexes, loads it
 * (one transaction), then builds indexes until none is left. */
static int load_table(loader *l, PGconn *pg, char *err, size_t n) {
  shadow *s = l->s;
  const char *t = dw_replay_tables[l->table];
  char sql[512];
  out_indexes mine = {0};
  /* this session's commits need not wait for the disk: the final
   * transaction (synchronous, on the caller's connection) that makes the
   * schema appear flushes the log up to itself, these commits included */
  snprintf(sql, sizeof sql, "SET synchronous_commit = off; BEGIN; SET LOCAL search_path = \"%s\", public;"
           " CREATE TABLE \"%s\".%s (LIKE public.%s INCLUDING ALL)", s->partial, s->partial, t, t);
  if (dw_pg_exec(pg, sql, err, n) || indexes_take(pg, s->partial, l->table, &mine, err, n)) goto fail;
  /* a shadow schema is read by no feed until it is swapped in: change_seq 0 */
  int64_t t0 = dw_now_ms();
  if (copy_table(pg, l->table, s->jobs, s->agg, 0, true, &l->oc, err, n) || dw_pg_exec(pg, "COMMIT", err, n))
    goto fail;
  DW_LOG_DBG("%s: rows loaded in %lld ms", t, (long long)(dw_now_ms() - t0));
  pthread_mutex_lock(&s->mu);
  int rc = indexes_move(&s->ix, &mine);
  s->loaded[l->table] = true;
  s->pending--;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    indexes_free(&mine);
    snprintf(err, n, "out of memory");
    return -1;
  }
  return 0;
fail:
  PQclear(PQexec(pg, "ROLLBACK"));
  indexes_free(&mine);
  return -1;
}

static void *loader_main(void *arg) {
  loader *l = arg;
  shadow *s = l->s;
  char err[1024];
  PGconn *pg = dw_pg_connect(s->conninfo, 10, err, sizeof err);
  if (!pg) {
    shadow_fail(s, "connecting", err);
  } else if (load_table(l, pg, err, sizeof err)) {
    shadow_fail(s, dw_replay_tables[l->table], err);
  } else {
    const char *sql;
    while ((sql = next_index(s))) {
      int64_t t0 = dw_now_ms();
      if (dw_pg_exec(pg, sql, err, sizeof err)) shadow_fail(s, "building an index", err);
      DW_LOG_DBG("index built in %lld ms: %.100s", (long long)(dw_now_ms() - t0), sql);
    }
  }
  if (pg) PQfinish(pg);
  return NULL; /* a failure stops every loader's next_index */
}

/* The advisory lock that says a partial schema's replay is alive. */
static int partial_lock(PGconn *pg, const char *partial, dw_pg_advisory_op op, int *held, char *err, size_t n) {
  char name[128];
  snprintf(name, sizeof name, "dossierwatch replay %s", partial);
  return dw_pg_advisory(pg, op, name, held, err, n);
}

/* Drops the partial schemas of replays that died while writing (their
 * session, and so their lock, is gone). */
static int drop_orphans(PGconn *pg, char *err, size_t n) {
  PGresult *res = dw_pg_query(pg, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '" PARTIAL_PREFIX "')",
                              0, NULL, err, n);
  if (!res) return -1;
  int rc = 0;
  for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
    const char *name = PQgetvalue(res, i, 0);
    int held = 0;
    if ((rc = partial_lock(pg, name, DW_PG_ADVISORY_TRY, &held, err, n)) || !held) continue;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP SCHEMA \"%s\" CASCADE", name);
    rc = dw_pg_exec(pg, sql, err, n);
    if (rc == 0) DW_LOG_INF("dropped schema \"%s\", left by a replay that stopped while writing", name);
    if (partial_lock(pg, name, DW_PG_ADVISORY_UNLOCK, NULL, err, n)) rc = -1;
  }
  PQclear(res);
  return rc;
}

/* The loaders, one per table; their counts added to *oc. */
static int shadow_load(shadow *s, dw_replay_out_counts *oc, char *err, size_t n) {
  loader l[DW_REPLAY_TABLES];
  int started = 0;
  for (int t = 0; t < DW_REPLAY_TABLES; t++, started++) {
    l[t] = (loader){.s = s, .table = t};
    if (pthread_create(&l[t].thread, NULL, loader_main, &l[t])) {
      shadow_fail(s, "starting a writer thread", "pthread_create failed");
      break;
    }
  }
  for (int t = 0; t < started; t++) {
    pthread_join(l[t].thread, NULL);
    counts_add(oc, &l[t].oc);
  }
  if (s->failed) snprintf(err, n, "%s", s->err);
  return s->failed ? -1 : 0;
}

/* Loads the partial schema, then attaches the constraints and renames it
 * to schema in one transaction; the partial schema dropped on failure. */
static int build_partial(PGconn *pg, const char *conninfo, dw_jobs *jobs, const agg_ctx *agg, const char *partial,
                         const char *schema, dw_replay_out_counts *oc, char *err, size_t n) {
  shadow s = {.conninfo = conninfo, .partial = partial, .jobs = jobs, .agg = agg, .pending = DW_REPLAY_TABLES};
  pthread_mutex_init(&s.mu, NULL);
  pthread_cond_init(&s.cv, NULL);
  int64_t t0 = dw_now_ms();
  int rc = shadow_load(&s, oc, err, n);
  int64_t t1 = dw_now_ms();
  if (rc == 0) {
    dw_buf fin = DW_BUF_INIT;
    dw_buf_puts(&fin, "BEGIN;");
    for (size_t i = 0; i < s.ix.n; i++)
      if (s.ix.v[i].attach) dw_buf_printf(&fin, "%s;", s.ix.v[i].attach);
    dw_buf_printf(&fin, "ALTER SCHEMA \"%s\" RENAME TO \"%s\"; COMMIT", partial, schema);
    if (fin.oom) snprintf(err, n, "out of memory");
    rc = fin.oom ? -1 : dw_pg_exec(pg, fin.data, err, n);
    if (rc) PQclear(PQexec(pg, "ROLLBACK"));
    dw_buf_free(&fin);
  }
  DW_LOG_DBG("written over %d connections: rows and indexes %lld ms, constraints and rename %lld ms",
             DW_REPLAY_TABLES, (long long)(t1 - t0), (long long)(dw_now_ms() - t1));
  if (rc) {
    char sql[128], ignored[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE", partial);
    dw_pg_exec(pg, sql, ignored, sizeof ignored);
  }
  indexes_free(&s.ix);
  pthread_cond_destroy(&s.cv);
  pthread_mutex_destroy(&s.mu);
  return rc;
}

static int write_shadow(PGconn *pg, const char *conninfo, dw_jobs *jobs, const agg_ctx *agg, const char *schema,
                        dw_replay_out_counts *oc, char *err, size_t n) {
  char partial[64], sql[128];
  snprintf(partial, sizeof partial, PARTIAL_PREFIX "%ld_%lld", (long)getpid(), (long long)(dw_now_ms() / 1000));
  if (drop_orphans(pg, err, n) || partial_lock(pg, partial, DW_PG_ADVISORY_WAIT, NULL, err, n)) return -1;
  snprintf(sql, sizeof sql, "CREATE SCHEMA \"%s\"", partial);
  int rc = dw_pg_exec(pg, sql, err, n);
  if (rc == 0) rc = build_partial(pg, conninfo, jobs, agg, partial, schema, oc, err, n);
  char ignored[256];
  partial_lock(pg, partial, DW_PG_ADVISORY_UNLOCK, NULL, ignored, sizeof ignored);
  return rc;
}

int dw_replay_out_write(PGconn *pg, const char *conninfo, dw_jobs *jobs, const char *schema,
                        dw_replay_out_counts *oc, char *err, size_t n) {
  agg_ctx agg = {0};
  if (agg_collect(jobs, &agg, err, n)) return -1;
  int rc = schema ? write_shadow(pg, conninfo, jobs, &agg, schema, oc, err, n) : write_live(pg, jobs, &agg, oc, err, n);
  agg_free(&agg);
  return rc;
}
