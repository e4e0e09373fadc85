/* demo: everything on the embedded defaults, for a new user. Starts the
 * embedded broker and a throwaway PostgreSQL, migrates, runs `watch`, runs
 * `simulate` with the seed-letter preset for a quarter of event time ending
 * now, waits until every event is archived, prints open alerts by severity
 * and the commune ranking, starts `serve` (the dashboard and the JSON API)
 * and prints its URL with a province token, tells how to look further, and
 * shuts everything down (or keeps it running with --keep-running until
 * Ctrl-C). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dw_cli.h"
#include "dw_embedded.h"
#include "dw_sim_profile.h"
#include "dw_log.h"
#include "dw_commands.h"
#include "dw_time.h"
#include "demo_notify.h"

typedef struct demo {
  char dir[256];
  char self[4096];
  char bootstrap[512];
  char conninfo[1024];
  pid_t broker, watch, serve;
  int pg_started;
} demo;

static volatile sig_atomic_t demo_interrupted;
static void on_signal(int sig) {
  (void)sig;
  demo_interrupted = 1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Starts `dossierwatch ARGS...` (this very binary) in the background. */
static pid_t spawn_self(const demo *d, char *const args[], const char *log_path) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (log_path) {
      FILE *log = freopen(log_path, "a", stderr);
      if (log) dup2(fileno(stderr), STDOUT_FILENO);
    }
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)d->self;
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    execv(d->self, argv);
    _exit(127);
  }
  return pid;
}

/* Runs a command to completion; captures the first line of stdout if out. */
static int run_capture(char *const argv[], char *out, size_t outsize) {
  int fds[2];
  if (pipe(fds)) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(fds[1]);
  size_t used = 0;
  ssize_t r;
  char sink[512];
  while ((r = read(fds[0], out && used + 1 < outsize ? out + used : sink,
                   out && used + 1 < outsize ? outsize - used - 1 : sizeof sink)) > 0)
    if (out && used + 1 < outsize) used += (size_t)r;
  close(fds[0]);
  if (out) {
    out[used] = 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
  }
  int status;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void stop_child(pid_t *pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  for (int i = 0; i < 100; i++) {
    if (waitpid(*pid, NULL, WNOHANG) == *pid) {
      *pid = 0;
      return;
    }
    sleep_ms(100);
  }
  kill(-*pid, SIGKILL);
  kill(*pid, SIGKILL);
  waitpid(*pid, NULL, 0);
  *pid = 0;
}

/* deploy/pg-embedded.sh, compiled in (CMakeLists.txt dw_embed): the demo
 * writes it into its working folder, so it runs from any installed
 * location. */
extern const dw_embedded_file dw_embedded_scripts[];

static int write_script(const demo *d, char *path, size_t n) {
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_scripts, "pg-embedded.sh");
  snprintf(path, n, "%s/pg-embedded.sh", d->dir);
  FILE *out = f ? fopen(path, "w") : NULL;
  if (!out) return -1;
  int bad = fwrite(f->data, 1, f->len, out) != f->len;
  bad |= fclose(out) != 0;
  return bad || chmod(path, 0755) ? -1 : 0;
}

static void pg_script(const demo *d, const char *verb, char *out, size_t outsize) {
  char script[512], pgdir[300];
  snprintf(script, sizeof script, "%s/pg-embedded.sh", d->dir);
  snprintf(pgdir, sizeof pgdir, "%s/pg", d->dir);
  char *argv[] = {"/bin/bash", script, (char *)verb, pgdir, NULL};
  run_capture(argv, out, outsize);
}

static void teardown(demo *d) {
  stop_child(&d->serve);
  stop_child(&d->watch);
  stop_child(&d->broker);
  if (d->pg_started) pg_script(d, "stop", NULL, 0);
  char *argv[] = {"/bin/rm", "-rf", d->dir, NULL};
  if (d->dir[0]) run_capture(argv, NULL, 0);
}

