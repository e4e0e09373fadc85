/* dw_log: the one log of dossierwatch. Every command writes its diagnostics
 * here, to stderr, one line each: "dossierwatch CMD: message", with
 * "warning: " or "debug: " after the prefix for those levels. The level
 * comes from the config key log.level (error, warn, info, debug; default
 * info) or DW_LOG_LEVEL; messages below it are dropped. A command's own
 * results (summaries, tables) are its output, not log lines, and are
 * printed by the command itself.
 * Thread-safe: a line is formatted first and written with one call. */
#ifndef DW_LOG_H
#define DW_LOG_H

typedef enum dw_log_level { DW_LOG_ERROR = 0, DW_LOG_WARN, DW_LOG_INFO, DW_LOG_DEBUG } dw_log_level;

/* The command name in the prefix (set by main before dispatch). */
void dw_log_set_command(const char *cmd);
const char *dw_log_command(void);
void dw_log_set_level(dw_log_level level);
dw_log_level dw_log_get_level(void);
/* "error", "warn" (or "warning"), "info", "debug": 0, else -1. */
int dw_log_level_parse(const char *name, dw_log_level *out);
/* Would a message at this level be written? (skip costly formatting) */
int dw_log_enabled(dw_log_level level);

void dw_log(dw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define DW_LOG_ERR(...) dw_log(DW_LOG_ERROR, __VA_ARGS__)
#define DW_LOG_WARNING(...) dw_log(DW_LOG_WARN, __VA_ARGS__)
#define DW_LOG_INF(...) dw_log(DW_LOG_INFO, __VA_ARGS__)
#define DW_LOG_DBG(...) dw_log(DW_LOG_DEBUG, __VA_ARGS__)

#endif
