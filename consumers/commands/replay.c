/* replay: `dossierwatch replay` rebuilds dossier state, alerts and
 * aggregates from history - the PostgreSQL archive or topic.events from a
 * time - with a fresh engine, deterministically: events are applied in
 * (occurred_at, event_id) order and the clock is the event-time watermark
 * (then --as-of at the end), never the wall clock, so the same events give
 * the same result as `watch --clock watermark` built live. The result goes
 * to a new shadow schema (default) or, explicitly, into the live tables; a
 * shadow schema can later be swapped into the live tables. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_log.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_driver.h"
#include "dw_engine.h"
#include "dw_pg.h"
#include "dw_pg_sink.h"
#include "dw_progress.h"
#include "dw_archive.h"
#include "dw_replay_jobs.h"
#include "dw_replay_out.h"
#include "dw_topic_scan.h"
#include "dw_time.h"

#define CMD "replay"
#define MAX_REPORTED 10 /* individual messages printed per kind of problem */

static const char description[] =
  "Rebuilds dossier state, alerts and compliance aggregates with a fresh engine.\n"
  "Events are applied in (occurred_at, event_id) order through the clock\n"
  "discipline audit and watch share (events at an instant before that instant's\n"
  "timers), the clock moved to --as-of at the end, so a replay is deterministic\n"
  "and equals what `watch --clock watermark` built live from the same events.\n"
  "Source: --from-archive (the PostgreSQL archive) or --from-topic --since T\n"
  "(topic.events from the first message with a timestamp >= T in every partition,\n"
  "up to the end captured at the start; offsets by time from the broker, else by\n"
  "binary search). Output: a new shadow schema (--into, default\n"
  "replay_YYYYMMDDHHMMSS), the live tables (--into-live), or --swap a shadow\n"
  "schema into the live tables.\n"
  "The archive is read block by block in time order and merged (no sort by the\n"
  "server); dossiers are spread over --jobs N threads by a hash of dossier_id, each\n"
  "fed its dossiers' events in the same global order, so the result is the same for\n"
  "any N. The output goes in by COPY in each table's primary-key order, its\n"
  "indexes built after the load (they find their input sorted); a shadow schema\n"
  "over three connections at once, built as replay_partial_* and renamed when\n"
  "complete (a killed replay's partial schema is dropped by the next).";
static const char epilog[] =
  "T: RFC 3339 (2025-04-29T08:00:00+07:00), a local date (YYYY-MM-DD; as --to or\n"
  "--as-of the end of that day) or milliseconds since the epoch.\n"
  "\n"
  "Progress on stderr when it is a terminal (phase, events, events/s, ETA); a\n"
  "summary line always:\n"
  "  replay: done: events=N applied=N duplicates=N engine_errors=N undecodable=N\n"
  "  alerts=N open_alerts=N engine_open_alerts=N aggregate_rows=N states=N\n"
  "  elapsed=S events_per_s=N apply_events_per_s=N apply_s=S write_s=S jobs=N ...\n"
  "alerts/open_alerts: rows written (and those not cleared); engine_open_alerts:\n"
  "alerts the engine still holds open at the end (as audit counts them: alerts of\n"
  "dossiers that already left memory are not included); spilled_alerts,\n"
  "spilled_dossiers: alert versions and dossiers that left memory (a dossier each\n"
  "time it left), moved to a temp file in TMPDIR during the apply (once a job\n"
  "holds replay.alerts_in_memory alert versions; they can no longer change) and\n"
  "written from it at the end.\n"
  "Undecodable messages/rows are reported (partition/offset or event_id), counted\n"
  "and not applied.";

/* ---- the replay ---- */

typedef struct replay {
  dw_config *cfg;
  int utc;
  int njobs;
  dw_replay_filter filter; /* what is read (to = min(--to, --as-of)) */
  dw_calendar *cal;
  dw_jobs *jobs; /* the drivers, one per job */
  dw_avro *av;   /* the reader's (peeks, the topic's collect) */
  dw_progress *prog;
  uint64_t read, undecodable, filtered, reported_errors;
} replay;

