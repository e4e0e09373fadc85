/* dw_format_jsonl: JSON Lines of events (CONTRACT §2), one object per line,
 * the format `import` and `audit` read and `export` writes. Blank lines are
 * not events and are skipped (and counted); a line with a NUL byte or that
 * is not a valid event is a reject with the field and reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec.h"
#include "dw_reader.h"

typedef struct jsonl {
  FILE *f;
  int own; /* not stdin */
  char *line;
  size_t cap;
  uint64_t lineno, events, rejects, blank;
  int utc_offset_min; /* writing */
} jsonl;

static int sniff(const unsigned char *head, size_t n) {
  size_t i = 0;
  while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n')) i++;
  return i < n && head[i] == '{';
}

static void *open_jsonl(const char *path, const char *const *props, char *err, size_t n) {
  (void)props;
  jsonl *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  j->own = strcmp(path, "-") != 0;
  j->f = j->own ? fopen(path, "r") : stdin;
  if (!j->f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    free(j);
    return NULL;
  }
  return j;
}

static dw_read_result next(void *st, dw_event *ev, dw_reject *rej, char *err, size_t n) {
  jsonl *j = st;
  ssize_t len;
  while ((len = getline(&j->line, &j->cap, j->f)) >= 0) {
    j->lineno++;
    /* a NUL cuts the line short for every string function: refuse it */
    int nul = memchr(j->line, 0, (size_t)len) != NULL;
    while (len > 0 && (j->line[len - 1] == '\n' || j->line[len - 1] == '\r')) j->line[--len] = '\0';
    size_t i = 0;
    while (i < (size_t)len && (j->line[i] == ' ' || j->line[i] == '\t')) i++;
    if (i == (size_t)len) {
      j->blank++;
      continue;
    }
    /* position and input for every unit: a caller may still refuse an event */
    rej->at = j->lineno;
    rej->unit = "line";
    rej->raw = j->line;
    rej->raw_len = (size_t)len;
    if (nul) {
      snprintf(rej->reason, sizeof rej->reason, "line contains a NUL byte");
    } else if (dw_event_from_json(j->line, (size_t)len, ev, rej->reason, sizeof rej->reason) == 0 &&
               dw_event_validate(ev, rej->reason, sizeof rej->reason) == 0) {
      j->events++;
      return DW_READ_EVENT;
    }
    if (!rej->reason[0]) snprintf(rej->reason, sizeof rej->reason, "unreadable event");
    j->rejects++;
    return DW_READ_REJECT;
  }
  if (ferror(j->f)) {
    snprintf(err, n, "read error after line %llu: %s", (unsigned long long)j->lineno, strerror(errno));
    return DW_READ_FAIL;
  }
  return DW_READ_END;
}

static void stats(void *st, void (*fn)(const char *, uint64_t, void *), void *opaque) {
  jsonl *j = st;
  fn("lines", j->lineno, opaque);
  fn("blank", j->blank, opaque);
}

static void close_jsonl(void *st) {
  jsonl *j = st;
  if (j->own) fclose(j->f);
  free(j->line);
  free(j);
}

static void *create(const char *path, const char *const *props, char *err, size_t n) {
  jsonl *j = calloc(1, sizeof *j);
  if (!j) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  j->own = strcmp(path, "-") != 0;
  j->f = j->own ? fopen(path, "w") : stdout;
  if (!j->f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    free(j);
    return NULL;
  }
  /* big writes: simulate and export write millions of lines */
  if (j->own) setvbuf(j->f, NULL, _IOFBF, 1 << 20);
  j->utc_offset_min = 420;
  for (const char *const *kv = props; kv && kv[0]; kv += 2)
    if (strcmp(kv[0], DW_FORMAT_PROP_UTC_OFFSET) == 0) j->utc_offset_min = atoi(kv[1]);
  return j;
}

static int write_jsonl(void *st, const dw_event *ev, char *err, size_t n) {
  jsonl *j = st;
  char *s = dw_event_to_json(ev, j->utc_offset_min);
  if (!s) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  int bad = fputs(s, j->f) < 0 || fputc('\n', j->f) == EOF;
  free(s);
  if (bad) {
    snprintf(err, n, "write failed: %s", strerror(errno));
    return -1;
  }
  j->events++;
  return 0;
}

static int finish(void *st, char *err, size_t n) {
  jsonl *j = st;
  int rc = 0;
  if (fflush(j->f) != 0 || ferror(j->f)) {
    snprintf(err, n, "write failed: %s", strerror(errno));
    rc = -1;
  }
  if (j->own && fclose(j->f) != 0 && rc == 0) {
    snprintf(err, n, "close failed: %s", strerror(errno));
    rc = -1;
  }
  free(j->line);
  free(j);
  return rc;
}


const dw_format dw_format_jsonl = {
  "jsonl", ".jsonl,.json,.ndjson", "JSON Lines of events (CONTRACT §2)", NULL, sniff, open_jsonl, next, stats,
  close_jsonl, create, write_jsonl, finish,
};
