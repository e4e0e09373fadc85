/* dw_commands: the subcommands of the one `dossierwatch` binary. Each takes
 * (argc, argv) with argv[0] = the command name and returns an exit code
 * (DW_EXIT_OK, DW_EXIT_FAIL, DW_EXIT_USAGE). */
#ifndef DW_COMMANDS_H
#define DW_COMMANDS_H

int dw_cmd_broker(int argc, char **argv);   /* common/broker.c */
int dw_cmd_migrate(int argc, char **argv);  /* common/migrate.c */
int dw_cmd_simulate(int argc, char **argv); /* producers/simulate.c */
int dw_cmd_import(int argc, char **argv);   /* producers/import.c */
int dw_cmd_watch(int argc, char **argv);    /* consumers/watch.c */
int dw_cmd_audit(int argc, char **argv);    /* consumers/audit.c */
int dw_cmd_replay(int argc, char **argv);   /* consumers/replay.c */
int dw_cmd_export(int argc, char **argv);   /* consumers/export.c */
int dw_cmd_demo(int argc, char **argv);     /* consumers/demo.c */
int dw_cmd_serve(int argc, char **argv);    /* consumers/serve.c */
int dw_cmd_token(int argc, char **argv);    /* consumers/token.c */
int dw_cmd_notify(int argc, char **argv);   /* consumers/notify.c */
int dw_cmd_silence(int argc, char **argv);  /* consumers/silence.c */

#endif
