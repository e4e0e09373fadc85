/* import: `dossierwatch import FILE...` reads event files through the one
 * reader (any format: JSON Lines, Avro container files, the national sync
 * records, ...) and produces every accepted event to the events topic (key
 * dossier_id, Avro single-object) through dw_producer, or writes them to a
 * file with --output. Every refused input unit goes, with its file,
 * position and reason, to the reject file. Nothing accepted is lost: a full
 * local queue is waited out, every delivery report is checked, and the
 * producer is flushed to empty before exit. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_log.h"
#include "dw_producer.h"
#include "dw_progress.h"
#include "dw_reader.h"
#include "dw_rejects.h"

#define CMD "import"

static const char description[] =
  "Reads dossier events (FILE '-' = stdin), validates each against the contract\n"
  "and produces the valid ones to topic.events (default dossier.events; key\n"
  "dossier_id, value Avro single-object) with an idempotent producer, waiting for\n"
  "every delivery report; or, with --output, writes them to a file. The input\n"
  "format is recognised by content (JSON Lines, Avro container) unless --format\n"
  "names one; blank lines are skipped (and counted).";

static const char epilog[] =
  "Reject file: one JSON object per refused line or record,\n"
  "  {\"file\":\"in.jsonl\",\"line\":12,\"reason\":\"field 'occurred_at': ...\",\"raw\":\"<the line>\"}\n"
  "\"line\" counts from 1 in its file; \"raw\" is the line as read (without its line\n"
  "ending; personal fields blanked for formats that carry them); a line that is not\n"
  "valid UTF-8 has \"raw_base64\" instead.\n"
  "\n"
  "Summary on stderr: read, produced (= delivered, or written), rejected, blank,\n"
  "queued and delivery failures, and the format's own counts. Exit 0 when every\n"
  "event was produced and delivered; 1 when anything was rejected (unless\n"
  "--allow-rejects), any delivery failed or a file cannot be read.";

typedef struct importer {
  dw_avro *av;
  dw_producer *prod; /* to Kafka, or */
  dw_writer *out;    /* to a file */
  const char *topic;
  dw_rejects *rejects;
  dw_progress *prog;
  uint64_t read, blank, produced;
  bool failed; /* a file unreadable, the producer or the reject file failed */
  char stats[512]; /* the formats' own counts, for the summary */
} importer;

/* One event out: encoded and queued, or written. -1 stops the run. */
static int put_event(importer *im, const dw_event *ev, char *err, size_t n) {
  if (im->out) return dw_writer_write(im->out, ev, err, n);
  const void *buf;
  size_t len;
  if (dw_avro_encode_event(im->av, ev, &buf, &len, err, n)) return 1; /* a reject, not a failure */
  const dw_message m = {im->topic, ev->dossier_id, strlen(ev->dossier_id), buf, len, 0, NULL};
  return dw_producer_send(im->prod, &m, NULL, err, n) ? -1 : 0;
}

static void add_stat(const char *name, uint64_t value, void *opaque) {
  importer *im = opaque;
  if (strcmp(name, "blank") == 0) {
    im->blank += value;
    return;
  }
  if (strcmp(name, "lines") == 0 || strcmp(name, "records") == 0) return; /* = read */
  size_t len = strlen(im->stats);
  snprintf(im->stats + len, sizeof im->stats - len, "%s%s %" PRIu64, len ? ", " : "", name, value);
}

