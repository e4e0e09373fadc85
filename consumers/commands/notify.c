/* notify: `dossierwatch notify`, the alert feeds to people. A long-running
 * process that reads the alerts outbox in PostgreSQL with its own cursor
 * per group of receivers (feed "notify:GROUP"), holds that group's advisory
 * lock (one active process per group; any number run, a standby takes
 * over), routes and groups alerts in the pure state machine
 * (consumers/notify/core), and delivers by email and webhook
 * (consumers/notify/send). Each round, in stages:
 *   become active (lock, restore state) -> clock -> silences -> read the
 *   outbox and apply -> tick -> render -> commit (state, messages, cursor:
 *   one transaction) -> deliver pending messages (retry with backoff).
 * SIGHUP reloads the routes file (a bad file keeps the old one); SIGTERM
 * ends after the round. A database error drops the state and the lock and
 * starts again from what was committed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dw_aggregates.h"
#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_commands.h"
#include "dw_log.h"
#include "dw_notify_config.h"
#include "dw_notify_msg.h"
#include "dw_notify_send.h"
#include "dw_notify_state.h"
#include "dw_notify_store.h"
#include "dw_silences.h"
#include "dw_time.h"
#include "notify_obs.h"

#define CMD "notify"
#define PAGE_ROWS 5000

static volatile sig_atomic_t stop_flag, reload_flag;
static void on_stop(int sig) {
  (void)sig;
  stop_flag = 1;
}
static void on_hup(int sig) {
  (void)sig;
  reload_flag = 1;
}

typedef enum clock_kind { CLOCK_WALL, CLOCK_WATERMARK, CLOCK_FILE } clock_kind;

typedef struct retry {
  int64_t id, next_wall, backoff;
} retry;

typedef struct notify {
  const dw_config *cfg;
  const char *routes, *group, *conninfo, *metrics_file;
  dw_notify_config *nc;
  dw_calendar *cal;
  dw_aggregates *agg;
  dw_notify_metrics m;
  dw_notify_state *st;
  dw_notify_store *store;
  dw_notify_sender *sender;
  notify_obs *obs;
  dw_outbox_cursor cur;
  dw_outbox_page page;
  dw_silence *sil;
  size_t nsil;
  dw_notify_silence *silv;
  bool active, said_standby, digest_now;
  clock_kind clock;
  const char *clock_file;
  int64_t clock_last;
  int utc;
  char holder[160];
  retry *retries;
  size_t nretries, capretries;
  int64_t retry_initial, retry_max;
} notify;

/* ---------------------------------------------------------------- clock -- */

/* notify's now: the wall clock, watch's event-time clock, or a test clock
 * read from a file (RFC 3339 or ms); it never goes backwards. DW_TIME_NONE
 * when not known yet. */
static int64_t clock_now(notify *w) {
  int64_t t = DW_TIME_NONE;
  char err[256];
  if (w->clock == CLOCK_WALL) {
    t = dw_now_ms();
  } else if (w->clock == CLOCK_WATERMARK) {
    t = dw_notify_store_watermark(w->store, err, sizeof err);
  } else {
    FILE *f = fopen(w->clock_file, "r");
    char line[128] = "";
    if (f) {
      if (!fgets(line, sizeof line, f)) line[0] = 0;
      fclose(f);
    }
    line[strcspn(line, " \r\n")] = 0;
    char *end;
    long long ms = strtoll(line, &end, 10);
    if (line[0] && !*end)
      t = ms;
    else if (line[0] && dw_time_parse_rfc3339(line, &t, err, sizeof err))
      t = DW_TIME_NONE;
  }
  if (t == DW_TIME_NONE) return w->clock_last;
  if (w->clock_last != DW_TIME_NONE && t < w->clock_last) t = w->clock_last;
  w->clock_last = t;
  return t;
}

/* --------------------------------------------------------------- stages -- */

static void drop(notify *w, const char *why) {
  if (w->active) DW_LOG_WARNING("group %s: %s; starting again from what was committed", w->group, why);
  dw_notify_state_destroy(w->st);
  w->st = NULL;
  dw_notify_store_close(w->store);
  w->store = NULL;
  w->active = false;
  w->m.active = 0;
}

