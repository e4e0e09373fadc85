/* bench: the measuring half of the benchmark (tests/bench/run.sh drives it;
 * never part of pass/fail). One binary, one subcommand per figure, each
 * printing "key=value" lines that run.sh turns into the table:
 *   decode FILE.avro            raw avro-c read loop, then dw_avro_file_read loop,
 *                               then single-object decoding (plan, generic)
 *   engine FILE.avro            decode everything into memory (compact), then
 *                               time dw_engine_advance+apply over the array
 *                               (with aggregate changes drained every 20000
 *                               events for both readers, as watch does)
 *   digest FILE.avro [SEED]     fingerprint of every alert change, blob and
 *                               aggregate over a disordered, duplicated delivery
 *                               (compare builds: optimizations must not change it)
 *   memory N                    N open dossiers (one RECEIVED each): state_bytes
 *                               and RSS delta per dossier
 *   count BOOTSTRAP TOPIC       messages in the topic (sum of high - low
 *                               watermarks) and end (sum of high watermarks)
 *   consume BOOTSTRAP TOPIC N   raw librdkafka consumer reading N messages (0: all)
 *   archive CONNINFO FILE N     watch's archive path (dedupe, blocks and their
 *                               archive_events rows) for N events in
 *                               watch-sized batches, against a plain COPY of the
 *                               same data into tables without indexes
 *                               (alternated rounds, the best of each)
 *   fill CONNINFO FILE N [B]    N events of FILE (0: all) archived as watch does, in
 *                               batches of B, and kept (an archive for replay)
 *   latency BOOTSTRAP N         alert latency through a running `watch`
 *                               (wall clock): event -> alert, deadline -> OVERDUE
 *   memlat MB                   ns per dependent random read over MB megabytes
 *                               (one cache miss each, nothing to overlap it
 *                               with): what a cache miss costs on this machine
 * Times are CLOCK_MONOTONIC wall and CLOCK_PROCESS_CPUTIME_ID CPU. */
#include <avro.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dw_aggregates.h"
#include "dw_calendar.h"
#include "dw_codec.h"
#include "dw_codec_internal.h"
#include "dw_config.h"
#include "dw_engine.h"
#include "dw_hash.h"
#include "dw_pg.h"
#include "dw_archive_block.h"
#include "dw_pg_archive.h"
#include "dw_pg_sink.h"

static double now_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
#define WALL() now_s(CLOCK_MONOTONIC)
#define CPU() now_s(CLOCK_PROCESS_CPUTIME_ID)

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench: %s: %s\n", what, why);
  exit(1);
}

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, res = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
  }
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- compact in-memory events (a dw_event is ~1.5 KB; 5 M of them would
 * not fit, so the strings go to one arena and are unpacked before apply) ---- */

enum { S_EVENT_ID, S_DOSSIER, S_COMMUNE, S_AGENCY, S_PROCEDURE, S_DOCUMENT, S_TO_AGENCY, S_REASON, S__N };

typedef struct cev {
  int64_t occurred_at, due_at, new_due_at;
  uint64_t str; /* arena offset of S__N NUL-terminated strings */
  int32_t processing_days, score;
  uint8_t type, in_warehouse, digitized, online;
  int8_t channel;
  uint8_t dossier_off; /* where the dossier id starts, after the event id */
} cev;

typedef struct evset {
  cev *v;
  size_t n, cap;
  char *arena;
  size_t alen, acap;
} evset;

static void evset_add(evset *s, const dw_event *ev) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1 << 16;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) die("events", "out of memory");
  }
  const char *strs[S__N] = {ev->event_id, ev->dossier_id, ev->commune, ev->agency,
                            ev->procedure, ev->document, ev->to_agency, ev->reason};
  size_t need = 0, len[S__N];
  for (int i = 0; i < S__N; i++) need += (len[i] = strlen(strs[i])) + 1;
  if (s->alen + need > s->acap) {
    s->acap = s->acap ? s->acap * 2 : 1 << 24;
    s->arena = realloc(s->arena, s->acap);
    if (!s->arena) die("events", "out of memory");
  }
  cev *c = &s->v[s->n++];
  c->occurred_at = ev->occurred_at;
  c->due_at = ev->due_at;
  c->new_due_at = ev->new_due_at;
  c->str = s->alen;
  c->processing_days = ev->processing_days;
  c->score = ev->score;
  c->type = (uint8_t)ev->type;
  c->in_warehouse = ev->in_warehouse;
  c->digitized = ev->digitized;
  c->online = ev->online;
  c->channel = (int8_t)ev->channel;
  c->dossier_off = (uint8_t)(len[S_EVENT_ID] + 1);
  for (int i = 0; i < S__N; i++) {
    memcpy(s->arena + s->alen, strs[i], len[i] + 1);
    s->alen += len[i] + 1;
  }
}

static inline void unpack(const evset *s, size_t i, dw_event *ev) {
  const cev *c = &s->v[i];
  const char *p = s->arena + c->str;
  char *dst[S__N] = {ev->event_id, ev->dossier_id, ev->commune, ev->agency,
                     ev->procedure, ev->document, ev->to_agency, ev->reason};
  for (int k = 0; k < S__N; k++) {
    size_t n = strlen(p) + 1;
    memcpy(dst[k], p, n);
    p += n;
  }
  ev->type = (dw_event_type)c->type;
  ev->occurred_at = c->occurred_at;
  ev->due_at = c->due_at;
  ev->new_due_at = c->new_due_at;
  ev->processing_days = c->processing_days;
  ev->score = c->score;
  ev->in_warehouse = c->in_warehouse;
  ev->digitized = c->digitized;
  ev->online = c->online;
  ev->channel = (dw_channel)c->channel;
}

/* The dossier id of event i, in the arena. */
static const char *dossier_id_of(const evset *s, size_t i) { return s->arena + s->v[i].str + s->v[i].dossier_off; }

static void load_avro(const char *path, evset *s) {
  char err[512];
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) die("avro", err);
  dw_avro_file *f = dw_avro_file_open(av, path, err, sizeof err);
  if (!f) die(path, err);
  dw_event ev;
  int r;
  while ((r = dw_avro_file_read(f, &ev, err, sizeof err)) == 1) evset_add(s, &ev);
  if (r < 0) die(path, err);
  dw_avro_file_close(f);
  dw_avro_destroy(av);
}