static int read_file_line(const char *path, char *out, size_t outsize) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int ok = fgets(out, (int)outsize, f) != NULL;
  fclose(f);
  if (!ok) return -1;
  out[strcspn(out, "\n")] = 0;
  return out[0] ? 0 : -1;
}

static long long query_count(PGconn *conn, const char *sql) {
  PGresult *res = PQexec(conn, sql);
  long long n = -1;
  if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) n = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  return n;
}

/* Display width of UTF-8 text: one column per character (enough for
 * Vietnamese names in precomposed form). */
static int text_width(const char *s) {
  int w = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) w++;
  return w;
}

static void print_cell(const char *text, int width) {
  printf("%s%*s  ", text, width - text_width(text), "");
}

/* Prints a query's result as an aligned table. */
static void print_table(PGconn *conn, const char *title, const char *sql) {
  PGresult *res = PQexec(conn, sql);
  printf("\n%s\n", title);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    printf("  (query failed: %s)\n", PQerrorMessage(conn));
    PQclear(res);
    return;
  }
  int rows = PQntuples(res), cols = PQnfields(res);
  int width[32] = {0};
  for (int c = 0; c < cols && c < 32; c++) {
    width[c] = text_width(PQfname(res, c));
    for (int r = 0; r < rows; r++) {
      int w = text_width(PQgetvalue(res, r, c));
      if (w > width[c]) width[c] = w;
    }
  }
  printf("  ");
  for (int c = 0; c < cols && c < 32; c++) print_cell(PQfname(res, c), width[c]);
  printf("\n");
  for (int r = 0; r < rows; r++) {
    printf("  ");
    for (int c = 0; c < cols && c < 32; c++)
      print_cell(PQgetisnull(res, r, c) ? "-" : PQgetvalue(res, r, c), width[c]);
    printf("\n");
  }
  if (rows == 0) printf("  (none)\n");
  PQclear(res);
}

/* "(VALUES ('29221','Xã Long Hiệp'), ...)" from the preset's commune names,
 * so the ranking shows names next to codes (events carry codes only). */
static char *commune_names_sql(PGconn *conn) {
  const dw_embedded_file *f = dw_embedded_find(dw_embedded_presets, "seed-letter.json");
  json_error_t jerr;
  json_t *root = f ? json_loadb(f->data, f->len, 0, &jerr) : NULL;
  json_t *communes = root ? json_object_get(root, "communes") : NULL;
  size_t cap = 64 + 160 * (communes ? json_array_size(communes) : 0), used = 0;
  char *sql = malloc(cap);
  if (!sql) {
    json_decref(root);
    return NULL;
  }
  used += (size_t)snprintf(sql, cap, "(VALUES ('', '')");
  size_t i;
  json_t *c;
  json_array_foreach(communes, i, c) {
    const char *code = json_string_value(json_object_get(c, "code"));
    const char *name = json_string_value(json_object_get(c, "name"));
    if (!code || !name) continue;
    char *qcode = PQescapeLiteral(conn, code, strlen(code)), *qname = PQescapeLiteral(conn, name, strlen(name));
    if (qcode && qname && used < cap) used += (size_t)snprintf(sql + used, cap - used, ", (%s, %s)", qcode, qname);
    PQfreemem(qcode);
    PQfreemem(qname);
  }
  if (used < cap) snprintf(sql + used, cap - used, ")");
  json_decref(root);
  return sql;
}

