/* dw_reader: opening event files through the format plugins (see dw_reader.h). */
#include "dw_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dw_reader {
  const dw_format *f;
  void *st;
  char path[1024];
};

struct dw_writer {
  const dw_format *f;
  void *st;
};

const dw_format *dw_format_find(const char *name) {
  for (const dw_format *const *p = dw_format_plugins; *p; p++)
    if (strcmp((*p)->name, name) == 0) return *p;
  return NULL;
}

void dw_format_names(int writable, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (const dw_format *const *p = dw_format_plugins; *p; p++) {
    if (writable ? !(*p)->create : !(*p)->open) continue;
    int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", (*p)->name);
    if (w < 0 || (size_t)w >= n - len) break;
    len += (size_t)w;
  }
}

/* Every given property must be one the format declares, and, for reading,
 * every required one given. */
static int check_props(const dw_format *f, const char *const *props, int reading, char *err, size_t n) {
  for (const char *const *kv = props; kv && kv[0]; kv += 2) {
    /* the local offset and the calendar are offered to every format */
    int known = strcmp(kv[0], DW_FORMAT_PROP_UTC_OFFSET) == 0 || strcmp(kv[0], DW_FORMAT_PROP_CALENDAR_DIR) == 0 ||
                strcmp(kv[0], DW_FORMAT_PROP_CALENDAR_HOURS) == 0;
    for (const dw_format_prop *p = f->props; p && p->name; p++) known |= strcmp(p->name, kv[0]) == 0;
    if (!known) {
      snprintf(err, n, "format %s takes no option '%s'", f->name, kv[0]);
      return -1;
    }
    if (!kv[1]) {
      snprintf(err, n, "format %s: option '%s' has no value", f->name, kv[0]);
      return -1;
    }
  }
  for (const dw_format_prop *p = f->props; p && p->name; p++) {
    if (!p->required || !reading) continue;
    int given = 0;
    for (const char *const *kv = props; kv && kv[0]; kv += 2) given |= strcmp(p->name, kv[0]) == 0;
    if (!given) {
      snprintf(err, n, "format %s needs --%s %s (%s)", f->name, p->name, p->arg ? p->arg : "VALUE", p->doc);
      return -1;
    }
  }
  return 0;
}

/* The format whose sniff recognises the first bytes of path. */
static const dw_format *sniff_file(const char *path) {
  if (strcmp(path, "-") == 0) return NULL; /* stdin cannot be looked at twice */
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  unsigned char head[64];
  size_t got = fread(head, 1, sizeof head, fp);
  fclose(fp);
  for (const dw_format *const *p = dw_format_plugins; *p; p++)
    if ((*p)->sniff && (*p)->sniff(head, got)) return *p;
  return NULL;
}

dw_reader *dw_reader_open(const char *format, const char *path, const char *const *props, char *err, size_t n) {
  const dw_format *f = format ? dw_format_find(format) : sniff_file(path);
  if (!f && !format) f = dw_format_find("jsonl");
  if (!f || !f->open) {
    char names[256];
    dw_format_names(0, names, sizeof names);
    snprintf(err, n, "unknown input format '%s' (known: %s)", format ? format : "?", names);
    return NULL;
  }
  if (check_props(f, props, 1, err, n)) return NULL;
  dw_reader *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  r->f = f;
  snprintf(r->path, sizeof r->path, "%s", path);
  if (!(r->st = f->open(path, props, err, n))) {
    free(r);
    return NULL;
  }
  return r;
}

dw_read_result dw_reader_next(dw_reader *r, dw_event *ev, dw_reject *rej, char *err, size_t n) {
  rej->raw = NULL;
  rej->raw_len = 0;
  rej->reason[0] = '\0';
  return r->f->next(r->st, ev, rej, err, n);
}

const char *dw_reader_path(const dw_reader *r) { return r->path; }
const char *dw_reader_format(const dw_reader *r) { return r->f->name; }

void dw_reader_stats(const dw_reader *r, void (*fn)(const char *, uint64_t, void *), void *opaque) {
  if (r->f->stats) r->f->stats(r->st, fn, opaque);
}

void dw_reader_close(dw_reader *r) {
  if (!r) return;
  r->f->close(r->st);
  free(r);
}

/* The format whose extensions list holds path's extension. */
static const dw_format *by_extension(const char *path) {
  const char *dot = strrchr(path, '.');
  if (!dot || strchr(dot, '/')) return NULL;
  size_t el = strlen(dot);
  for (const dw_format *const *p = dw_format_plugins; *p; p++) {
    if (!(*p)->create || !(*p)->extensions) continue;
    for (const char *e = (*p)->extensions; *e;) {
      const char *comma = strchr(e, ',');
      size_t len = comma ? (size_t)(comma - e) : strlen(e);
      if (len == el && strncmp(e, dot, len) == 0) return *p;
      e += len + (comma ? 1 : 0);
    }
  }
  return NULL;
}

dw_writer *dw_writer_create(const char *format, const char *path, const char *const *props, char *err, size_t n) {
  const dw_format *f = format ? dw_format_find(format) : by_extension(path);
  if (!f || !f->create) {
    char names[256];
    dw_format_names(1, names, sizeof names);
    if (format)
      snprintf(err, n, "cannot write format '%s' (writable: %s)", format, names);
    else
      snprintf(err, n, "%s: no format for this file name (give one of: %s)", path, names);
    return NULL;
  }
  if (check_props(f, props, 0, err, n)) return NULL;
  dw_writer *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  w->f = f;
  if (!(w->st = f->create(path, props, err, n))) {
    free(w);
    return NULL;
  }
  return w;
}

int dw_writer_write(dw_writer *w, const dw_event *ev, char *err, size_t n) { return w->f->write(w->st, ev, err, n); }

int dw_writer_close(dw_writer *w, char *err, size_t n) {
  if (!w) return 0;
  int rc = w->f->finish(w->st, err, n);
  free(w);
  return rc;
}
