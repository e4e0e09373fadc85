/* audit: the engine offline over event files (CONTRACT §4, §6, §8).
 * Reads JSON Lines or Avro container files, keeps events with occurred_at <=
 * --as-of, replays them in event-time order through the same engine as
 * watch (clock = event time, then --as-of), and prints the alerts open as of
 * that instant (or every alert raised, with --history), optionally every
 * aggregate row, and a summary line. A bad line is reported, counted and
 * kept in the rejects file; it never stops the run. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_aggregates.h"
#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_engine.h"
#include "dw_out_json.h"
#include "dw_time.h"

#define CMD "audit"

static const char usage_text[] =
  "usage: dossierwatch audit FILE... [--as-of TIME] [--format jsonl|table] [--aggregates]\n"
  "                          [--history] [--rejects FILE] [--strict] [OPTIONS]\n"
  "\n"
  "Runs the rules and aggregates offline over dossier events and prints the alerts\n"
  "open as of TIME, then a summary line. FILE is JSON Lines (one event per line,\n"
  "'-' = standard input) or an Avro object container file (detected by its magic).\n"
  "Only events with occurred_at <= TIME count; they are applied in event-time order\n"
  "(stable for equal times) and the clock then moves to TIME.\n"
  "\n"
  "  --as-of TIME       RFC 3339 instant with offset (default: the latest occurred_at\n"
  "                     read, i.e. the state right after the last event)\n"
  "  --format FMT       jsonl (default): one JSON object per line; table: for people\n"
  "  --aggregates       also print every aggregate row (rolling30 for the day of TIME)\n"
  "  --history          print every alert raised up to TIME (cleared_at set when it\n"
  "                     was cleared by then) instead of only the open ones\n"
  "  --rejects FILE     append each unreadable line there (as read; Avro records and\n"
  "                     events the engine refuses as JSON), reasons go to stderr\n"
  "  --strict           exit 1 if any line was rejected\n"
  DW_CLI_COMMON_HELP
  "\n"
  "Keys used: calendar.dir, calendar.hours, calendar.utc_offset_min, rules.*, score.*.\n"
  "Exit status: 0 ok (even with rejected lines, which the summary counts), 1 failure\n"
  "(unreadable file, calendar error, --strict with rejects), 2 bad usage.\n";

enum { OPT_AS_OF = 0x2001, OPT_FORMAT, OPT_AGGREGATES, OPT_HISTORY, OPT_REJECTS, OPT_STRICT };

/* One event kept for replay, with where it came from for error messages. */
typedef struct audit_event {
  dw_event ev;
  int file;      /* index into the file list */
  uint64_t line; /* line (JSON Lines) or record number (Avro), from 1 */
  uint64_t seq;  /* reading order: the stable tie-break */
} audit_event;

typedef struct alert_entry {
  dw_alert a;
  UT_hash_handle hh; /* by alert_id */
} alert_entry;

typedef struct dossier_entry {
  UT_hash_handle hh;
  char id[]; /* dossier_id */
} dossier_entry;

typedef struct audit {
  char **files;
  int nfiles;
  int64_t as_of; /* DW_TIME_NONE: not given */
  int table, aggregates, history, strict;
  const char *rejects_path;
  FILE *rejects;

  audit_event *evs;
  size_t nevs, cap;
  uint64_t read, rejected, after_as_of;
  int latest_seen_set;
  int64_t latest_seen;

  alert_entry *alerts; /* every alert raised, latest state */
  dossier_entry *dossiers;
  int oom;
  int offset;
} audit;

/* ---- input ---- */

static void reject(audit *au, const char *file, uint64_t line, const char *reason, const char *raw, size_t rawlen) {
  fprintf(stderr, "%s:%" PRIu64 ": %s\n", file, line, reason);
  au->rejected++;
  if (au->rejects && raw) {
    fwrite(raw, 1, rawlen, au->rejects);
    fputc('\n', au->rejects);
    fflush(au->rejects); /* rare; keep them even if the run dies later */
  }
}