/* -- from the archive -- */

/* The merged block stream to the jobs, in (occurred_at, event_id) order. */
static int replay_archive(replay *r, PGconn *pg) {
  char err[1024];
  int64_t count = 0;
  dw_archive_reader *rd = dw_archive_open(pg, r->av, &r->filter, &count, err, sizeof err);
  if (!rd) {
    DW_LOG_ERR("reading the archive: %s", err);
    return -1;
  }
  dw_progress_set_total(r->prog, (uint64_t)count);
  dw_progress_phase(r->prog, "applying");
  dw_archive_raw raw;
  int rc;
  while ((rc = dw_archive_next_raw(rd, &raw, err, sizeof err)) != 0) {
    if (rc < 0) break;
    if (rc == 2) {
      if (r->undecodable++ < MAX_REPORTED) {
        dw_progress_clear(r->prog);
        DW_LOG_WARNING("%s (not applied)", err);
      }
      continue;
    }
    if (dw_jobs_add(r->jobs, raw.bytes, raw.len, raw.is_json, raw.partition, raw.dossier_id, raw.dossier_id_len)) {
      snprintf(err, sizeof err, "out of memory");
      rc = -1;
      break;
    }
    dw_progress_update(r->prog, ++r->read);
  }
  if (rc < 0) {
    char ignored[256];
    dw_archive_close(rd, ignored, sizeof ignored);
    dw_progress_clear(r->prog);
    DW_LOG_ERR("reading the archive: %s", err);
    return -1;
  }
  uint64_t disorders = dw_archive_disorders(rd);
  if (dw_archive_close(rd, err, sizeof err)) {
    DW_LOG_ERR("closing the archive read: %s", err);
    return -1;
  }
  if (disorders) {
    dw_progress_clear(r->prog);
    DW_LOG_WARNING("%llu archived event(s) were out of order inside their block (applied as they came)",
                   (unsigned long long)disorders);
  }
  return 0;
}

/* -- from the topic -- */

/* One message kept for sorting: its bytes and dossier id stay in the
 * arena (a decoded dw_event is ~2 KB; the Avro value is ~20x smaller). */
typedef struct topic_msg {
  int64_t occurred_at;
  size_t off; /* arena: event_id NUL dossier_id NUL value */
  uint32_t len;
  uint16_t id_len, dossier_len;
  int32_t partition;
} topic_msg;

typedef struct topic_ctx {
  replay *r;
  topic_msg *msgs;
  size_t n, cap;
  char *arena;
  size_t arena_len, arena_cap;
  uint64_t read, total;
  bool oom;
} topic_ctx;

static int collect(void *opaque, int32_t partition, int64_t offset, const void *value, size_t len, int64_t ts) {
  (void)ts;
  topic_ctx *t = opaque;
  replay *r = t->r;
  t->read++;
  dw_progress_update(r->prog, t->read);
  dw_event ev;
  char why[512];
  if (!value || dw_avro_decode_event(r->av, value, len, &ev, why, sizeof why)) {
    if (r->undecodable++ < MAX_REPORTED) {
      dw_progress_clear(r->prog);
      DW_LOG_WARNING("undecodable message at partition %d offset %lld: %s (not applied)",
              (int)partition, (long long)offset, value ? why : "empty value");
    }
    return 0;
  }
  if (!dw_replay_filter_match(&r->filter, &ev)) {
    r->filtered++;
    return 0;
  }
  size_t idl = strlen(ev.event_id), dl = strlen(ev.dossier_id), need = idl + 1 + dl + 1 + len;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 4096;
    topic_msg *m = realloc(t->msgs, cap * sizeof *m);
    if (!m) goto oom;
    t->msgs = m;
    t->cap = cap;
  }
  if (t->arena_len + need > t->arena_cap) {
    size_t cap = t->arena_cap ? t->arena_cap : 1 << 20;
    while (cap < t->arena_len + need) cap *= 2;
    char *a = realloc(t->arena, cap);
    if (!a) goto oom;
    t->arena = a;
    t->arena_cap = cap;
  }
  char *p = t->arena + t->arena_len;
  memcpy(p, ev.event_id, idl + 1);
  memcpy(p + idl + 1, ev.dossier_id, dl + 1);
  memcpy(p + idl + 1 + dl + 1, value, len);
  t->msgs[t->n++] = (topic_msg){ev.occurred_at, t->arena_len, (uint32_t)len, (uint16_t)idl, (uint16_t)dl, partition};
  t->arena_len += need;
  return 0;
