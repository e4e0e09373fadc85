/* main: dispatches `dossierwatch CMD ...` to its subcommand. */
#include <stdio.h>
#include <string.h>

#include "dw_cli.h"
#include "dw_commands.h"
#include "dw_log.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
  {"broker", dw_cmd_broker, "host the embedded Kafka-protocol broker on loopback"},
  {"migrate", dw_cmd_migrate, "apply the PostgreSQL schema migrations"},
  {"simulate", dw_cmd_simulate, "produce realistic dossier events (seeded)"},
  {"import", dw_cmd_import, "validate a JSON Lines export and produce it"},
  {"watch", dw_cmd_watch, "live consumer: rules, alerts, aggregates, archive"},
  {"audit", dw_cmd_audit, "the engine offline over event files, as of a time"},
  {"replay", dw_cmd_replay, "rebuild state, alerts and aggregates from history"},
  {"export", dw_cmd_export, "write archived events as JSON Lines or Avro"},
  {"notify", dw_cmd_notify, "alert feeds to people: routing, grouping, email and webhook"},
  {"silence", dw_cmd_silence, "add, list and expire silences of notifications"},
  {"demo", dw_cmd_demo, "everything on the embedded defaults"},
  {"serve", dw_cmd_serve, "JSON API, dashboard and metrics over HTTP"},
  {"token", dw_cmd_token, "add, list or revoke API tokens"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: dossierwatch COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n'dossierwatch COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return DW_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    if (argc > 2)
      for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[2], commands[i].name) == 0) {
          char *help_argv[] = {argv[2], "--help", NULL};
          dw_log_set_command(argv[2]);
          return commands[i].run(2, help_argv);
        }
    usage(stdout);
    return DW_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(name, commands[i].name) == 0) {
      dw_log_set_command(name);
      return commands[i].run(argc - 1, argv + 1);
    }
  DW_LOG_ERR("unknown command '%s'", name);
  usage(stderr);
  return DW_EXIT_USAGE;
}
