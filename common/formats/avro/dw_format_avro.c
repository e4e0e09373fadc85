/* dw_format_avro: Avro object container files of events (what `export
 * --format avro` writes), read with the file's own writer schema resolved to
 * ours. A container cannot be resynchronised after a bad block: the bad
 * record is a reject and the file ends there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec.h"
#include "dw_reader.h"

typedef struct avrof {
  dw_avro *av;
  dw_avro_file *f;
  uint64_t records;
  int done;
  char *raw; /* the JSON form of a refused record */
} avrof;

static int sniff(const unsigned char *head, size_t n) { return n >= 4 && memcmp(head, "Obj\x01", 4) == 0; }

/* A reader (writing 0) or writer (1) of the container file at path. */
static avrof *avrof_new(const char *path, int writing, char *err, size_t n) {
  if (strcmp(path, "-") == 0) {
    snprintf(err, n, "an Avro container file cannot be %s standard %s", writing ? "written to" : "read from",
             writing ? "output" : "input");
    return NULL;
  }
  avrof *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  char why[512];
  if (!(a->av = dw_avro_new(why, sizeof why))) {
    snprintf(err, n, "avro: %s", why);
    free(a);
    return NULL;
  }
  a->f = writing ? dw_avro_file_create(a->av, path, err, n) : dw_avro_file_open(a->av, path, err, n);
  if (!a->f) {
    dw_avro_destroy(a->av);
    free(a);
    return NULL;
  }
  return a;
}

static void *open_avro(const char *path, const char *const *props, char *err, size_t n) {
  (void)props;
  return avrof_new(path, 0, err, n);
}

static dw_read_result next(void *st, dw_event *ev, dw_reject *rej, char *err, size_t n) {
  (void)err;
  (void)n;
  avrof *a = st;
  free(a->raw);
  a->raw = NULL;
  if (a->done) return DW_READ_END;
  int r = dw_avro_file_read(a->f, ev, rej->reason, sizeof rej->reason);
  if (r == 0) return DW_READ_END;
  a->records++;
  rej->at = a->records;
  rej->unit = "record";
  if (r < 0) {
    if (!rej->reason[0]) snprintf(rej->reason, sizeof rej->reason, "unreadable Avro record");
    a->done = 1;
    return DW_READ_REJECT;
  }
  if (dw_event_validate(ev, rej->reason, sizeof rej->reason) == 0) return DW_READ_EVENT;
  a->raw = dw_event_to_json(ev, 420);
  rej->raw = a->raw;
  rej->raw_len = a->raw ? strlen(a->raw) : 0;
  return DW_READ_REJECT;
}

static void stats(void *st, void (*fn)(const char *, uint64_t, void *), void *opaque) {
  fn("records", ((avrof *)st)->records, opaque);
}

static void close_avro(void *st) {
  avrof *a = st;
  dw_avro_file_close(a->f);
  dw_avro_destroy(a->av);
  free(a->raw);
  free(a);
}

static void *create(const char *path, const char *const *props, char *err, size_t n) {
  (void)props;
  return avrof_new(path, 1, err, n);
}

static int write_avro(void *st, const dw_event *ev, char *err, size_t n) {
  avrof *a = st;
  if (dw_avro_file_write(a->f, ev, err, n)) return -1;
  a->records++;
  return 0;
}

static int finish(void *st, char *err, size_t n) {
  avrof *a = st;
  int rc = dw_avro_file_close(a->f);
  if (rc) snprintf(err, n, "cannot complete the Avro file (disk full?)");
  dw_avro_destroy(a->av);
  free(a->raw);
  free(a);
  return rc;
}

const dw_format dw_format_avro = {
  "avro", ".avro", "Avro object container file of events (schemas/dossier_event.avsc)", NULL, sniff, open_avro, next,
  stats, close_avro, create, write_avro, finish,
};