/* Connect, take the lock, restore. 1 active, 0 standing by, -1 error. */
static int become_active(notify *w, char *err, size_t n) {
  if (!w->store && !(w->store = dw_notify_store_open(w->conninfo, w->group, 0, err, n))) return -1;
  if (w->active) return 1;
  int held = dw_notify_store_lock(w->store, err, n);
  if (held < 0) return -1;
  if (!held) {
    if (!w->said_standby) DW_LOG_INF("group %s: standing by (another notify is active)", w->group);
    w->said_standby = true;
    return 0;
  }
  int64_t now = clock_now(w);
  if (now == DW_TIME_NONE) now = 0;
  if (!(w->st = dw_notify_state_new(w->nc, w->cal, &w->m))) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (dw_notify_store_restore(w->store, w->st, now, &w->cur, err, n)) return -1;
  if (w->digest_now) dw_notify_state_force_digests(w->st);
  w->digest_now = false;
  w->active = true;
  w->said_standby = false;
  w->m.active = 1;
  DW_LOG_INF("group %s: active (cursor at %lld, %zu alerts and %zu groups restored)", w->group, (long long)w->cur.seq,
             dw_notify_state_tracked(w->st), dw_notify_state_groups(w->st));
  return 1;
}

static int load_silences(notify *w, int64_t now, char *err, size_t n) {
  dw_silence *v;
  size_t k;
  if (dw_silence_load_current(dw_notify_store_pg(w->store), now, &v, &k, err, n)) return -1;
  dw_notify_silence *sv = calloc(k ? k : 1, sizeof *sv);
  if (!sv) {
    dw_silences_free(v, k);
    snprintf(err, n, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < k; i++) sv[i] = v[i].s;
  dw_notify_state_set_silences(w->st, sv, k);
  dw_silences_free(w->sil, w->nsil);
  free(w->silv);
  w->sil = v;
  w->nsil = k;
  w->silv = sv;
  return 0;
}

static int read_outbox(notify *w, int64_t now, char *err, size_t n) {
  for (;;) {
    dw_outbox_cursor next;
    if (dw_notify_store_read(w->store, &w->cur, PAGE_ROWS, &w->page, &next, err, n)) return -1;
    for (size_t i = 0; i < w->page.n; i++)
      if (dw_notify_state_apply(w->st, &w->page.alerts[i], now)) {
        snprintf(err, n, "out of memory");
        return -1;
      }
    w->cur = next;
    if (w->page.n + (size_t)w->page.skipped < PAGE_ROWS) return 0;
  }
}

/* Renders the tick's requests (digests with their data). */
static int render(notify *w, const dw_notify_req *q, long nq, dw_notify_out **outp, char *err, size_t n) {
  dw_notify_out *out = calloc(nq ? (size_t)nq : 1, sizeof *out);
  if (!out) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  *outp = out;
  for (long i = 0; i < nq; i++) {
    out[i].q = &q[i];
    dw_notify_digest_data d, *dp = NULL;
    if (q[i].kind == DW_NREQ_DIGEST) {
      if (dw_notify_store_digest_data(w->store, q[i].digest, w->agg, q[i].at, w->utc, &d, err, n)) return -1;
      d.nopen = dw_notify_state_open_alerts(w->st, q[i].digest->matchers, q[i].digest->nmatchers, &d.open);
      dp = &d;
    }
    int rc = dw_notify_render(w->nc, &q[i], dp, w->utc, &out[i].m, err, n);
    if (dp) dw_notify_store_digest_free(dp);
    if (rc) return -1;
  }
  return 0;
}

static void free_out(dw_notify_out *out, long n) {
  for (long i = 0; out && i < n; i++) dw_notify_message_free(&out[i].m);
  free(out);
}

static retry *retry_of(notify *w, int64_t id, bool make) {
  for (size_t i = 0; i < w->nretries; i++)
    if (w->retries[i].id == id) return &w->retries[i];
  if (!make) return NULL;
  if (w->nretries == w->capretries) {
    size_t cap = w->capretries ? w->capretries * 2 : 16;
    retry *r = realloc(w->retries, cap * sizeof *r);
    if (!r) return NULL;
    w->retries = r;
    w->capretries = cap;
  }
  w->retries[w->nretries] = (retry){id, 0, 0};
  return &w->retries[w->nretries++];
}

static void retry_forget(notify *w, int64_t id) {
  for (size_t i = 0; i < w->nretries; i++)
    if (w->retries[i].id == id) {
      w->retries[i] = w->retries[--w->nretries];
      return;
    }
}

static const dw_notify_integration *integration_of(notify *w, const dw_notify_pending *p) {
  for (size_t i = 0; i < w->nc->nreceivers; i++) {
    const dw_notify_receiver *r = &w->nc->receivers[i];
    if (strcmp(r->name, p->receiver) || p->integration < 0 || (size_t)p->integration >= r->ninteg) continue;
    const dw_notify_integration *x = &r->integ[p->integration];
    if ((x->kind == DW_NK_EMAIL) == (strcmp(p->kind, "email") == 0)) return x;
  }
  return NULL;
}

/* Sends what is pending, oldest first; a failure waits (backoff on the wall
 * clock: a receiver comes back in real time whatever notify's clock). */
static int deliver(notify *w, char *err, size_t n) {
  dw_notify_pending *p;
  size_t np;
  if (dw_notify_store_pending(w->store, &p, &np, err, n)) return -1;
  w->m.pending_messages = (int64_t)np;
  int rc = 0;
  for (size_t i = 0; i < np && !rc && !stop_flag; i++) {
    retry *r = retry_of(w, p[i].id, false);
    int64_t wall = dw_now_ms();
    if (r && wall < r->next_wall) continue;
    const dw_notify_integration *x = integration_of(w, &p[i]);
    bool ev = strcmp(p[i].what, "digest") != 0;
    int k = strcmp(p[i].kind, "email") == 0 ? 0 : 1;
    if (!x) {
      char why[256];
      snprintf(why, sizeof why, "receiver %s has no %s integration %d in the configuration any more", p[i].receiver,
               p[i].kind, p[i].integration);
      DW_LOG_ERR("message %lld (%s, group %s) abandoned: %s", (long long)p[i].id, p[i].what, p[i].group_key, why);
      rc = dw_notify_store_abandon(w->store, p[i].id, why, err, n);
      if (ev) dw_notify_state_set_pending(w->st, p[i].group_key, p[i].integration, false);
      continue;
    }
    int claimed = dw_notify_store_claim(w->store, p[i].id, err, n);
    if (claimed < 0) {
      rc = -1;
      break;
    }
    if (!claimed) continue;
    if (p[i].attempts > 0) w->m.retried[k]++;
    char why[1024];
    if (dw_notify_send(w->sender, x, p[i].body, strlen(p[i].body), why, sizeof why) == 0) {
      w->m.sent[k]++;
      rc = dw_notify_store_result(w->store, p[i].id, true, NULL, err, n);
      if (ev) dw_notify_state_set_pending(w->st, p[i].group_key, p[i].integration, false);
      retry_forget(w, p[i].id);
      w->m.pending_messages--;
      DW_LOG_INF("sent %s message %lld to %s (%s)%s", p[i].what, (long long)p[i].id, p[i].receiver, p[i].kind,
                 p[i].attempts ? " after retries" : "");
    } else {
      w->m.failed[k]++;
      rc = dw_notify_store_result(w->store, p[i].id, false, why, err, n);
      if ((r = retry_of(w, p[i].id, true))) {
        r->backoff = r->backoff ? (r->backoff * 2 < w->retry_max ? r->backoff * 2 : w->retry_max) : w->retry_initial;
        r->next_wall = wall + r->backoff;
      }
      DW_LOG_WARNING("message %lld to %s (%s) failed, attempt %d, next in %.1f s: %s", (long long)p[i].id,
                     p[i].receiver, p[i].kind, p[i].attempts + 1, r ? (double)r->backoff / 1000.0 : 0.0, why);
    }
  }
  dw_notify_store_pending_free(p, np);
  return rc;
}

/* One round (see the file's comment). 0, or -1 with err (state dropped). */
static int round_once(notify *w, char *err, size_t n) {
  int a = become_active(w, err, n);
  if (a <= 0) return a;
  int64_t now = clock_now(w);
  if (now == DW_TIME_NONE) return 0; /* the watermark is not known yet */
  if (load_silences(w, now, err, n) || read_outbox(w, now, err, n)) return -1;
  const dw_notify_req *q;
  long nq = dw_notify_state_tick(w->st, now, &q);
  if (nq < 0) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  dw_notify_out *out = NULL;
  int rc = render(w, q, nq, &out, err, n);
  if (!rc) rc = dw_notify_store_commit(w->store, w->st, &w->cur, out, (size_t)nq, now, w->holder, err, n);
  free_out(out, nq);
  if (rc) return -1;
  return deliver(w, err, n);
}

/* --------------------------------------------------------------- chores -- */

static void reload(notify *w) {
  char err[1024];
  dw_notify_config *nc = dw_notify_config_load(w->routes, err, sizeof err);
  if (!nc) {
    w->m.reload_failures++;
    DW_LOG_ERR("reload: %s (keeping the configuration in force)", err);
    return;
  }
  if (w->st) dw_notify_state_set_config(w->st, nc, w->clock_last == DW_TIME_NONE ? 0 : w->clock_last);
  dw_notify_config_destroy(w->nc);
  w->nc = nc;
  w->m.reloads++;
  DW_LOG_INF("reload: %s: %zu receivers", w->routes, nc->nreceivers);
}

static void write_metrics(notify *w) {
  if (!w->metrics_file) return;
  dw_buf b = DW_BUF_INIT;
  dw_notify_metrics_render(&w->m, &b);
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", w->metrics_file);
  FILE *f = fopen(tmp, "w");
  if (f && b.data) fputs(b.data, f);
  if (f && fclose(f) == 0) rename(tmp, w->metrics_file);
  dw_buf_free(&b);
}

static void log_stats(notify *w) {
  const dw_notify_metrics *m = &w->m;
  char t[40] = "-";
  if (w->clock_last != DW_TIME_NONE) dw_time_format(w->clock_last, w->utc, t, sizeof t);
  DW_LOG_INF("stats: %s, clock %s; sent email %llu webhook %llu, failed %llu, retried %llu; suppressed silence %llu "
             "inhibition %llu mute %llu; escalated %llu, digests %llu; %lld alerts tracked, %lld groups, %lld pending",
             w->active ? "active" : "standing by", t, (unsigned long long)m->sent[0], (unsigned long long)m->sent[1],
             (unsigned long long)(m->failed[0] + m->failed[1]), (unsigned long long)(m->retried[0] + m->retried[1]),
             (unsigned long long)m->suppressed_silence, (unsigned long long)m->suppressed_inhibition,
             (unsigned long long)m->suppressed_mute, (unsigned long long)m->escalated, (unsigned long long)m->digests,
             (long long)m->tracked_alerts, (long long)m->groups, (long long)m->pending_messages);
}

static void sleep_ms(int64_t ms) {
  while (ms > 0 && !stop_flag && !reload_flag) {
    int64_t step = ms < 100 ? ms : 100;
    struct timespec ts = {0, (long)step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

static void count_route(const dw_notify_route *r, void *o) {
  (void)r;
  (*(size_t *)o)++;
}

static int check(const char *path) {
  char err[1024];
  dw_notify_config *nc = dw_notify_config_load(path, err, sizeof err);
  if (!nc) {
    DW_LOG_ERR("%s", err);
    return DW_EXIT_USAGE;
  }
  size_t routes = 0;
  dw_notify_routes_foreach(&nc->route, count_route, &routes);
  printf("%s: ok: %zu receivers, %zu routes, %zu inhibit rules, %zu time intervals, %zu escalations, %zu digests\n",
         path, nc->nreceivers, routes, nc->ninhibits, nc->nintervals, nc->nescalations, nc->ndigests);
  dw_notify_config_destroy(nc);
  return DW_EXIT_OK;
}

static const char description[] =
  "Delivers alerts to people. Reads the alerts outbox in PostgreSQL with a cursor\n"
  "of its own per group of receivers (--group), routes each alert through the\n"
  "routes file (Alertmanager's keys: receivers, route, inhibit_rules,\n"
  "time_intervals; ours: office_hours, escalations, digests), groups alerts into\n"
  "one message per group_by, and sends by email (SMTP) and webhook (Alertmanager\n"
  "webhook v4). Any number may run: one per group is active (an advisory lock),\n"
  "the others stand by and take over. What is read, decided and to be sent is\n"
  "committed in one transaction with the cursor: a restart or kill -9 neither\n"
  "loses an alert nor sends a message twice within repeat_interval; a failed\n"
  "message is retried with backoff, never dropped. Silences (dossierwatch silence)\n"
  "apply from the next round. SIGHUP reloads the routes file (a bad one is\n"
  "refused and the old one kept).";
static const char epilog[] =
  "Clocks (--clock): wall (default); watermark: watch's event-time clock at its\n"
  "last commit (replays, deterministic runs); file:PATH: the instant written in\n"
  "PATH (RFC 3339 or ms), read every round (tests: days pass without waiting).\n"
  "Retries are on the wall clock whatever --clock says.\n"
  "Log: 'group G: active', 'sent ...', one stats line every notify.stats_interval_ms.\n"
  "Exit: 0 after SIGTERM/SIGINT (or --once), 1 on failure, 2 on a bad routes file.";

/* ---------------------------------------------------------------- setup -- */

/* Reads the settings into w, parses --clock and loads the routes file.
 * 0, or -1 after logging the reason (bad usage: exit 2). */
static int configure(notify *w, const dw_config *cfg, bool digest_now) {
  char err[1024];
  w->cfg = cfg;
  w->routes = dw_config_get(cfg, "notify.routes");
  w->group = dw_config_get(cfg, "notify.group");
  w->conninfo = dw_config_get(cfg, "db.conninfo");
  w->metrics_file = dw_config_get(cfg, "notify.metrics_file");
  w->utc = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  w->retry_initial = dw_config_get_int(cfg, "notify.retry_initial_ms");
  w->retry_max = dw_config_get_int(cfg, "notify.retry_max_ms");
  w->clock_last = DW_TIME_NONE;
  w->digest_now = digest_now;
  const char *clk = dw_config_get(cfg, "notify.clock");
  if (strcmp(clk, "wall") == 0)
    w->clock = CLOCK_WALL;
  else if (strcmp(clk, "watermark") == 0)
    w->clock = CLOCK_WATERMARK;
  else if (strncmp(clk, "file:", 5) == 0 && clk[5])
    w->clock = CLOCK_FILE, w->clock_file = clk + 5;
  else {
    DW_LOG_ERR("--clock/notify.clock: wall, watermark or file:PATH, got '%s'", clk);
    return -1;
  }
  if (!w->routes) {
    DW_LOG_ERR("no routes file: give --routes FILE or notify.routes");
    return -1;
  }
  if (!w->conninfo) {
    DW_LOG_ERR("no database: give --db CONNINFO, db.conninfo or DW_DB");
    return -1;
  }
  if (!(w->nc = dw_notify_config_load(w->routes, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  return 0;
}

/* The calendar, the sender, the digests' aggregates and the HTTP endpoints.
 * 0, or -1 after logging the reason. */
static int open_services(notify *w) {
  char err[1024];
  if (!(w->cal = dw_calendar_from_config(w->cfg, err, sizeof err)) ||
      !(w->sender = dw_notify_sender_new(err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  if (!(w->agg = dw_aggregates_new(w->cfg, w->utc))) {
    DW_LOG_ERR("out of memory");
    return -1;
  }
  if (!(w->obs = notify_obs_new(dw_config_get(w->cfg, "notify.http_listen"), err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  if (notify_obs_address(w->obs)[0]) DW_LOG_INF("metrics and health on http://%s", notify_obs_address(w->obs));
  return 0;
}

/* host:pid, written to notify_status with each commit: which process is
 * the active one. */
static void name_holder(notify *w) {
  char host[128] = "?";
  gethostname(host, sizeof host - 1);
  snprintf(w->holder, sizeof w->holder, "%s:%d", host, (int)getpid());
}

/* SIGINT/SIGTERM end after the round, SIGHUP reloads: both only set a flag
 * that the loop reads between rounds. */
static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
}

static void notify_free(notify *w) {
  dw_notify_state_destroy(w->st);
  dw_notify_store_close(w->store);
  dw_notify_sender_destroy(w->sender);
  notify_obs_destroy(w->obs);
  dw_outbox_page_free(&w->page);
  dw_silences_free(w->sil, w->nsil);
  free(w->silv);
  free(w->retries);
  if (w->agg) dw_aggregates_destroy(w->agg);
  dw_calendar_destroy(w->cal);
  dw_notify_config_destroy(w->nc);
  free(w);
}

/* ----------------------------------------------------------------- loop -- */

/* After each round, whatever its outcome: the metrics file, the HTTP
 * endpoints, and the stats line when it is due. */
static void publish(notify *w, int64_t stats_every, int64_t *last_stats) {
  write_metrics(w);
  notify_obs_update(w->obs, &w->m, w->store && dw_notify_store_ok(w->store));
  if (dw_now_ms() - *last_stats >= stats_every) {
    log_stats(w);
    *last_stats = dw_now_ms();
  }
}

/* The wait before the next round: after `fails` failed rounds in a row a
 * backoff (400 ms, doubling, at most 5 s) so that a database down is not
 * hammered; else the poll period when active, the lock retry when standing
 * by. */
static int64_t next_wait_ms(const notify *w, int r, int fails, int64_t poll, int64_t lock_retry) {
  int64_t backoff = fails ? (200LL << (fails < 5 ? fails : 5)) : 0;
  return r < 0 ? (backoff < 5000 ? backoff : 5000) : (w->active ? poll : lock_retry);
}

/* Rounds until SIGTERM/SIGINT (or one with --once: more than 3 failures in
 * a row, or another process active, is exit 1). The exit code. */
static int run_rounds(notify *w, bool once) {
  char err[1024];
  int64_t poll = dw_config_get_int(w->cfg, "notify.poll_ms");
  int64_t lock_retry = dw_config_get_int(w->cfg, "notify.lock_retry_ms");
  int64_t stats_every = dw_config_get_int(w->cfg, "notify.stats_interval_ms"), last_stats = dw_now_ms();
  int fails = 0, rc = DW_EXIT_OK;
  while (!stop_flag) {
    if (reload_flag) {
      reload_flag = 0;
      reload(w);
    }
    int r = round_once(w, err, sizeof err);
    if (r < 0) {
      drop(w, err);
      DW_LOG_WARNING("group %s (will retry): %s", w->group, err);
      fails++;
      if (once && fails > 3) {
        rc = DW_EXIT_FAIL;
        break;
      }
    } else {
      fails = 0;
    }
    publish(w, stats_every, &last_stats);
    if (once && r >= 0) {
      if (!w->active) {
        DW_LOG_ERR("group %s is active in another process", w->group);
        rc = DW_EXIT_FAIL;
      }
      break;
    }
    sleep_ms(next_wait_ms(w, r, fails, poll, lock_retry));
  }
  log_stats(w);
  return rc;
}

int dw_cmd_notify(int argc, char **argv) {
  const char *check_path = NULL;
  bool once = false, digest_now = false;
  const dw_opt opts[] = {
    {"routes", DW_OPT_CONF, NULL, "FILE", "the routes file (YAML)", "notify.routes"},
    {"check", DW_OPT_STR, &check_path, "FILE", "validate a routes file and exit (0 valid, 2 not)", NULL},
    {"group", DW_OPT_CONF, NULL, "NAME", "group of receivers: its cursor, lock and state (default: default)",
     "notify.group"},
    {"clock", DW_OPT_CONF, NULL, "CLOCK", "wall, watermark or file:PATH (see below)", "notify.clock"},
    {"poll-ms", DW_OPT_CONF, NULL, "MS", "round period (default 1000)", "notify.poll_ms"},
    {"metrics-file", DW_OPT_CONF, NULL, "FILE", "write the Prometheus metrics text here every round",
     "notify.metrics_file"},
    {"http", DW_OPT_CONF, NULL, "ADDR", "serve /metrics, /healthz, /readyz on ADDR (builds with the HTTP server)",
     "notify.http_listen"},
    {"digest-now", DW_OPT_FLAG, &digest_now, NULL, "send every digest once now, whatever its time", NULL},
    {"once", DW_OPT_FLAG, &once, NULL, "one round (become active, read, send), then exit", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "--routes FILE --db CONNINFO [OPTIONS] | --check FILE", description, opts, 0, 0,
                                DW_CLI_DB, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc >= 0) {
    dw_cli_destroy(cli);
    return rc;
  }
  if (check_path) {
    rc = check(check_path);
    dw_cli_destroy(cli);
    return rc;
  }
  notify *w = calloc(1, sizeof *w);
  if (!w) {
    dw_cli_destroy(cli);
    return DW_EXIT_FAIL;
  }
  if (configure(w, dw_cli_config(cli), digest_now)) {
    rc = DW_EXIT_USAGE;
  } else if (open_services(w)) {
    rc = DW_EXIT_FAIL;
  } else {
    name_holder(w);
    install_signals();
    DW_LOG_INF("group %s, routes %s (%zu receivers), clock %s", w->group, w->routes, w->nc->nreceivers,
               dw_config_get(w->cfg, "notify.clock"));
    rc = run_rounds(w, once);
  }
  notify_free(w);
  dw_cli_destroy(cli);
  return rc;
}
