/* export: `dossierwatch export` writes archived events (dossier_events) as
 * JSON Lines or an Avro object container file - the formats `import` and
 * `audit` read - in occurred_at, event_id order, streaming through a cursor
 * so that the archive never has to fit in memory. Each event is re-encoded
 * from what was archived (the original Avro value, else the JSON payload)
 * through the codec, so the output is in the contract's exact form whatever
 * jsonb did to the stored payload. Output goes to FILE.partial and is renamed
 * at the end: a failed export never leaves a truncated FILE behind. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_cli.h"
#include "dw_log.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_pg.h"
#include "dw_progress.h"
#include "dw_reader.h"
#include "dw_archive.h"
#include "dw_time.h"

#define CMD "export"
#define MAX_REPORTED 10

static const char description[] =
  "Writes the archived events (dossier_events) with occurred_at in [from, to],\n"
  "ordered by occurred_at then event_id, as JSON Lines (times at the local offset,\n"
  "calendar.utc_offset_min) or as an Avro object container file: what `import` and\n"
  "`audit` read. The archive is read with a cursor, one page at a time, in one\n"
  "consistent snapshot. FILE is written as FILE.partial and renamed when complete:\n"
  "a failed export never leaves a truncated FILE behind.";
static const char epilog[] =
  "Progress on stderr when it is a terminal; a summary line always:\n"
  "  export: done: events=N undecodable=N format=F output=FILE elapsed=S events_per_s=N\n"
  "Archived rows that cannot be decoded are reported by event_id, counted and\n"
  "skipped (exit 1).";

/* Copies a finished temp file to stdout (avro-c writes files by path). */
static int copy_to_stdout(const char *path, char *err, size_t n) {
  FILE *in = fopen(path, "rb");
  if (!in) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    return -1;
  }
  char buf[65536];
  size_t got;
  int rc = 0;
  while ((got = fread(buf, 1, sizeof buf, in)) > 0)
    if (fwrite(buf, 1, got, stdout) != got) {
      snprintf(err, n, "writing stdout: %s", strerror(errno));
      rc = -1;
      break;
    }
  if (ferror(in)) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    rc = -1;
  }
  fclose(in);
  if (rc == 0 && fflush(stdout)) {
    snprintf(err, n, "writing stdout: %s", strerror(errno));
    rc = -1;
  }
  return rc;
}