/* ---- decode ---- */

static int cmd_decode(const char *path) {
  avro_file_reader_t r;
  if (avro_file_reader(path, &r)) die(path, avro_strerror());
  avro_schema_t ws = avro_file_reader_get_writer_schema(r);
  avro_value_iface_t *iface = avro_generic_class_from_schema(ws);
  avro_value_t v;
  avro_generic_value_new(iface, &v);
  double w0 = WALL(), c0 = CPU();
  uint64_t n = 0;
  while (avro_file_reader_read_value(r, &v) == 0) {
    n++;
    avro_value_reset(&v);
  }
  double w1 = WALL(), c1 = CPU();
  avro_value_decref(&v);
  avro_value_iface_decref(iface);
  avro_schema_decref(ws);
  avro_file_reader_close(r);
  printf("raw_events=%" PRIu64 "\nraw_wall_s=%.3f\nraw_cpu_s=%.3f\nraw_eps=%.0f\n", n, w1 - w0, c1 - c0,
         (double)n / (c1 - c0));

  char err[512];
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) die("avro", err);
  dw_avro_file *f = dw_avro_file_open(av, path, err, sizeof err);
  if (!f) die(path, err);
  dw_event ev;
  n = 0;
  w0 = WALL(), c0 = CPU();
  while (dw_avro_file_read(f, &ev, err, sizeof err) == 1) n++;
  w1 = WALL(), c1 = CPU();
  dw_avro_file_close(f);
  printf("dw_events=%" PRIu64 "\ndw_wall_s=%.3f\ndw_cpu_s=%.3f\ndw_eps=%.0f\n", n, w1 - w0, c1 - c0,
         (double)n / (c1 - c0));

  /* single-object messages (Kafka values, archive blocks): the first 1 M
   * events encoded, then decoded by the resolved plan and the generic way */
  evset s = {0};
  load_avro(path, &s);
  size_t m = s.n < 1000000 ? s.n : 1000000, total = 0;
  size_t *off = malloc((m + 1) * sizeof *off);
  unsigned char *msgs = NULL;
  size_t cap = 0;
  if (!off) die("decode", "out of memory");
  for (size_t i = 0; i < m; i++) {
    unpack(&s, i, &ev);
    const void *p;
    size_t len;
    if (dw_avro_encode_event(av, &ev, &p, &len, err, sizeof err)) die("encode", err);
    if (total + len > cap) {
      cap = cap ? cap * 2 : 1 << 24;
      if (!(msgs = realloc(msgs, cap))) die("decode", "out of memory");
    }
    off[i] = total;
    memcpy(msgs + total, p, len);
    total += len;
  }
  off[m] = total;
  for (int generic = 0; generic < 2; generic++) {
    dw_avro__set_generic_only(av, generic);
    double best = 1e300;
    for (int round = 0; round < 3; round++) {
      c0 = CPU();
      for (size_t i = 0; i < m; i++)
        if (dw_avro_decode_event(av, msgs + off[i], off[i + 1] - off[i], &ev, err, sizeof err)) die("decode", err);
      c1 = CPU();
      if (c1 - c0 < best) best = c1 - c0;
    }
    printf("%s_events=%zu\n%s_cpu_s=%.3f\n%s_eps=%.0f\n", generic ? "so_generic" : "so_plan", m,
           generic ? "so_generic" : "so_plan", best, generic ? "so_generic" : "so_plan", (double)m / best);
  }
  printf("so_bytes_per_event=%.1f\n", m ? (double)total / (double)m : 0.0);
  free(off);
  free(msgs);
  free(s.v), free(s.arena);
  dw_avro_destroy(av);
  return 0;
}

/* ---- engine ---- */

typedef struct counts {
  uint64_t raised, updated, cleared;
} counts;

static void on_alert(void *opaque, const dw_alert *a, dw_alert_change ch) {
  counts *c = opaque;
  (void)a;
  if (ch == DW_ALERT_RAISED) c->raised++;
  else if (ch == DW_ALERT_UPDATED) c->updated++;
  else c->cleared++;
}

/* watch.batch_max (default): the engine benchmark drains aggregate changes as often */
#define BENCH_BATCH 20000

static void on_row_change(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  (void)row, (void)delta;
  ++*(uint64_t *)opaque;
}

static dw_calendar *calendar(const dw_config *cfg) {
  char err[512];
  const char *dir = dw_config_get(cfg, "calendar.dir");
  if (!dir || !*dir) dir = dw_calendar_default_dir();
  dw_calendar *cal = dw_calendar_new(dir, dw_config_get(cfg, "calendar.hours"),
                                     (int)dw_config_get_int(cfg, "calendar.utc_offset_min"), err, sizeof err);
  if (!cal) die("calendar", err);
  return cal;
}

