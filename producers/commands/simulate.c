/* simulate: `dossierwatch simulate` writes realistic dossier events for the
 * communes of a province (generated, a profile file or a preset) to JSON
 * Lines, an Avro container or the events topic. The same seed, profile,
 * start and days give byte-identical JSON Lines (dw_sim_gen is a pure
 * function of them; the PRNG is our own). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_log.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_producer.h"
#include "dw_reader.h"
#include "dw_sim_gen.h"
#include "dw_sim_profile.h"
#include "dw_time.h"

#define CMD "simulate"

static const char description[] =
  "Writes realistic dossier events for many communes, in non-decreasing event\n"
  "time, deterministic for a seed. Event time follows the working calendar:\n"
  "receipts at random working instants, due = processing_days working days later.\n"
  "Events after the end of the window are not written (those dossiers stay open).\n"
  "Output: JSON Lines on stdout by default; --output FILE in the format of its\n"
  "extension (.jsonl, .avro) or of --format; --kafka to topic.events (key\n"
  "dossier_id, Avro single-object, idempotent producer).";
static const char epilog[] = "Summary on stderr: events, dossiers, events per type.";

typedef struct sink {
  dw_writer *w;
  dw_avro *av;
  dw_producer *prod;
  const char *topic;
  double rate;
  int64_t t_begin_ns;
  uint64_t written;
  char err[512];
} sink;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pace(sink *s) {
  if (s->rate <= 0) return;
  int64_t due = s->t_begin_ns + (int64_t)((double)s->written * 1e9 / s->rate);
  int64_t now = mono_ns();
  if (due - now > 1000000) {
    int64_t wait = due - now;
    struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
  }
}

static int emit(const dw_event *ev, void *opaque) {
  sink *s = opaque;
  pace(s);
  if (s->w) {
    if (dw_writer_write(s->w, ev, s->err, sizeof s->err)) return -1;
  } else {
    const void *buf;
    size_t len;
    if (dw_avro_encode_event(s->av, ev, &buf, &len, s->err, sizeof s->err)) return -1;
    const dw_message m = {s->topic, ev->dossier_id, strlen(ev->dossier_id), buf, len, 0, NULL};
    if (dw_producer_send(s->prod, &m, NULL, s->err, sizeof s->err)) return -1;
  }
  s->written++;
  return 0;
}

/* What the command line asked for. */
typedef struct sim_opts {
  const char *profile_path, *preset, *output, *format, *units_out;
  int64_t seed, days, rate, communes, start;
  bool kafka, verbose;
} sim_opts;

/* Checks the options against each other and fills the output defaults
 * (stdout, as JSON Lines). 0, or -1 after logging the reason (bad usage). */