static int keep_event(audit *au, const dw_event *ev, int file, uint64_t line) {
  au->read++;
  if (!au->latest_seen_set || ev->occurred_at > au->latest_seen) au->latest_seen = ev->occurred_at;
  au->latest_seen_set = 1;
  if (au->as_of != DW_TIME_NONE && ev->occurred_at > au->as_of) {
    au->after_as_of++;
    return 0;
  }
  if (au->nevs == au->cap) {
    size_t cap = au->cap ? au->cap * 2 : 1024;
    audit_event *p = realloc(au->evs, cap * sizeof *p);
    if (!p) return -1;
    au->evs = p;
    au->cap = cap;
  }
  audit_event *e = &au->evs[au->nevs];
  e->ev = *ev;
  e->file = file;
  e->line = line;
  e->seq = au->nevs;
  au->nevs++;
  return 0;
}

static int read_jsonl(audit *au, int fi) {
  const char *path = au->files[fi];
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    dw_cli_error(CMD, "%s: %s", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  uint64_t lineno = 0;
  int rc = 0;
  dw_event ev;
  char err[512];
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    size_t i = 0;
    while (i < (size_t)len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == (size_t)len) continue; /* blank line: not an event */
    if (dw_event_from_json(line, (size_t)len, &ev, err, sizeof err) != 0 ||
        dw_event_validate(&ev, err, sizeof err) != 0) {
      reject(au, path, lineno, err[0] ? err : "unreadable event", line, (size_t)len);
      continue;
    }
    if (keep_event(au, &ev, fi, lineno)) {
      dw_cli_error(CMD, "out of memory");
      rc = -1;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    dw_cli_error(CMD, "%s: read error: %s", path, strerror(errno));
    rc = -1;
  }
  free(line);
  if (f != stdin) fclose(f);
  return rc;
}

static int read_avro(audit *au, int fi) {
  const char *path = au->files[fi];
  char err[512];
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) {
    dw_cli_error(CMD, "avro: %s", err);
    return -1;
  }
  dw_avro_file *f = dw_avro_file_open(av, path, err, sizeof err);
  if (!f) {
    dw_cli_error(CMD, "%s: %s", path, err);
    dw_avro_destroy(av);
    return -1;
  }
  dw_event ev;
  uint64_t rec = 0;
  int rc = 0;
  for (;;) {
    err[0] = '\0';
    int r = dw_avro_file_read(f, &ev, err, sizeof err);
    if (r == 0) break;
    rec++;
    if (r < 0) {
      /* a container cannot be resynchronised after a bad block: count the
       * record and stop reading this file */
      reject(au, path, rec, err[0] ? err : "unreadable Avro record", NULL, 0);
      break;
    }
    if (dw_event_validate(&ev, err, sizeof err) != 0) {
      char *js = dw_event_to_json(&ev, au->offset);
      reject(au, path, rec, err, js, js ? strlen(js) : 0);
      free(js);
      continue;
    }
    if (keep_event(au, &ev, fi, rec)) {
      dw_cli_error(CMD, "out of memory");
      rc = -1;
      break;
    }
  }
  dw_avro_file_close(f);
  dw_avro_destroy(av);
  return rc;
}