static int cmd_engine(const char *path, int repeat) {
  evset s = {0};
  double w0 = WALL();
  load_avro(path, &s);
  printf("events=%zu\nload_wall_s=%.3f\narena_mb=%.1f\n", s.n, WALL() - w0, (double)s.alen / 1e6);
  dw_event *ev = malloc(sizeof *ev);
  dw_event_init(ev);
  /* the unpacking alone, so that it can be told apart from the engine */
  double c0 = CPU();
  uint64_t sink = 0;
  for (size_t i = 0; i < s.n; i++) {
    unpack(&s, i, ev);
    sink += (uint64_t)ev->occurred_at + (uint8_t)ev->event_id[0];
  }
  double unpack_cpu = CPU() - c0;
  printf("unpack_cpu_s=%.3f\n", unpack_cpu + (sink == 42 ? 1e-9 : 0));

  dw_config *cfg = dw_config_new();
  dw_config_apply_env(cfg);
  dw_calendar *cal = calendar(cfg);
  double best = 0, best_drained = 0;
  for (int rep = 0; rep < repeat; rep++) {
    char err[512];
    counts cnt = {0};
    /* DW_BENCH_NO_AGG=1 / DW_BENCH_NO_SINK=1: without aggregates / alert sink (where the time goes) */
    const char *na = getenv("DW_BENCH_NO_AGG"), *ns = getenv("DW_BENCH_NO_SINK");
    dw_aggregates *agg = na && *na == '1' ? NULL : dw_aggregates_new(cfg, dw_calendar_utc_offset_min(cal));
    dw_engine_sink sink = {on_alert, &cnt};
    if (ns && *ns == '1') sink.alert = NULL;
    dw_engine *eng = dw_engine_new(cfg, cal, agg, sink, err, sizeof err);
    if (!eng) die("engine", err);
    uint64_t errors = 0, row_changes = 0;
    double drain_cpu = 0;
    long rss0 = rss_kb();
    double wa = WALL(), ca = CPU();
    for (size_t i = 0; i < s.n; i++) {
      /* the harness's own arena, read ahead so that its misses are not the engine's */
      if (i + 2 * DW_ENGINE_PREFETCH_AHEAD < s.n) __builtin_prefetch(s.arena + s.v[i + 2 * DW_ENGINE_PREFETCH_AHEAD].str);
      if (i + DW_ENGINE_PREFETCH_AHEAD < s.n) dw_engine_prefetch(eng, dossier_id_of(&s, i + DW_ENGINE_PREFETCH_AHEAD));
      unpack(&s, i, ev);
      dw_engine_advance(eng, ev->occurred_at);
      if (dw_engine_apply(eng, ev, err, sizeof err) == DW_APPLY_ERROR) errors++;
      /* as watch does after each batch: the changed aggregate rows, for both readers */
      if (agg && (i + 1) % BENCH_BATCH == 0) {
        double d0 = CPU();
        dw_aggregates_drain_changes(agg, 0, ev->occurred_at, on_row_change, &row_changes);
        dw_aggregates_drain_changes(agg, 1, ev->occurred_at, on_row_change, &row_changes);
        drain_cpu += CPU() - d0;
      }
    }
    if (s.n) dw_engine_advance(eng, s.v[s.n - 1].occurred_at);
    double wb = WALL(), cb = CPU();
    dw_engine_stats st;
    dw_engine_stats_get(eng, &st);
    /* the engine alone; the drains (watch's per-batch output step) apart */
    double eng_cpu = (cb - ca) - unpack_cpu - drain_cpu;
    double eps = (double)s.n / eng_cpu;
    if (eps > best) best = eps;
    double with_drains = (double)s.n / (eng_cpu + drain_cpu);
    if (with_drains > best_drained) best_drained = with_drains;
    printf("run%d_wall_s=%.3f\nrun%d_cpu_s=%.3f\nrun%d_engine_cpu_s=%.3f\nrun%d_drain_cpu_s=%.3f\nrun%d_eps=%.0f\n",
           rep, wb - wa, rep, cb - ca, rep, eng_cpu, rep, drain_cpu, rep, eps);
    printf("applied=%" PRIu64 "\nduplicates=%" PRIu64 "\nerrors=%" PRIu64 "\nraised=%" PRIu64 "\nupdated=%" PRIu64
           "\ncleared=%" PRIu64 "\nin_memory=%" PRIu64 "\nopen=%" PRIu64 "\nopen_alerts=%" PRIu64
           "\nstate_bytes=%" PRIu64 "\nbytes_per_dossier_in_memory=%.1f\nrss_delta_mb=%.1f\nagg_row_changes=%" PRIu64 "\n",
           st.applied, st.duplicates, errors, cnt.raised, cnt.updated, cnt.cleared, st.dossiers_in_memory,
           st.dossiers_open, st.open_alerts, st.state_bytes,
           st.dossiers_in_memory ? (double)st.state_bytes / (double)st.dossiers_in_memory : 0.0,
           (double)(rss_kb() - rss0) / 1024.0, row_changes);
    dw_engine_destroy(eng);
    dw_aggregates_destroy(agg);
  }
  printf("engine_eps=%.0f\nengine_with_drains_eps=%.0f\n", best, best_drained);
  dw_calendar_destroy(cal);
  dw_config_destroy(cfg);
  free(ev);
  free(s.v);
  free(s.arena);
  return 0;
}

/* ---- digest: a fingerprint of everything the engine tells, over a
 * disordered delivery (for checking that optimizations change nothing) ---- */

typedef struct digest {
  uint64_t h, n;
} digest;

static void dig(digest *g, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    g->h ^= b[i];
    g->h *= 1099511628211ULL;
  }
}

/* Records are digested one by one and summed, so that the digest does not
 * depend on the order of records at the same instant (dossiers due at the
 * same millisecond fire in heap order; each dossier's own changes keep
 * theirs, as the engine emits them together). */
static digest rec_begin(void) { return (digest){1469598103934665603ULL, 0}; }
static void rec_end(digest *g, const digest *r) {
  uint64_t x = r->h;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  g->h += x;
}

static void on_alert_digest(void *opaque, const dw_alert *a, dw_alert_change ch) {
  digest *acc = opaque, rec = rec_begin(), *g = &rec;
  int k = (int)ch;
  dig(g, &k, sizeof k);
  dig(g, a->alert_id, strlen(a->alert_id));
  dig(g, a->dossier_id, strlen(a->dossier_id));
  dig(g, a->commune, strlen(a->commune));
  dig(g, a->agency, strlen(a->agency));
  dig(g, a->procedure, strlen(a->procedure));
  dig(g, a->detail, strlen(a->detail));
  int64_t t[3] = {a->raised_at, a->due_at, a->cleared_at};
  dig(g, t, sizeof t);
  int r[2] = {(int)a->rule, (int)a->severity};
  dig(g, r, sizeof r);
  rec_end(acc, g);
  acc->n++;
}

static void agg_digest(const dw_agg_row *row, void *opaque) {
  digest *g = opaque;
  dig(g, row->unit, strlen(row->unit));
  dig(g, row->period, strlen(row->period));
  dig(g, row->counters, sizeof row->counters);
  dig(g, &row->open_overdue, sizeof row->open_overdue);
}

static void change_digest(const dw_agg_row *row, const dw_agg_row *delta, void *opaque) {
  digest rec = rec_begin();
  agg_digest(row, &rec);
  agg_digest(delta, &rec);
  rec_end(opaque, &rec);
}

static void blob_digest(const char *id, const void *blob, size_t len, int open, void *opaque) {
  (void)open;
  digest rec = rec_begin(), *g = &rec;
  dig(g, id, strlen(id));
  if (blob) dig(g, blob, len);
  rec_end(opaque, g);
}

