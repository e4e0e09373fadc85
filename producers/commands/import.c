/* import: `dossierwatch import FILE...` validates JSON Lines exports line by
 * line and produces every valid event to the events topic (key dossier_id,
 * Avro single-object) through dw_producer; every rejected line goes,
 * unchanged, with its file, line number and reason to the reject file.
 * Nothing accepted is lost: a full local queue is waited out, every delivery
 * report is checked, and the producer is flushed to empty before exit. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dw_cli.h"
#include "dw_codec.h"
#include "dw_commands.h"
#include "dw_producer.h"

static const char usage_text[] =
  "usage: dossierwatch import FILE... [--rejects FILE] [--allow-rejects] [--bootstrap ADDR]\n"
  "\n"
  "Reads JSON Lines dossier events (FILE '-' = stdin), validates each line\n"
  "against the contract and produces the valid ones to topic.events\n"
  "(default dossier.events; key dossier_id, value Avro single-object) with an\n"
  "idempotent producer, waiting for every delivery report. Blank lines are\n"
  "skipped (and counted).\n"
  "\n"
  "  --rejects FILE     where rejected lines go (default: FIRST_FILE.rejects,\n"
  "                     stdin.rejects for '-'); removed when nothing is rejected\n"
  "  --allow-rejects    exit 0 even when lines were rejected\n"
  DW_CLI_COMMON_HELP
  "\n"
  "Reject file: one JSON object per rejected line,\n"
  "  {\"file\":\"in.jsonl\",\"line\":12,\"reason\":\"field 'occurred_at': ...\",\"raw\":\"<the line>\"}\n"
  "\"line\" counts from 1 in its file; \"raw\" is the line exactly as read (without\n"
  "its line ending); a line that is not valid UTF-8 has \"raw_base64\" instead.\n"
  "\n"
  "Summary on stderr: lines read, produced (= delivered), rejected, blank,\n"
  "queued and delivery failures. Exit 0 when every line was\n"
  "produced and delivered; 1 when any line was rejected (unless\n"
  "--allow-rejects), any delivery failed or a file cannot be read; 2 on bad usage.\n";

enum { OPT_REJECTS = 0x2101, OPT_ALLOW_REJECTS };

typedef struct importer {
  dw_avro *av;
  dw_producer *prod;
  const char *topic;
  const char *rejects_path;
  FILE *rejects;
  bool rejects_regular; /* a regular file: ours to remove when empty */
  uint64_t read, blank, produced, rejected;
  bool progress;
  int64_t t0_ns, last_ns;
  bool failed;      /* a file unreadable or the producer failed */
  bool fatal;       /* the producer cannot go on */
} importer;

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Length of the valid UTF-8 sequence at s (max n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

static bool valid_utf8(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t l = utf8_len((const unsigned char *)s + i, n - i);
    if (!l) return false;
    i += l;
  }
  return true;
}

/* Writes s as a JSON string (s must be valid UTF-8). */
static void put_json_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c);
      else fputc(c, f);
    }
  }
  fputc('"', f);
}

static void put_base64(FILE *f, const unsigned char *s, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  fputc('"', f);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    fputc(tbl[(v >> 18) & 63], f);
    fputc(tbl[(v >> 12) & 63], f);
    fputc(i + 1 < n ? tbl[(v >> 6) & 63] : '=', f);
    fputc(i + 2 < n ? tbl[v & 63] : '=', f);
  }
  fputc('"', f);
}