/* Reads one file to the end. -1 when the run must stop. */
static int import_file(importer *im, const char *path, const char *format, const char *const *props) {
  char err[1024];
  dw_reader *r = dw_reader_open(format, path, props, err, sizeof err);
  if (!r) {
    DW_LOG_ERR("cannot read %s", err);
    im->failed = true;
    return 0;
  }
  dw_event ev;
  dw_reject rej;
  int rc = 0;
  for (;;) {
    dw_read_result res = dw_reader_next(r, &ev, &rej, err, sizeof err);
    if (res == DW_READ_END) break;
    if (res == DW_READ_FAIL) {
      DW_LOG_ERR("cannot read %s: %s", path, err);
      im->failed = true;
      break;
    }
    im->read++;
    if (res == DW_READ_EVENT) {
      int p = put_event(im, &ev, rej.reason, sizeof rej.reason);
      if (p < 0) {
        DW_LOG_ERR("%s: %s", path, rej.reason);
        im->failed = true;
        rc = -1;
        break;
      }
      if (p == 0) {
        im->produced++;
        dw_progress_update(im->prog, im->read);
        continue;
      }
      /* valid for the contract but not encodable (rare): refused, with
       * the position and input the reader gave for it */
    }
    if (dw_rejects_add(im->rejects, path, &rej, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      im->failed = true;
      rc = -1;
      break;
    }
    dw_progress_update(im->prog, im->read);
  }
  dw_reader_stats(r, add_stat, im);
  dw_reader_close(r);
  return rc;
}

/* What the command line asked for. */
typedef struct import_opts {
  const char *rejects, *format, *units, *output;
  bool allow_rejects;
  dw_strs fopts;
} import_opts;

#define MAX_FORMAT_OPTS 64

/* The readers' properties, NULL-terminated key/value pairs: the local
 * offset (formats whose times carry none, dvcqg, read them in it), --units
 * (= --format-opt units=FILE), then each --format-opt. */
typedef struct format_props {
  char offs[16];
  char keys[MAX_FORMAT_OPTS][256];
  const char *v[2 * (MAX_FORMAT_OPTS + 3) + 1];
} format_props;

/* 0, or -1 after logging the reason (bad usage). */
static int build_props(format_props *fp, const dw_config *cfg, const import_opts *o) {
  size_t np = 0;
  snprintf(fp->offs, sizeof fp->offs, "%d", (int)dw_config_get_int(cfg, "calendar.utc_offset_min"));
  fp->v[np++] = DW_FORMAT_PROP_UTC_OFFSET, fp->v[np++] = fp->offs;
  if (o->units) fp->v[np++] = "units", fp->v[np++] = o->units;
  if (o->fopts.n > MAX_FORMAT_OPTS) {
    DW_LOG_ERR("--format-opt given %zu times (at most 64)", o->fopts.n);
    return -1;
  }
  for (size_t i = 0; i < o->fopts.n; i++) {
    const char *opt = o->fopts.v[i], *eq = strchr(opt, '=');
    if (!eq || eq == opt) {
      DW_LOG_ERR("--format-opt wants KEY=VALUE, got '%s'", opt);
      return -1;
    }
    snprintf(fp->keys[i], sizeof fp->keys[i], "%.*s", (int)(eq - opt), opt);
    fp->v[np++] = fp->keys[i], fp->v[np++] = eq + 1;
  }
  fp->v[np] = NULL;
  return 0;
}

/* The reject file, and the output file or the Avro codec and producer.
 * 0, or -1 after logging the reason; importer_free frees either way. */
static int open_outputs(importer *im, dw_config *cfg, const char *output, const char *rejects_path,
                        const char *offs) {
  char err[1024];
  if (!(im->rejects = dw_rejects_new(rejects_path, 0))) {
    DW_LOG_ERR("out of memory");
    return -1;
  }
  if (output) {
    const char *wprops[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, NULL};
    if (!(im->out = dw_writer_create(NULL, output, wprops, err, sizeof err))) {
      DW_LOG_ERR("%s", err);
      return -1;
    }
    return 0;
  }
  if (!(im->av = dw_avro_new(err, sizeof err))) {
    DW_LOG_ERR("avro: %s", err);
    return -1;
  }
  im->topic = dw_config_get(cfg, "topic.events");
  if (!(im->prod = dw_producer_new(cfg, CMD, NULL, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  return 0;
}

typedef struct totals {
  uint64_t delivered, failed, rejected;
} totals;

/* Waits for every delivery report, closes the output and the reject file:
 * only then are the counts final. A failure sets im->failed. */
static totals finish_outputs(importer *im, const char *output) {
  char err[1024];
  totals t = {im->produced, 0, 0};
  if (im->prod) {
    if (dw_producer_flush(im->prod, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      im->failed = true;
    }
    t.delivered = dw_producer_delivered(im->prod);
    t.failed = dw_producer_failed(im->prod);
  }
  if (im->out && dw_writer_close(im->out, err, sizeof err)) {
    DW_LOG_ERR("%s: %s", output, err);
    im->failed = true;
  }
  im->out = NULL;
  t.rejected = dw_rejects_count(im->rejects);
  if (dw_rejects_close(im->rejects, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    im->failed = true;
  }
  im->rejects = NULL;
  return t;
}

static void print_summary(const importer *im, const totals *t, const char *rejects_path) {
  fprintf(stderr,
          "import: read %" PRIu64 ", produced %" PRIu64 ", rejected %" PRIu64 ", blank %" PRIu64 "; queued %" PRIu64
          ", delivery failed %" PRIu64 "; %.2f s",
          im->read, t->delivered, t->rejected, im->blank, im->produced, t->failed, dw_progress_elapsed(im->prog));
  if (im->stats[0]) fprintf(stderr, "; %s", im->stats);
  if (t->rejected) fprintf(stderr, "; rejects in %s", rejects_path);
  fputc('\n', stderr);
}

/* Frees what is still open: after a failure to start, the reject file and
 * the output too. */
static void importer_free(importer *im) {
  char err[1024];
  if (im->out) dw_writer_close(im->out, err, sizeof err);
  if (im->rejects) dw_rejects_close(im->rejects, err, sizeof err);
  dw_progress_destroy(im->prog);
  dw_producer_destroy(im->prod);
  if (im->av) dw_avro_destroy(im->av);
}

/* Everything after the options. The exit code (see the epilog). */
static int import(dw_config *cfg, const import_opts *o, char **files, int nfiles) {
  format_props fp;
  if (build_props(&fp, cfg, o)) return DW_EXIT_USAGE;
  if (!o->output && !dw_config_get(cfg, "kafka.bootstrap.servers")) {
    DW_LOG_ERR("no Kafka bootstrap servers: give --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP (or --output)");
    return DW_EXIT_USAGE;
  }
  const char *rejects_path = o->rejects;
  char default_rejects[4096];
  if (!rejects_path) {
    snprintf(default_rejects, sizeof default_rejects, "%s.rejects", strcmp(files[0], "-") == 0 ? "stdin" : files[0]);
    rejects_path = default_rejects;
  }
  importer im = {0};
  int rc = DW_EXIT_FAIL;
  if (open_outputs(&im, cfg, o->output, rejects_path, fp.offs) == 0) {
    im.prog = dw_progress_new(CMD, "read", 0);
    for (int i = 0; i < nfiles; i++)
      if (import_file(&im, files[i], o->format, fp.v)) break;
    dw_progress_clear(im.prog);
    totals t = finish_outputs(&im, o->output);
    print_summary(&im, &t, rejects_path);
    rc = im.failed || t.failed || (t.rejected && !o->allow_rejects) ? DW_EXIT_FAIL : DW_EXIT_OK;
  }
  importer_free(&im);
  return rc;
}

int dw_cmd_import(int argc, char **argv) {
  import_opts o = {0};
  const dw_opt opts[] = {
    {"format", DW_OPT_STR, &o.format, "FORMAT", "input format (jsonl, avro, dvcqg, ...; default: by content)", NULL},
    {"units", DW_OPT_STR, &o.units, "FILE", "units file of formats that map units (dvcqg: key,commune,agency)", NULL},
    {"format-opt", DW_OPT_STRS, &o.fopts, "KEY=VALUE", "an option of the input format (repeatable)", NULL},
    {"rejects", DW_OPT_STR, &o.rejects, "FILE", "where refused lines go (default: FIRST_FILE.rejects, stdin.rejects\n"
     "for '-'); none is left when nothing is refused", NULL},
    {"allow-rejects", DW_OPT_FLAG, &o.allow_rejects, NULL, "exit 0 even when lines were refused", NULL},
    {"output", DW_OPT_STR, &o.output, "FILE", "write the events to FILE (.jsonl or .avro) instead of Kafka", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "FILE... [OPTIONS]", description, opts, 1, -1, DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  char **files;
  int nfiles;
  int rc = dw_cli_run(cli, &spec, argc, argv, &files, &nfiles);
  if (rc < 0) rc = import(dw_cli_config(cli), &o, files, nfiles);
  dw_cli_destroy(cli);
  return rc;
}
