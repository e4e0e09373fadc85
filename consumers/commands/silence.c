/* silence: `dossierwatch silence add|list|expire`, the command-line face of
 * the silences API (consumers/notify/silences/dw_silences.h), which notify
 * honours from its next round and serve exposes as /api/v1/silences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_cli.h"
#include "dw_commands.h"
#include "dw_log.h"
#include "dw_notify_config.h"
#include "dw_pg.h"
#include "dw_silences.h"
#include "dw_time.h"

#define CMD "silence"

static const char description[] =
  "Silences: alerts matching every --matcher are left out of notifications from\n"
  "--from (default now) until --until T or for --for DURATION. They stay in the\n"
  "alerts table and on the dashboard, marked silenced (view v_alerts_silenced).\n"
  "  silence add --matcher 'agency=UBND-30412' --matcher 'rule=DUE_SOON' --for 8h\n"
  "              --author A --comment C          prints the new silence's id\n"
  "  silence list [--all] [--format table|json]  in force and pending (--all: expired too)\n"
  "  silence expire ID                           ends it now\n"
  "Matchers: label op value, label one of rule, severity, dossier_id, commune,\n"
  "agency, procedure; op =, !=, =~ (regular expression, anchored) or !~.";
static const char epilog[] = "Exit: 0 done, 1 failure (or no such silence), 2 bad usage.";

static void print_table(const dw_silence *v, size_t n, int64_t now, int off) {
  printf("%-36s  %-8s  %-25s  %-25s  %-16s  %s\n", "ID", "STATE", "STARTS", "ENDS", "CREATED BY", "MATCHERS / COMMENT");
  for (size_t i = 0; i < n; i++) {
    char a[40], b[40];
    dw_time_format(v[i].s.starts_at, off, a, sizeof a);
    dw_time_format(v[i].s.ends_at, off, b, sizeof b);
    dw_buf m = DW_BUF_INIT;
    for (size_t k = 0; k < v[i].s.nmatchers; k++) {
      if (k) dw_buf_putc(&m, ' ');
      dw_notify_matcher_format(&v[i].m[k], &m);
    }
    printf("%-36s  %-8s  %-25s  %-25s  %-16s  %s  # %s\n", v[i].s.id, dw_silence_state(&v[i], now), a, b,
           v[i].created_by, m.data ? m.data : "", v[i].comment);
    dw_buf_free(&m);
  }
  if (!n) printf("(none)\n");
}

/* What the command line asked for (each option belongs to one verb). */
typedef struct sil_opts {
  dw_strs matchers;
  int64_t from, until, now;
  const char *dur, *author, *comment, *format;
  bool all;
} sil_opts;

/* The verb, its arguments and the database are there. 0, or -1 after
 * logging the reason (bad usage). */
static int check_verb(const char *verb, int nargs, const char *conninfo) {
  bool add = strcmp(verb, "add") == 0, list = strcmp(verb, "list") == 0, expire = strcmp(verb, "expire") == 0;
  if (!add && !list && !expire) {
    DW_LOG_ERR("'%s': expected add, list or expire", verb);
    return -1;
  }
  if ((expire && nargs != 2) || (!expire && nargs != 1)) {
    DW_LOG_ERR(expire ? "expire wants the silence's ID" : "%s takes no other argument", verb);
    return -1;
  }
  if (!conninfo) {
    DW_LOG_ERR("no database: give --db CONNINFO, db.conninfo or DW_DB");
    return -1;
  }
  return 0;
}

/* add: the silence the options describe, checked before connecting, so
 * that a typo costs no round trip. 0, or -1 after logging the reason (bad
 * usage). */
static int silence_from_options(dw_silence *s, const sil_opts *o) {
  char err[1024];
  for (size_t i = 0; i < o->matchers.n; i++)
    if (dw_silence_add_matcher(s, o->matchers.v[i], err, sizeof err)) {
      DW_LOG_ERR("--matcher: %s", err);
      return -1;
    }
  if (!o->matchers.n) {
    DW_LOG_ERR("add: at least one --matcher is required");
    return -1;
  }
  if ((o->until == DW_TIME_NONE) == (o->dur == NULL)) {
    DW_LOG_ERR("add: give one of --until T and --for DURATION");
    return -1;
  }
  s->s.starts_at = o->from == DW_TIME_NONE ? o->now : o->from;
  int64_t ms;
  if (o->dur && (dw_notify_duration_parse(o->dur, &ms) || ms <= 0)) {
    DW_LOG_ERR("--for: '%s' is not a duration (8h, 2d, 1h30m)", o->dur);
    return -1;
  }
  s->s.ends_at = o->dur ? s->s.starts_at + ms : o->until;
  const char *author = o->author ? o->author : getenv("USER");
  if (!author || !*author || !o->comment || !*o->comment) {
    DW_LOG_ERR("add: --author and --comment are required (who silences, and why)");
    return -1;
  }
  snprintf(s->created_by, sizeof s->created_by, "%s", author);
  snprintf(s->comment, sizeof s->comment, "%s", o->comment);
  return 0;
}