int dw_cmd_export(int argc, char **argv) {
  const char *format = NULL, *output = NULL;
  int64_t from = DW_TIME_NONE, to = DW_TIME_NONE;
  dw_strs communes = {0};
  const dw_opt opts[] = {
    {"from", DW_OPT_TIME, &from, "T", "only events with occurred_at >= T", NULL},
    {"to", DW_OPT_TIME_END, &to, "T", "only events with occurred_at <= T (a date: its end)", NULL},
    {"commune", DW_OPT_STRS, &communes, "C", "only events of unit C (repeatable)", NULL},
    {"format", DW_OPT_STR, &format, "FORMAT", "jsonl or avro (default: by FILE's extension, else jsonl)", NULL},
    {"output", DW_OPT_STR, &output, "FILE", "where to write; '-' = stdout (required)", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "--db CONNINFO --output FILE|- [OPTIONS]", description, opts, 0, 0, DW_CLI_DB,
                                epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  PGconn *pg = NULL;
  dw_avro *av = NULL;
  dw_writer *w = NULL;
  dw_archive_reader *rd = NULL;
  dw_progress *prog = NULL;
  char *tmp = NULL;
  bool to_stdout = false, tmp_made = false;
  char err[1024];
  int exit_code = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (exit_code >= 0) goto done;
  exit_code = DW_EXIT_USAGE;
  dw_config *cfg = dw_cli_config(cli);
  int utc = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  if (!output) {
    DW_LOG_ERR("--output FILE (or '-' for stdout) is required");
    goto done;
  }
  to_stdout = strcmp(output, "-") == 0;
  if (!format) {
    size_t ol = strlen(output);
    format = ol > 5 && strcmp(output + ol - 5, ".avro") == 0 ? "avro" : "jsonl";
  }
  bool avro = strcmp(format, "avro") == 0;
  const dw_format *fmt = dw_format_find(format);
  if (!fmt || !fmt->create) {
    char names[256];
    dw_format_names(1, names, sizeof names);
    DW_LOG_ERR("--format: '%s' is not one of %s", format, names);
    goto done;
  }
  dw_replay_filter f = {from, to, communes.v, communes.n};
  if (f.from != DW_TIME_NONE && f.to != DW_TIME_NONE && f.from > f.to) {
    DW_LOG_ERR("--from is after --to");
    goto done;
  }
  const char *conninfo = dw_config_get(cfg, "db.conninfo");
  if (!conninfo) {
    DW_LOG_ERR("no database: give --db CONNINFO, db.conninfo or DW_DB");
    goto done;
  }
  if (to_stdout && isatty(STDOUT_FILENO) && avro) {
    DW_LOG_ERR("not writing a binary Avro file to a terminal: give --output FILE");
    goto done;
  }

  exit_code = DW_EXIT_FAIL;
  if (!(av = dw_avro_new(err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    goto done;
  }
  if (!(pg = dw_pg_connect(conninfo, 10, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    goto done;
  }
  /* the file to write: FILE.partial, or a temp file for Avro on stdout
   * (avro-c writes files by path) */
  if (to_stdout && avro) {
    const char *dir = getenv("TMPDIR");
    size_t tl = strlen(dir && *dir ? dir : "/tmp") + 32;
    if (!(tmp = malloc(tl))) goto oom;
    snprintf(tmp, tl, "%s/dw-export-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) {
      DW_LOG_ERR("temp file %s: %s", tmp, strerror(errno));
      goto done;
    }
    close(fd);
    tmp_made = true;
  } else if (!to_stdout) {
    size_t tl = strlen(output) + 16;
    if (!(tmp = malloc(tl))) goto oom;
    snprintf(tmp, tl, "%s.partial", output);
  }
  char offs[16];
  snprintf(offs, sizeof offs, "%d", utc);
  const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, NULL};
  if (!(w = dw_writer_create(format, tmp ? tmp : "-", props, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    goto done;
  }
  tmp_made = tmp != NULL;

  int64_t count = 0;
  if (!(rd = dw_archive_open(pg, av, &f, &count, err, sizeof err))) {
    DW_LOG_ERR("reading the archive: %s", err);
    goto done;
  }
  prog = dw_progress_new(CMD, "events", (uint64_t)count);
  uint64_t written = 0, undecodable = 0;
  dw_event ev;
  int32_t part;
  int rc;
  while ((rc = dw_archive_next(rd, &ev, &part, err, sizeof err)) != 0) {
    if (rc < 0) {
      dw_progress_clear(prog);
      DW_LOG_ERR("reading the archive: %s", err);
      goto done;
    }
    if (rc == 2) {
      if (undecodable++ < MAX_REPORTED) {
        dw_progress_clear(prog);
        DW_LOG_ERR("%s (skipped)", err);
      }
      continue;
    }
    if (dw_writer_write(w, &ev, err, sizeof err)) {
      dw_progress_clear(prog);
      DW_LOG_ERR("event '%s': %s", ev.event_id, err);
      goto done;
    }
    written++;
    dw_progress_update(prog, written + undecodable);
  }
  int crc = dw_archive_close(rd, err, sizeof err);
  rd = NULL;
  if (crc) {
    DW_LOG_ERR("reading the archive: %s", err);
    goto done;
  }
  int wrc = dw_writer_close(w, err, sizeof err);
  w = NULL;
  if (wrc) {
    DW_LOG_ERR("writing %s: %s", to_stdout ? "stdout" : tmp, err);
    goto done;
  }
  if (to_stdout && avro) {
    if (copy_to_stdout(tmp, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      goto done;
    }
  } else if (!to_stdout) {
    if (rename(tmp, output)) {
      DW_LOG_ERR("rename %s to %s: %s", tmp, output, strerror(errno));
      goto done;
    }
    tmp_made = false;
  }
  dw_progress_clear(prog);
  double el = dw_progress_elapsed(prog);
  fprintf(stderr, "export: done: events=%llu undecodable=%llu format=%s output=%s elapsed=%.2fs events_per_s=%.0f\n",
          (unsigned long long)written, (unsigned long long)undecodable, format, output, el,
          el > 0 ? (double)written / el : 0.0);
  exit_code = undecodable ? DW_EXIT_FAIL : DW_EXIT_OK;
  goto done;
oom:
  DW_LOG_ERR("out of memory");
  exit_code = DW_EXIT_FAIL;
done:
  if (rd) {
    char ignored[256];
    dw_archive_close(rd, ignored, sizeof ignored);
  }
  if (w) dw_writer_close(w, err, sizeof err);
  if (tmp && tmp_made) remove(tmp);
  free(tmp);
  dw_progress_destroy(prog);
  if (av) dw_avro_destroy(av);
  if (pg) PQfinish(pg);
  dw_cli_destroy(cli);
  return exit_code;
}
