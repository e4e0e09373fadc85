/* serve: `dossierwatch serve`, the HTTP surface for people and programs:
 * the JSON API under /api/v1/, the dashboard at /, the dvcqg ingest hook,
 * /healthz, /readyz and /metrics (consumers/http/dw_http_serve.h). It only
 * reads PostgreSQL, through a pool, as a role scoped by row-level security;
 * it keeps no state, so several may run behind one reverse proxy. Runs
 * until SIGINT/SIGTERM, then finishes the requests in flight. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dw_cli.h"
#include "dw_commands.h"
#include "dw_http_serve.h"
#include "dw_log.h"

#define CMD "serve"

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static const char description[] =
  "Serves the JSON API (/api/v1/aggregates, /ranking, /alerts, /dossiers/ID,\n"
  "/units, /me), the dashboard (/) and /healthz, /readyz, /metrics. Every API\n"
  "request needs 'Authorization: Bearer TOKEN' (dossierwatch token add); what a\n"
  "token may read is enforced by PostgreSQL's row-level security (migration 008):\n"
  "serve runs its queries as http.db_role (default dossierwatch_serve) and refuses\n"
  "to start with a role that bypasses it.";
static const char epilog[] =
  "Keys: http.listen, http.units, http.db_role, http.db_pool,\n"
  "http.statement_timeout_ms, http.max_connections, http.ingest_max_bytes.\n"
  "Prints 'serve: listening on http://ADDR/' (and writes ADDR to --listen-file).";

int dw_cmd_serve(int argc, char **argv) {
  const char *listen_file = NULL;
  const dw_opt opts[] = {
    {"listen", DW_OPT_CONF, NULL, "HOST:PORT", "where to listen (default 127.0.0.1:8080; port 0: any free one)",
     "http.listen"},
    {"units", DW_OPT_CONF, NULL, "NAME|FILE", "unit names: seed-letter, generated, or a .csv file", "http.units"},
    {"listen-file", DW_OPT_STR, &listen_file, "FILE", "write the address listened on to FILE (for scripts)", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "[OPTIONS]", description, opts, 0, 0, DW_CLI_DB | DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc >= 0) {
    dw_cli_destroy(cli);
    return rc;
  }
  dw_config *cfg = dw_cli_config(cli);
  if (!dw_config_get(cfg, "db.conninfo")) {
    DW_LOG_ERR("no PostgreSQL: give --db, db.conninfo or DW_DB");
    dw_cli_destroy(cli);
    return DW_EXIT_USAGE;
  }
  char err[1024];
  dw_serve *s = dw_serve_start(cfg, err, sizeof err);
  if (!s) {
    DW_LOG_ERR("%s", err);
    dw_cli_destroy(cli);
    return DW_EXIT_FAIL;
  }
  if (listen_file) {
    /* written whole, then renamed: a reader never sees half an address */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", listen_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", dw_serve_address(s)) < 0 || fclose(f) || rename(tmp, listen_file)) {
      DW_LOG_ERR("cannot write --listen-file %s", listen_file);
      dw_serve_stop(s);
      dw_cli_destroy(cli);
      return DW_EXIT_FAIL;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  while (!stop_flag) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  DW_LOG_INF("stopping");
  dw_serve_stop(s);
  dw_cli_destroy(cli);
  return DW_EXIT_OK;
}