static int cmp_event(const void *a, const void *b) {
  const audit_event *x = a, *y = b;
  if (x->ev.occurred_at != y->ev.occurred_at) return x->ev.occurred_at < y->ev.occurred_at ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- alerts ---- */

static void on_alert(void *opaque, const dw_alert *a, dw_alert_change change) {
  audit *au = opaque;
  alert_entry *e = NULL;
  HASH_FIND_STR(au->alerts, a->alert_id, e);
  if (!e) {
    e = malloc(sizeof *e);
    if (!e) {
      au->oom = 1;
      return;
    }
    e->a = *a;
    HASH_ADD_STR(au->alerts, a.alert_id, e);
  } else {
    e->a = *a;
  }
  (void)change;
}

static int cmp_alert(const void *pa, const void *pb) {
  const dw_alert *a = *(const dw_alert *const *)pa, *b = *(const dw_alert *const *)pb;
  if (a->raised_at != b->raised_at) return a->raised_at < b->raised_at ? -1 : 1;
  int c = strcmp(a->dossier_id, b->dossier_id);
  if (c) return c;
  c = strcmp(dw_rule_name(a->rule), dw_rule_name(b->rule));
  if (c) return c;
  return strcmp(a->alert_id, b->alert_id);
}

typedef struct alert_list {
  dw_alert **v;
  size_t n, cap;
} alert_list;

/* ---- output ---- */

static void print_json_line(char *line) {
  if (line) {
    fputs(line, stdout);
    fputc('\n', stdout);
    free(line);
  }
}

static void agg_row_out(const dw_agg_row *row, void *opaque) {
  void **ctx = opaque;
  audit *au = ctx[0];
  const dw_aggregates *agg = ctx[1];
  if (au->table)
    dw_out_table_aggregate(stdout, agg, row);
  else
    print_json_line(dw_out_json_aggregate(agg, row));
}

static int parse_args(audit *au, dw_cli *cli, int argc, char **argv) {
  static const struct option opts[] = {
    {"as-of", required_argument, 0, OPT_AS_OF},
    {"format", required_argument, 0, OPT_FORMAT},
    {"aggregates", no_argument, 0, OPT_AGGREGATES},
    {"history", no_argument, 0, OPT_HISTORY},
    {"rejects", required_argument, 0, OPT_REJECTS},
    {"strict", no_argument, 0, OPT_STRICT},
    DW_CLI_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  optind = 1;
  opterr = 0;
  int opt;
  char err[256];
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
    case 'h':
      fputs(usage_text, stdout);
      return 1;
    case OPT_AS_OF:
      if (dw_time_parse_rfc3339(optarg, &au->as_of, err, sizeof err)) {
        dw_cli_error(CMD, "--as-of '%s': %s", optarg, err);
        return -1;
      }
      break;
    case OPT_FORMAT:
      if (strcmp(optarg, "jsonl") == 0 || strcmp(optarg, "json") == 0)
        au->table = 0;
      else if (strcmp(optarg, "table") == 0)
        au->table = 1;
      else {
        dw_cli_error(CMD, "--format wants jsonl or table, got '%s'", optarg);
        return -1;
      }
      break;
    case OPT_AGGREGATES: au->aggregates = 1; break;
    case OPT_HISTORY: au->history = 1; break;
    case OPT_REJECTS: au->rejects_path = optarg; break;
    case OPT_STRICT: au->strict = 1; break;
    case ':':
      dw_cli_error(CMD, "option '%s' needs a value", argv[optind - 1]);
      return -1;
    case '?':
      dw_cli_error(CMD, "unknown option '%s'", argv[optind - 1]);
      return -1;
    default: {
      int r = dw_cli_option(cli, opt, optarg);
      if (r == 1) break;
      if (r == 0) dw_cli_error(CMD, "unknown option '%s'", argv[optind - 1]);
      return -1;
    }
    }
  }
  if (optind >= argc) {
    dw_cli_error(CMD, "no event FILE given (see --help)");
    return -1;
  }
  au->files = argv + optind;
  au->nfiles = argc - optind;
  int stdin_uses = 0;
  for (int i = 0; i < au->nfiles; i++) stdin_uses += strcmp(au->files[i], "-") == 0;
  if (stdin_uses > 1) {
    dw_cli_error(CMD, "'-' (standard input) given more than once");
    return -1;
  }
  if (dw_cli_finish(cli)) return -1;
  return 0;
}