static int check_options(dw_cli *cli, sim_opts *o) {
  if (o->seed < 0) {
    DW_LOG_ERR("--seed wants a non-negative integer, got %lld", (long long)o->seed);
    return -1;
  }
  if (o->days < 1 || o->days > 3660) {
    DW_LOG_ERR("--days wants an integer in 1..3660, got %lld", (long long)o->days);
    return -1;
  }
  if (dw_cli_given(cli, "rate") && o->rate < 1) {
    DW_LOG_ERR("--rate wants a positive integer (events/s), got %lld", (long long)o->rate);
    return -1;
  }
  if (dw_cli_given(cli, "communes") && (o->communes < 1 || o->communes > 3321)) {
    DW_LOG_ERR("--communes wants an integer in 1..3321, got %lld", (long long)o->communes);
    return -1;
  }
  if (o->profile_path && o->preset) {
    DW_LOG_ERR("--profile and --preset exclude each other");
    return -1;
  }
  if ((o->output || o->format) && o->kafka) {
    DW_LOG_ERR("--output/--format and --kafka exclude each other");
    return -1;
  }
  if (o->kafka && !dw_config_get(dw_cli_config(cli), "kafka.bootstrap.servers")) {
    DW_LOG_ERR("--kafka needs --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    return -1;
  }
  if (!o->output) o->output = "-";
  if (!o->format && strcmp(o->output, "-") == 0) o->format = "jsonl";
  return 0;
}

/* The profile file, the preset or the generated province, cut to
 * --communes. NULL after logging the reason. */
static dw_sim_profile *load_profile(const sim_opts *o) {
  char err[512];
  dw_sim_profile *prof;
  if (o->profile_path) prof = dw_sim_profile_load(o->profile_path, err, sizeof err);
  else if (o->preset) prof = dw_sim_profile_preset(o->preset, err, sizeof err);
  else prof = dw_sim_profile_generated(o->communes ? (int)o->communes : 100);
  if (!prof) {
    DW_LOG_ERR("profile: %s", err);
    return NULL;
  }
  if (o->communes) dw_sim_profile_limit(prof, (int)o->communes);
  return prof;
}

/* --units-out: the profile's units file instead of events. The exit
 * code. */
static int write_units(const dw_sim_profile *prof, const char *path) {
  dw_buf ub = DW_BUF_INIT;
  FILE *uf = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  int bad = !uf || dw_sim_profile_units_csv(prof, &ub) || fwrite(ub.data, 1, ub.len, uf) != ub.len;
  if (uf && uf != stdout) bad |= fclose(uf) != 0;
  if (bad) DW_LOG_ERR("cannot write the units file %s", path);
  dw_buf_free(&ub);
  return bad ? DW_EXIT_FAIL : DW_EXIT_OK;
}

/* Opens the writer (file or stdout; offered the calendar too, for a format
 * that computes due times: dvcqg's NgayHenTra), or the Avro codec and the
 * producer for --kafka. 0, or -1 after logging the reason; close_sink frees
 * either way. */
static int open_sink(sink *s, const sim_opts *o, dw_config *cfg, int off) {
  char err[512];
  if (!o->kafka) {
    char offs[16];
    snprintf(offs, sizeof offs, "%d", off);
    const char *cal_dir = dw_config_get(cfg, "calendar.dir"), *cal_hours = dw_config_get(cfg, "calendar.hours");
    const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, DW_FORMAT_PROP_CALENDAR_DIR, cal_dir ? cal_dir : "",
                           DW_FORMAT_PROP_CALENDAR_HOURS, cal_hours ? cal_hours : "", NULL};
    if (!(s->w = dw_writer_create(o->format, o->output, props, err, sizeof err))) {
      DW_LOG_ERR("cannot write %s: %s", o->output, err);
      return -1;
    }
    return 0;
  }
  if (!(s->av = dw_avro_new(err, sizeof err))) {
    DW_LOG_ERR("avro: %s", err);
    return -1;
  }
  s->topic = dw_config_get(cfg, "topic.events");
  if (!(s->prod = dw_producer_new(cfg, CMD, NULL, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  return 0;
}

/* Closes the file, or waits until the producer has delivered everything:
 * only then is the output complete. 0, or -1 after logging the reason. */
static int finish_sink(sink *s, const char *output) {
  char err[512];
  int rc = 0;
  if (s->w && dw_writer_close(s->w, err, sizeof err)) {
    DW_LOG_ERR("write %s: %s", output, err);
    rc = -1;
  }
  s->w = NULL;
  if (s->prod && dw_producer_flush(s->prod, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    rc = -1;
  }
  return rc;
}

/* Frees what open_sink made; a writer still open here is one of a failed
 * run. */
static void close_sink(sink *s) {
  char err[512];
  if (s->w) dw_writer_close(s->w, err, sizeof err);
  dw_producer_destroy(s->prod);
  if (s->av) dw_avro_destroy(s->av);
}

/* The summary lines on stderr (see the epilog). */
static void print_summary(const dw_sim_gen *g, const sink *s, const sim_opts *o, const dw_sim_profile *prof, int off,
                          double secs) {
  const dw_sim_stats *st = dw_sim_gen_stats(g);
  char d0[32], d1[32];
  dw_time_format(dw_sim_gen_start(g), off, d0, sizeof d0);
  dw_time_format(dw_sim_gen_end(g), off, d1, sizeof d1);
  fprintf(stderr, "simulate: %" PRIu64 " events, %" PRIu64 " dossiers (%" PRIu64 " still open), %d communes, %s .. %s, seed %" PRIu64 "\n",
          st->events, st->dossiers, st->dossiers - st->closed, prof->n_communes, d0, d1, (uint64_t)o->seed);
  fprintf(stderr, "simulate: %.2f s, %.0f events/s -> %s", secs, secs > 0 ? (double)st->events / secs : 0.0,
          o->kafka ? s->topic : strcmp(o->output, "-") == 0 ? "stdout" : o->output);
  if (s->prod)
    fprintf(stderr, " (delivered %" PRIu64 ", failed %" PRIu64 ")", dw_producer_delivered(s->prod),
            dw_producer_failed(s->prod));
  fputc('\n', stderr);
  fprintf(stderr, "simulate: by type:");
  for (int t = 0; t < DW_EV__COUNT; t++)
    if (st->by_type[t]) fprintf(stderr, " %s=%" PRIu64, dw_event_type_name((dw_event_type)t), st->by_type[t]);
  fputc('\n', stderr);
}

/* --verbose: per commune, the result digitization rate asked for and the
 * one achieved. */
static void print_commune_rates(const dw_sim_gen *g, const dw_sim_profile *prof) {
  const dw_sim_stats *st = dw_sim_gen_stats(g);
  fprintf(stderr, "simulate: commune  expected%%  achieved%%  results  digitized  received  name\n");
  for (int i = 0; i < prof->n_communes; i++) {
    const dw_sim_commune_stats *cs = &st->communes[i];
    double got = cs->results_issued ? 100.0 * (double)cs->results_digitized / (double)cs->results_issued : 0;
    fprintf(stderr, "simulate: %-7s %9.2f %10.2f %8" PRIu64 " %10" PRIu64 " %9" PRIu64 "  %s\n",
            prof->communes[i].code, 100.0 * prof->communes[i].p.result_digitization, got, cs->results_issued,
            cs->results_digitized, cs->received, prof->communes[i].name);
  }
}

/* Runs the generator into the open sink, completes the output, then
 * reports. The exit code. */
static int generate(dw_sim_gen *g, sink *s, const sim_opts *o, const dw_sim_profile *prof, int off) {
  char err[512];
  s->t_begin_ns = mono_ns();
  int run_rc = dw_sim_gen_run(g, emit, s, err, sizeof err);
  if (run_rc) DW_LOG_ERR("%s%s%s", err, s->err[0] ? ": " : "", s->err);
  int out_rc = finish_sink(s, o->output);
  /* the time includes the flush: events/s is what was delivered */
  double secs = (double)(mono_ns() - s->t_begin_ns) / 1e9;
  print_summary(g, s, o, prof, off, secs);
  if (o->verbose) print_commune_rates(g, prof);
  return (run_rc || out_rc) ? DW_EXIT_FAIL : DW_EXIT_OK;
}

/* Everything after the options: profile, calendar, generator, sink, run. */
static int simulate(dw_config *cfg, const sim_opts *o) {
  int off = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  dw_sim_profile *prof = load_profile(o);
  if (!prof) return DW_EXIT_FAIL;
  if (o->units_out) {
    int rc = write_units(prof, o->units_out);
    dw_sim_profile_destroy(prof);
    return rc;
  }
  char err[512];
  dw_calendar *cal = dw_calendar_from_config(cfg, err, sizeof err);
  if (!cal) {
    DW_LOG_ERR("calendar: %s", err);
    dw_sim_profile_destroy(prof);
    return DW_EXIT_FAIL;
  }
  int64_t start_day = o->start != DW_TIME_NONE ? dw_local_day(o->start, off)
                                               : dw_local_day(dw_now_ms(), off) - (int64_t)o->days;
  int rc = DW_EXIT_FAIL;
  sink s = {.rate = (double)o->rate};
  dw_sim_gen *g = dw_sim_gen_new(prof, cal, (uint64_t)o->seed, start_day, (int)o->days, err, sizeof err);
  if (!g)
    DW_LOG_ERR("%s", err);
  else if (open_sink(&s, o, cfg, off) == 0)
    rc = generate(g, &s, o, prof, off);
  close_sink(&s);
  dw_sim_gen_destroy(g);
  dw_calendar_destroy(cal);
  dw_sim_profile_destroy(prof);
  return rc;
}

int dw_cmd_simulate(int argc, char **argv) {
  sim_opts o = {.seed = 1, .days = 30, .start = DW_TIME_NONE};
  const dw_opt opts[] = {
    {"profile", DW_OPT_STR, &o.profile_path, "FILE", "JSON profile: defaults + per-commune overrides", NULL},
    {"preset", DW_OPT_STR, &o.preset, "NAME", "a built-in profile (deploy/simulate/NAME.json), e.g. seed-letter\n"
     "(default: a generated province of 100 communes)", NULL},
    {"seed", DW_OPT_INT, &o.seed, "N", "PRNG seed (default 1)", NULL},
    {"start", DW_OPT_TIME, &o.start, "DATE", "first simulated local day YYYY-MM-DD (default: today - days)", NULL},
    {"days", DW_OPT_INT, &o.days, "N", "number of days, 1..3660 (default 30)", NULL},
    {"communes", DW_OPT_INT, &o.communes, "N", "generated province: N communes; profile: the first N (1..3321)", NULL},
    {"rate", DW_OPT_INT, &o.rate, "N", "at most N events per second (default: as fast as possible)", NULL},
    {"output", DW_OPT_STR, &o.output, "FILE", "write to FILE ('-' = stdout) instead of stdout", NULL},
    {"format", DW_OPT_STR, &o.format, "FORMAT", "output format (jsonl, avro, dvcqg: the sync records a one-stop system\n"
     "would send, with FILE.units.csv; default: by the file's extension)", NULL},
    {"kafka", DW_OPT_FLAG, &o.kafka, NULL, "produce to topic.events instead (needs --bootstrap or DW_BOOTSTRAP)", NULL},
    {"verbose", DW_OPT_FLAG, &o.verbose, NULL, "per-commune expected and achieved result digitization rates", NULL},
    {"units-out", DW_OPT_STR, &o.units_out, "FILE", "write the province's units file (code,name,type,parent: what\n"
     "serve's http.units reads) to FILE ('-' = stdout) and exit", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "[OPTIONS]", description, opts, 0, 0, DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc < 0) rc = check_options(cli, &o) ? DW_EXIT_USAGE : simulate(dw_cli_config(cli), &o);
  dw_cli_destroy(cli);
  return rc;
}