oom:
  t->oom = true;
  return -1;
}

static int cmp_msg(const void *a, const void *b, void *arena) {
  const topic_msg *x = a, *y = b;
  if (x->occurred_at != y->occurred_at) return x->occurred_at < y->occurred_at ? -1 : 1;
  const char *ar = arena;
  int c = strcmp(ar + x->off, ar + y->off);
  if (c) return c;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int replay_topic(replay *r, int64_t since) {
  char err[1024] = "";
  const char *topic = dw_config_get(r->cfg, "topic.events");
  rd_kafka_t *rk = dw_replay_kafka_consumer_new(r->cfg, err, sizeof err);
  if (!rk) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  int rc = -1;
  dw_replay_part *parts = NULL;
  size_t np = 0;
  topic_ctx t = {.r = r};
  dw_progress_phase(r->prog, "locating start offsets");
  dw_progress_update(r->prog, 0);
  if (dw_replay_kafka_plan(rk, topic, since, &parts, &np, err, sizeof err)) {
    dw_progress_clear(r->prog);
    DW_LOG_ERR("finding the offsets of %s at --since: %s", topic, err);
    goto out;
  }
  dw_progress_clear(r->prog);
  char since_s[40];
  dw_time_format(since, r->utc, since_s, sizeof since_s);
  for (size_t i = 0; i < np; i++) {
    const dw_replay_part *p = &parts[i];
    t.total += (uint64_t)(p->high - p->start);
    fprintf(stderr, "replay: %s [%d]: offsets %lld..%lld, start at %lld for %s (%s%s%.0d%s), %lld to read\n", topic,
            (int)p->partition, (long long)p->low, (long long)p->high, (long long)p->start, since_s, p->method,
            p->probes ? ", " : "", p->probes, p->probes ? " probes" : "", (long long)(p->high - p->start));
  }
  dw_progress_set_total(r->prog, t.total);
  dw_progress_phase(r->prog, "reading messages");
  int64_t t_plan = dw_now_ms();
  int r2 = dw_replay_kafka_read(rk, topic, parts, np, 30000, collect, &t, err, sizeof err);
  if (r2) {
    dw_progress_clear(r->prog);
    if (t.oom)
      DW_LOG_ERR("out of memory holding %zu messages for sorting", t.n);
    else
      DW_LOG_ERR("reading %s: %s", topic, err);
    goto out;
  }
  int64_t t_read = dw_now_ms();
  /* partitions interleave and producers may send late: sort by event time */
  if (t.n) qsort_r(t.msgs, t.n, sizeof *t.msgs, cmp_msg, t.arena);
  DW_LOG_DBG("topic: %zu messages read in %lld ms (from the plan), sorted in %lld ms", t.n,
             (long long)(t_read - t_plan), (long long)(dw_now_ms() - t_read));
  dw_progress_set_total(r->prog, t.n);
  dw_progress_phase(r->prog, "applying");
  for (size_t i = 0; i < t.n; i++) {
    const topic_msg *m = &t.msgs[i];
    const char *p = t.arena + m->off, *dossier = p + m->id_len + 1;
    if (dw_jobs_add(r->jobs, dossier + m->dossier_len + 1, m->len, 0, m->partition, dossier, m->dossier_len)) {
      DW_LOG_ERR("out of memory");
      goto out;
    }
    dw_progress_update(r->prog, ++r->read);
  }
  rc = 0;
out:
  free(parts);
  free(t.msgs);
  free(t.arena);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return rc;
}

/* -- swap -- */


static int do_swap(PGconn *pg, const char *schema) {
  char err[1024];
  int exists = 0;
  if (dw_replay_schema_exists(pg, schema, &exists, err, sizeof err)) goto fail_noxact;
  if (!exists) {
    DW_LOG_ERR("--swap: schema \"%s\" does not exist", schema);
    return DW_EXIT_FAIL;
  }
  if (dw_pg_exec(pg, "BEGIN", err, sizeof err)) goto fail_noxact;
  if (dw_pg_exec(pg, "TRUNCATE public.alerts, public.aggregates, public.dossier_state", err, sizeof err)) goto fail;
  /* the swapped-in alerts and aggregates are news for every feed */
  int64_t seq = 0;
  if (dw_pg_sink_outbox_tick(pg, &seq, err, sizeof err)) goto fail;
  long long counts[3] = {0};
  for (int i = 0; i < 3; i++) {
    const char *t = dw_replay_tables[i];
    /* explicit columns, those of the live table: the shadow copy was made
     * with LIKE, but a later migration may have added columns since */
    char qual[160];
    snprintf(qual, sizeof qual, "public.%s", t);
    const char *params[1] = {qual};
    PGresult *res = dw_pg_query(pg,
                                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
                                " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
                                1, params, err, sizeof err);
    if (!res) goto fail;
    dw_buf q = {0};
    const char *cols = PQgetvalue(res, 0, 0);
    /* the same columns, change_seq replaced by this transaction's */
    dw_buf sel = DW_BUF_INIT;
    for (const char *c = cols; *c;) {
      const char *comma = strstr(c, ", ");
      size_t len = comma ? (size_t)(comma - c) : strlen(c);
      if (sel.len) dw_buf_puts(&sel, ", ");
      if (len == 10 && strncmp(c, "change_seq", 10) == 0)
        dw_buf_printf(&sel, "%lld", (long long)seq);
      else
        dw_buf_put(&sel, c, len);
      c += len + (comma ? 2 : 0);
    }
    dw_buf_printf(&q, "INSERT INTO public.%s (%s) SELECT %s FROM \"%s\".%s", t, cols, sel.data ? sel.data : "", schema,
                  t);
    dw_buf_free(&sel);
    PQclear(res);
    if (q.oom) {
      dw_buf_free(&q);
      snprintf(err, sizeof err, "out of memory");
      goto fail;
    }
    res = dw_pg_query(pg, q.data, 0, NULL, err, sizeof err);
    dw_buf_free(&q);
    if (!res) goto fail;
    counts[i] = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
  }
  if (dw_pg_exec(pg, "COMMIT", err, sizeof err)) goto fail;
  fprintf(stderr,
          "replay: swapped schema \"%s\" into public: alerts=%lld aggregate_rows=%lld states=%lld (schema kept)\n",
          schema, counts[0], counts[1], counts[2]);
  return DW_EXIT_OK;
fail:
  PQclear(PQexec(pg, "ROLLBACK"));
  DW_LOG_ERR("--swap %s (rolled back, live tables unchanged): %s", schema, err);
  return DW_EXIT_FAIL;
fail_noxact:
  DW_LOG_ERR("--swap %s: %s", schema, err);
  return DW_EXIT_FAIL;
}

/* ---- command ---- */

typedef struct opts {
  bool from_archive, from_topic, into_live, force;
  int64_t since, from, to, as_of;
  const char *into, *swap;
  dw_strs communes;
  bool has_since, has_from, has_to, has_as_of;
} opts;

static int refuse(const char *msg) {
  DW_LOG_ERR("%s", msg);
  return -1;
}

/* The combinations of options that make sense; -1 after saying why. */
static int check_usage(const opts *o) {
  if (o->swap) {
    if (o->from_archive || o->from_topic || o->has_since || o->has_from || o->has_to || o->communes.n || o->has_as_of ||
        o->into || o->into_live)
      return refuse("--swap SCHEMA takes no other replay option (it only copies SCHEMA into public)");
    if (!dw_replay_schema_valid(o->swap))
      return refuse("--swap: not a schema name we accept (letters, digits, _; not public/pg_*)");
    return 0;
  }
  if (o->from_archive == o->from_topic) return refuse("give exactly one source: --from-archive or --from-topic");
  if (o->from_topic && !o->has_since) return refuse("--from-topic needs --since T (the Kafka message time to start from)");
  if (!o->from_topic && o->has_since)
    return refuse("--since goes with --from-topic (use --from/--to to select archived events by time)");
  if (o->into && o->into_live) return refuse("--into and --into-live exclude each other");
  if (o->force && !o->into_live) return refuse("--force only applies to --into-live");
  if (o->into_live && !o->force && (o->has_from || o->has_to || o->communes.n || o->from_topic)) {
    DW_LOG_ERR("refusing --into-live with %s: the live tables would be truncated and refilled from part of the history "
               "only, so every dossier, alert and count outside it would be lost and watch would carry on from that "
               "partial state. Replay into a shadow schema (--into SCHEMA) and compare, or add --force if that is what "
               "you mean",
               o->from_topic ? "--from-topic (only the topic since --since)" : "a time range or unit filter");
    return -1;
  }
  if (o->into && !dw_replay_schema_valid(o->into))
    return refuse("--into: not a schema name we accept (letters, digits, _; not public/pg_*)");
  if (o->from != DW_TIME_NONE && o->to != DW_TIME_NONE && o->from > o->to) return refuse("--from is after --to");
  return 0;
}

/* The shadow schema to create (a new one: an existing one is refused), or
 * NULL for the live tables; NULL with *bad on a problem. */
static const char *choose_schema(replay *r, PGconn *pg, const opts *o, char *buf, size_t bufsize, bool *bad) {
  char err[1024];
  *bad = false;
  if (o->into_live) return NULL;
  const char *schema = o->into;
  if (!schema) {
    char ts[40];
    dw_time_format(dw_now_ms(), r->utc, ts, sizeof ts); /* 2025-04-29T08:00:00+07:00 */
    snprintf(buf, bufsize, "replay_%.4s%.2s%.2s%.2s%.2s%.2s", ts, ts + 5, ts + 8, ts + 11, ts + 14, ts + 17);
    schema = buf;
  }
  int exists = 0;
  if (dw_replay_schema_exists(pg, schema, &exists, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    *bad = true;
  } else if (exists) {
    DW_LOG_ERR("schema \"%s\" exists already: choose another --into, or DROP SCHEMA \"%s\" CASCADE", schema, schema);
    *bad = true;
  }
  return *bad ? NULL : schema;
}

static void print_summary(replay *r, const opts *o, const char *schema, int64_t as_of, const dw_replay_out_counts *oc,
                          double apply_s) {
  double el = dw_progress_elapsed(r->prog);
  char as_of_s[40] = "none";
  if (as_of != DW_TIME_NONE) dw_time_format(as_of, r->utc, as_of_s, sizeof as_of_s);
  dw_driver_stats ds = {0};
  uint64_t engine_open = 0;
  for (int j = 0; j < dw_jobs_count(r->jobs); j++) {
    dw_driver *d = dw_jobs_driver(r->jobs, j);
    dw_engine_stats st;
    dw_engine_stats_get(dw_driver_engine(d), &st);
    engine_open += st.open_alerts;
    dw_driver_stats one;
    dw_driver_stats_get(d, &one);
    ds.applied += one.applied, ds.duplicates += one.duplicates, ds.errors += one.errors;
  }
  dw_jobs_stats js;
  dw_jobs_stats_get(r->jobs, &js);
  uint64_t spilled, spilled_gone;
  dw_jobs_spill_stats(r->jobs, &spilled, &spilled_gone);
  uint64_t undecodable = r->undecodable + js.undecodable, filtered = r->filtered + js.filtered;
  fprintf(stderr,
          "replay: done: events=%llu applied=%llu duplicates=%llu engine_errors=%llu undecodable=%llu "
          "alerts=%llu open_alerts=%llu engine_open_alerts=%llu aggregate_rows=%llu states=%llu elapsed=%.2fs "
          "events_per_s=%.0f apply_events_per_s=%.0f apply_s=%.2f write_s=%.2f jobs=%d source=%s into=%s as_of=%s "
          "spilled_alerts=%llu spilled_dossiers=%llu\n",
          (unsigned long long)js.events, (unsigned long long)ds.applied, (unsigned long long)ds.duplicates,
          (unsigned long long)ds.errors, (unsigned long long)undecodable, (unsigned long long)oc->alerts,
          (unsigned long long)oc->open_alerts, (unsigned long long)engine_open, (unsigned long long)oc->agg_rows,
          (unsigned long long)oc->states, el, el > 0 ? (double)js.events / el : 0.0,
          apply_s > 0 ? (double)js.events / apply_s : 0.0, apply_s, el - apply_s, r->njobs, o->from_archive ? "archive" : "topic",
          o->into_live ? "public" : schema, as_of_s, (unsigned long long)spilled, (unsigned long long)spilled_gone);
  if (filtered)
    fprintf(stderr, "replay: %llu event(s) outside --from/--to/--commune/--as-of skipped\n",
            (unsigned long long)filtered);
}

/* The replay itself: fresh drivers (one per job) over the source, every
 * clock to as_of, the output written in one transaction. */
static int run_replay(replay *r, PGconn *pg, const opts *o, const char *schema, int64_t as_of) {
  char err[1024];
  if (!(r->cal = dw_calendar_from_config(r->cfg, err, sizeof err))) {
    DW_LOG_ERR("calendar: %s", err);
    return -1;
  }
  if (!(r->av = dw_avro_new(err, sizeof err)) ||
      !(r->jobs = dw_jobs_new(r->cfg, r->cal, r->njobs, &r->filter, MAX_REPORTED, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  r->prog = dw_progress_new(CMD, "events", 0);
  int rd = o->from_archive ? replay_archive(r, pg) : replay_topic(r, o->since);
  dw_progress_phase(r->prog, "applying the last events");
  dw_jobs_finish(r->jobs, as_of, &as_of);
  if (rd) return -1;
  double apply_s = dw_progress_elapsed(r->prog);
  dw_progress_phase(r->prog, "writing");
  dw_progress_update(r->prog, r->read);
  dw_replay_out_counts oc = {0};
  int wr = dw_replay_out_write(pg, dw_config_get(r->cfg, "db.conninfo"), r->jobs, o->into_live ? NULL : schema, &oc,
                               err, sizeof err);
  dw_progress_clear(r->prog);
  if (wr) {
    if (o->into_live)
      DW_LOG_ERR("writing the live tables (rolled back, nothing changed): %s", err);
    else
      DW_LOG_ERR("writing schema \"%s\" (not created): %s", schema, err);
    return -1;
  }
  print_summary(r, o, schema, as_of, &oc, apply_s);
  return 0;
}

int dw_cmd_replay(int argc, char **argv) {
  opts o = {.since = DW_TIME_NONE, .from = DW_TIME_NONE, .to = DW_TIME_NONE, .as_of = DW_TIME_NONE};
  double jobs = 0;
  const dw_opt options[] = {
    {"from-archive", DW_OPT_FLAG, &o.from_archive, NULL, "source: the PostgreSQL archive (archive_blocks)", NULL},
    {"from-topic", DW_OPT_FLAG, &o.from_topic, NULL, "source: topic.events from --since", NULL},
    {"since", DW_OPT_TIME, &o.since, "T", "(with --from-topic) Kafka message time to start from", NULL},
    {"from", DW_OPT_TIME, &o.from, "T", "only events with occurred_at >= T", NULL},
    {"to", DW_OPT_TIME_END, &o.to, "T", "only events with occurred_at <= T", NULL},
    {"commune", DW_OPT_STRS, &o.communes, "C", "only events of unit C (repeatable)", NULL},
    {"as-of", DW_OPT_TIME_END, &o.as_of, "T", "the clock at the end (default: --to, else the latest occurred_at);\n"
     "events after T are not applied", NULL},
    {"into", DW_OPT_STR, &o.into, "SCHEMA", "a new schema with alerts, aggregates and dossier_state tables like the\n"
     "public ones (default replay_YYYYMMDDHHMMSS, local time); it must not exist", NULL},
    {"into-live", DW_OPT_FLAG, &o.into_live, NULL, "truncate and rewrite the public tables in one transaction (stop\n"
     "watch first); refused with --from/--to/--commune/--from-topic unless --force", NULL},
    {"force", DW_OPT_FLAG, &o.force, NULL, "with --into-live: accept a partial history", NULL},
    {"swap", DW_OPT_STR, &o.swap, "SCHEMA", "(alone) replace the public alerts, aggregates and dossier_state rows\n"
     "with those of SCHEMA in one transaction; SCHEMA is kept", NULL},
    {"jobs", DW_OPT_NUM, &jobs, "N", "apply on N threads, dossiers split by hash (default: the number of\n"
     "cores); the result is the same for any N", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "--db CONNINFO (--from-archive | --from-topic --since T) [OPTIONS]\n"
                                "       dossierwatch replay --db CONNINFO --swap SCHEMA",
                                description, options, 0, 0, DW_CLI_DB | DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  replay r = {0};
  PGconn *pg = NULL;
  char err[1024], schema_buf[64];
  int exit_code = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (exit_code >= 0) goto done;
  exit_code = DW_EXIT_USAGE;
  r.cfg = dw_cli_config(cli);
  r.utc = (int)dw_config_get_int(r.cfg, "calendar.utc_offset_min");
  o.has_since = dw_cli_given(cli, "since"), o.has_from = dw_cli_given(cli, "from");
  o.has_to = dw_cli_given(cli, "to"), o.has_as_of = dw_cli_given(cli, "as-of");
  if (check_usage(&o)) goto done;
  if (dw_cli_given(cli, "jobs") && (jobs < 1 || jobs > 256 || jobs != (int)jobs)) {
    DW_LOG_ERR("--jobs wants a whole number from 1 to 256");
    goto done;
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  r.njobs = dw_cli_given(cli, "jobs") ? (int)jobs : cores > 0 ? (int)(cores < 64 ? cores : 64) : 1;
  r.filter = (dw_replay_filter){o.from, o.to, o.communes.v, o.communes.n};
  /* audit's rule: as of T, only events that occurred by T count */
  int64_t as_of = o.as_of;
  if (as_of != DW_TIME_NONE && (r.filter.to == DW_TIME_NONE || as_of < r.filter.to)) r.filter.to = as_of;
  if (as_of == DW_TIME_NONE && o.has_to) as_of = r.filter.to;
  const char *conninfo = dw_config_get(r.cfg, "db.conninfo");
  if (!conninfo) {
    DW_LOG_ERR("no database: give --db CONNINFO, db.conninfo or DW_DB");
    goto done;
  }
  if (o.from_topic && !dw_config_get(r.cfg, "kafka.bootstrap.servers")) {
    DW_LOG_ERR("--from-topic needs Kafka: give --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    goto done;
  }
  exit_code = DW_EXIT_FAIL;
  if (!(pg = dw_pg_connect(conninfo, 10, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    goto done;
  }
  if (o.swap) {
    exit_code = do_swap(pg, o.swap);
    goto done;
  }
  bool bad;
  const char *schema = choose_schema(&r, pg, &o, schema_buf, sizeof schema_buf, &bad);
  if (!bad && run_replay(&r, pg, &o, schema, as_of) == 0) exit_code = DW_EXIT_OK;
done:
  dw_progress_destroy(r.prog);
  dw_jobs_destroy(r.jobs);
  dw_calendar_destroy(r.cal);
  if (r.av) dw_avro_destroy(r.av);
  if (pg) PQfinish(pg);
  dw_cli_destroy(cli);
  return exit_code;
}
