/* dw_log: leveled diagnostics on stderr (see dw_log.h). */
#include "dw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_cmd[32] = "";
static dw_log_level g_level = DW_LOG_INFO;
static int g_level_from_env;

void dw_log_set_command(const char *cmd) { snprintf(g_cmd, sizeof g_cmd, "%s", cmd ? cmd : ""); }
const char *dw_log_command(void) { return g_cmd; }

int dw_log_level_parse(const char *name, dw_log_level *out) {
  static const struct {
    const char *name;
    dw_log_level level;
  } names[] = {{"error", DW_LOG_ERROR}, {"warn", DW_LOG_WARN},   {"warning", DW_LOG_WARN},
               {"info", DW_LOG_INFO},   {"debug", DW_LOG_DEBUG}};
  for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i].name) == 0) {
      *out = names[i].level;
      return 0;
    }
  return -1;
}

void dw_log_set_level(dw_log_level level) {
  g_level = level;
  g_level_from_env = 1;
}

/* DW_LOG_LEVEL applies until a configuration sets the level. */
static dw_log_level level_now(void) {
  if (!g_level_from_env) {
    dw_log_level l;
    const char *env = getenv("DW_LOG_LEVEL");
    if (env && dw_log_level_parse(env, &l) == 0) g_level = l;
    g_level_from_env = 1;
  }
  return g_level;
}

dw_log_level dw_log_get_level(void) { return level_now(); }
int dw_log_enabled(dw_log_level level) { return level <= level_now(); }

void dw_log(dw_log_level level, const char *fmt, ...) {
  if (!dw_log_enabled(level)) return;
  char line[2048];
  int n = snprintf(line, sizeof line, "dossierwatch%s%s: %s", g_cmd[0] ? " " : "", g_cmd,
                   level == DW_LOG_WARN ? "warning: " : level == DW_LOG_DEBUG ? "debug: " : "");
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  /* one message, one line: a reason quoted from PostgreSQL or librdkafka
   * may carry newlines */
  for (char *p = line + n; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  size_t len = strlen(line);
  while (len > (size_t)n && line[len - 1] == ' ') line[--len] = '\0';
  line[len++] = '\n';
  fwrite(line, 1, len, stderr);
}
