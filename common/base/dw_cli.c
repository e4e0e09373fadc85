/* dw_cli: the table-driven option parser (see dw_cli.h). */
#include "dw_cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dw_log.h"
#include "dw_time.h"

#define MAX_GIVEN 64

struct dw_cli {
  dw_config *cfg;
  dw_config *flags; /* applied over --config so that flags win whatever their order */
  const char *given[MAX_GIVEN];
  size_t ngiven;
};

/* The options every command shares. */
enum { SH_CONFIG = 1, SH_SET, SH_BOOTSTRAP, SH_DB, SH_LOG_LEVEL, SH_HELP };
static const struct shared {
  const char *name, *arg, *help;
  int id;
  unsigned needs;
} shared_opts[] = {
  {"config", "FILE", "key=value configuration file", SH_CONFIG, 0},
  {"set", "KEY=VALUE", "set one configuration key (repeatable)", SH_SET, 0},
  {"bootstrap", "ADDR", "Kafka bootstrap servers (kafka.bootstrap.servers, DW_BOOTSTRAP)", SH_BOOTSTRAP, DW_CLI_KAFKA},
  {"db", "CONNINFO", "PostgreSQL connection string (db.conninfo, DW_DB)", SH_DB, DW_CLI_DB},
  {"log-level", "LEVEL", "error, warn, info (default) or debug (log.level, DW_LOG_LEVEL)", SH_LOG_LEVEL, 0},
  {"help", NULL, "this text", SH_HELP, 0},
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

bool dw_cli_given(const dw_cli *cli, const char *name) {
  for (size_t i = 0; i < cli->ngiven; i++)
    if (strcmp(cli->given[i], name) == 0) return true;
  return false;
}

/* ---- usage ---- */

static void print_opt(FILE *out, const char *name, const char *arg, const char *help) {
  char left[64];
  snprintf(left, sizeof left, "--%s%s%s", name, arg ? " " : "", arg ? arg : "");
  fprintf(out, "  %-22s ", left);
  if (strlen(left) > 22) fprintf(out, "\n  %-22s ", "");
  for (const char *p = help; *p; p++) {
    fputc(*p, out);
    if (*p == '\n') fprintf(out, "  %-22s ", "");
  }
  fputc('\n', out);
}

void dw_cli_usage(const dw_command_spec *spec, FILE *out) {
  fprintf(out, "usage: dossierwatch %s %s\n", spec->name, spec->synopsis ? spec->synopsis : "[OPTIONS]");
  if (spec->description) fprintf(out, "\n%s\n", spec->description);
  if (spec->opts && spec->opts[0].name) {
    fprintf(out, "\noptions:\n");
    for (const dw_opt *o = spec->opts; o->name; o++) {
      char help[512];
      if (o->type == DW_OPT_CONF || o->type == DW_OPT_CONF_FLAG)
        snprintf(help, sizeof help, "%s (%s)", o->help, o->key);
      else if (o->type == DW_OPT_CHOICE && !strstr(o->help, o->key))
        snprintf(help, sizeof help, "%s: %s", o->help, o->key);
      else
        snprintf(help, sizeof help, "%s", o->help);
      print_opt(out, o->name, o->arg, help);
    }
  }
  fprintf(out, "\ncommon options:\n");
  for (size_t i = 0; i < sizeof shared_opts / sizeof shared_opts[0]; i++)
    if (!shared_opts[i].needs || (spec->shared & shared_opts[i].needs))
      print_opt(out, shared_opts[i].name, shared_opts[i].arg, shared_opts[i].help);
  if (spec->epilog) fprintf(out, "\n%s\n", spec->epilog);
  fprintf(out, "\nexit status: 0 ok, 1 failure, 2 bad usage.\n");
}

/* ---- parsing ---- */

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  DW_LOG_ERR("%s (see --help)", msg);
  return DW_CLI_BAD;
}

