/* migrate: placeholder until its issue lands. */
#include <stdio.h>

#include "dw_cli.h"
#include "dw_commands.h"

int dw_cmd_migrate(int argc, char **argv) {
  (void)argc;
  (void)argv;
  dw_cli_error("migrate", "not implemented yet");
  return DW_EXIT_FAIL;
}