static void report(PGconn *conn, const char *start_day) {
  print_table(conn, "Open alerts by severity and rule:",
              "SELECT severity, rule, count(*) AS open_alerts FROM alerts WHERE cleared_at IS NULL "
              "GROUP BY 1, 2 ORDER BY 1, 3 DESC");
  print_table(conn, "An example of each open alert (the latest raised):",
              "SELECT DISTINCT ON (rule, severity) rule, severity, dossier_id, commune, agency, "
              "to_char(raised_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI') AS raised_at, "
              "to_char(due_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI') AS due_at "
              "FROM alerts WHERE cleared_at IS NULL "
              "ORDER BY rule, severity, alerts.raised_at DESC, alert_id");
  char *names = commune_names_sql(conn);
  char *qstart = PQescapeLiteral(conn, start_day, strlen(start_day));
  if (names && qstart) {
    size_t cap = strlen(names) + 2048;
    char *sql = malloc(cap);
    if (sql) {
      snprintf(sql, cap,
               "WITH w AS (SELECT unit AS commune, sum(received) AS received, sum(online_full) AS online_full, "
               "sum(intake_digitized) AS intake_digitized, sum(results_issued) AS results_issued, "
               "sum(results_digitized) AS results_digitized, sum(on_time) AS on_time, sum(late) AS late "
               "FROM aggregates WHERE unit_type = 'commune' AND period_kind = 'day' AND period >= %s "
               "GROUP BY unit) "
               "SELECT w.commune, n.name, w.received, w.results_issued, "
               "round(100.0 * on_time / nullif(on_time + late, 0), 2) AS on_time_pct, "
               "round(100.0 * intake_digitized / nullif(received - online_full, 0), 2) AS intake_digitized_pct, "
               "round(100.0 * results_digitized / nullif(results_issued, 0), 2) AS result_digitized_pct, "
               "(SELECT count(*) FROM alerts a WHERE a.commune = w.commune AND a.rule = 'OVERDUE' "
               "AND a.cleared_at IS NULL) AS open_overdue "
               "FROM w LEFT JOIN %s AS n(code, name) ON n.code = w.commune "
               "ORDER BY result_digitized_pct NULLS FIRST, w.commune",
               qstart, names);
      print_table(conn, "Commune ranking over the simulated window (lowest result digitization first):", sql);
      free(sql);
    }
  }
  PQfreemem(qstart);
  free(names);
}

/* serve on the demo's database, its address and a province token: the
 * configured http.listen (default 127.0.0.1:8080), else any free port.
 * 0, or -1 (the demo goes on without the dashboard). */
static int start_serve(demo *d, const char *conf_path, const char *listen, char *addr, size_t addr_size, char *token,
                       size_t token_size) {
  char *token_argv[] = {d->self, "token", "add", "--name", "demo", "--scope", "province", "--db", d->conninfo, NULL};
  if (run_capture(token_argv, token, token_size) != 0 || strncmp(token, "dwt_", 4) != 0) return -1;
  char file[300], log[300];
  snprintf(file, sizeof file, "%s/serve.addr", d->dir);
  snprintf(log, sizeof log, "%s/serve.log", d->dir);
  const char *tries[2] = {listen, "127.0.0.1:0"};
  for (int t = 0; t < 2; t++) {
    char *serve_args[] = {"serve",  "--config", (char *)conf_path, "--db",          d->conninfo, "--units",
                          "seed-letter", "--listen", (char *)tries[t], "--listen-file", file,        NULL};
    unlink(file);
    d->serve = spawn_self(d, serve_args, log);
    for (int i = 0; i < 100 && read_file_line(file, addr, addr_size); i++) {
      if (waitpid(d->serve, NULL, WNOHANG) == d->serve) {
        d->serve = 0; /* did not start (the port in use?): the next try */
        break;
      }
      sleep_ms(100);
    }
    if (d->serve > 0 && addr[0]) return 0;
    stop_child(&d->serve);
  }
  DW_LOG_WARNING("serve did not start (see %s); no dashboard", log);
  return -1;
}

static const char description[] =
  "Starts the embedded broker and a throwaway PostgreSQL, runs watch and the\n"
  "seed-letter simulation (N days of event time ending now, default 91), prints\n"
  "open alerts and the commune ranking, starts serve and prints the dashboard's\n"
  "URL with a province token, and shuts everything down (--keep-running: after\n"
  "Ctrl-C). --config and --set apply to every process it starts (watch, simulate,\n"
  "serve; http.listen chooses the dashboard's address, default 127.0.0.1:8080).";

/* The effective configuration, for the processes the demo starts (without
 * the broker and database, which are the demo's own). */
static int write_config(const char *key, const char *value, void *opaque) {
  if (strcmp(key, "kafka.bootstrap.servers") == 0 || strcmp(key, "db.conninfo") == 0) return 0;
  fprintf(opaque, "%s = %s\n", key, value);
  return 0;
}

