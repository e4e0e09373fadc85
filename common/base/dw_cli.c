/* dw_cli: shared command-line handling (see dw_cli.h). */
#include "dw_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dw_cli {
  dw_config *cfg;
  dw_config *flags; /* applied last so flags win over --config */
};

dw_cli *dw_cli_new(void) {
  dw_cli *cli = calloc(1, sizeof *cli);
  if (!cli) return NULL;
  cli->cfg = dw_config_new();
  cli->flags = dw_config_new();
  if (!cli->cfg || !cli->flags) {
    dw_cli_destroy(cli);
    return NULL;
  }
  return cli;
}

void dw_cli_destroy(dw_cli *cli) {
  if (!cli) return;
  dw_config_destroy(cli->cfg);
  dw_config_destroy(cli->flags);
  free(cli);
}

dw_config *dw_cli_config(dw_cli *cli) { return cli->cfg; }

static int set_flag(dw_cli *cli, const char *key, const char *value) {
  char err[512];
  if (dw_config_set(cli->flags, key, value, err, sizeof err)) {
    fprintf(stderr, "dossierwatch: %s\n", err);
    return -1;
  }
  return 1;
}

int dw_cli_option(dw_cli *cli, int opt, const char *arg) {
  char err[512];
  switch (opt) {
  case DW_OPT_CONFIG:
    if (dw_config_load_file(cli->cfg, arg, err, sizeof err)) {
      fprintf(stderr, "dossierwatch: %s\n", err);
      return -1;
    }
    return 1;
  case DW_OPT_SET: {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
      fprintf(stderr, "dossierwatch: --set wants KEY=VALUE, got '%s'\n", arg);
      return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    return set_flag(cli, key, eq + 1);
  }
  case DW_OPT_BOOTSTRAP:
    return set_flag(cli, "kafka.bootstrap.servers", arg);
  case DW_OPT_DB:
    return set_flag(cli, "db.conninfo", arg);
  default:
    return 0;
  }
}

static int copy_flag(const char *key, const char *value, void *opaque) {
  dw_config *cfg = opaque;
  char err[512];
  if (dw_config_set(cfg, key, value, err, sizeof err)) {
    fprintf(stderr, "dossierwatch: %s\n", err);
    return -1;
  }
  return 0;
}

int dw_cli_finish(dw_cli *cli) {
  if (dw_config_foreach_prefix(cli->flags, "", copy_flag, cli->cfg)) return -1;
  dw_config_apply_env(cli->cfg);
  return 0;
}

void dw_cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "dossierwatch %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int dw_cli_default(dw_cli *cli, const char *cmd, int opt, const char *arg, char *const argv[]) {
  if (opt == ':') {
    dw_cli_error(cmd, "option '%s' needs a value (see --help)", argv[optind - 1]);
    return -1;
  }
  if (opt == '?') {
    dw_cli_error(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
    return -1;
  }
  int handled = dw_cli_option(cli, opt, arg);
  if (handled == 0) dw_cli_error(cmd, "unexpected option '%s' (see --help)", argv[optind - 1]);
  return handled > 0 ? 1 : -1;
}

int dw_cli_end(dw_cli *cli, const char *cmd, int argc, char *const argv[]) {
  if (optind < argc) {
    dw_cli_error(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
    return -1;
  }
  return dw_cli_finish(cli);
}
