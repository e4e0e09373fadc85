/* token: `dossierwatch token add|list|revoke`, the API tokens serve
 * accepts (consumers/http/dw_http_token.h). `add` prints the token once;
 * PostgreSQL keeps its id, name, scope and the SHA-256 of its secret in
 * api_tokens (migration 008), so a lost token is revoked and re-issued,
 * never recovered. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dw_cli.h"
#include "dw_commands.h"
#include "dw_http_token.h"
#include "dw_log.h"
#include "dw_pg.h"

#define CMD "token"

static const char description[] =
  "add --name N --scope S   a new token for scope S, printed once on stdout:\n"
  "                         province | agency:A[,B...] | commune:C[,D...] | ingest\n"
  "list                     every token: id, name, scope, created, revoked (never the secret)\n"
  "revoke NAME|ID           revokes the live token of that name or id: serve answers 401 to it";

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64) return 0;
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") == n;
}

static int do_add(PGconn *c, const char *name, const char *scope_s) {
  char err[512], scope[DW_SCOPE_MAX_UNITS * 64 + 16];
  dw_scope sc;
  if (!valid_name(name)) {
    DW_LOG_ERR("--name: 1..64 of A-Z a-z 0-9 . _ @ -");
    return DW_EXIT_USAGE;
  }
  if (dw_scope_parse(scope_s, &sc, err, sizeof err)) {
    DW_LOG_ERR("--scope: %s", err);
    return DW_EXIT_USAGE;
  }
  dw_scope_format(&sc, scope, sizeof scope);
  char token[DW_TOKEN_LEN + 1], id[DW_TOKEN_ID_LEN + 1], hex[65];
  uint8_t hash[32];
  if (dw_token_generate(token, id, hash)) {
    DW_LOG_ERR("the random generator failed; no token made");
    return DW_EXIT_FAIL;
  }
  dw_token_hex(hash, hex);
  const char *params[4] = {id, name, scope, hex};
  PGresult *r = dw_pg_query(c,
                            "INSERT INTO api_tokens (token_id, name, scope, token_hash) "
                            "VALUES ($1, $2, $3, decode($4, 'hex'))",
                            4, params, err, sizeof err);
  if (!r) {
    if (strstr(err, "api_tokens_live_name_idx"))
      DW_LOG_ERR("a live token named '%s' exists already: revoke it first or choose another name", name);
    else
      DW_LOG_ERR("%s", err);
    return DW_EXIT_FAIL;
  }
  PQclear(r);
  printf("%s\n", token);
  fflush(stdout);
  fprintf(stderr, "token: added '%s' (id %s, scope %s); it is shown only now\n", name, id, scope);
  memset(token, 0, sizeof token);
  return DW_EXIT_OK;
}

static int do_list(PGconn *c) {
  char err[512];
  PGresult *r = dw_pg_query(c,
                            "SELECT token_id, name, scope, to_char(created_at AT TIME ZONE 'Asia/Ho_Chi_Minh', "
                            "'YYYY-MM-DD HH24:MI'), coalesce(to_char(revoked_at AT TIME ZONE 'Asia/Ho_Chi_Minh', "
                            "'YYYY-MM-DD HH24:MI'), '-') FROM api_tokens ORDER BY created_at, token_id",
                            0, NULL, err, sizeof err);
  if (!r) {
    DW_LOG_ERR("%s", err);
    return DW_EXIT_FAIL;
  }
  printf("%-12s  %-24s  %-32s  %-16s  %s\n", "id", "name", "scope", "created", "revoked");
  for (int i = 0; i < PQntuples(r); i++)
    printf("%-12s  %-24s  %-32s  %-16s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
           PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
  PQclear(r);
  return DW_EXIT_OK;
}

static int do_revoke(PGconn *c, const char *what) {
  char err[512];
  const char *params[1] = {what};
  PGresult *r = dw_pg_query(c,
                            "UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL "
                            "AND (name = $1 OR token_id = $1) RETURNING token_id, name",
                            1, params, err, sizeof err);
  if (!r) {
    DW_LOG_ERR("%s", err);
    return DW_EXIT_FAIL;
  }
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) fprintf(stderr, "token: revoked '%s' (id %s)\n", PQgetvalue(r, i, 1), PQgetvalue(r, i, 0));
  PQclear(r);
  if (n == 0) {
    DW_LOG_ERR("no live token named or with id '%s'", what);
    return DW_EXIT_FAIL;
  }
  return DW_EXIT_OK;
}

int dw_cmd_token(int argc, char **argv) {
  const char *name = NULL, *scope = NULL;
  const dw_opt opts[] = {
    {"name", DW_OPT_STR, &name, "N", "add: the token's name (who or what holds it)", NULL},
    {"scope", DW_OPT_STR, &scope, "S", "add: province | agency:A[,B] | commune:C[,D] | ingest", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "add --name N --scope S | list | revoke NAME|ID [OPTIONS]", description, opts, 1, 2,
                                DW_CLI_DB, NULL};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  char **args;
  int nargs;
  int rc = dw_cli_run(cli, &spec, argc, argv, &args, &nargs);
  if (rc >= 0) {
    dw_cli_destroy(cli);
    return rc;
  }
  rc = DW_EXIT_USAGE;
  const char *verb = args[0];
  bool add = !strcmp(verb, "add"), list = !strcmp(verb, "list"), revoke = !strcmp(verb, "revoke");
  dw_config *cfg = dw_cli_config(cli);
  if (!add && !list && !revoke) {
    DW_LOG_ERR("unknown action '%s' (add, list or revoke)", verb);
  } else if (add && (!name || !scope || nargs != 1)) {
    DW_LOG_ERR("token add wants --name N and --scope S");
  } else if (!add && (name || scope)) {
    DW_LOG_ERR("--name and --scope go with token add");
  } else if ((list && nargs != 1) || (revoke && nargs != 2)) {
    DW_LOG_ERR(revoke ? "token revoke wants one NAME or ID" : "token list takes no argument");
  } else if (!dw_config_get(cfg, "db.conninfo")) {
    DW_LOG_ERR("no PostgreSQL: give --db, db.conninfo or DW_DB");
  } else {
    char err[512];
    PGconn *c = dw_pg_connect(dw_config_get(cfg, "db.conninfo"), 10, err, sizeof err);
    if (!c) {
      DW_LOG_ERR("%s", err);
      rc = DW_EXIT_FAIL;
    } else {
      rc = add ? do_add(c, name, scope) : list ? do_list(c) : do_revoke(c, args[1]);
      PQfinish(c);
    }
  }
  dw_cli_destroy(cli);
  return rc;
}