static int cmd_digest(const char *path, unsigned seed) {
  evset s = {0};
  load_avro(path, &s);
  /* disorder: swap each event with one up to 50 later; every 97th event twice */
  size_t *ord = malloc(s.n * sizeof *ord);
  for (size_t i = 0; i < s.n; i++) ord[i] = i;
  srand(seed);
  for (size_t i = 0; i + 1 < s.n; i++) {
    size_t j = i + 1 + (size_t)rand() % 50;
    if (j < s.n && rand() % 3 == 0) {
      size_t t = ord[i];
      ord[i] = ord[j];
      ord[j] = t;
    }
  }
  dw_config *cfg = dw_config_new();
  dw_config_apply_env(cfg);
  dw_calendar *cal = calendar(cfg);
  digest g = {1469598103934665603ULL, 0};
  char err[512];
  dw_aggregates *agg = dw_aggregates_new(cfg, dw_calendar_utc_offset_min(cal));
  dw_engine *eng = dw_engine_new(cfg, cal, agg, (dw_engine_sink){on_alert_digest, &g}, err, sizeof err);
  dw_event *ev = malloc(sizeof *ev);
  dw_event_init(ev);
  int64_t wm = DW_TIME_NONE;
  for (size_t k = 0; k < s.n; k++) {
    unpack(&s, ord[k], ev);
    for (int rep = 0; rep < (k % 97 == 0 ? 2 : 1); rep++) {
      int st = (int)dw_engine_apply(eng, ev, err, sizeof err);
      if (st == DW_APPLY_SETTLED) st = DW_APPLY_OK; /* (one status before the driver's split) */
      dig(&g, &st, sizeof st);
    }
    if (wm == DW_TIME_NONE || ev->occurred_at > wm) wm = ev->occurred_at;
    if (k % 10 == 0) dw_engine_advance(eng, wm - 3600000); /* a watermark an hour behind */
    if (k % 100000 == 0) dw_engine_drain_dirty(eng, blob_digest, &g);
    if (k % 20000 == 0) dw_aggregates_drain_changes(agg, 0, wm, change_digest, &g);
    if (k % 50000 == 7) dw_aggregates_drain_changes(agg, 1, wm, change_digest, &g);
  }
  dw_engine_advance(eng, wm);
  dw_engine_drain_dirty(eng, blob_digest, &g);
  dw_aggregates_foreach(agg, wm, agg_digest, &g);
  dw_aggregates_drain_changes(agg, 0, wm, change_digest, &g);
  dw_aggregates_drain_changes(agg, 1, wm, change_digest, &g);
  dw_engine_stats st;
  dw_engine_stats_get(eng, &st);
  printf("digest=%016llx changes=%llu applied=%llu dup=%llu in_memory=%llu open=%llu open_alerts=%llu evicted=%llu\n",
         (unsigned long long)g.h, (unsigned long long)g.n, (unsigned long long)st.applied,
         (unsigned long long)st.duplicates, (unsigned long long)st.dossiers_in_memory,
         (unsigned long long)st.dossiers_open, (unsigned long long)st.open_alerts, (unsigned long long)st.evicted);
  dw_engine_destroy(eng);
  dw_aggregates_destroy(agg);
  dw_calendar_destroy(cal);
  dw_config_destroy(cfg);
  free(ev), free(ord), free(s.v), free(s.arena);
  return 0;
}

/* ---- memory: N open dossiers ---- */

static int cmd_memory(long n) {
  dw_config *cfg = dw_config_new();
  dw_config_apply_env(cfg);
  dw_calendar *cal = calendar(cfg);
  char err[512];
  counts cnt = {0};
  dw_aggregates *agg = dw_aggregates_new(cfg, dw_calendar_utc_offset_min(cal));
  dw_event *ev = malloc(sizeof *ev);
  /* warm the aggregates (the same units and day) so RSS counts dossiers only */
  const int64_t t0 = 1780000000000LL; /* 2026-05-28, inside the calendars */
  const int64_t due = t0 + 200LL * 86400000;
  dw_engine *warm = dw_engine_new(cfg, cal, agg, (dw_engine_sink){on_alert, &cnt}, err, sizeof err);
  for (long i = 0; i < 20000; i++) {
    dw_event_init(ev);
    snprintf(ev->event_id, sizeof ev->event_id, "W-%ld", i);
    snprintf(ev->dossier_id, sizeof ev->dossier_id, "W-%ld", i);
    ev->type = DW_EV_RECEIVED;
    ev->occurred_at = t0;
    snprintf(ev->commune, sizeof ev->commune, "%05ld", 10000 + i % 3321);
    snprintf(ev->agency, sizeof ev->agency, "AG-%ld", i % 500);
    snprintf(ev->procedure, sizeof ev->procedure, "1.%06ld", i % 400);
    ev->channel = DW_CH_ONLINE_FULL;
    ev->due_at = due;
    dw_engine_apply(warm, ev, err, sizeof err);
  }
  dw_engine_destroy(warm);
  dw_engine *eng = dw_engine_new(cfg, cal, agg, (dw_engine_sink){on_alert, &cnt}, err, sizeof err);
  if (!eng) die("engine", err);
  long rss0 = rss_kb();
  double c0 = CPU();
  for (long i = 0; i < n; i++) {
    dw_event_init(ev);
    snprintf(ev->event_id, sizeof ev->event_id, "E-%08ld-1", i);
    /* simulate-style ids: commune-date-sequence, 19 characters */
    snprintf(ev->dossier_id, sizeof ev->dossier_id, "%05ld-20260528-%04ld", 10000 + i % 3321, i / 3321);
    ev->type = DW_EV_RECEIVED;
    ev->occurred_at = t0 + i % 3600000;
    snprintf(ev->commune, sizeof ev->commune, "%05ld", 10000 + i % 3321);
    snprintf(ev->agency, sizeof ev->agency, "AG-%ld", i % 500);
    snprintf(ev->procedure, sizeof ev->procedure, "1.%06ld", i % 400);
    ev->channel = (dw_channel)(i % 4);
    ev->due_at = due;
    if (dw_engine_apply(eng, ev, err, sizeof err) != DW_APPLY_OK) die("apply", err);
  }
  dw_engine_advance(eng, t0 + 3600000);
  double c1 = CPU();
  long rss1 = rss_kb();
  dw_engine_stats st;
  dw_engine_stats_get(eng, &st);
  printf("dossiers=%ld\nopen=%" PRIu64 "\nstate_bytes=%" PRIu64 "\nstate_bytes_per_dossier=%.1f\n"
         "rss_delta_mb=%.1f\nrss_bytes_per_dossier=%.1f\ninsert_cpu_s=%.3f\n",
         n, st.dossiers_open, st.state_bytes, (double)st.state_bytes / (double)n, (double)(rss1 - rss0) / 1024.0,
         (double)(rss1 - rss0) * 1024.0 / (double)n, c1 - c0);
  dw_engine_destroy(eng);
  dw_aggregates_destroy(agg);
  dw_calendar_destroy(cal);
  dw_config_destroy(cfg);
  free(ev);
  return 0;
}

