/* audit: the engine offline over event files (CONTRACT §4, §6, §8). A thin
 * caller: the files are read through the one reader (any format), events
 * with occurred_at <= --as-of are kept (sorted runs in TMPDIR past
 * audit.sort_memory_mb, so the input is not bounded by memory; the alerts
 * likewise past audit.alerts_in_memory) and applied
 * in event-time order through the one driver (the same clock discipline as
 * watch and replay),
 * the clock then moves to --as-of, and the alerts open as of that instant
 * (or every alert raised, with --history), optionally every aggregate row,
 * and a summary line are printed. A refused line is reported, counted and
 * kept in the reject file; it never stops the run. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_aggregates.h"
#include "dw_buf.h"
#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_driver.h"
#include "dw_log.h"
#include "dw_out_json.h"
#include "dw_reader.h"
#include "dw_rejects.h"
#include "dw_replay_alerts.h"
#include "dw_runs.h"
#include "dw_time.h"

#define CMD "audit"

static const char description[] =
  "Runs the rules and aggregates offline over dossier events and prints the alerts\n"
  "open as of TIME, then a summary line. FILE is read in its format, recognised by\n"
  "content (JSON Lines, Avro object container) or named by --input ('-' = standard\n"
  "input). Only events with occurred_at <= TIME count; they are applied in\n"
  "event-time order (stable for equal times), events at an instant before that\n"
  "instant's timers (CONTRACT §4), and the clock then moves to TIME.";
static const char epilog[] =
  "Keys used: calendar.dir, calendar.hours, calendar.utc_offset_min, rules.*, score.*,\n"
  "audit.sort_memory_mb (events past it are sorted in runs in TMPDIR),\n"
  "audit.alerts_in_memory (alerts past it move to TMPDIR).\n"
  "Exit status 0 even with refused lines (the summary counts them; --strict: 1).";

/* The events kept for the run go through a dw_runs: the key is occurred_at
 * then the reading order (the stable tie-break), both big-endian so that
 * bytes order as numbers; the record is where the event came from (for a
 * refusal's message) and its packed form (a dw_event is ~1.5 KB; packed
 * ~100 bytes). */
#define EV_KEY_LEN 16
#define EV_ORIGIN_LEN (8 + 4) /* the line or record number (from 1), the file's index: packed */

typedef struct audit {
  char **files;
  int nfiles;
  int64_t as_of; /* DW_TIME_NONE: not given */
  int table, offset;
  dw_rejects *rejects;
  dw_runs *events; /* the kept events, in event-time order when read back */
  dw_buf scratch;  /* one record being put */
  uint64_t read, kept, after_as_of;
  int64_t latest_seen;
  /* the latest version of every alert, compact (the driver's alert sink):
   * ~180 B an alert where the driver's own collection takes ~790; past
   * audit.alerts_in_memory of them, every one held moves to the spill (a
   * sorted run in TMPDIR: of an alert spilled and put again, the later
   * version is the one read back) */
  dw_ralerts *alerts;
  size_t alerts_max;
  int alerts_oom;
} audit;

/* ---- input ---- */

