/* dw_avro_file: Avro object container files of dossier events (what `export`
 * can write and `audit` can read instead of JSON Lines). Writing uses the
 * codec's event schema; reading resolves the file's own writer schema to the
 * event schema exactly like single-object decoding (dw_codec_avro.c). */
#include "dw_codec.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_codec_internal.h"

struct dw_avro_file {
  dw_avro *av;
  avro_file_writer_t w;
  avro_file_reader_t r;
  dw_avro_wentry *entry; /* reading: the file's writer schema */
  long long nread;
  int eof; /* avro-c errors when read again after the end */
};

dw_avro_file *dw_avro_file_create(dw_avro *av, const char *path, char *err, size_t n) {
  dw_avro_file *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  f->av = av;
  /* avro-c refuses to overwrite: an export replaces its output file */
  remove(path);
  if (avro_file_writer_create_with_codec(path, dw_avro__event_schema(av), &f->w, "deflate", 0)) {
    snprintf(err, n, "%s: cannot create Avro file: %s", path, avro_strerror());
    free(f);
    return NULL;
  }
  return f;
}

dw_avro_file *dw_avro_file_open(dw_avro *av, const char *path, char *err, size_t n) {
  dw_avro_file *f = calloc(1, sizeof *f);
  if (!f) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  f->av = av;
  /* avro-c leaks its header reader when a file is not a container at all:
   * reject those ourselves first */
  if (!dw_avro_file_sniff(path)) {
    FILE *fp = fopen(path, "rb");
    snprintf(err, n, "%s: %s", path, fp ? "not an Avro container file (no \"Obj\\1\" magic)" : "cannot open");
    if (fp) fclose(fp);
    goto fail;
  }
  if (avro_file_reader(path, &f->r)) {
    snprintf(err, n, "%s: not a readable Avro container file: %s", path, avro_strerror());
    f->r = NULL;
    goto fail;
  }
  avro_schema_t ws = avro_file_reader_get_writer_schema(f->r);
  if (!ws) {
    snprintf(err, n, "%s: no writer schema", path);
    goto fail;
  }
  char why[256];
  f->entry = dw_avro__wentry_new(av, ws, why, sizeof why);
  avro_schema_decref(ws); /* avro-c hands out a new reference */
  if (!f->entry) {
    snprintf(err, n, "%s: %s", path, why);
    goto fail;
  }
  return f;
fail:
  dw_avro_file_close(f);
  return NULL;
}

int dw_avro_file_write(dw_avro_file *f, const dw_event *ev, char *err, size_t n) {
  avro_value_t *v;
  if (!f->w) return snprintf(err, n, "file not open for writing"), -1;
  if (dw_avro__fill_event(f->av, ev, &v, err, n) < 0) return -1;
  if (avro_file_writer_append_value(f->w, v)) {
    snprintf(err, n, "cannot append to Avro file: %s", avro_strerror());
    return -1;
  }
  return 0;
}

int dw_avro_file_read(dw_avro_file *f, dw_event *ev, char *err, size_t n) {
  if (!f->r) return snprintf(err, n, "file not open for reading"), -1;
  if (f->eof) return 0;
  avro_value_t *v = dw_avro__wentry_value(f->entry);
  avro_value_reset(v);
  int rc = avro_file_reader_read_value(f->r, v);
  if (rc == EOF) {
    f->eof = 1;
    return 0;
  }
  if (rc) {
    snprintf(err, n, "record %lld: %s", f->nread + 1, avro_strerror());
    return -1;
  }
  f->nread++;
  char why[256];
  if (dw_avro__wentry_to_event(f->entry, ev, why, sizeof why) < 0) {
    snprintf(err, n, "record %lld: %s", f->nread, why);
    return -1;
  }
  return 1;
}

int dw_avro_file_close(dw_avro_file *f) {
  if (!f) return 0;
  int rc = 0;
  if (f->w && avro_file_writer_close(f->w)) rc = -1;
  if (f->entry) dw_avro__wentry_free(f->entry);
  if (f->r) avro_file_reader_close(f->r);
  free(f);
  return rc;
}

int dw_avro_file_sniff(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  unsigned char m[4];
  size_t got = fread(m, 1, 4, fp);
  fclose(fp);
  return got == 4 && m[0] == 'O' && m[1] == 'b' && m[2] == 'j' && m[3] == 1;
}