/* ---- raw consume ---- */

static rd_kafka_t *consumer(const char *bootstrap, const char *group) {
  char err[512];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err) ||
      rd_kafka_conf_set(c, "group.id", group, err, sizeof err) ||
      rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err) ||
      rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err) ||
      /* a measuring consumer must not long-poll: 500 ms by default would
       * be counted as our latency */
      rd_kafka_conf_set(c, "fetch.wait.max.ms", "10", err, sizeof err))
    die("kafka conf", err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
  if (!rk) die("kafka", err);
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

static void subscribe(rd_kafka_t *rk, const char *topic) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e) die("subscribe", rd_kafka_err2str(e));
}

/* Messages in the topic now: the sum of the partitions' high watermarks. */
static long topic_end; /* sum of the high watermarks (the offsets a consumer ends at) */
static long topic_size(rd_kafka_t *rk, const char *topic) {
  const struct rd_kafka_metadata *md;
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_metadata(rk, 0, t, &md, 10000)) die("metadata", topic);
  long total = 0;
  for (int i = 0; i < md->topic_cnt; i++)
    for (int p = 0; p < md->topics[i].partition_cnt; p++) {
      int64_t lo, hi;
      if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[i].partitions[p].id, &lo, &hi, 10000) == 0) {
        total += (long)(hi - lo);
        topic_end += (long)hi;
        if (lo > 0) fprintf(stderr, "bench: %s [%d]: low watermark %lld (older messages gone)\n", topic,
                            (int)md->topics[i].partitions[p].id, (long long)lo);
      }
    }
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(t);
  return total;
}

static int cmd_count(const char *bootstrap, const char *topic) {
  rd_kafka_t *rk = consumer(bootstrap, "bench-count");
  long n = topic_size(rk, topic);
  printf("messages=%ld\nend=%ld\n", n, topic_end);
  rd_kafka_destroy(rk);
  return 0;
}

static int cmd_consume(const char *bootstrap, const char *topic, long n) {
  char group[64];
  snprintf(group, sizeof group, "bench-raw-%d", (int)getpid());
  double w0 = WALL(), c0 = CPU();
  rd_kafka_t *rk = consumer(bootstrap, group);
  if (n <= 0) n = topic_size(rk, topic);
  subscribe(rk, topic);
  long got = 0;
  uint64_t bytes = 0;
  double first = 0;
  while (got < n && WALL() - w0 < 600) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
    if (!m) continue;
    if (!m->err) {
      if (!got) first = WALL();
      got++;
      bytes += m->len;
    }
    rd_kafka_message_destroy(m);
  }
  double w1 = WALL(), c1 = CPU();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  printf("consumed=%ld\nbytes=%" PRIu64 "\nwall_s=%.3f\ncpu_s=%.3f\nfirst_msg_s=%.3f\neps=%.0f\neps_after_first=%.0f\n",
         got, bytes, w1 - w0, c1 - c0, first ? first - w0 : -1.0, (double)got / (w1 - w0),
         first ? (double)got / (w1 - first) : 0.0);
  return got == n ? 0 : 1;
}

/* ---- archive vs COPY ---- */

#define ARCHIVE_ROUNDS 3