int dw_cmd_audit(int argc, char **argv) {
  audit au;
  memset(&au, 0, sizeof au);
  au.as_of = DW_TIME_NONE;
  int rc = DW_EXIT_FAIL;
  dw_cli *cli = dw_cli_new();
  dw_calendar *cal = NULL;
  dw_aggregates *agg = NULL;
  dw_engine *eng = NULL;
  alert_list list = {0};
  if (!cli) {
    dw_cli_error(CMD, "out of memory");
    return DW_EXIT_FAIL;
  }
  int pr = parse_args(&au, cli, argc, argv);
  if (pr != 0) {
    dw_cli_destroy(cli);
    return pr > 0 ? DW_EXIT_OK : DW_EXIT_USAGE;
  }
  const dw_config *cfg = dw_cli_config(cli);
  au.offset = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  char err[512];

  const char *dir = dw_config_get(cfg, "calendar.dir");
  if (!dir || !*dir) dir = dw_calendar_default_dir();
  cal = dw_calendar_new(dir, dw_config_get(cfg, "calendar.hours"), au.offset, err, sizeof err);
  if (!cal) {
    dw_cli_error(CMD, "calendar: %s", err);
    goto out;
  }
  if (au.rejects_path) {
    au.rejects = fopen(au.rejects_path, "a");
    if (!au.rejects) {
      dw_cli_error(CMD, "%s: %s", au.rejects_path, strerror(errno));
      goto out;
    }
  }

  for (int i = 0; i < au.nfiles; i++) {
    int r = strcmp(au.files[i], "-") != 0 && dw_avro_file_sniff(au.files[i]) ? read_avro(&au, i)
                                                                             : read_jsonl(&au, i);
    if (r) goto out;
  }
  if (au.as_of == DW_TIME_NONE && au.latest_seen_set) au.as_of = au.latest_seen;
  if (au.nevs) qsort(au.evs, au.nevs, sizeof *au.evs, cmp_event);

  agg = dw_aggregates_new(cfg, au.offset);
  if (!agg) {
    dw_cli_error(CMD, "out of memory");
    goto out;
  }
  eng = dw_engine_new(cfg, cal, agg, (dw_engine_sink){on_alert, &au}, err, sizeof err);
  if (!eng) {
    dw_cli_error(CMD, "engine: %s", err);
    goto out;
  }
  uint64_t applied = 0, duplicates = 0;
  for (size_t i = 0; i < au.nevs; i++) {
    audit_event *e = &au.evs[i];
    if (i + DW_ENGINE_PREFETCH_AHEAD < au.nevs) dw_engine_prefetch(eng, au.evs[i + DW_ENGINE_PREFETCH_AHEAD].ev.dossier_id);
    dw_engine_advance(eng, e->ev.occurred_at);
    err[0] = '\0';
    switch (dw_engine_apply(eng, &e->ev, err, sizeof err)) {
    case DW_APPLY_OK: {
      applied++;
      dossier_entry *d = NULL;
      HASH_FIND_STR(au.dossiers, e->ev.dossier_id, d);
      if (!d) {
        size_t n = strlen(e->ev.dossier_id) + 1;
        d = malloc(sizeof *d + n);
        if (d) {
          memcpy(d->id, e->ev.dossier_id, n);
          HASH_ADD_KEYPTR(hh, au.dossiers, d->id, n - 1, d);
        } else {
          au.oom = 1;
        }
      }
      break;
    }
    case DW_APPLY_DUPLICATE:
      duplicates++;
      break;
    default: {
      char *js = dw_event_to_json(&e->ev, au.offset);
      reject(&au, au.files[e->file], e->line, err[0] ? err : "event refused by the engine", js,
             js ? strlen(js) : 0);
      free(js);
    }
    }
  }
  if (au.as_of != DW_TIME_NONE) dw_engine_advance(eng, au.as_of);
  if (au.oom) {
    dw_cli_error(CMD, "out of memory");
    goto out;
  }

  /* alerts: every one raised (--history), or those still open. Open alerts
   * come from what the sink saw, not from the engine's memory: a dossier
   * that left memory (returned, or past its grace period) keeps its open
   * alerts, exactly as the alerts table of watch does. */
  list.cap = HASH_COUNT(au.alerts);
  list.v = malloc((list.cap ? list.cap : 1) * sizeof *list.v);
  if (!list.v) goto out;
  size_t open_alerts = 0;
  for (alert_entry *e = au.alerts; e; e = e->hh.next) {
    /* cleared after as-of cannot happen (the clock stops there), but keep
     * the contract's "cleared_at when cleared <= as-of" explicit */
    if (e->a.cleared_at != DW_TIME_NONE && au.as_of != DW_TIME_NONE && e->a.cleared_at > au.as_of)
      e->a.cleared_at = DW_TIME_NONE;
    if (e->a.cleared_at == DW_TIME_NONE) open_alerts++;
    if (au.history || e->a.cleared_at == DW_TIME_NONE) list.v[list.n++] = &e->a;
  }
  if (list.n) qsort(list.v, list.n, sizeof *list.v, cmp_alert);

  char as_of_text[40] = "";
  if (au.as_of != DW_TIME_NONE) dw_time_format(au.as_of, au.offset, as_of_text, sizeof as_of_text);

  if (au.table) {
    printf("%s alerts as of %s: %zu\n", au.history ? "All" : "Open", as_of_text[0] ? as_of_text : "-", list.n);
    if (list.n) dw_out_table_alert_header(stdout);
  }
  for (size_t i = 0; i < list.n; i++) {
    if (au.table)
      dw_out_table_alert(stdout, list.v[i], au.offset);
    else
      print_json_line(dw_out_json_alert(list.v[i], au.offset));
  }
  if (au.aggregates) {
    if (au.table) {
      printf("\nAggregates as of %s:\n", as_of_text[0] ? as_of_text : "-");
      dw_out_table_aggregate_header(stdout);
    }
    if (au.as_of != DW_TIME_NONE) {
      void *ctx[2] = {&au, agg};
      dw_aggregates_foreach(agg, au.as_of, agg_row_out, ctx);
    }
  }

  uint64_t raised = HASH_COUNT(au.alerts), ndossiers = HASH_COUNT(au.dossiers);
  if (au.table) {
    printf("\nSummary\n");
    printf("  %-16s %s\n", "as_of", as_of_text[0] ? as_of_text : "-");
    printf("  %-16s %" PRIu64 "\n", "events_read", au.read);
    printf("  %-16s %" PRIu64 "\n", "events_applied", applied);
    printf("  %-16s %" PRIu64 "\n", "duplicates", duplicates);
    printf("  %-16s %" PRIu64 "\n", "rejected", au.rejected);
    printf("  %-16s %" PRIu64 "\n", "after_as_of", au.after_as_of);
    printf("  %-16s %zu\n", "open_alerts", open_alerts);
    printf("  %-16s %" PRIu64 "\n", "alerts_raised", raised);
    printf("  %-16s %" PRIu64 "\n", "dossiers", ndossiers);
  } else {
    dw_out_buf b = {0};
    dw_out_buf_printf(&b, "{\"kind\":\"summary\",\"as_of\":");
    dw_out_buf_string(&b, as_of_text[0] ? as_of_text : NULL);
    dw_out_buf_printf(&b,
                      ",\"events_read\":%" PRIu64 ",\"events_applied\":%" PRIu64 ",\"duplicates\":%" PRIu64
                      ",\"rejected\":%" PRIu64 ",\"open_alerts\":%zu,\"alerts_raised\":%" PRIu64
                      ",\"dossiers\":%" PRIu64 ",\"after_as_of\":%" PRIu64 "}",
                      au.read, applied, duplicates, au.rejected, open_alerts, raised, ndossiers, au.after_as_of);
    print_json_line(dw_out_buf_take(&b));
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    dw_cli_error(CMD, "writing the output: %s", strerror(errno));
    goto out;
  }
  rc = au.strict && au.rejected ? DW_EXIT_FAIL : DW_EXIT_OK;

out:
  free(list.v);
  dw_engine_destroy(eng);
  dw_aggregates_destroy(agg);
  dw_calendar_destroy(cal);
  if (au.rejects && fclose(au.rejects) != 0) {
    dw_cli_error(CMD, "%s: %s", au.rejects_path, strerror(errno));
    rc = DW_EXIT_FAIL;
  }
  alert_entry *ae, *at;
  HASH_ITER(hh, au.alerts, ae, at) {
    HASH_DEL(au.alerts, ae);
    free(ae);
  }
  dossier_entry *de, *dt;
  HASH_ITER(hh, au.dossiers, de, dt) {
    HASH_DEL(au.dossiers, de);
    free(de);
  }
  free(au.evs);
  dw_cli_destroy(cli);
  return rc;
}