int dw_cmd_demo(int argc, char **argv) {
  bool keep = false;
  int64_t days = 91, seed = 766;
  const dw_opt opts[] = {
    {"keep-running", DW_OPT_FLAG, &keep, NULL, "leave everything up until Ctrl-C", NULL},
    {"days", DW_OPT_INT, &days, "N", "days of event time to simulate (default 91)", NULL},
    {"seed", DW_OPT_INT, &seed, "N", "simulator seed (default 766)", NULL},
    {0},
  };
  const dw_command_spec spec = {"demo", "[--keep-running] [--days N] [--seed N] [OPTIONS]", description, opts, 0, 0, 0,
                                NULL};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int prc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (prc >= 0 || days <= 0 || days > 3660 || seed < 0) {
    if (prc < 0) DW_LOG_ERR("--days wants 1..3660 and --seed a non-negative integer");
    dw_cli_destroy(cli);
    return prc >= 0 ? prc : DW_EXIT_USAGE;
  }
  char days_s[24], seed_s[24];
  snprintf(days_s, sizeof days_s, "%lld", (long long)days);
  snprintf(seed_s, sizeof seed_s, "%lld", (long long)seed);

  demo d = {0};
  demo_notify dn = {0};
  ssize_t len = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
  if (len <= 0) {
    DW_LOG_ERR("cannot find my own binary: %s", strerror(errno));
    return DW_EXIT_FAIL;
  }
  d.self[len] = 0;
  snprintf(d.dir, sizeof d.dir, "/tmp/dossierwatch-demo.XXXXXX");
  if (!mkdtemp(d.dir)) {
    DW_LOG_ERR("mkdtemp: %s", strerror(errno));
    return DW_EXIT_FAIL;
  }
  chmod(d.dir, 0755);
  char conf_path[300];
  snprintf(conf_path, sizeof conf_path, "%s/demo.conf", d.dir);
  FILE *conf = fopen(conf_path, "w");
  if (conf) {
    dw_config_foreach_prefix(dw_cli_config(cli), "", write_config, conf);
    fclose(conf);
  }
  char listen[256];
  snprintf(listen, sizeof listen, "%s", dw_config_get(dw_cli_config(cli), "http.listen"));
  dw_cli_destroy(cli);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int rc = DW_EXIT_FAIL;
  PGconn *conn = NULL;
  char path[512], logpath[512], line[1024];

  printf("dossierwatch demo: working in %s\n", d.dir);
  snprintf(path, sizeof path, "%s/bootstrap", d.dir);
  snprintf(logpath, sizeof logpath, "%s/broker.log", d.dir);
  char *broker_args[] = {"broker", "--no-stdin", "--bootstrap-file", path, NULL};
  d.broker = spawn_self(&d, broker_args, logpath);
  for (int i = 0; i < 100 && read_file_line(path, d.bootstrap, sizeof d.bootstrap); i++) sleep_ms(100);
  if (!d.bootstrap[0]) {
    DW_LOG_ERR("the embedded broker did not start (see %s)", logpath);
    goto done;
  }
  printf("  embedded Kafka broker (librdkafka mock cluster): %s\n", d.bootstrap);

  char script[512];
  if (write_script(&d, script, sizeof script)) {
    DW_LOG_ERR("cannot write %s: %s", script, strerror(errno));
    goto done;
  }
  d.pg_started = 1;
  pg_script(&d, "start", d.conninfo, sizeof d.conninfo);
  if (!d.conninfo[0]) {
    DW_LOG_ERR("the throwaway PostgreSQL did not start");
    goto done;
  }
  printf("  throwaway PostgreSQL: %s\n", d.conninfo);

  char *migrate_argv[] = {d.self, "migrate", "--db", d.conninfo, NULL};
  if (run_capture(migrate_argv, NULL, 0) != 0) {
    DW_LOG_ERR("migrate failed");
    goto done;
  }

  snprintf(logpath, sizeof logpath, "%s/watch.log", d.dir);
  char *watch_args[] = {"watch", "--config", conf_path, "--bootstrap", d.bootstrap, "--db", d.conninfo, NULL};
  d.watch = spawn_self(&d, watch_args, logpath);
  printf("  watch started (log: %s)\n", logpath);

  /* the window ends today (local time), as the simulator's default does */
  char start_day[16];
  int y, m, dd;
  dw_civil_from_days(dw_local_day(dw_now_ms(), DW_DEFAULT_UTC_OFFSET_MIN) - days, &y, &m, &dd);
  snprintf(start_day, sizeof start_day, "%04d-%02d-%02d", y, m, dd);
  printf("  simulating %s days of the seed-letter province from %s (seed %s) into dossier.events ...\n", days_s,
         start_day, seed_s);
  fflush(stdout);
  char *sim_argv[] = {d.self,  "simulate", "--config", conf_path, "--preset", "seed-letter", "--seed", seed_s, "--start",
                      start_day, "--days", days_s, "--kafka", "--bootstrap", d.bootstrap, NULL};
  snprintf(logpath, sizeof logpath, "%s/simulate.log", d.dir);
  pid_t sim = spawn_self(&d, sim_argv + 1, logpath);
  int status = 0;
  waitpid(sim, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    DW_LOG_ERR("simulate failed (see %s)", logpath);
    goto done;
  }

  conn = PQconnectdb(d.conninfo);
  if (PQstatus(conn) != CONNECTION_OK) {
    DW_LOG_ERR("cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
    goto done;
  }
  /* Wait until watch has archived everything: the count stops moving. */
  long long last = -1, now_count;
  int stable = 0;
  for (int i = 0; i < 1200 && !demo_interrupted && stable < 3; i++) {
    sleep_ms(500);
    now_count = query_count(conn, "SELECT coalesce(sum(n), 0) FROM archive_blocks");
    stable = (now_count == last && now_count > 0) ? stable + 1 : 0;
    last = now_count;
    if (i % 4 == 0 && isatty(STDOUT_FILENO)) {
      printf("\r  archived %lld events", now_count);
      fflush(stdout);
    }
  }
  printf("%s  archived %lld events, all the simulator produced\n", isatty(STDOUT_FILENO) ? "\r" : "", last);
  report(conn, start_day);

  char addr[256] = "", token[256] = "", url[300] = "http://127.0.0.1:8080";
  bool served = start_serve(&d, conf_path, listen, addr, sizeof addr, token, sizeof token) == 0;
  if (served) snprintf(url, sizeof url, "http://%s", addr); /* the mails' dashboard links */
  if (demo_notify_start(&dn, d.self, d.dir, conf_path, d.conninfo, url) == 0) demo_notify_report(&dn, conn);
  if (served) {
    printf("\nDashboard (Vietnamese; add ?lang=en before the # for English):\n"
           "  http://%s/#token=%s\n"
           "Province token (kept only as its hash in PostgreSQL): %s\n"
           "  curl -H 'Authorization: Bearer %s' 'http://%s/api/v1/ranking?period_kind=quarter'\n",
           addr, token, token, token, addr);
  }

  printf("\nLook further (while it runs: dossierwatch demo --keep-running):\n"
         "  psql '%s' -c 'SELECT * FROM v_commune_ranking'   # this quarter\n"
         "  psql '%s' -c 'SELECT * FROM v_open_alerts_by_agency'\n"
         "  kcat -b %s -C -t dossier.alerts -e -f '%%k %%T\\n'\n",
         d.conninfo, d.conninfo, d.bootstrap);
  if (keep) {
    printf("\nEverything keeps running; Ctrl-C to stop.\n");
    fflush(stdout);
    while (!demo_interrupted) sleep_ms(200);
  }
  rc = DW_EXIT_OK;
done:
  (void)line;
  if (conn) PQfinish(conn);
  printf("dossierwatch demo: shutting down\n");
  demo_notify_stop(&dn);
  teardown(&d);
  return rc;
}