static int cmd_archive(const char *conninfo, const char *path, long n, int batch) {
  char err[1024];
  evset s = {0};
  load_avro(path, &s);
  if ((long)s.n < n) n = (long)s.n;
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) die("avro", err);
  dw_event *evs = calloc((size_t)n, sizeof *evs);
  void **avro = calloc((size_t)n, sizeof *avro);
  const char **ids = calloc((size_t)n, sizeof *ids);
  uint8_t *fresh = calloc((size_t)n, 1);
  dw_pg_archive_row *rows = calloc((size_t)n, sizeof *rows);
  if (!evs || !avro || !ids || !fresh || !rows) die("archive", "out of memory");
  size_t avro_bytes = 0;
  for (long i = 0; i < n; i++) {
    unpack(&s, (size_t)i, &evs[i]);
    const void *p;
    size_t len;
    if (dw_avro_encode_event(av, &evs[i], &p, &len, err, sizeof err)) die("encode", err);
    avro[i] = malloc(len);
    memcpy(avro[i], p, len);
    avro_bytes += len;
    rows[i] = (dw_pg_archive_row){&evs[i], avro[i], len, (int32_t)(i % 6)};
    ids[i] = evs[i].event_id;
  }
  PGconn *pg = dw_pg_connect(conninfo, 10, err, sizeof err);
  if (!pg) die("pg", err);
  dw_pg_archive *arch = dw_pg_archive_new();
  if (!arch) die("archive", "out of memory");
  /* the plain tables: the archive's columns (and compression), no index */
  if (dw_pg_exec(pg,
                 "DROP TABLE IF EXISTS bench_blocks, bench_events;"
                 " CREATE TABLE bench_blocks (LIKE archive_blocks INCLUDING COMPRESSION INCLUDING STORAGE)"
                 " WITH (toast_tuple_target = 128);"
                 " CREATE TABLE bench_events (LIKE archive_events);"
                 " TRUNCATE archive_events, archive_blocks",
                 err, sizeof err) ||
      dw_pg_archive_units(arch, pg, rows, (size_t)n, err, sizeof err))
    die("pg setup", err);
  char copy_blocks[256], copy_events[256];
  snprintf(copy_blocks, sizeof copy_blocks, "%s", DW_PG_ARCHIVE_COPY_BLOCKS);
  snprintf(copy_events, sizeof copy_events, "%s", DW_PG_ARCHIVE_COPY_EVENTS);
  memcpy(strstr(copy_blocks, "archive_blocks"), "bench_blocks  ", 14);
  memcpy(strstr(copy_events, "archive_events"), "bench_events  ", 14);

  /* Rounds of both, alternated (each into emptied tables), the best of each
   * kept: a shared machine's interference only ever slows a round down. */
  double archive_s = 1e300, copy_s = 1e300, build_s = 0, w0;
  dw_buf bb = DW_BUF_INIT, eb = DW_BUF_INIT;
  for (int round = 0; round < ARCHIVE_ROUNDS; round++) {
    if (dw_pg_exec(pg, "TRUNCATE archive_events, archive_blocks, bench_blocks, bench_events", err, sizeof err))
      die("pg truncate", err);
    /* 1. watch's archive path: per batch one transaction with the dedupe
     *    (keys looked up, block ids reserved), the blocks and their rows */
    w0 = WALL();
    for (long i = 0; i < n; i += batch) {
      size_t k = (size_t)(n - i < batch ? n - i : batch);
      if (dw_pg_sink_begin(pg, err, sizeof err) ||
          dw_pg_archive_dedupe_send(arch, pg, ids + i, k, err, sizeof err) ||
          dw_pg_archive_dedupe_recv(arch, pg, ids + i, k, fresh, err, sizeof err) ||
          dw_pg_archive_send(arch, pg, rows + i, k, err, sizeof err) ||
          dw_pg_archive_finish(arch, pg, k, err, sizeof err) || dw_pg_sink_commit(pg, err, sizeof err))
        die("archive", err);
    }
    double took = WALL() - w0;
    if (took < archive_s) archive_s = took;

    /* 2. the same COPY data into the plain tables, same batches, same transactions */
    w0 = WALL();
    double built = 0;
    for (long i = 0; i < n; i += batch) {
      size_t k = (size_t)(n - i < batch ? n - i : batch);
      double bw = WALL();
      dw_buf_reset(&bb);
      dw_buf_reset(&eb);
      if (dw_pg_archive_copy_data(arch, rows + i, k, (i / batch) * 2048 + 1, &bb, &eb, err, sizeof err))
        die("copy data", err);
      built += WALL() - bw;
      if (dw_pg_exec(pg, "BEGIN", err, sizeof err) || dw_pg_copy(pg, copy_blocks, bb.data, bb.len, err, sizeof err) ||
          dw_pg_copy(pg, copy_events, eb.data, eb.len, err, sizeof err) || dw_pg_exec(pg, "COMMIT", err, sizeof err))
        die("copy", err);
    }
    took = WALL() - w0;
    if (took < copy_s) copy_s = took, build_s = built;
  }

  /* 3. one big COPY (the best case for PostgreSQL) */
  dw_pg_exec(pg, "TRUNCATE bench_blocks, bench_events", err, sizeof err);
  dw_buf_reset(&bb);
  dw_buf_reset(&eb);
  if (dw_pg_archive_copy_data(arch, rows, (size_t)n, 1, &bb, &eb, err, sizeof err)) die("copy data", err);
  w0 = WALL();
  if (dw_pg_copy(pg, copy_blocks, bb.data, bb.len, err, sizeof err) ||
      dw_pg_copy(pg, copy_events, eb.data, eb.len, err, sizeof err))
    die("copy", err);
  double bigcopy_s = WALL() - w0;
  dw_buf_free(&bb);
  dw_buf_free(&eb);
  dw_pg_exec(pg, "DROP TABLE bench_blocks, bench_events; TRUNCATE archive_events, archive_blocks", err, sizeof err);
  PQfinish(pg);
  printf("rows=%ld\nbatch=%d\narchive_s=%.3f\narchive_rps=%.0f\ncopy_s=%.3f\ncopy_build_s=%.3f\ncopy_rps=%.0f\n"
         "bigcopy_s=%.3f\nbigcopy_rps=%.0f\navro_bytes_per_event=%.1f\n",
         n, batch, archive_s, (double)n / archive_s, copy_s, build_s, (double)n / copy_s, bigcopy_s,
         (double)n / bigcopy_s, n ? (double)avro_bytes / (double)n : 0.0);
  for (long i = 0; i < n; i++) free(avro[i]);
  free(evs), free(avro), free(ids), free(fresh), free(rows);
  dw_pg_archive_destroy(arch);
  dw_avro_destroy(av);
  free(s.v), free(s.arena);
  return 0;
}

/* fill: N events of FILE archived the way watch archives them (batches of
 * BATCH, the dedupe, blocks and rows), and left there: an archive for
 * replay and export measurements of any size. */
static int cmd_fill(const char *conninfo, const char *path, long n, int batch) {
  char err[1024];
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) die("avro", err);
  dw_avro_file *f = dw_avro_file_open(av, path, err, sizeof err);
  if (!f) die(path, err);
  PGconn *pg = dw_pg_connect(conninfo, 10, err, sizeof err);
  if (!pg) die("pg", err);
  dw_pg_archive *arch = dw_pg_archive_new();
  dw_event *evs = calloc((size_t)batch, sizeof *evs);
  void **avro = calloc((size_t)batch, sizeof *avro);
  const char **ids = calloc((size_t)batch, sizeof *ids);
  uint8_t *fresh = calloc((size_t)batch, 1);
  dw_pg_archive_row *rows = calloc((size_t)batch, sizeof *rows);
  if (!arch || !evs || !avro || !ids || !fresh || !rows) die("fill", "out of memory");
  long done = 0, added = 0;
  double w0 = WALL();
  for (int more = 1; more && (n <= 0 || done < n);) {
    size_t k = 0;
    while (k < (size_t)batch && (n <= 0 || done + (long)k < n)) {
      int r = dw_avro_file_read(f, &evs[k], err, sizeof err);
      if (r < 0) die(path, err);
      if (r == 0) {
        more = 0;
        break;
      }
      const void *p;
      size_t len;
      if (dw_avro_encode_event(av, &evs[k], &p, &len, err, sizeof err)) die("encode", err);
      free(avro[k]);
      avro[k] = malloc(len);
      memcpy(avro[k], p, len);
      rows[k] = (dw_pg_archive_row){&evs[k], avro[k], len, (int32_t)(dw_hash_fast(evs[k].dossier_id, strlen(evs[k].dossier_id)) % 6)};
      ids[k] = evs[k].event_id;
      k++;
    }
    if (!k) break;
    size_t nr = 0;
    if (dw_pg_archive_units(arch, pg, rows, k, err, sizeof err) || dw_pg_sink_begin(pg, err, sizeof err) ||
        dw_pg_archive_dedupe_send(arch, pg, ids, k, err, sizeof err) ||
        dw_pg_archive_dedupe_recv(arch, pg, ids, k, fresh, err, sizeof err))
      die("fill", err);
    for (size_t j = 0; j < k; j++)
      if (fresh[j]) rows[nr++] = rows[j];
    if (dw_pg_archive_send(arch, pg, rows, nr, err, sizeof err) || dw_pg_archive_finish(arch, pg, nr, err, sizeof err) ||
        dw_pg_sink_commit(pg, err, sizeof err))
      die("fill", err);
    done += (long)k;
    added += (long)nr;
  }
  double s = WALL() - w0;
  printf("read=%ld\narchived=%ld\nfill_s=%.3f\nfill_eps=%.0f\n", done, added, s, s > 0 ? (double)done / s : 0.0);
  for (int i = 0; i < batch; i++) free(avro[i]);
  free(evs), free(avro), free(ids), free(fresh), free(rows);
  dw_pg_archive_destroy(arch);
  dw_avro_file_close(f);
  dw_avro_destroy(av);
  PQfinish(pg);
  return 0;
}