static int reject(importer *im, const char *file, uint64_t line_no, const char *reason,
                  const char *raw, size_t raw_len) {
  im->rejected++;
  FILE *f = im->rejects;
  fputs("{\"file\":", f);
  put_json_string(f, file, strlen(file)); /* paths are treated as UTF-8 */
  fprintf(f, ",\"line\":%" PRIu64 ",\"reason\":", line_no);
  char safe_reason[1024];
  snprintf(safe_reason, sizeof safe_reason, "%s", reason);
  if (!valid_utf8(safe_reason, strlen(safe_reason))) snprintf(safe_reason, sizeof safe_reason, "invalid input");
  put_json_string(f, safe_reason, strlen(safe_reason));
  if (valid_utf8(raw, raw_len)) {
    fputs(",\"raw\":", f);
    put_json_string(f, raw, raw_len);
  } else {
    fputs(",\"raw_base64\":", f);
    put_base64(f, (const unsigned char *)raw, raw_len);
  }
  fputs("}\n", f);
  if (ferror(f)) {
    im->failed = true;
    dw_cli_error("import", "cannot write the reject file %s: %s", im->rejects_path, strerror(errno));
    return -1;
  }
  return 0;
}

static void show_progress(importer *im, const char *file, bool final) {
  if (!im->progress) return;
  int64_t now = mono_ns();
  if (!final && now - im->last_ns < 500000000LL) return;
  im->last_ns = now;
  double secs = (double)(now - im->t0_ns) / 1e9;
  fprintf(stderr, "\rimport: %s: %" PRIu64 " lines, %.0f lines/s, %" PRIu64 " rejected   ", file, im->read,
          secs > 0 ? (double)im->read / secs : 0.0, im->rejected);
  if (final) fputc('\n', stderr);
}

static bool blank(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

/* Returns -1 only when the run must stop (producer fatal, reject file). */
static int import_stream(importer *im, FILE *in, const char *file) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  uint64_t line_no = 0;
  int rc = 0;
  while ((got = getline(&line, &cap, in)) != -1) {
    line_no++;
    size_t len = (size_t)got;
    if (len && line[len - 1] == '\n') len--;
    if (len && line[len - 1] == '\r') len--;
    if (blank(line, len)) {
      im->blank++;
      continue;
    }
    im->read++;
    dw_event ev;
    char err[512];
    const void *buf;
    size_t blen;
    if (memchr(line, 0, len)) {
      if (reject(im, file, line_no, "line contains a NUL byte", line, len)) rc = -1;
    } else if (dw_event_from_json(line, len, &ev, err, sizeof err) ||
               dw_event_validate(&ev, err, sizeof err) ||
               dw_avro_encode_event(im->av, &ev, &buf, &blen, err, sizeof err)) {
      if (reject(im, file, line_no, err, line, len)) rc = -1;
    } else if (dw_producer_send(im->prod, &(dw_message){im->topic, ev.dossier_id, strlen(ev.dossier_id), buf, blen, 0, NULL},
                                NULL, err, sizeof err)) {
      dw_cli_error("import", "%s line %" PRIu64 ": %s", file, line_no, err);
      im->failed = im->fatal = true;
      rc = -1;
    } else {
      im->produced++;
    }
    if (rc) break;
    show_progress(im, file, false);
  }
  if (rc == 0 && ferror(in)) {
    dw_cli_error("import", "cannot read %s: %s", file, strerror(errno));
    im->failed = true;
  }
  free(line);
  return rc;
}

