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

int dw_cmd_import(int argc, char **argv) {
  const char *rejects_opt = NULL, *format = NULL, *units = NULL, *output = NULL;
  bool allow_rejects = false;
  dw_strs fopts = {0};
  const dw_opt opts[] = {
    {"format", DW_OPT_STR, &format, "FORMAT", "input format (jsonl, avro, dvcqg, ...; default: by content)", NULL},
    {"units", DW_OPT_STR, &units, "FILE", "units file of formats that map units (dvcqg: key,commune,agency)", NULL},
    {"format-opt", DW_OPT_STRS, &fopts, "KEY=VALUE", "an option of the input format (repeatable)", NULL},
    {"rejects", DW_OPT_STR, &rejects_opt, "FILE", "where refused lines go (default: FIRST_FILE.rejects, stdin.rejects\n"
     "for '-'); none is left when nothing is refused", NULL},
    {"allow-rejects", DW_OPT_FLAG, &allow_rejects, NULL, "exit 0 even when lines were refused", NULL},
    {"output", DW_OPT_STR, &output, "FILE", "write the events to FILE (.jsonl or .avro) instead of Kafka", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "FILE... [OPTIONS]", description, opts, 1, -1, DW_CLI_KAFKA, epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  char **files;
  int nfiles;
  importer im = {0};
  const char *props[2 * 67 + 1];
  int rc = dw_cli_run(cli, &spec, argc, argv, &files, &nfiles);
  if (rc >= 0) goto out;
  rc = DW_EXIT_USAGE;
  dw_config *cfg = dw_cli_config(cli);
  char err[1024];
  /* the format's options: --units is --format-opt units=FILE */
  size_t np = 0;
  /* the local offset: formats whose times carry none (dvcqg) read them in it */
  char offs[16];
  snprintf(offs, sizeof offs, "%d", (int)dw_config_get_int(cfg, "calendar.utc_offset_min"));
  props[np++] = DW_FORMAT_PROP_UTC_OFFSET, props[np++] = offs;
  if (units) props[np++] = "units", props[np++] = units;
  static char kv[64][256];
  if (fopts.n > 64) {
    DW_LOG_ERR("--format-opt given %zu times (at most 64)", fopts.n);
    goto out;
  }
  for (size_t i = 0; i < fopts.n; i++) {
    const char *eq = strchr(fopts.v[i], '=');
    if (!eq || eq == fopts.v[i]) {
      DW_LOG_ERR("--format-opt wants KEY=VALUE, got '%s'", fopts.v[i]);
      goto out;
    }
    snprintf(kv[i], sizeof kv[i], "%.*s", (int)(eq - fopts.v[i]), fopts.v[i]);
    props[np++] = kv[i], props[np++] = eq + 1;
  }
  props[np] = NULL;
  if (!output && !dw_config_get(cfg, "kafka.bootstrap.servers")) {
    DW_LOG_ERR("no Kafka bootstrap servers: give --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP (or --output)");
    goto out;
  }
  rc = DW_EXIT_FAIL;
  char default_rejects[4096];
  if (!rejects_opt) {
    snprintf(default_rejects, sizeof default_rejects, "%s.rejects", strcmp(files[0], "-") == 0 ? "stdin" : files[0]);
    rejects_opt = default_rejects;
  }
  if (!(im.rejects = dw_rejects_new(rejects_opt, 0))) {
    DW_LOG_ERR("out of memory");
    goto out;
  }
  if (output) {
    const char *wprops[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, NULL};
    if (!(im.out = dw_writer_create(NULL, output, wprops, err, sizeof err))) {
      DW_LOG_ERR("%s", err);
      goto out;
    }
  } else {
    if (!(im.av = dw_avro_new(err, sizeof err))) {
      DW_LOG_ERR("avro: %s", err);
      goto out;
    }
    im.topic = dw_config_get(cfg, "topic.events");
    if (!(im.prod = dw_producer_new(cfg, CMD, NULL, err, sizeof err))) {
      DW_LOG_ERR("%s", err);
      goto out;
    }
  }
  im.prog = dw_progress_new(CMD, "read", 0);
  for (int i = 0; i < nfiles; i++)
    if (import_file(&im, files[i], format, props)) break;
  dw_progress_clear(im.prog);

  uint64_t delivered = im.produced, failed = 0;
  if (im.prod) {
    if (dw_producer_flush(im.prod, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      im.failed = true;
    }
    delivered = dw_producer_delivered(im.prod);
    failed = dw_producer_failed(im.prod);
  }
  if (im.out && dw_writer_close(im.out, err, sizeof err)) {
    DW_LOG_ERR("%s: %s", output, err);
    im.failed = true;
  }
  im.out = NULL;
  uint64_t rejected = dw_rejects_count(im.rejects);
  if (dw_rejects_close(im.rejects, err, sizeof err)) {
    DW_LOG_ERR("%s", err);
    im.failed = true;
  }
  im.rejects = NULL;
  fprintf(stderr,
          "import: read %" PRIu64 ", produced %" PRIu64 ", rejected %" PRIu64 ", blank %" PRIu64 "; queued %" PRIu64
          ", delivery failed %" PRIu64 "; %.2f s",
          im.read, delivered, rejected, im.blank, im.produced, failed, dw_progress_elapsed(im.prog));
  if (im.stats[0]) fprintf(stderr, "; %s", im.stats);
  if (rejected) fprintf(stderr, "; rejects in %s", rejects_opt);
  fputc('\n', stderr);
  if (im.failed || failed)
    rc = DW_EXIT_FAIL;
  else if (rejected && !allow_rejects)
    rc = DW_EXIT_FAIL;
  else
    rc = DW_EXIT_OK;

out:
  if (im.out) dw_writer_close(im.out, err, sizeof err);
  if (im.rejects) dw_rejects_close(im.rejects, err, sizeof err);
  dw_progress_destroy(im.prog);
  dw_producer_destroy(im.prod);
  if (im.av) dw_avro_destroy(im.av);
  dw_cli_destroy(cli);
  return rc;
}