/* ---- alert latency through watch ---- */

static rd_kafka_t *producer(const char *bootstrap) {
  char err[512];
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err) ||
      rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err))
    die("kafka conf", err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
  if (!rk) die("kafka", err);
  return rk;
}

static void produce(rd_kafka_t *rk, dw_avro *av, const char *topic, const dw_event *ev) {
  char err[512];
  const void *p;
  size_t len;
  if (dw_avro_encode_event(av, ev, &p, &len, err, sizeof err)) die("encode", err);
  rd_kafka_resp_err_t e =
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(ev->dossier_id, strlen(ev->dossier_id)),
                      RD_KAFKA_V_VALUE((void *)p, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  if (e) die("produce", rd_kafka_err2str(e));
  rd_kafka_poll(rk, 0);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void pct(const char *name, int64_t *v, int n) {
  if (n == 0) {
    printf("%s_n=0\n", name);
    return;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  int p50 = (n - 1) * 50 / 100, p99 = (n - 1) * 99 / 100;
  printf("%s_n=%d\n%s_p50_ms=%" PRId64 "\n%s_p99_ms=%" PRId64 "\n%s_max_ms=%" PRId64 "\n", name, n, name, v[p50],
         name, v[p99], name, v[n - 1]);
}

static void base_event(dw_event *ev, const char *id, int k, dw_event_type t, int64_t at) {
  dw_event_init(ev);
  snprintf(ev->event_id, sizeof ev->event_id, "%s-%d", id, k);
  snprintf(ev->dossier_id, sizeof ev->dossier_id, "%s", id);
  ev->type = t;
  ev->occurred_at = at;
  snprintf(ev->commune, sizeof ev->commune, "00001");
  snprintf(ev->agency, sizeof ev->agency, "BENCH-AGENCY");
  snprintf(ev->procedure, sizeof ev->procedure, "1.000001");
}

/* Is the alert row visible in PostgreSQL? (pg may be NULL: skipped) */
static int pg_has_alert(PGconn *pg, const char *id, const char *rule) {
  if (!pg) return 0;
  const char *params[2] = {id, rule};
  PGresult *r = PQexecParams(pg, "SELECT 1 FROM alerts WHERE dossier_id = $1 AND rule = $2", 2, NULL, params, NULL,
                             NULL, 0);
  int hit = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
  PQclear(r);
  return hit;
}

static int kafka_hit(rd_kafka_message_t *m, const char *id, const char *rule) {
  return !m->err && m->len && memmem(m->payload, m->len, id, strlen(id)) && memmem(m->payload, m->len, rule, strlen(rule));
}

static int cmd_latency(const char *bootstrap, int n) {
  char err[512];
  const char *ev_topic = "dossier.events", *al_topic = "dossier.alerts";
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) die("avro", err);
  PGconn *pg = NULL;
  if (getenv("DW_DB") && !(pg = dw_pg_connect(getenv("DW_DB"), 10, err, sizeof err))) die("pg", err);
  rd_kafka_t *pr = producer(bootstrap);
  char group[64];
  snprintf(group, sizeof group, "bench-lat-%d", (int)getpid());
  rd_kafka_t *c = consumer(bootstrap, group);
  subscribe(c, al_topic);
  for (int i = 0; i < 200; i++) { /* until partitions are assigned */
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
    if (m) rd_kafka_message_destroy(m);
    if (rd_kafka_assignment(c, &a) == 0 && a) {
      int cnt = a->cnt;
      rd_kafka_topic_partition_list_destroy(a);
      if (cnt > 0) break;
    }
  }
  int64_t run = wall_ms();
  dw_event ev;

  /* 1. event -> alert: RECEIVED, then PAPER_REQUESTED with in_warehouse,
   * one dossier at a time; both the PostgreSQL row and the Kafka message */
  const char *rule = "PAPER_REQUESTED_FROM_WAREHOUSE";
  int64_t *lk = calloc((size_t)n, sizeof *lk), *lp = calloc((size_t)n, sizeof *lp);
  int nk = 0, np = 0, lost = 0;
  for (int i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof id, "BENCH-E-%" PRId64 "-%d", run, i);
    int64_t t = wall_ms();
    base_event(&ev, id, 1, DW_EV_RECEIVED, t);
    ev.channel = DW_CH_ONLINE_FULL;
    ev.due_at = t + 30LL * 86400000;
    produce(pr, av, ev_topic, &ev);
    rd_kafka_flush(pr, 5000);
    base_event(&ev, id, 2, DW_EV_PAPER_REQUESTED, t);
    snprintf(ev.document, sizeof ev.document, "birth certificate");
    ev.in_warehouse = true;
    int64_t t0 = wall_ms();
    produce(pr, av, ev_topic, &ev);
    rd_kafka_flush(pr, 5000);
    int kseen = 0, pseen = pg == NULL;
    while ((!kseen || !pseen) && wall_ms() - t0 < 10000) {
      if (!kseen) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1);
        if (m) {
          if (kafka_hit(m, id, rule)) {
            kseen = 1;
            lk[nk++] = wall_ms() - t0;
          }
          rd_kafka_message_destroy(m);
        }
      }
      if (!pseen && pg_has_alert(pg, id, rule)) {
        pseen = 1;
        lp[np++] = wall_ms() - t0;
      }
    }
    if (!kseen || !pseen) lost++;
  }
  pct("event", lk, nk);
  pct("event_pg", lp, np);
  printf("event_lost=%d\n", lost);

  /* 2. deadline -> OVERDUE: due_at a few seconds ahead, staggered by 100 ms */
  int m = n < 50 ? n : 50;
  int64_t *due = calloc((size_t)m, sizeof *due);
  int *kseen = calloc((size_t)m, sizeof *kseen), *pseen = calloc((size_t)m, sizeof *pseen);
  int64_t t = wall_ms();
  char prefix[64];
  snprintf(prefix, sizeof prefix, "BENCH-D-%" PRId64 "-", run);
  for (int i = 0; i < m; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s%d", prefix, i);
    base_event(&ev, id, 1, DW_EV_RECEIVED, t);
    ev.channel = DW_CH_ONLINE_FULL;
    due[i] = ev.due_at = t + 3000 + 100LL * i;
    produce(pr, av, ev_topic, &ev);
  }
  rd_kafka_flush(pr, 5000);
  nk = np = 0;
  int64_t end = t + 3000 + 100LL * m + 15000;
  char like[80];
  snprintf(like, sizeof like, "%s%%", prefix);
  while ((nk < m || (pg && np < m)) && wall_ms() < end) {
    rd_kafka_message_t *msg = rd_kafka_consumer_poll(c, 2);
    int64_t at = wall_ms();
    if (msg) {
      if (!msg->err && msg->len && memmem(msg->payload, msg->len, "OVERDUE", 7)) {
        const char *p = memmem(msg->payload, msg->len, prefix, strlen(prefix));
        int i = p ? atoi(p + strlen(prefix)) : -1;
        if (i >= 0 && i < m && !kseen[i]) {
          kseen[i] = 1;
          lk[nk++] = at - due[i];
        }
      }
      rd_kafka_message_destroy(msg);
    }
    if (pg && np < m) {
      const char *params[1] = {like};
      PGresult *r = PQexecParams(pg, "SELECT dossier_id FROM alerts WHERE rule = 'OVERDUE' AND dossier_id LIKE $1", 1,
                                 NULL, params, NULL, NULL, 0);
      at = wall_ms();
      if (PQresultStatus(r) == PGRES_TUPLES_OK)
        for (int k = 0; k < PQntuples(r); k++) {
          int i = atoi(PQgetvalue(r, k, 0) + strlen(prefix));
          if (i >= 0 && i < m && !pseen[i]) {
            pseen[i] = 1;
            lp[np++] = at - due[i];
          }
        }
      PQclear(r);
    }
  }
  pct("deadline", lk, nk);
  pct("deadline_pg", lp, np);
  printf("deadline_lost=%d\n", m - (nk < np ? nk : np));
  free(kseen), free(pseen), free(due), free(lk), free(lp);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  rd_kafka_flush(pr, 5000);
  rd_kafka_destroy(pr);
  if (pg) PQfinish(pg);
  dw_avro_destroy(av);
  return 0;
}

