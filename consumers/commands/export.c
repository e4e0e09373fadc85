/* export: `dossierwatch export` writes archived events (archive_blocks) as
 * JSON Lines or an Avro object container file - the formats `import` and
 * `audit` read - in occurred_at, event_id order, streaming through a cursor
 * so that the archive never has to fit in memory. Each event is re-encoded
 * from what was archived (the original Avro value; JSON for rows converted
 * from an archive that had none)
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
  "Writes the archived events (archive_blocks) with occurred_at in [from, to],\n"
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

/* One export: where it writes, what it has written. */
typedef struct exporter {
  const char *format, *output;
  bool to_stdout, avro;
  char *tmp; /* FILE.partial, or the temp file for Avro on stdout */
  bool tmp_made;
  dw_writer *w;
  dw_progress *prog;
  uint64_t written, undecodable;
} exporter;

/* The file to write: FILE.partial (renamed when complete), or a temp file
 * for Avro on stdout (avro-c writes files by path). 0 or -1. */
static int open_output(exporter *x, int utc) {
  char err[1024];
  if (x->to_stdout && x->avro) {
    const char *dir = getenv("TMPDIR");
    size_t tl = strlen(dir && *dir ? dir : "/tmp") + 32;
    if (!(x->tmp = malloc(tl))) return -1;
    snprintf(x->tmp, tl, "%s/dw-export-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(x->tmp);
    if (fd < 0) {
      DW_LOG_ERR("temp file %s: %s", x->tmp, strerror(errno));
      return -1;
    }
    close(fd);
    x->tmp_made = true;
  } else if (!x->to_stdout) {
    size_t tl = strlen(x->output) + 16;
    if (!(x->tmp = malloc(tl))) return -1;
    snprintf(x->tmp, tl, "%s.partial", x->output);
  }
  char offs[16];
  snprintf(offs, sizeof offs, "%d", utc);
  const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, offs, NULL};
  if (!(x->w = dw_writer_create(x->format, x->tmp ? x->tmp : "-", props, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    return -1;
  }
  x->tmp_made = x->tmp != NULL;
  return 0;
}

/* Every archived event of the filter through the writer. 0 or -1. */
static int copy_events(exporter *x, PGconn *pg, dw_avro *av, const dw_replay_filter *f) {
  char err[1024];
  int64_t count = 0;
  dw_archive_reader *rd = dw_archive_open(pg, av, f, &count, err, sizeof err);
  if (!rd) {
    DW_LOG_ERR("reading the archive: %s", err);
    return -1;
  }
  x->prog = dw_progress_new(CMD, "events", (uint64_t)count);
  dw_event ev;
  int32_t part;
  int rc;
  while ((rc = dw_archive_next(rd, &ev, &part, err, sizeof err)) != 0) {
    if (rc < 0) {
      dw_progress_clear(x->prog);
      DW_LOG_ERR("reading the archive: %s", err);
      break;
    }
    if (rc == 2) {
      if (x->undecodable++ < MAX_REPORTED) {
        dw_progress_clear(x->prog);
        DW_LOG_ERR("%s (skipped)", err);
      }
      continue;
    }
    if (dw_writer_write(x->w, &ev, err, sizeof err)) {
      dw_progress_clear(x->prog);
      DW_LOG_ERR("event '%s': %s", ev.event_id, err);
      rc = -1;
      break;
    }
    x->written++;
    dw_progress_update(x->prog, x->written + x->undecodable);
  }
  char ignored[256];
  if (rc != 0) {
    dw_archive_close(rd, ignored, sizeof ignored);
    return -1;
  }
  if (dw_archive_close(rd, err, sizeof err)) {
    DW_LOG_ERR("reading the archive: %s", err);
    return -1;
  }
  return 0;
}

/* One dossier's events (dw_archive_read_dossier: its index, its blocks). */
typedef struct dossier_ctx {
  exporter *x;
  int failed;
} dossier_ctx;

static int write_one(const dw_event *ev, int32_t partition, void *opaque) {
  (void)partition;
  dossier_ctx *c = opaque;
  char err[1024];
  if (dw_writer_write(c->x->w, ev, err, sizeof err)) {
    DW_LOG_ERR("event '%s': %s", ev->event_id, err);
    c->failed = 1;
    return 1;
  }
  c->x->written++;
  return 0;
}

static int copy_dossier(exporter *x, PGconn *pg, dw_avro *av, const char *dossier_id) {
  char err[1024];
  dossier_ctx c = {x, 0};
  long bad = 0;
  x->prog = dw_progress_new(CMD, "events", 0);
  long n = dw_archive_read_dossier(pg, av, dossier_id, write_one, &c, &bad, err, sizeof err);
  if (n < 0) {
    DW_LOG_ERR("reading the archive: %s", err);
    return -1;
  }
  if (bad) {
    x->undecodable += (uint64_t)bad;
    DW_LOG_ERR("%ld archived event(s) of dossier %s cannot be decoded (skipped)", bad, dossier_id);
  }
  return c.failed ? -1 : 0;
}

/* Completes the file and puts it in place (or on stdout). 0 or -1. */
static int finish_output(exporter *x) {
  char err[1024];
  int wrc = dw_writer_close(x->w, err, sizeof err);
  x->w = NULL;
  if (wrc) {
    DW_LOG_ERR("writing %s: %s", x->to_stdout ? "stdout" : x->tmp, err);
    return -1;
  }
  if (x->to_stdout && x->avro) {
    if (copy_to_stdout(x->tmp, err, sizeof err)) {
      DW_LOG_ERR("%s", err);
      return -1;
    }
  } else if (!x->to_stdout) {
    if (rename(x->tmp, x->output)) {
      DW_LOG_ERR("rename %s to %s: %s", x->tmp, x->output, strerror(errno));
      return -1;
    }
    x->tmp_made = false;
  }
  return 0;
}

int dw_cmd_export(int argc, char **argv) {
  exporter x = {0};
  int64_t from = DW_TIME_NONE, to = DW_TIME_NONE;
  dw_strs communes = {0};
  const char *dossier = NULL;
  const dw_opt opts[] = {
    {"from", DW_OPT_TIME, &from, "T", "only events with occurred_at >= T", NULL},
    {"to", DW_OPT_TIME_END, &to, "T", "only events with occurred_at <= T (a date: its end)", NULL},
    {"commune", DW_OPT_STRS, &communes, "C", "only events of unit C (repeatable)", NULL},
    {"dossier", DW_OPT_STR, &dossier, "ID", "only the events of dossier ID (read by its index: fast on any\n"
     "archive); excludes --from, --to and --commune", NULL},
    {"format", DW_OPT_STR, &x.format, "FORMAT", "jsonl or avro (default: by FILE's extension, else jsonl)", NULL},
    {"output", DW_OPT_STR, &x.output, "FILE", "where to write; '-' = stdout (required)", NULL},
    {0},
  };
  const dw_command_spec spec = {CMD, "--db CONNINFO --output FILE|- [OPTIONS]", description, opts, 0, 0, DW_CLI_DB,
                                epilog};
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  PGconn *pg = NULL;
  dw_avro *av = NULL;
  char err[1024];
  int exit_code = dw_cli_run(cli, &spec, argc, argv, NULL, NULL);
  if (exit_code >= 0) goto done;
  exit_code = DW_EXIT_USAGE;
  dw_config *cfg = dw_cli_config(cli);
  int utc = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  if (!x.output) {
    DW_LOG_ERR("--output FILE (or '-' for stdout) is required");
    goto done;
  }
  x.to_stdout = strcmp(x.output, "-") == 0;
  if (!x.format) {
    size_t ol = strlen(x.output);
    x.format = ol > 5 && strcmp(x.output + ol - 5, ".avro") == 0 ? "avro" : "jsonl";
  }
  x.avro = strcmp(x.format, "avro") == 0;
  const dw_format *fmt = dw_format_find(x.format);
  if (!fmt || !fmt->create) {
    char names[256];
    dw_format_names(1, names, sizeof names);
    DW_LOG_ERR("--format: '%s' is not one of %s", x.format, names);
    goto done;
  }
  if (dossier && (from != DW_TIME_NONE || to != DW_TIME_NONE || communes.n)) {
    DW_LOG_ERR("--dossier excludes --from, --to and --commune");
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
  if (x.to_stdout && isatty(STDOUT_FILENO) && x.avro) {
    DW_LOG_ERR("not writing a binary Avro file to a terminal: give --output FILE");
    goto done;
  }
  exit_code = DW_EXIT_FAIL;
  if (!(av = dw_avro_new(err, sizeof err)) || !(pg = dw_pg_connect(conninfo, 10, err, sizeof err))) {
    DW_LOG_ERR("%s", err);
    goto done;
  }
  if (open_output(&x, utc) || (dossier ? copy_dossier(&x, pg, av, dossier) : copy_events(&x, pg, av, &f)) ||
      finish_output(&x))
    goto done;
  dw_progress_clear(x.prog);
  double el = dw_progress_elapsed(x.prog);
  fprintf(stderr, "export: done: events=%llu undecodable=%llu format=%s output=%s elapsed=%.2fs events_per_s=%.0f\n",
          (unsigned long long)x.written, (unsigned long long)x.undecodable, x.format, x.output, el,
          el > 0 ? (double)x.written / el : 0.0);
  exit_code = x.undecodable ? DW_EXIT_FAIL : DW_EXIT_OK;
done:
  if (x.w) dw_writer_close(x.w, err, sizeof err);
  if (x.tmp && x.tmp_made) remove(x.tmp);
  free(x.tmp);
  dw_progress_destroy(x.prog);
  if (av) dw_avro_destroy(av);
  if (pg) PQfinish(pg);
  dw_cli_destroy(cli);
  return exit_code;
}
