/* dw_http_units: the units file reader (see dw_http_units.h). */
#include "dw_http_units.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_buf.h"
#include "dw_embedded.h"

extern const dw_embedded_file dw_embedded_units[];

typedef struct entry {
  dw_unit u;
  UT_hash_handle hh;
  char key[];
} entry;

struct dw_units {
  entry **v;
  size_t n, cap;
  entry *index;
  const char *province; /* name of the province row */
};

void dw_units_destroy(dw_units *u) {
  if (!u) return;
  HASH_CLEAR(hh, u->index);
  for (size_t i = 0; i < u->n; i++) {
    free((void *)u->v[i]->u.code);
    free((void *)u->v[i]->u.name);
    free((void *)u->v[i]->u.type);
    free((void *)u->v[i]->u.parent);
    free(u->v[i]);
  }
  free(u->v);
  free(u);
}

/* One CSV record of at most 4 fields from p (up to end); advances *pp past
 * the line. Returns the number of fields, or -1 for a bad quote. */
static int record(const char **pp, const char *end, char f[4][256], int *nf) {
  const char *p = *pp;
  *nf = 0;
  for (int i = 0; i < 4; i++) f[i][0] = 0;
  int k = 0;
  size_t o = 0;
  bool any = false;
  while (p < end && *p != '\n') {
    any = true;
    if (*p == '\r') {
      p++;
      continue;
    }
    if (*p == ',') {
      if (k < 4) f[k][o < 255 ? o : 255] = 0;
      k++;
      o = 0;
      p++;
      continue;
    }
    if (*p == '"' && o == 0) {
      p++;
      while (p < end) {
        if (*p == '"') {
          if (p + 1 < end && p[1] == '"') {
            if (k < 4 && o < 255) f[k][o++] = '"';
            p += 2;
            continue;
          }
          break;
        }
        if (k < 4 && o < 255) f[k][o++] = *p;
        p++;
      }
      if (p >= end) return -1;
      p++; /* closing quote */
      if (p < end && *p != ',' && *p != '\n' && *p != '\r') return -1;
      continue;
    }
    if (k < 4 && o < 255) f[k][o++] = *p;
    p++;
  }
  if (k < 4) f[k][o < 255 ? o : 255] = 0;
  *pp = p < end ? p + 1 : p;
  *nf = any ? k + 1 : 0;
  return 0;
}

static int add(dw_units *u, char f[4][256]) {
  if (u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 256;
    entry **p = realloc(u->v, cap * sizeof *p);
    if (!p) return -1;
    u->v = p;
    u->cap = cap;
  }
  size_t kl = strlen(f[2]) + 1 + strlen(f[0]);
  entry *e = calloc(1, sizeof *e + kl + 1);
  if (!e) return -1;
  snprintf(e->key, kl + 1, "%s/%s", f[2], f[0]);
  e->u.code = strdup(f[0]);
  e->u.name = strdup(f[1]);
  e->u.type = strdup(f[2]);
  e->u.parent = strdup(f[3]);
  u->v[u->n++] = e;
  if (!e->u.code || !e->u.name || !e->u.type || !e->u.parent) return -1;
  HASH_ADD_STR(u->index, key, e);
  if (strcmp(f[2], "province") == 0 && !u->province) u->province = e->u.name;
  return 0;
}

dw_units *dw_units_parse(const char *text, size_t len, const char *origin, char *err, size_t n) {
  dw_units *u = calloc(1, sizeof *u);
  if (!u) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  const char *p = text, *end = text + len;
  char f[4][256];
  int nf, line = 0;
  static const char *const types[] = {"commune", "agency", "procedure", "province", NULL};
  while (p < end) {
    line++;
    if (record(&p, end, f, &nf)) {
      snprintf(err, n, "%s:%d: unterminated or misplaced quote", origin, line);
      goto fail;
    }
    if (nf == 0) continue;
    if (line == 1) {
      if (nf != 4 || strcmp(f[0], "code") || strcmp(f[1], "name") || strcmp(f[2], "type") || strcmp(f[3], "parent")) {
        snprintf(err, n, "%s:1: the header must be code,name,type,parent", origin);
        goto fail;
      }
      continue;
    }
    if (nf != 4) {
      snprintf(err, n, "%s:%d: %d fields, want 4 (code,name,type,parent)", origin, line, nf);
      goto fail;
    }
    bool known = false;
    for (int t = 0; types[t]; t++) known |= strcmp(f[2], types[t]) == 0;
    if (!f[0][0] || !known) {
      snprintf(err, n, "%s:%d: %s", origin, line,
               !f[0][0] ? "empty code" : "type must be commune, agency, procedure or province");
      goto fail;
    }
    if (dw_units_name(u, f[2], f[0])) {
      snprintf(err, n, "%s:%d: %s %s listed twice", origin, line, f[2], f[0]);
      goto fail;
    }
    if (add(u, f)) {
      snprintf(err, n, "out of memory");
      goto fail;
    }
  }
  return u;
fail:
  dw_units_destroy(u);
  return NULL;
}

dw_units *dw_units_load(const char *spec, char *err, size_t n) {
  if (!spec || !*spec) return dw_units_parse("", 0, "(none)", err, n);
  size_t sl = strlen(spec);
  if (sl < 4 || strcmp(spec + sl - 4, ".csv") != 0) {
    char name[256];
    snprintf(name, sizeof name, "%s.csv", spec);
    const dw_embedded_file *f = dw_embedded_find(dw_embedded_units, name);
    if (!f) {
      snprintf(err, n, "units '%s': no such built-in units file (built in:", spec);
      for (const dw_embedded_file *e = dw_embedded_units; e->name; e++)
        snprintf(err + strlen(err), n - strlen(err), " %.*s", (int)(strlen(e->name) - 4), e->name);
      snprintf(err + strlen(err), n - strlen(err), "), and not a path to a .csv file");
      return NULL;
    }
    return dw_units_parse(f->data, f->len, f->name, err, n);
  }
  dw_buf b = DW_BUF_INIT;
  char why[512];
  if (dw_buf_read_file(&b, spec, why, sizeof why)) {
    snprintf(err, n, "units file %s", why);
    dw_buf_free(&b);
    return NULL;
  }
  dw_units *u = dw_units_parse(b.data, b.len, spec, err, n);
  dw_buf_free(&b);
  return u;
}

const char *dw_units_name(const dw_units *u, const char *type, const char *code) {
  if (!u || !type || !code) return NULL;
  if (strcmp(type, "province") == 0 && strcmp(code, "all") == 0) return u->province;
  char key[512];
  snprintf(key, sizeof key, "%s/%s", type, code);
  entry *e;
  HASH_FIND_STR(u->index, key, e);
  return e ? e->u.name : NULL;
}

size_t dw_units_count(const dw_units *u) { return u ? u->n : 0; }
const dw_unit *dw_units_at(const dw_units *u, size_t i) { return u && i < u->n ? &u->v[i]->u : NULL; }