/* ---- memlat: one pointer chase through a random cycle of cache lines ---- */

static int cmd_memlat(long mb) {
  if (mb < 1) die("memlat", "MB must be >= 1");
  const size_t lines = (size_t)mb * (1 << 20) / 64;
  uint64_t *mem = aligned_alloc(64, lines * 64), *order = malloc(lines * sizeof *order);
  if (!mem || !order) die("memlat", "out of memory");
  for (size_t i = 0; i < lines; i++) order[i] = i;
  uint64_t x = 88172645463325252ULL; /* xorshift64: a fixed shuffle */
  for (size_t i = lines - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t j = x % (i + 1), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  for (size_t i = 0; i < lines; i++) mem[order[i] * 8] = order[(i + 1) % lines] * 8; /* the next line's word */
  free(order);
  const long steps = 20000000;
  uint64_t at = 0;
  double t0 = WALL();
  for (long i = 0; i < steps; i++) at = mem[at];
  double t1 = WALL();
  printf("memlat_mb=%ld\nmemlat_ns=%.1f\nmemlat_end=%" PRIu64 "\n", mb, (t1 - t0) * 1e9 / (double)steps, at);
  free(mem);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 3 && !strcmp(argv[1], "decode")) return cmd_decode(argv[2]);
  if (argc >= 3 && !strcmp(argv[1], "engine")) return cmd_engine(argv[2], argc >= 4 ? atoi(argv[3]) : 1);
  if (argc >= 3 && !strcmp(argv[1], "digest")) return cmd_digest(argv[2], argc >= 4 ? (unsigned)atoi(argv[3]) : 1);
  if (argc >= 3 && !strcmp(argv[1], "memory")) return cmd_memory(atol(argv[2]));
  if (argc >= 4 && !strcmp(argv[1], "count")) return cmd_count(argv[2], argv[3]);
  if (argc >= 5 && !strcmp(argv[1], "consume")) return cmd_consume(argv[2], argv[3], atol(argv[4]));
  if (argc >= 5 && !strcmp(argv[1], "archive"))
    return cmd_archive(argv[2], argv[3], atol(argv[4]), argc >= 6 ? atoi(argv[5]) : 1000);
  if (argc >= 5 && !strcmp(argv[1], "fill"))
    return cmd_fill(argv[2], argv[3], atol(argv[4]), argc >= 6 ? atoi(argv[5]) : 20000);
  if (argc >= 4 && !strcmp(argv[1], "latency")) return cmd_latency(argv[2], atoi(argv[3]));
  if (argc >= 3 && !strcmp(argv[1], "memlat")) return cmd_memlat(atol(argv[2]));
  fprintf(stderr,
          "usage: bench decode FILE.avro | engine FILE.avro [REPEAT] | digest FILE.avro [SEED] | memory N |\n"
          "             count BOOTSTRAP TOPIC | consume BOOTSTRAP TOPIC N | archive CONNINFO FILE.avro N [BATCH] |\n"
          "             fill CONNINFO FILE.avro N [BATCH] | latency BOOTSTRAP N | memlat MB\n");
  return 2;
}
