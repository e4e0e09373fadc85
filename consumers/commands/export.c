/* export: `dossierwatch export` writes archived events (dossier_events) as
 * JSON Lines or an Avro object container file - the formats `import` and
 * `audit` read - in occurred_at, event_id order, streaming through a cursor
 * so that the archive never has to fit in memory. Each event is re-encoded
 * from what was archived (the original Avro value, else the JSON payload)
 * through the codec, so the output is in the contract's exact form whatever
 * jsonb did to the stored payload. Output goes to FILE.partial and is renamed
 * at the end: a failed export never leaves a truncated FILE behind. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_pg.h"
#include "dw_progress.h"
#include "dw_archive.h"
#include "dw_time.h"

#define CMD "export"
#define MAX_REPORTED 10

static const char usage_text[] =
  "usage: dossierwatch export --db CONNINFO [--from T] [--to T] [--commune C]...\n"
  "                           [--format jsonl|avro] --output FILE|-\n"
  "\n"
  "Writes the archived events (dossier_events) with occurred_at in [from, to],\n"
  "ordered by occurred_at then event_id, as JSON Lines (times at the local offset,\n"
  "calendar.utc_offset_min) or as an Avro object container file. The output is\n"
  "what `import` and `audit` read. The archive is read with a cursor, one page\n"
  "at a time, in one consistent snapshot.\n"
  "\n"
  "  --from T, --to T   occurred_at bounds, inclusive (default: everything)\n"
  "  --commune C        only events of unit C (repeatable)\n"
  "  --format F         jsonl (default; avro when FILE ends in .avro) or avro\n"
  "  --output FILE      where to write; '-' = stdout. FILE is written as\n"
  "                     FILE.partial and renamed when complete\n"
  DW_CLI_COMMON_HELP
  "\n"
  "T: RFC 3339 (2025-04-29T08:00:00+07:00), a local date (YYYY-MM-DD; as --to the\n"
  "end of that day) or milliseconds since the epoch.\n"
  "\n"
  "Progress on stderr when it is a terminal; a summary line always:\n"
  "  export: done: events=N undecodable=N format=F output=FILE elapsed=S events_per_s=N\n"
  "Archived rows that cannot be decoded are reported by event_id, counted and\n"
  "skipped (exit 1).\n"
  "\n"
  "exit status: 0 ok, 1 failure (or undecodable rows), 2 bad usage.\n";

enum { OPT_FROM = 0x2401, OPT_TO, OPT_COMMUNE, OPT_FORMAT, OPT_OUTPUT };

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
  static const struct option longopts[] = {
    {"from", required_argument, 0, OPT_FROM},
    {"to", required_argument, 0, OPT_TO},
    {"commune", required_argument, 0, OPT_COMMUNE},
    {"format", required_argument, 0, OPT_FORMAT},
    {"output", required_argument, 0, OPT_OUTPUT},
    DW_CLI_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  dw_cli *cli = dw_cli_new();
  const char **communes = calloc((size_t)argc + 1, sizeof *communes);
  if (!cli || !communes) {
    dw_cli_destroy(cli);
    free(communes);
    dw_cli_error(CMD, "out of memory");
    return DW_EXIT_FAIL;
  }
  int exit_code = DW_EXIT_USAGE;
  const char *from = NULL, *to = NULL, *format = NULL, *output = NULL;
  size_t n_communes = 0;
  PGconn *pg = NULL;
  dw_avro *av = NULL;
  dw_avro_file *af = NULL;
  FILE *out = NULL;
  dw_archive_reader *rd = NULL;
  dw_progress *prog = NULL;
  char *tmp = NULL;
  bool to_stdout = false, tmp_made = false;
  char err[1024];
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case 'h':
      fputs(usage_text, stdout);
      exit_code = DW_EXIT_OK;
      goto done;
    case OPT_FROM: from = optarg; break;
    case OPT_TO: to = optarg; break;
    case OPT_COMMUNE: communes[n_communes++] = optarg; break;
    case OPT_FORMAT: format = optarg; break;
    case OPT_OUTPUT: output = optarg; break;
    default:
      if (dw_cli_default(cli, CMD, c, optarg, argv) < 0) goto done;
    }
  }
  if (dw_cli_end(cli, CMD, argc, argv)) goto done;
  dw_config *cfg = dw_cli_config(cli);
  int utc = (int)dw_config_get_int(cfg, "calendar.utc_offset_min");
  if (!output) {
    dw_cli_error(CMD, "--output FILE (or '-' for stdout) is required");
    goto done;
  }
  to_stdout = strcmp(output, "-") == 0;
  if (!format) {
    size_t ol = strlen(output);
    format = ol > 5 && strcmp(output + ol - 5, ".avro") == 0 ? "avro" : "jsonl";
  }
  bool avro = strcmp(format, "avro") == 0;
  if (!avro && strcmp(format, "jsonl") != 0) {
    dw_cli_error(CMD, "--format: '%s' is not jsonl or avro", format);
    goto done;
  }
  dw_replay_filter f = {DW_TIME_NONE, DW_TIME_NONE, communes, n_communes};
  if ((from && dw_replay_parse_time(from, false, utc, &f.from, err, sizeof err)) ||
      (to && dw_replay_parse_time(to, true, utc, &f.to, err, sizeof err))) {
    dw_cli_error(CMD, "%s", err);
    goto done;
  }
  if (f.from != DW_TIME_NONE && f.to != DW_TIME_NONE && f.from > f.to) {
    dw_cli_error(CMD, "--from is after --to");
    goto done;
  }
  const char *conninfo = dw_config_get(cfg, "db.conninfo");
  if (!conninfo) {
    dw_cli_error(CMD, "no database: give --db CONNINFO, db.conninfo or DW_DB");
    goto done;
  }
  if (to_stdout && isatty(STDOUT_FILENO) && avro) {
    dw_cli_error(CMD, "not writing a binary Avro file to a terminal: give --output FILE");
    goto done;
  }

  exit_code = DW_EXIT_FAIL;
  av = dw_avro_new(err, sizeof err);
  if (!av) {
    dw_cli_error(CMD, "%s", err);
    goto done;
  }
  pg = dw_pg_connect(conninfo, 10, err, sizeof err);
  if (!pg) {
    dw_cli_error(CMD, "%s", err);
    goto done;
  }
  /* the file to write: FILE.partial, or a temp file for Avro on stdout */
  if (to_stdout && avro) {
    const char *dir = getenv("TMPDIR");
    size_t tl = strlen(dir && *dir ? dir : "/tmp") + 32;
    tmp = malloc(tl);
    if (!tmp) goto oom;
    snprintf(tmp, tl, "%s/dw-export-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(tmp);
    if (fd < 0) {
      dw_cli_error(CMD, "temp file %s: %s", tmp, strerror(errno));
      goto done;
    }
    close(fd);
    tmp_made = true;
  } else if (!to_stdout) {
    size_t tl = strlen(output) + 16;
    tmp = malloc(tl);
    if (!tmp) goto oom;
    snprintf(tmp, tl, "%s.partial", output);
  }
  if (avro) {
    af = dw_avro_file_create(av, tmp, err, sizeof err);
    if (!af) {
      dw_cli_error(CMD, "%s", err);
      goto done;
    }
    tmp_made = true;
  } else if (to_stdout) {
    out = stdout;
  } else {
    out = fopen(tmp, "w");
    if (!out) {
      dw_cli_error(CMD, "%s: %s", tmp, strerror(errno));
      goto done;
    }
    tmp_made = true;
  }

  int64_t count = 0;
  rd = dw_archive_open(pg, av, &f, &count, err, sizeof err);
  if (!rd) {
    dw_cli_error(CMD, "reading the archive: %s", err);
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
      dw_cli_error(CMD, "reading the archive: %s", err);
      goto done;
    }
    if (rc == 2) {
      if (undecodable++ < MAX_REPORTED) {
        dw_progress_clear(prog);
        fprintf(stderr, "export: %s (skipped)\n", err);
      }
      continue;
    }
    if (avro) {
      if (dw_avro_file_write(af, &ev, err, sizeof err)) {
        dw_progress_clear(prog);
        dw_cli_error(CMD, "event '%s': %s", ev.event_id, err);
        goto done;
      }
    } else {
      char *line = dw_event_to_json(&ev, utc);
      if (!line) goto oom;
      int bad = fputs(line, out) == EOF || fputc('\n', out) == EOF;
      free(line);
      if (bad) {
        dw_progress_clear(prog);
        dw_cli_error(CMD, "writing %s: %s", to_stdout ? "stdout" : tmp, strerror(errno));
        goto done;
      }
    }
    written++;
    dw_progress_update(prog, written + undecodable);
  }
  int crc = dw_archive_close(rd, err, sizeof err);
  rd = NULL;
  if (crc) {
    dw_cli_error(CMD, "reading the archive: %s", err);
    goto done;
  }
  if (af) {
    dw_avro_file_close(af);
    af = NULL;
  }
  if (out) {
    int bad = fflush(out) != 0 || ferror(out);
    if (out != stdout) bad |= fclose(out) != 0;
    out = NULL;
    if (bad) {
      dw_cli_error(CMD, "writing %s: %s", to_stdout ? "stdout" : tmp, strerror(errno));
      goto done;
    }
  }
  if (to_stdout && avro) {
    if (copy_to_stdout(tmp, err, sizeof err)) {
      dw_cli_error(CMD, "%s", err);
      goto done;
    }
  } else if (!to_stdout) {
    if (rename(tmp, output)) {
      dw_cli_error(CMD, "rename %s to %s: %s", tmp, output, strerror(errno));
      goto done;
    }
    tmp_made = false;
  }
  dw_progress_clear(prog);
  double el = dw_progress_elapsed(prog);
  fprintf(stderr, "export: done: events=%llu undecodable=%llu format=%s output=%s elapsed=%.2fs events_per_s=%.0f\n",
          (unsigned long long)written, (unsigned long long)undecodable, avro ? "avro" : "jsonl", output, el,
          el > 0 ? (double)written / el : 0.0);
  exit_code = undecodable ? DW_EXIT_FAIL : DW_EXIT_OK;
  goto done;
oom:
  dw_cli_error(CMD, "out of memory");
  exit_code = DW_EXIT_FAIL;
done:
  if (rd) {
    char ignored[256];
    dw_archive_close(rd, ignored, sizeof ignored);
  }
  if (af) dw_avro_file_close(af);
  if (out && out != stdout) fclose(out);
  if (tmp && tmp_made) remove(tmp);
  free(tmp);
  dw_progress_destroy(prog);
  if (av) dw_avro_destroy(av);
  if (pg) PQfinish(pg);
  free(communes);
  dw_cli_destroy(cli);
  return exit_code;
}