int dw_cmd_import(int argc, char **argv) {
  static const struct option opts[] = {
    {"rejects", required_argument, 0, OPT_REJECTS},
    {"allow-rejects", no_argument, 0, OPT_ALLOW_REJECTS},
    DW_CLI_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  const char *rejects_opt = NULL;
  bool allow_rejects = false;
  dw_cli *cli = dw_cli_new();
  if (!cli) return DW_EXIT_FAIL;
  int rc = DW_EXIT_USAGE;
  importer im = {0};
  char default_rejects[4096];
  optind = 1;
  int opt;
  while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (opt) {
    case 'h':
      fputs(usage_text, stdout);
      dw_cli_destroy(cli);
      return DW_EXIT_OK;
    case OPT_REJECTS: rejects_opt = optarg; break;
    case OPT_ALLOW_REJECTS: allow_rejects = true; break;
    default: {
      int r = dw_cli_option(cli, opt, optarg);
      if (r == 1) break;
      if (r == 0) fputs(usage_text, stderr);
      goto out;
    }
    }
  }
  if (optind >= argc) {
    dw_cli_error("import", "no input file (give FILE..., '-' for stdin)");
    fputs(usage_text, stderr);
    goto out;
  }
  if (dw_cli_finish(cli)) goto out;
  dw_config *cfg = dw_cli_config(cli);
  char err[512];
  if (!dw_config_get(cfg, "kafka.bootstrap.servers")) {
    dw_cli_error("import", "no Kafka bootstrap servers: give --bootstrap, kafka.bootstrap.servers or DW_BOOTSTRAP");
    goto out;
  }
  rc = DW_EXIT_FAIL;
  if (rejects_opt) {
    im.rejects_path = rejects_opt;
  } else {
    const char *first = argv[optind];
    snprintf(default_rejects, sizeof default_rejects, "%s.rejects", strcmp(first, "-") == 0 ? "stdin" : first);
    im.rejects_path = default_rejects;
  }
  struct stat sb;
  im.rejects_regular = stat(im.rejects_path, &sb) != 0 || S_ISREG(sb.st_mode);
  im.rejects = fopen(im.rejects_path, "w");
  if (!im.rejects) {
    dw_cli_error("import", "cannot write the reject file %s: %s", im.rejects_path, strerror(errno));
    goto out;
  }
  im.av = dw_avro_new(err, sizeof err);
  if (!im.av) {
    dw_cli_error("import", "avro: %s", err);
    goto out;
  }
  im.topic = dw_config_get(cfg, "topic.events");
  im.prod = dw_producer_new(cfg, "import", NULL, err, sizeof err);
  if (!im.prod) {
    dw_cli_error("import", "%s", err);
    goto out;
  }
  im.progress = isatty(STDERR_FILENO);
  im.t0_ns = im.last_ns = mono_ns();

  for (int i = optind; i < argc && !im.fatal; i++) {
    const char *file = argv[i];
    bool is_stdin = strcmp(file, "-") == 0;
    FILE *in = is_stdin ? stdin : fopen(file, "r");
    if (!in) {
      dw_cli_error("import", "cannot read %s: %s", file, strerror(errno));
      im.failed = true;
      continue;
    }
    int r = import_stream(&im, in, is_stdin ? "-" : file);
    if (!is_stdin) fclose(in);
    show_progress(&im, is_stdin ? "-" : file, true);
    if (r) break;
  }

  if (dw_producer_flush(im.prod, err, sizeof err)) {
    dw_cli_error("import", "%s", err);
    im.failed = true;
  }
  if (fclose(im.rejects) != 0) {
    dw_cli_error("import", "cannot write the reject file %s: %s", im.rejects_path, strerror(errno));
    im.failed = true;
  }
  im.rejects = NULL;
  if (im.rejected == 0 && im.rejects_regular) unlink(im.rejects_path);

  double secs = (double)(mono_ns() - im.t0_ns) / 1e9;
  fprintf(stderr,
          "import: read %" PRIu64 ", produced %" PRIu64 ", rejected %" PRIu64 ", blank %" PRIu64
          "; queued %" PRIu64 ", delivery failed %" PRIu64 "; %.2f s",
          im.read, dw_producer_delivered(im.prod), im.rejected, im.blank, im.produced,
          dw_producer_failed(im.prod), secs);
  if (im.rejected) fprintf(stderr, "; rejects in %s", im.rejects_path);
  fputc('\n', stderr);
  if (im.failed || dw_producer_failed(im.prod)) rc = DW_EXIT_FAIL;
  else if (im.rejected && !allow_rejects) rc = DW_EXIT_FAIL;
  else rc = DW_EXIT_OK;

out:
  if (im.rejects) fclose(im.rejects);
  dw_producer_destroy(im.prod);
  if (im.av) dw_avro_destroy(im.av);
  dw_cli_destroy(cli);
  return rc;
}
