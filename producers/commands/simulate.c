/* simulate: `dossierwatch simulate` writes realistic dossier events for the
 * communes of a province (generated, a profile file or a preset) to JSON
 * Lines, an Avro container or the events topic. The same seed, profile,
 * start and days give byte-identical JSON Lines (dw_sim_gen is a pure
 * function of them; the PRNG is our own). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dw_calendar.h"
#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_producer.h"
#include "dw_sim_gen.h"
#include "dw_sim_profile.h"
#include "dw_time.h"

static const char usage_text[] =
  "usage: dossierwatch simulate [--profile FILE | --preset NAME] [--seed N] [--start DATE]\n"
  "                             [--days N] [--communes N] [--rate N]\n"
  "                             [--output FILE.jsonl|FILE.avro|- | --kafka] [--verbose]\n"
  "\n"
  "Writes realistic dossier events for many communes, in non-decreasing event\n"
  "time, deterministic for a seed. Event time follows the working calendar:\n"
  "receipts at random working instants, due = processing_days working days later.\n"
  "Events after the end of the window are not written (those dossiers stay open).\n"
  "\n"
  "  --profile FILE     JSON profile: defaults + per-commune overrides\n"
  "  --preset NAME      deploy/simulate/NAME.json, e.g. seed-letter\n"
  "                     (default: a generated province of 100 communes)\n"
  "  --seed N           PRNG seed (default 1)\n"
  "  --start DATE       first simulated local day YYYY-MM-DD (default: today - days)\n"
  "  --days N           number of days (default 30)\n"
  "  --communes N       generated province: N communes; profile: first N communes\n"
  "  --rate N           at most N events per second (default: as fast as possible)\n"
  "  --output FILE      .jsonl (JSON Lines), .avro (Avro container); '-' = stdout\n"
  "                     JSON Lines (the default)\n"
  "  --kafka            produce to topic.events (key dossier_id, Avro single-object),\n"
  "                     idempotent producer; needs --bootstrap or DW_BOOTSTRAP\n"
  "  --verbose          per-commune expected and achieved result digitization rates\n"
  DW_CLI_COMMON_HELP
  "\n"
  "Summary on stderr: events, dossiers, events per type. Exit 0 ok, 1 failure,\n"
  "2 bad usage.\n";

enum { OPT_PROFILE = 0x2001, OPT_PRESET, OPT_SEED, OPT_START, OPT_DAYS, OPT_RATE, OPT_OUTPUT,
       OPT_KAFKA, OPT_COMMUNES, OPT_VERBOSE };

typedef enum { OUT_JSONL, OUT_AVRO, OUT_KAFKA } out_kind;

typedef struct sink {
  out_kind kind;
  int utc_offset_min;
  FILE *f;
  dw_avro *av;
  dw_avro_file *af;
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
  switch (s->kind) {
  case OUT_JSONL: {
    char *line = dw_event_to_json(ev, s->utc_offset_min);
    if (!line) {
      snprintf(s->err, sizeof s->err, "out of memory encoding %s", ev->event_id);
      return -1;
    }
    int bad = fputs(line, s->f) < 0 || fputc('\n', s->f) == EOF;
    free(line);
    if (bad) {
      snprintf(s->err, sizeof s->err, "write failed: %s", strerror(errno));
      return -1;
    }
    break;
  }
  case OUT_AVRO:
    if (dw_avro_file_write(s->af, ev, s->err, sizeof s->err)) return -1;
    break;
  case OUT_KAFKA: {
    const void *buf;
    size_t len;
    if (dw_avro_encode_event(s->av, ev, &buf, &len, s->err, sizeof s->err)) return -1;
    const dw_message m = {s->topic, ev->dossier_id, strlen(ev->dossier_id), buf, len, 0, NULL};
    if (dw_producer_send(s->prod, &m, NULL, s->err, sizeof s->err)) return -1;
    break;
  }
  }
  s->written++;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static int parse_date(const char *s, int64_t *day) {
  int y, m, d;
  char tail;
  if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31) return -1;
  *day = dw_days_from_civil(y, m, d);
  int yy, mm, dd;
  dw_civil_from_days(*day, &yy, &mm, &dd);
  return (yy == y && mm == m && dd == d) ? 0 : -1; /* rejects 2025-02-30 */
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int dw_cmd_simulate(int argc, char **argv) {
  static const struct option opts[] = {
    {"profile", required_argument, 0, OPT_PROFILE},
    {"preset", required_argument, 0, OPT_PRESET},
    {"seed", required_argument, 0, OPT_SEED},
    {"start", required_argument, 0, OPT_START},
    {"days", required_argument, 0, OPT_DAYS},
    {"rate", required_argument, 0, OPT_RATE},
    {"output", required_argument, 0, OPT_OUTPUT},
    {"kafka", no_argument, 0, OPT_KAFKA},
    {"communes", required_argument, 0, OPT_COMMUNES},
    {"verbose", no_argument, 0, OPT_VERBOSE},
    DW_CLI_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  const char *profile_path = NULL, *preset = NULL, *output = NULL;
  uint64_t seed = 1, days = 30, rate = 0, communes = 0;
  int64_t start_day = 0;
  int have_start = 0, kafka = 0, verbose = 0;
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = DW_EXIT_USAGE;
  optind = 1;
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (opt) {
    case 'h':
      fputs(usage_text, stdout);
      dw_cli_destroy(cli);
      return DW_EXIT_OK;
    case OPT_PROFILE: profile_path = optarg; break;
    case OPT_PRESET: preset = optarg; break;
    case OPT_SEED:
      if (parse_u64(optarg, &seed)) {
        dw_cli_error("simulate", "--seed wants a non-negative integer, got '%s'", optarg);
        goto out;
      }
      break;
    case OPT_START:
      if (parse_date(optarg, &start_day)) {
        dw_cli_error("simulate", "--start wants a date YYYY-MM-DD, got '%s'", optarg);
        goto out;
      }
      have_start = 1;
      break;
    case OPT_DAYS:
      if (parse_u64(optarg, &days) || days < 1 || days > 3660) {
        dw_cli_error("simulate", "--days wants an integer in 1..3660, got '%s'", optarg);
        goto out;
      }
      break;
    case OPT_RATE:
      if (parse_u64(optarg, &rate) || rate < 1) {
        dw_cli_error("simulate", "--rate wants a positive integer (events/s), got '%s'", optarg);
        goto out;
      }
      break;
    case OPT_COMMUNES:
      if (parse_u64(optarg, &communes) || communes < 1 || communes > 3321) {
        dw_cli_error("simulate", "--communes wants an integer in 1..3321, got '%s'", optarg);
        goto out;
      }
      break;
    case OPT_OUTPUT: output = optarg; break;
    case OPT_KAFKA: kafka = 1; break;
    case OPT_VERBOSE: verbose = 1; break;
    default:
      if (dw_cli_default(cli, "simulate", opt, optarg, argv) < 0) goto out;
    }
  }
  if (optind < argc) {
    dw_cli_error("simulate", "unexpected argument '%s' (see --help)", argv[optind]);
    goto out;
  }
  if (profile_path && preset) {
    dw_cli_error("simulate", "--profile and --preset exclude each other");
    goto out;
  }
  if (output && kafka) {
    dw_cli_error("simulate", "--output and --kafka exclude each other");
    goto out;
  }
  out_kind kind = kafka ? OUT_KAFKA : OUT_JSONL;
  if (output && strcmp(output, "-") != 0) {
    if (ends_with(output, ".avro")) kind = OUT_AVRO;
    else if (!ends_with(output, ".jsonl") && !ends_with(output, ".json")) {
      dw_cli_error("simulate", "--output: '%s' must end in .jsonl or .avro", output);
      goto out;
    }
  }
  if (dw_cli_finish(cli)) goto out;
  dw_config *cfg = dw_cli_config(cli);
  if (kafka && !dw_config_get(cfg, "kafka.bootstrap.servers")) {
    dw_cli_error("simulate", "--kafka needs --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    goto out;
  }
  rc = DW_EXIT_FAIL;
  char err[512];

  dw_sim_profile *prof = NULL;
  if (profile_path) prof = dw_sim_profile_load(profile_path, err, sizeof err);
  else if (preset) prof = dw_sim_profile_preset(preset, err, sizeof err);
  else prof = dw_sim_profile_generated(communes ? (int)communes : 100);
  if (!prof) {
    dw_cli_error("simulate", "profile: %s", err);
    goto out;
  }
  if (communes) dw_sim_profile_limit(prof, (int)communes);

  const char *cal_dir = dw_config_get(cfg, "calendar.dir");
  int off = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  dw_calendar *cal = dw_calendar_new(cal_dir ? cal_dir : dw_calendar_default_dir(),
                                     dw_config_get(cfg, "calendar.hours"), off, err, sizeof err);
  if (!cal) {
    dw_cli_error("simulate", "calendar: %s", err);
    dw_sim_profile_destroy(prof);
    goto out;
  }
  if (!have_start) start_day = dw_local_day(dw_now_ms(), off) - (int64_t)days;

  sink s = {.kind = kind, .utc_offset_min = off, .rate = (double)rate};
  dw_sim_gen *g = dw_sim_gen_new(prof, cal, seed, start_day, (int)days, err, sizeof err);
  if (!g) {
    dw_cli_error("simulate", "%s", err);
    goto cleanup;
  }
  if (kind != OUT_JSONL) {
    s.av = dw_avro_new(err, sizeof err);
    if (!s.av) {
      dw_cli_error("simulate", "avro: %s", err);
      goto cleanup;
    }
  }
  if (kind == OUT_JSONL) {
    s.f = (!output || strcmp(output, "-") == 0) ? stdout : fopen(output, "w");
    if (!s.f) {
      dw_cli_error("simulate", "cannot write %s: %s", output, strerror(errno));
      goto cleanup;
    }
    static char buf[1 << 20];
    setvbuf(s.f, buf, _IOFBF, sizeof buf);
  } else if (kind == OUT_AVRO) {
    s.af = dw_avro_file_create(s.av, output, err, sizeof err);
    if (!s.af) {
      dw_cli_error("simulate", "cannot write %s: %s", output, err);
      goto cleanup;
    }
  } else {
    s.topic = dw_config_get(cfg, "topic.events");
    s.prod = dw_producer_new(cfg, "simulate", NULL, err, sizeof err);
    if (!s.prod) {
      dw_cli_error("simulate", "%s", err);
      goto cleanup;
    }
  }

  s.t_begin_ns = mono_ns();
  int run_rc = dw_sim_gen_run(g, emit, &s, err, sizeof err);
  if (run_rc) dw_cli_error("simulate", "%s%s%s", err, s.err[0] ? ": " : "", s.err);
  int out_rc = 0;
  if (s.f && s.f != stdout) {
    if (fclose(s.f)) {
      dw_cli_error("simulate", "write %s: %s", output, strerror(errno));
      out_rc = -1;
    }
  } else if (s.f && fflush(s.f)) {
    dw_cli_error("simulate", "write stdout: %s", strerror(errno));
    out_rc = -1;
  }
  s.f = NULL;
  if (s.af) {
    dw_avro_file_close(s.af);
    s.af = NULL;
  }
  if (s.prod && dw_producer_flush(s.prod, err, sizeof err)) {
    dw_cli_error("simulate", "%s", err);
    out_rc = -1;
  }
  double secs = (double)(mono_ns() - s.t_begin_ns) / 1e9;

  const dw_sim_stats *st = dw_sim_gen_stats(g);
  char d0[32], d1[32];
  dw_time_format(dw_sim_gen_start(g), off, d0, sizeof d0);
  dw_time_format(dw_sim_gen_end(g), off, d1, sizeof d1);
  fprintf(stderr, "simulate: %" PRIu64 " events, %" PRIu64 " dossiers (%" PRIu64 " still open), %d communes, %s .. %s, seed %" PRIu64 "\n",
          st->events, st->dossiers, st->dossiers - st->closed, prof->n_communes, d0, d1, seed);
  fprintf(stderr, "simulate: %.2f s, %.0f events/s -> %s", secs, secs > 0 ? (double)st->events / secs : 0.0,
          kind == OUT_KAFKA ? s.topic : (output ? output : "stdout"));
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
  if (s.f && s.f != stdout) fclose(s.f);
  if (s.af) dw_avro_file_close(s.af);
  dw_producer_destroy(s.prod);
  if (s.av) dw_avro_destroy(s.av);
  dw_sim_gen_destroy(g);
  dw_calendar_destroy(cal);
  dw_sim_profile_destroy(prof);
out:
  dw_cli_destroy(cli);
  return rc;
}