static PGconn *connect_db(const char *conninfo) {
  char err[1024];
  PGconn *pg = dw_pg_connect(conninfo, 10, err, sizeof err);
  if (!pg) DW_LOG_ERR("%s", err);
  return pg;
}

/* add: prints the new silence's id. The exit code. */
static int verb_add(const char *conninfo, const sil_opts *o) {
  char err[1024];
  dw_silence s;
  dw_silence_init(&s);
  int rc = DW_EXIT_USAGE;
  PGconn *pg = NULL;
  if (silence_from_options(&s, o)) goto out;
  rc = DW_EXIT_FAIL;
  if (!(pg = connect_db(conninfo))) goto out;
  int c = dw_silence_create(pg, &s, o->now, err, sizeof err);
  if (c) {
    DW_LOG_ERR("add: %s", err);
    rc = c > 0 ? DW_EXIT_USAGE : DW_EXIT_FAIL; /* > 0: not a valid silence */
    goto out;
  }
  printf("%s\n", s.s.id);
  rc = DW_EXIT_OK;
out:
  dw_silence_free(&s);
  if (pg) PQfinish(pg);
  return rc;
}

/* list: a table, or the JSON array serve's /api/v1/silences returns. The
 * exit code. */
static int verb_list(const char *conninfo, const sil_opts *o, int off) {
  char err[1024];
  PGconn *pg = connect_db(conninfo);
  if (!pg) return DW_EXIT_FAIL;
  dw_silence *v;
  size_t n;
  if (dw_silence_list(pg, o->all, o->now, &v, &n, err, sizeof err)) {
    DW_LOG_ERR("list: %s", err);
    PQfinish(pg);
    return DW_EXIT_FAIL;
  }
  if (strcmp(o->format, "json") == 0) {
    dw_buf b = DW_BUF_INIT;
    dw_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
      if (i) dw_buf_putc(&b, ',');
      dw_silence_to_json(&v[i], o->now, off, &b);
    }
    dw_buf_puts(&b, "]\n");
    fputs(b.data, stdout);
    dw_buf_free(&b);
  } else {
    print_table(v, n, o->now, off);
  }
  dw_silences_free(v, n);
  PQfinish(pg);
  return DW_EXIT_OK;
}

/* expire ID: ends it now; one not in force or pending is a failure. The
 * exit code. */
static int verb_expire(const char *conninfo, const char *id, int64_t now) {
  char err[1024];
  PGconn *pg = connect_db(conninfo);
  if (!pg) return DW_EXIT_FAIL;
  int rc = DW_EXIT_FAIL;
  int e = dw_silence_expire(pg, id, now, err, sizeof err);
  if (e < 0)
    DW_LOG_ERR("expire: %s", err);
  else if (e > 0)
    DW_LOG_ERR("expire: no silence %s in force or pending", id);
  else {
    printf("expired %s\n", id);
    rc = DW_EXIT_OK;
  }
  PQfinish(pg);
  return rc;
}

int dw_cmd_silence(int argc, char **argv) {
  sil_opts o = {.from = DW_TIME_NONE, .until = DW_TIME_NONE, .now = DW_TIME_NONE, .format = "table"};
  const dw_opt opts[] = {
    {"matcher", DW_OPT_STRS, &o.matchers, "M", "add: a matcher (repeatable), e.g. 'commune=\"30412\"'", NULL},
    {"from", DW_OPT_TIME, &o.from, "T", "add: starts at T (default now)", NULL},
    {"until", DW_OPT_TIME_END, &o.until, "T", "add: ends at T", NULL},
    {"for", DW_OPT_STR, &o.dur, "DURATION", "add: ends DURATION after it starts (8h, 2d, 1h30m)", NULL},
    {"author", DW_OPT_STR, &o.author, "A", "add: who silences (default $USER)", NULL},
    {"comment", DW_OPT_STR, &o.comment, "C", "add: why (required)", NULL},
    {"all", DW_OPT_FLAG, &o.all, NULL, "list: expired silences too", NULL},
    {"format", DW_OPT_CHOICE, &o.format, "F", "list: table (default) or json (serve's /api/v1/silences)", "table|json"},
    {"now", DW_OPT_TIME, &o.now, "T", "act as of T instead of the wall clock (replays, tests)", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "add|list|expire [ID] --db CONNINFO [OPTIONS]", description, opts, 1, 2, DW_CLI_DB,
                                epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  char **args;
  int nargs;
  int rc = dw_cli_run(cli, &spec, argc, argv, &args, &nargs);
  if (rc < 0) {
    dw_config *cfg = dw_cli_config(cli);
    int off = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
    const char *verb = args[0], *conninfo = dw_config_get(cfg, "db.conninfo");
    if (o.now == DW_TIME_NONE) o.now = dw_now_ms();
    if (check_verb(verb, nargs, conninfo))
      rc = DW_EXIT_USAGE;
    else if (strcmp(verb, "add") == 0)
      rc = verb_add(conninfo, &o);
    else if (strcmp(verb, "list") == 0)
      rc = verb_list(conninfo, &o, off);
    else
      rc = verb_expire(conninfo, args[1], o.now);
  }
  dw_cli_destroy(cli);
  return rc;
}
