/* dw_cli: the one option parser of every `dossierwatch` command, and the
 * usage/exit-code conventions (0 ok, 1 failure, 2 bad usage).
 *
 * A command describes itself once, as a table: its synopsis, what it does,
 * and its options (name, type, where the value goes, help). dw_cli_parse
 * reads argv against that table plus the options every command shares
 * (--config, --set, --bootstrap, --db, --log-level, --help), prints the
 * usage generated from the same table for --help, and names the option and
 * the reason for any mistake. Options that stand for a configuration key
 * (DW_OPT_CONF: `watch --group` is kafka.group.id) are applied after the
 * --config file whatever their order, and the environment fills only what
 * is still unset, so flags > file > environment > defaults.
 * Times (DW_OPT_TIME) all take the same syntax, parsed once the
 * configuration (its UTC offset) is known: RFC 3339 with offset
 * (2025-04-29T08:00:00+07:00), a local date YYYY-MM-DD, or milliseconds
 * since the epoch. A date means its first instant, or with
 * DW_OPT_TIME_END its last (--to, --as-of: "as of 30 June" includes it). */
#ifndef DW_CLI_H
#define DW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dw_config.h"

#define DW_EXIT_OK 0
#define DW_EXIT_FAIL 1
#define DW_EXIT_USAGE 2

typedef enum dw_opt_type {
  DW_OPT_FLAG,     /* bool *: set true */
  DW_OPT_STR,      /* const char **: the argument (points into argv) */
  DW_OPT_STRS,     /* dw_strs *: repeatable, every argument in order */
  DW_OPT_INT,      /* int64_t * */
  DW_OPT_NUM,      /* double * */
  DW_OPT_TIME,     /* int64_t * (ms), a date = its first instant */
  DW_OPT_TIME_END, /* int64_t * (ms), a date = its last instant */
  DW_OPT_CHOICE,   /* const char **: one of choices ("jsonl|table") */
  DW_OPT_CONF,     /* sets configuration key `key` to the argument */
  DW_OPT_CONF_FLAG /* sets configuration key `key` to "true" */
} dw_opt_type;

/* A repeatable option's arguments. */
typedef struct dw_strs {
  const char *v[64];
  size_t n;
} dw_strs;

typedef struct dw_opt {
  const char *name; /* long name without "--" */
  dw_opt_type type;
  void *dest;       /* by type (see above); NULL for CONF */
  const char *arg;  /* the value's name in the usage ("FILE"); NULL for flags */
  const char *help; /* one line (more lines: "\n" + indentation is added) */
  const char *key;  /* CONF: the configuration key; CHOICE: "a|b|c" */
} dw_opt;

/* Which shared options a command takes beyond --config/--set/--log-level/--help. */
enum { DW_CLI_KAFKA = 1, DW_CLI_DB = 2 };

typedef struct dw_command_spec {
  const char *name;        /* "audit" */
  const char *synopsis;    /* after "dossierwatch audit ": "FILE... [OPTIONS]" */
  const char *description; /* paragraphs, "\n"-separated */
  const dw_opt *opts;      /* ends with {0} */
  int min_args, max_args;  /* positional arguments; max -1: any number */
  unsigned shared;         /* DW_CLI_KAFKA | DW_CLI_DB */
  const char *epilog;      /* keys used, output, exit status (optional) */
} dw_command_spec;

typedef struct dw_cli dw_cli;

dw_cli *dw_cli_new(void);
void dw_cli_destroy(dw_cli *cli);
/* The configuration being built; owned by cli. */
dw_config *dw_cli_config(dw_cli *cli);

enum { DW_CLI_RUN = 0, DW_CLI_HELP = 1, DW_CLI_BAD = -1 };
/* Parses argv (argv[0] = the command name). DW_CLI_RUN: go on, the
 * positional arguments in *args / *nargs (pointers into argv); DW_CLI_HELP:
 * the usage was printed to stdout (exit 0); DW_CLI_BAD: the mistake was
 * printed to stderr (exit 2). Sets the log level from log.level. */
int dw_cli_parse(dw_cli *cli, const dw_command_spec *spec, int argc, char **argv, char ***args, int *nargs);
/* dw_cli_parse and the usual ending in one: returns -1 to go on, else the
 * exit code to return (0 after --help, 2 after a mistake). */
int dw_cli_run(dw_cli *cli, const dw_command_spec *spec, int argc, char **argv, char ***args, int *nargs);

/* Prints the usage generated from spec. */
void dw_cli_usage(const dw_command_spec *spec, FILE *out);

/* Was the option given on the command line? (for "only with --x") */
bool dw_cli_given(const dw_cli *cli, const char *name);

/* The time syntax of DW_OPT_TIME (see above): 0, or -1 with errstr. */
int dw_time_parse_arg(const char *s, bool end_of_day, int utc_offset_min, int64_t *out, char *errstr,
                      size_t errstr_size);

#endif
