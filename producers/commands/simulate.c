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

int dw_cmd_simulate(int argc, char **argv) {
  const char *profile_path = NULL, *preset = NULL, *output = NULL, *format = NULL, *units_out = NULL;
  int64_t seed = 1, days = 30, rate = 0, communes = 0, start = DW_TIME_NONE;
  bool kafka = false, verbose = false;
  const dw_opt opts[] = {
    {"profile", DW_OPT_STR, &profile_path, "FILE", "JSON profile: defaults + per-commune overrides", NULL},
    {"preset", DW_OPT_STR, &preset, "NAME", "a built-in profile (deploy/simulate/NAME.json), e.g. seed-letter\n"
     "(default: a generated province of 100 communes)", NULL},
    {"seed", DW_OPT_INT, &seed, "N", "PRNG seed (default 1)", NULL},
    {"start", DW_OPT_TIME, &start, "DATE", "first simulated local day YYYY-MM-DD (default: today - days)", NULL},
    {"days", DW_OPT_INT, &days, "N", "number of days, 1..3660 (default 30)", NULL},
    {"communes", DW_OPT_INT, &communes, "N", "generated province: N communes; profile: the first N (1..3321)", NULL},
    {"rate", DW_OPT_INT, &rate, "N", "at most N events per second (default: as fast as possible)", NULL},
    {"output", DW_OPT_STR, &output, "FILE", "write to FILE ('-' = stdout) instead of stdout", NULL},
    {"format", DW_OPT_STR, &format, "FORMAT", "output format (jsonl, avro, dvcqg: the sync records a one-stop system\n"
     "would send, with FILE.units.csv; default: by the file's extension)", NULL},
    {"kafka", DW_OPT_FLAG, &kafka, NULL, "produce to topic.events instead (needs --bootstrap or DW_BOOTSTRAP)", NULL},
    {"verbose", DW_OPT_FLAG, &verbose, NULL, "per-commune expected and achieved result digitization rates", NULL},
    {"units-out", DW_OPT_STR, &units_out, "FILE", "write the province's units file (code,name,type,parent: what\n"
     "serve's http.units reads) to FILE ('-' = stdout) and exit", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "[OPTIONS]", description, opts, 0, 0, DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (rc >= 0) goto out;
  rc = DW_EXIT_USAGE;
  if (seed < 0) {
    DW_LOG_ERR("--seed wants a non-negative integer, got %lld", (long long)seed);
    goto out;
  }
  if (days < 1 || days > 3660) {
    DW_LOG_ERR("--days wants an integer in 1..3660, got %lld", (long long)days);
    goto out;
  }
  if (dw_cli_given(cli, "rate") && rate < 1) {
    DW_LOG_ERR("--rate wants a positive integer (events/s), got %lld", (long long)rate);
    goto out;
  }
  if (dw_cli_given(cli, "communes") && (communes < 1 || communes > 3321)) {
    DW_LOG_ERR("--communes wants an integer in 1..3321, got %lld", (long long)communes);
    goto out;
  }
  if (profile_path && preset) {
    DW_LOG_ERR("--profile and --preset exclude each other");
    goto out;
  }
  if ((output || format) && kafka) {
    DW_LOG_ERR("--output/--format and --kafka exclude each other");
    goto out;
  }
  dw_config *cfg = dw_cli_config(cli);
  if (kafka && !dw_config_get(cfg, "kafka.bootstrap.servers")) {
    DW_LOG_ERR("--kafka needs --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    goto out;
  }
  if (!output) output = "-";
  if (!format && strcmp(output, "-") == 0) format = "jsonl";
  rc = DW_EXIT_FAIL;
  char err[512];
  int off = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  int64_t start_day = start == DW_TIME_NONE ? 0 : dw_local_day(start, off);
  bool have_start = start != DW_TIME_NONE;

  dw_sim_profile *prof = NULL;
  if (profile_path) prof = dw_sim_profile_load(profile_path, err, sizeof err);
  else if (preset) prof = dw_sim_profile_preset(preset, err, sizeof err);
  else prof = dw_sim_profile_generated(communes ? (int)communes : 100);
  if (!prof) {
    DW_LOG_ERR("profile: %s", err);
    goto out;
  }
  if (communes) dw_sim_profile_limit(prof, (int)communes);
  if (units_out) {
    dw_buf ub = DW_BUF_INIT;
    FILE *uf = strcmp(units_out, "-") == 0 ? stdout : fopen(units_out, "w");
    int bad = !uf || dw_sim_profile_units_csv(prof, &ub) || fwrite(ub.data, 1, ub.len, uf) != ub.len;
    if (uf && uf != stdout) bad |= fclose(uf) != 0;
    if (bad) DW_LOG_ERR("cannot write the units file %s", units_out);
    dw_buf_free(&ub);
    dw_sim_profile_destroy(prof);
    rc = bad ? DW_EXIT_FAIL : DW_EXIT_OK;
    goto out;
  }

  dw_calendar *cal = dw_calendar_from_config(cfg, err, sizeof err);
  if (!cal) {
    DW_LOG_ERR("calendar: %s", err);
    dw_sim_profile_destroy(prof);
    goto out;
  }
  if (!have_start) start_day = dw_local_day(dw_now_ms(), off) - (int64_t)days;

  sink s = {.rate = (double)rate};
  dw_sim_gen *g = dw_sim_gen_new(prof, cal, (uint64_t)seed, start_day, (int)days, err, sizeof err);
  if (!g) {
    DW_LOG_ERR("%s", err);
    goto cleanup;
  }
  if (!kafka) {
    char offs[16];
    snprintf(offs, sizeof offs, "%d", off);
    const char *cal_dir = dw_config_get(cfg, "calendar.dir"), *cal_hours = dw_config_get(cfg, "calendar.hours");
    const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, DW_FORMAT_PROP_CALENDAR_DIR, cal_dir ? cal_dir : "",
                           DW_FORMAT_PROP_CALENDAR_HOURS, cal_hours ? cal_hours : "", NULL};
    if (!(s.w = dw_writer_create(format, output, props, err, sizeof err))) {
      DW_LOG_ERR("cannot write %s: %s", output, err);
      goto cleanup;
    }
  } else {
    if (!(s.av = dw_avro_new(err, sizeof err))) {
      DW_LOG_ERR("avro: %s", err);
      goto cleanup;
    }
    s.topic = dw_config_get(cfg, "topic.events");
    if (!(s.prod = dw_producer_new(cfg, CMD, NULL, err, sizeof err))) {
      DW_LOG_ERR("%s", err);
      goto cleanup;
    }
  }

  s.t_begin_ns = mono_ns();
  int run_rc = dw_sim_gen_run(g, emit, &s, err, sizeof err);
  if (run_rc) DW_LOG_ERR("%s%s%s", err, s.err[0] ? ": " : "", s.err);
  int out_rc = 0;
  if (s.w && dw_writer_close(s.w, err, sizeof err)) {
    DW_LOG_ERR("write %s: %s", output, err);
    out_rc = -1;
  }
  s.w = NULL;
  if (s.prod && dw_producer_flush(s.prod, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    out_rc = -1;
  }
  double secs = (double)(mono_ns() - s.t_begin_ns) / 1e9;

  const dw_sim_stats *st = dw_sim_gen_stats(g);
  char d0[32], d1[32];
  dw_time_format(dw_sim_gen_start(g), off, d0, sizeof d0);
  dw_time_format(dw_sim_gen_end(g), off, d1, sizeof d1);
  fprintf(stderr, "simulate: %" PRIu64 " events, %" PRIu64 " dossiers (%" PRIu64 " still open), %d communes, %s .. %s, seed %" PRIu64 "\n",
          st->events, st->dossiers, st->dossiers - st->closed, prof->n_communes, d0, d1, (uint64_t)seed);
  fprintf(stderr, "simulate: %.2f s, %.0f events/s -> %s", secs, secs > 0 ? (double)st->events / secs : 0.0,
          kafka ? s.topic : strcmp(output, "-") == 0 ? "stdout" : output);
  if (s.prod)
    fprintf(stderr, " (delivered %" PRIu64 ", failed %" PRIu64 ")", dw_producer_delivered(s.prod),
            dw_producer_failed(s.prod));
  fputc('\n', stderr);
  fprintf(stderr, "simulate: by type:");
  for (int t = 0; t < DW_EV__COUNT; t++)
    if (st->by_type[t]) fprintf(stderr, " %s=%" PRIu64, dw_event_type_name((dw_event_type)t), st->by_type[t]);
  fputc('\n', stderr);
  if (verbose) {
    fprintf(stderr, "simulate: commune  expected%%  achieved%%  results  digitized  received  name\n");
    for (int i = 0; i < prof->n_communes; i++) {
      const dw_sim_commune_stats *cs = &st->communes[i];
      double got = cs->results_issued ? 100.0 * (double)cs->results_digitized / (double)cs->results_issued : 0;
      fprintf(stderr, "simulate: %-7s %9.2f %10.2f %8" PRIu64 " %10" PRIu64 " %9" PRIu64 "  %s\n",
              prof->communes[i].code, 100.0 * prof->communes[i].p.result_digitization, got,
              cs->results_issued, cs->results_digitized, cs->received, prof->communes[i].name);
    }
  }
  rc = (run_rc || out_rc) ? DW_EXIT_FAIL : DW_EXIT_OK;

cleanup:
  if (s.w) dw_writer_close(s.w, err, sizeof err);
  dw_producer_destroy(s.prod);
  if (s.av) dw_avro_destroy(s.av);
  dw_sim_gen_destroy(g);
  dw_calendar_destroy(cal);
  dw_sim_profile_destroy(prof);
out:
  dw_cli_destroy(cli);
  return rc;
}