static int refuse(audit *au, const char *file, const dw_reject *rej) {
  fprintf(stderr, "%s:%" PRIu64 ": %s\n", file, rej->at, rej->reason);
  char err[512];
  if (dw_rejects_add(au->rejects, file, rej, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  return 0;
}

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* 0, or -1 with err (out of memory, or a run could not be written). */
static int keep_event(audit *au, const dw_event *ev, int file, uint64_t line, char *err, size_t n) {
  au->read++;
  if (au->latest_seen == DW_TIME_NONE || ev->occurred_at > au->latest_seen) au->latest_seen = ev->occurred_at;
  if (au->as_of != DW_TIME_NONE && ev->occurred_at > au->as_of) {
    au->after_as_of++;
    return 0;
  }
  unsigned char key[EV_KEY_LEN];
  put_be64(key, (uint64_t)ev->occurred_at ^ (1ULL << 63)); /* signed order as unsigned */
  put_be64(key + 8, au->kept++);
  const int32_t fi = file;
  dw_buf_reset(&au->scratch);
  dw_buf_put(&au->scratch, &line, 8);
  dw_buf_put(&au->scratch, &fi, 4);
  if (dw_event_pack(&au->scratch, ev) || au->scratch.oom) return snprintf(err, n, "out of memory"), -1;
  return dw_runs_put(au->events, key, sizeof key, au->scratch.data, au->scratch.len, err, n);
}

static int read_file(audit *au, int fi, const char *format, const char *const *props) {
  const char *path = au->files[fi];
  char err[1024];
  dw_reader *r = dw_reader_open(format, path, props, err, sizeof err);
  if (!r) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  dw_event ev;
  dw_reject rej;
  int rc = 0;
  for (;;) {
    dw_read_result res = dw_reader_next(r, &ev, &rej, err, sizeof err);
    if (res == DW_READ_END) break;
    if (res == DW_READ_FAIL) {
      DW_LOG_ERR("%s: %s", path, err);
      rc = -1;
      break;
    }
    if (res == DW_READ_REJECT) { /* (events_read counts events only) */
      if (refuse(au, path, &rej)) {
        rc = -1;
        break;
      }
      continue;
    }
    if (keep_event(au, &ev, fi, rej.at, err, sizeof err)) {
      DW_LOG_ERR("keeping the events of %s: %s", path, err);
      rc = -1;
      break;
    }
  }
  dw_reader_close(r);
  return rc;
}

/* ---- the run ---- */

/* The kept events come back one at a time (dw_runs_each); each is held in
 * a ring for DW_ENGINE_PREFETCH_AHEAD events after its dossier was
 * prefetched, then applied (the engine's dossiers are scattered over
 * memory: the miss is the cost of an event). */
typedef struct applier {
  audit *au;
  dw_driver *drv;
  dw_buf ring[DW_ENGINE_PREFETCH_AHEAD]; /* origin, then the packed event */
  size_t head, n;
  int failed; /* a refusal could not be kept: the rest is skipped */
  int oom;
} applier;

/* audit moves every alert held when it holds too many (nothing is settled
 * for it: a later version, read back last, supersedes a moved one) */
static int always(const char *dossier_id, void *opaque) { return (void)dossier_id, (void)opaque, 1; }

/* Applies the oldest event of the ring; the engine's refusals are rejects. */
static void apply_oldest(applier *ap) {
  const dw_buf *b = &ap->ring[(ap->head + DW_ENGINE_PREFETCH_AHEAD - ap->n) % DW_ENGINE_PREFETCH_AHEAD];
  ap->n--;
  if (ap->failed) return;
  dw_ralerts *al = ap->au->alerts;
  char err[512] = "";
  if (dw_ralerts_held(al) >= ap->au->alerts_max && dw_ralerts_spill(al, always, NULL, err, sizeof err)) {
    DW_LOG_ERR("moving alerts to TMPDIR (audit.alerts_in_memory): %s", err);
    ap->failed = 1;
    return;
  }
  uint64_t line;
  int32_t file;
  memcpy(&line, b->data, 8);
  memcpy(&file, b->data + 8, 4);
  dw_event ev;
  dw_event_unpack(b->data + EV_ORIGIN_LEN, &ev);
  if (dw_driver_apply(ap->drv, &ev, -1, err, sizeof err) != DW_APPLY_ERROR) return;
  char *js = dw_event_to_json(&ev, ap->au->offset);
  dw_reject rej = {line, "line", "", js, js ? strlen(js) : 0};
  snprintf(rej.reason, sizeof rej.reason, "%s", err[0] ? err : "event refused by the engine");
  if (refuse(ap->au, ap->au->files[file], &rej)) ap->failed = 1;
  free(js);
}

static void on_kept_event(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  (void)key, (void)klen;
  applier *ap = opaque;
  if (ap->failed || ap->oom) return;
  if (ap->n == DW_ENGINE_PREFETCH_AHEAD) apply_oldest(ap);
  dw_buf *b = &ap->ring[ap->head];
  dw_buf_reset(b);
  dw_buf_put(b, val, vlen);
  if (b->oom) {
    ap->oom = 1;
    return;
  }
  dw_driver_prefetch(ap->drv, dw_event_packed_dossier(b->data + EV_ORIGIN_LEN));
  ap->head = (ap->head + 1) % DW_ENGINE_PREFETCH_AHEAD;
  ap->n++;
}

/* Applies every kept event in order, then moves the clock to --as-of. */
static int run(audit *au, dw_driver *drv) {
  applier ap = {.au = au, .drv = drv};
  char err[512];
  int rc = dw_runs_each(&au->events, 1, on_kept_event, &ap, err, sizeof err);
  if (rc)
    DW_LOG_ERR("reading the kept events back: %s", err);
  else if (ap.oom)
    DW_LOG_ERR("out of memory"), rc = -1;
  while (ap.n) apply_oldest(&ap);
  if (ap.failed) rc = -1;
  for (int i = 0; i < DW_ENGINE_PREFETCH_AHEAD; i++) dw_buf_free(&ap.ring[i]);
  if (rc == 0 && au->as_of != DW_TIME_NONE) dw_driver_advance(drv, au->as_of);
  return rc;
}

/* ---- output ---- */

static void on_alert_change(const dw_alert *a, dw_alert_change change, void *opaque) {
  (void)change;
  audit *au = opaque;
  if (!au->alerts_oom && dw_ralerts_put(au->alerts, a)) au->alerts_oom = 1;
}

/* The alerts' output order, as bytes for dw_runs: raised_at, dossier_id,
 * rule name, alert_id (the strings NUL-terminated: a shorter one first, as
 * strcmp). Its length. */
#define ORDER_KEY_MAX (8 + DW_ID_MAX + 32 + DW_ALERT_ID_MAX)
static size_t order_key(const dw_alert *a, char *key) {
  const uint64_t t = (uint64_t)a->raised_at ^ (1ULL << 63); /* signed order as unsigned */
  for (int i = 0; i < 8; i++) key[i] = (char)(t >> (56 - 8 * i));
  size_t at = 8;
  const char *parts[] = {a->dossier_id, dw_rule_name(a->rule), a->alert_id};
  for (int k = 0; k < 3; k++) {
    size_t n = strlen(parts[k]);
    if (at + n + 1 > ORDER_KEY_MAX) n = ORDER_KEY_MAX - at - 1;
    memcpy(key + at, parts[k], n);
    at += n;
    key[at++] = '\0';
  }
  return at;
}

static void print_json_line(char *line) {
  if (line) {
    fputs(line, stdout);
    fputc('\n', stdout);
    free(line);
  }
}

typedef struct agg_out {
  const audit *au;
  const dw_aggregates *agg;
} agg_out;

static void agg_row_out(const dw_agg_row *row, void *opaque) {
  const agg_out *o = opaque;
  if (o->au->table)
    dw_out_table_aggregate(stdout, o->agg, row);
  else
    print_json_line(dw_out_json_aggregate(o->agg, row));
}

/* Alerts: every one raised (history), or those still open. They come from
 * what the driver handed over, not from the engine's memory: a dossier that
 * left memory keeps its open alerts, exactly as the alerts table of watch
 * does. They are put in output order through a dw_runs (sorted runs in
 * TMPDIR past 64 MiB, so the output is not bounded by memory). */
typedef struct alert_pick {
  const audit *au;
  int history;
  long open;
  size_t raised, picked;
  dw_runs *sorted;
  int failed;
  char err[512];
} alert_pick;

static void pick_alert(const dw_alert *a, void *opaque) {
  alert_pick *p = opaque;
  const audit *au = p->au;
  p->raised++;
  int is_open = a->cleared_at == DW_TIME_NONE || (au->as_of != DW_TIME_NONE && a->cleared_at > au->as_of);
  p->open += is_open;
  if (p->failed || !(p->history || is_open)) return;
  char key[ORDER_KEY_MAX], rec[DW_RALERTS_REC_MAX];
  const size_t kl = order_key(a, key), rl = dw_ralerts_pack(a, rec);
  if (dw_runs_put(p->sorted, key, kl, rec, rl, p->err, sizeof p->err)) p->failed = 1;
  p->picked++;
}

static void print_alert(const void *key, size_t klen, const void *val, size_t vlen, void *opaque) {
  (void)key, (void)klen, (void)vlen;
  const audit *au = opaque;
  dw_alert a;
  dw_ralerts_unpack(val, &a);
  /* the contract's "cleared_at when cleared <= as-of" (the clock stops there) */
  if (a.cleared_at != DW_TIME_NONE && au->as_of != DW_TIME_NONE && a.cleared_at > au->as_of) a.cleared_at = DW_TIME_NONE;
  if (au->table)
    dw_out_table_alert(stdout, &a, au->offset);
  else
    print_json_line(dw_out_json_alert(&a, au->offset));
}

/* The number of open alerts (and every alert in *raised), or -1 with err. */
static long print_alerts(const audit *au, int history, const char *as_of_text, size_t *raised, char *err, size_t n) {
  if (au->alerts_oom) return snprintf(err, n, "out of memory collecting the alerts"), -1;
  alert_pick p = {.au = au, .history = history, .sorted = dw_runs_new("audit-alerts", 64u << 20)};
  if (!p.sorted) return snprintf(err, n, "out of memory"), -1;
  long rc = -1;
  dw_ralerts *all = au->alerts;
  if (dw_ralerts_each(&all, 1, pick_alert, &p, err, n)) goto out;
  if (p.failed) {
    snprintf(err, n, "%s", p.err);
    goto out;
  }
  if (au->table) {
    printf("%s alerts as of %s: %zu\n", history ? "All" : "Open", as_of_text[0] ? as_of_text : "-", p.picked);
    if (p.picked) dw_out_table_alert_header(stdout);
  }
  if (dw_runs_each(&p.sorted, 1, print_alert, (void *)au, err, n)) goto out;
  *raised = p.raised;
  rc = p.open;
out:
  dw_runs_destroy(p.sorted);
  return rc;
}

static void print_summary(const audit *au, dw_driver *drv, long open_alerts, size_t raised, const char *as_of_text) {
  dw_driver_stats st;
  dw_driver_stats_get(drv, &st);
  uint64_t rejected = dw_rejects_count(au->rejects);
  if (au->table) {
    printf("\nSummary\n");
    printf("  %-16s %s\n", "as_of", as_of_text[0] ? as_of_text : "-");
    printf("  %-16s %" PRIu64 "\n", "events_read", au->read);
    printf("  %-16s %" PRIu64 "\n", "events_applied", st.applied);
    printf("  %-16s %" PRIu64 "\n", "duplicates", st.duplicates);
    printf("  %-16s %" PRIu64 "\n", "rejected", rejected);
    printf("  %-16s %" PRIu64 "\n", "after_as_of", au->after_as_of);
    printf("  %-16s %ld\n", "open_alerts", open_alerts);
    printf("  %-16s %zu\n", "alerts_raised", raised);
    printf("  %-16s %" PRIu64 "\n", "dossiers", st.dossiers);
    return;
  }
  dw_buf b = DW_BUF_INIT;
  dw_buf_puts(&b, "{\"kind\":\"summary\",\"as_of\":");
  dw_buf_json_string(&b, as_of_text[0] ? as_of_text : NULL);
  dw_buf_printf(&b,
                ",\"events_read\":%" PRIu64 ",\"events_applied\":%" PRIu64 ",\"duplicates\":%" PRIu64
                ",\"rejected\":%" PRIu64 ",\"open_alerts\":%ld,\"alerts_raised\":%zu,\"dossiers\":%" PRIu64
                ",\"after_as_of\":%" PRIu64 "}",
                au->read, st.applied, st.duplicates, rejected, open_alerts, raised, st.dossiers, au->after_as_of);
  print_json_line(dw_buf_take(&b));
}

int dw_cmd_audit(int argc, char **argv) {
  const char *output = "jsonl", *input = NULL, *units = NULL, *rejects_path = NULL;
  bool aggregates = false, history = false, strict = false;
  audit au = {.as_of = DW_TIME_NONE, .latest_seen = DW_TIME_NONE};
  const dw_opt opts[] = {
    {"as-of", DW_OPT_TIME_END, &au.as_of, "TIME", "the instant to report (default: the latest occurred_at read)", NULL},
    {"format", DW_OPT_STR, &output, "FMT", "jsonl (default): one JSON object per line; table: for people\n"
     "(an input format such as dvcqg here means --input dvcqg)", NULL},
    {"input", DW_OPT_STR, &input, "FORMAT", "input format (jsonl, avro, dvcqg, ...; default: by content)", NULL},
    {"units", DW_OPT_STR, &units, "FILE", "units file of formats that map units (dvcqg: key,commune,agency)", NULL},
    {"aggregates", DW_OPT_FLAG, &aggregates, NULL, "also print every aggregate row (rolling30 for the day of TIME)", NULL},
    {"history", DW_OPT_FLAG, &history, NULL, "every alert raised up to TIME (cleared_at set when cleared by then)\n"
     "instead of only the open ones", NULL},
    {"rejects", DW_OPT_STR, &rejects_path, "FILE", "append each refused line there (reasons go to stderr)", NULL},
    {"strict", DW_OPT_FLAG, &strict, NULL, "exit 1 if any line was refused", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "FILE... [OPTIONS]", description, opts, 1, -1, 0, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  dw_calendar *cal = NULL;
  dw_driver *drv = NULL;
  int rc = dw_cli_run(cli, &spec, argc, argv, &au.files, &au.nfiles);
  if (rc >= 0) goto out;
  rc = DW_EXIT_USAGE;
  if (strcmp(output, "jsonl") == 0 || strcmp(output, "json") == 0) {
    au.table = 0;
  } else if (strcmp(output, "table") == 0) {
    au.table = 1;
  } else if (dw_format_find(output) && !input) {
    input = output; /* --format dvcqg: an input format */
  } else {
    DW_LOG_ERR("--format wants jsonl or table (or an input format), got '%s'", output);
    goto out;
  }
  int stdin_uses = 0;
  for (int i = 0; i < au.nfiles; i++) stdin_uses += strcmp(au.files[i], "-") == 0;
  if (stdin_uses > 1) {
    DW_LOG_ERR("'-' (standard input) given more than once");
    goto out;
  }
  const dw_config *cfg = dw_cli_config(cli);
  au.offset = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  rc = DW_EXIT_FAIL;
  char err[512];
  if (!(cal = dw_calendar_from_config(cfg, err, sizeof err))) {
    DW_LOG_ERR("calendar: %s", err);
    goto out;
  }
  if (!(au.rejects = dw_rejects_new(rejects_path, 1)) ||
      !(au.events = dw_runs_new("audit-events", (size_t)dw_config_get_int(cfg, "audit.sort_memory_mb") << 20))) {
    DW_LOG_ERR("out of memory");
    goto out;
  }
  char offs[16];
  snprintf(offs, sizeof offs, "%d", au.offset);
  const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, units ? "units" : NULL, units, NULL};
  for (int i = 0; i < au.nfiles; i++)
    if (read_file(&au, i, input, props)) goto out;
  if (au.as_of == DW_TIME_NONE) au.as_of = au.latest_seen;
  if (dw_runs_on_disk(au.events))
    DW_LOG_INF("%" PRIu64 " of %" PRIu64 " events kept were sorted in runs in TMPDIR (audit.sort_memory_mb)",
               dw_runs_on_disk(au.events), dw_runs_count(au.events));

  if (!(drv = dw_driver_new(cfg, cal, DW_CLOCK_EVENT, err, sizeof err))) {
    DW_LOG_ERR("engine: %s", err);
    goto out;
  }
  au.alerts_max = (size_t)dw_config_get_int(cfg, "audit.alerts_in_memory");
  if (!(au.alerts = dw_ralerts_new())) {
    DW_LOG_ERR("out of memory");
    goto out;
  }
  dw_driver_set_alert_sink(drv, on_alert_change, &au);
  if (run(&au, drv)) goto out;
  if (dw_ralerts_spilled(au.alerts))
    DW_LOG_INF("%" PRIu64 " alert versions were moved to TMPDIR (audit.alerts_in_memory)", dw_ralerts_spilled(au.alerts));

  char as_of_text[40] = "";
  if (au.as_of != DW_TIME_NONE) dw_time_format(au.as_of, au.offset, as_of_text, sizeof as_of_text);
  size_t raised = 0;
  long open = print_alerts(&au, history, as_of_text, &raised, err, sizeof err);
  if (open < 0) {
    DW_LOG_ERR("%s", err);
    goto out;
  }
  if (aggregates) {
    if (au.table) {
      printf("\nAggregates as of %s:\n", as_of_text[0] ? as_of_text : "-");
      dw_out_table_aggregate_header(stdout);
    }
    if (au.as_of != DW_TIME_NONE) {
      agg_out o = {&au, dw_driver_aggregates(drv)};
      dw_aggregates_foreach(dw_driver_aggregates(drv), au.as_of, agg_row_out, &o);
    }
  }
  print_summary(&au, drv, open, raised, as_of_text);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    DW_LOG_ERR("writing the output: %s", strerror(errno));
    goto out;
  }
  rc = strict && dw_rejects_count(au.rejects) ? DW_EXIT_FAIL : DW_EXIT_OK;

out:
  dw_driver_destroy(drv);
  dw_ralerts_destroy(au.alerts);
  dw_calendar_destroy(cal);
  if (au.rejects && dw_rejects_close(au.rejects, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    rc = DW_EXIT_FAIL;
  }
  dw_runs_destroy(au.events);
  dw_buf_free(&au.scratch);
  dw_cli_destroy(cli);
  return rc;
}