static int set_key(dw_config *cfg, const char *key, const char *value) {
  char err[512];
  if (dw_config_set(cfg, key, value, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    return DW_CLI_BAD;
  }
  return 0;
}

static int copy_flag(const char *key, const char *value, void *opaque) {
  return set_key(opaque, key, value) ? -1 : 0;
}

/* A pending time: parsed once the UTC offset is known. */
typedef struct pending_time {
  const dw_opt *o;
  const char *arg;
} pending_time;

static int take_value(const dw_opt *o, const char *arg, pending_time *times, size_t *ntimes, dw_cli *cli) {
  char *end;
  switch (o->type) {
  case DW_OPT_FLAG: *(bool *)o->dest = true; return 0;
  case DW_OPT_STR: *(const char **)o->dest = arg; return 0;
  case DW_OPT_STRS: {
    dw_strs *s = o->dest;
    if (s->n == sizeof s->v / sizeof s->v[0]) return bad("--%s: at most %zu times", o->name, s->n);
    s->v[s->n++] = arg;
    return 0;
  }
  case DW_OPT_INT: {
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end) return bad("--%s wants an integer, got '%s'", o->name, arg);
    *(int64_t *)o->dest = v;
    return 0;
  }
  case DW_OPT_NUM: {
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v)) return bad("--%s wants a number, got '%s'", o->name, arg);
    *(double *)o->dest = v;
    return 0;
  }
  case DW_OPT_TIME:
  case DW_OPT_TIME_END: times[(*ntimes)++] = (pending_time){o, arg}; return 0;
  case DW_OPT_CHOICE: {
    size_t len = strlen(arg);
    for (const char *c = o->key; c && *c;) {
      const char *bar = strchr(c, '|');
      size_t n = bar ? (size_t)(bar - c) : strlen(c);
      if (n == len && strncmp(c, arg, n) == 0) {
        *(const char **)o->dest = arg;
        return 0;
      }
      c = bar ? bar + 1 : c + n;
    }
    return bad("--%s wants %s, got '%s'", o->name, o->key, arg);
  }
  case DW_OPT_CONF: return set_key(cli->flags, o->key, arg);
  case DW_OPT_CONF_FLAG: return set_key(cli->flags, o->key, "true");
  }
  return 0;
}

