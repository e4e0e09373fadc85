/* dw_cli: the options every subcommand shares (--config, --set, --bootstrap,
 * --db, --help) and the usage/exit-code conventions (0 ok, 1 failure,
 * 2 bad usage). A command appends DW_CLI_COMMON_OPTIONS to its getopt_long
 * table, passes unknown option codes to dw_cli_option(), and calls
 * dw_cli_finish() after the loop so that flags override the --config file
 * whatever their order, and the environment fills what is still unset. */
#ifndef DW_CLI_H
#define DW_CLI_H

#include <getopt.h>

#include "dw_config.h"

#define DW_EXIT_OK 0
#define DW_EXIT_FAIL 1
#define DW_EXIT_USAGE 2

enum { DW_OPT_CONFIG = 0x1001, DW_OPT_SET, DW_OPT_BOOTSTRAP, DW_OPT_DB };

#define DW_CLI_COMMON_OPTIONS                                          \
  {"config", required_argument, 0, DW_OPT_CONFIG},                     \
  {"set", required_argument, 0, DW_OPT_SET},                           \
  {"bootstrap", required_argument, 0, DW_OPT_BOOTSTRAP},               \
  {"db", required_argument, 0, DW_OPT_DB},                             \
  {"help", no_argument, 0, 'h'}

#define DW_CLI_COMMON_HELP                                                        \
  "  --config FILE      key=value configuration file\n"                          \
  "  --set KEY=VALUE    set one configuration key (repeatable)\n"                \
  "  --bootstrap ADDR   Kafka bootstrap servers (kafka.bootstrap.servers, DW_BOOTSTRAP)\n" \
  "  --db CONNINFO      PostgreSQL connection string (db.conninfo, DW_DB)\n"     \
  "  --help             this text\n"

typedef struct dw_cli dw_cli;

dw_cli *dw_cli_new(void);
void dw_cli_destroy(dw_cli *cli);
/* The configuration being built; owned by cli. */
dw_config *dw_cli_config(dw_cli *cli);

/* Handles a common option code. Returns 1 if it was one, 0 if not, -1 on a
 * bad value (message already printed to stderr). */
int dw_cli_option(dw_cli *cli, int opt, const char *arg);

/* Applies flags over the file, then the environment. Returns 0, or -1 with
 * the message printed. */
int dw_cli_finish(dw_cli *cli);

/* The default case of a command's getopt_long loop (optstring starting
 * with ':'): a missing value, an unknown option, or a common option.
 * Returns 1 if handled, -1 after printing why (the caller exits 2). */
int dw_cli_default(dw_cli *cli, const char *cmd, int opt, const char *arg, char *const argv[]);

/* After the loop, for a command that takes no positional argument: refuses
 * leftovers, then dw_cli_finish. Returns 0, or -1 after printing why. */
int dw_cli_end(dw_cli *cli, const char *cmd, int argc, char *const argv[]);

/* Prints "dossierwatch CMD: message" to stderr. */
void dw_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