static int take_shared(dw_cli *cli, const dw_command_spec *spec, int id, const char *arg) {
  char err[512];
  switch (id) {
  case SH_CONFIG:
    if (dw_config_load_file(cli->cfg, arg, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      return DW_CLI_BAD;
    }
    return 0;
  case SH_SET: {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return bad("--set wants KEY=VALUE, got '%s'", arg);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
    return set_key(cli->flags, key, eq + 1);
  }
  case SH_BOOTSTRAP: return set_key(cli->flags, "kafka.bootstrap.servers", arg);
  case SH_DB: return set_key(cli->flags, "db.conninfo", arg);
  case SH_LOG_LEVEL: return set_key(cli->flags, "log.level", arg);
  case SH_HELP: dw_cli_usage(spec, stdout); return DW_CLI_HELP;
  }
  return 0;
}

static void note_given(dw_cli *cli, const char *name) {
  if (cli->ngiven < MAX_GIVEN) cli->given[cli->ngiven++] = name;
}

int dw_cli_parse(dw_cli *cli, const dw_command_spec *spec, int argc, char **argv, char ***args, int *nargs) {
  pending_time times[32];
  size_t ntimes = 0;
  /* positional arguments are gathered at the front of argv + 1 (in order) */
  char **pos = argv + 1;
  int npos = 0;
  bool only_args = false;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_args || a[0] != '-' || strcmp(a, "-") == 0) {
      pos[npos++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_args = true;
      continue;
    }
    if (strcmp(a, "-h") == 0) a = "--help";
    if (a[1] != '-') return bad("unknown option '%s'", a);
    const char *name = a + 2, *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    const dw_opt *o = NULL;
    for (const dw_opt *k = spec->opts; k && k->name; k++)
      if (strlen(k->name) == nlen && strncmp(k->name, name, nlen) == 0) o = k;
    const struct shared *sh = NULL;
    for (size_t k = 0; !o && k < sizeof shared_opts / sizeof shared_opts[0]; k++)
      if (strlen(shared_opts[k].name) == nlen && strncmp(shared_opts[k].name, name, nlen) == 0 &&
          (!shared_opts[k].needs || (spec->shared & shared_opts[k].needs)))
        sh = &shared_opts[k];
    if (!o && !sh) return bad("unknown option '%.*s'", (int)nlen + 2, a);
    bool wants = o ? o->arg != NULL : sh->arg != NULL;
    const char *val = NULL;
    if (wants) {
      if (eq)
        val = eq + 1;
      else if (i + 1 < argc)
        val = argv[++i];
      else
        return bad("option '--%.*s' needs a value", (int)nlen, name);
    } else if (eq) {
      return bad("option '--%.*s' takes no value", (int)nlen, name);
    }
    int r = o ? take_value(o, val, times, &ntimes, cli) : take_shared(cli, spec, sh->id, val);
    if (r) return r;
    note_given(cli, o ? o->name : sh->name);
  }
  if (npos < spec->min_args) {
    if (spec->min_args == 1 && spec->max_args != 1) return bad("no argument given");
    return bad("%d argument%s wanted, %d given", spec->min_args, spec->min_args == 1 ? "" : "s", npos);
  }
  if (spec->max_args >= 0 && npos > spec->max_args) return bad("unexpected argument '%s'", pos[spec->max_args]);

  /* flags over the file, then the environment under both */
  if (dw_config_foreach_prefix(cli->flags, "", copy_flag, cli->cfg)) return DW_CLI_BAD;
  dw_config_apply_env(cli->cfg);
  const char *lvl = dw_config_get(cli->cfg, "log.level");
  if (lvl) {
    dw_log_level l;
    if (dw_log_level_parse(lvl, &l)) return bad("log.level wants error, warn, info or debug, got '%s'", lvl);
    dw_log_set_level(l);
  }
  int utc = (int)dw_config_get_int(cli->cfg, "calendar.utc_offset_min");
  for (size_t k = 0; k < ntimes; k++) {
    char err[400];
    if (dw_time_parse_arg(times[k].arg, times[k].o->type == DW_OPT_TIME_END, utc, times[k].o->dest, err, sizeof err))
      return bad("--%s %s", times[k].o->name, err);
  }
  if (args) *args = pos;
  if (nargs) *nargs = npos;
  return DW_CLI_RUN;
}

int dw_cli_run(dw_cli *cli, const dw_command_spec *spec, int argc, char **argv, char ***args, int *nargs) {
  int r = dw_cli_parse(cli, spec, argc, argv, args, nargs);
  if (r == DW_CLI_RUN) return -1;
  return r == DW_CLI_HELP ? DW_EXIT_OK : DW_EXIT_USAGE;
}

/* ---- times ---- */

int dw_time_parse_arg(const char *s, bool end_of_day, int utc_offset_min, int64_t *out, char *err, size_t n) {
  if (!s || !*s) {
    snprintf(err, n, "empty time");
    return -1;
  }
  size_t len = strlen(s);
  bool digits = true;
  for (size_t i = 0; i < len; i++) digits &= isdigit((unsigned char)s[i]) != 0;
  if (digits && len > 10) { /* epoch milliseconds (what `date +%s%3N` prints) */
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno) {
      snprintf(err, n, "'%s': out of range", s);
      return -1;
    }
    *out = v;
    return 0;
  }
  int y, m, d;
  char tail;
  if (len == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
    int64_t day = dw_days_from_civil(y, m, d);
    int yy, mm, dd;
    dw_civil_from_days(day, &yy, &mm, &dd);
    if (m < 1 || m > 12 || yy != y || mm != m || dd != d) {
      snprintf(err, n, "'%s': not a date YYYY-MM-DD", s);
      return -1;
    }
    if (end_of_day) day++;
    *out = day * DW_MS_PER_DAY - (int64_t)utc_offset_min * DW_MS_PER_MIN - (end_of_day ? 1 : 0);
    return 0;
  }
  char why[200];
  if (dw_time_parse_rfc3339(s, out, why, sizeof why)) {
    snprintf(err, n, "'%s': want RFC 3339 (2025-04-29T08:00:00+07:00), a date YYYY-MM-DD or epoch ms: %s", s, why);
    return -1;
  }
  return 0;
}
