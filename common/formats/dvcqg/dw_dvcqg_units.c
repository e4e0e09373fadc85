/* dw_dvcqg_units: the units file of the dvcqg format, CSV "key,commune,agency"
 * (see dw_dvcqg.h): which commune (one-stop desk) and agency a record's
 * DonViXuLy, or its envelope's madonvi, stands for. Strict, because a
 * swapped column would file every dossier under the wrong unit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#include "dw_buf.h"
#include "dw_dvcqg.h"

typedef struct unit {
  char *key;
  char commune[DW_CODE_MAX];
  char agency[DW_ID_MAX];
  unsigned line;
  UT_hash_handle hh;
} unit;

struct dw_dvcqg_units {
  unit *h;
  size_t n;
};

void dw_dvcqg_units_destroy(dw_dvcqg_units *u) {
  if (!u) return;
  unit *x, *tmp;
  HASH_ITER(hh, u->h, x, tmp) {
    HASH_DEL(u->h, x);
    free(x->key);
    free(x);
  }
  free(u);
}

size_t dw_dvcqg_units_count(const dw_dvcqg_units *u) { return u ? u->n : 0; }

int dw_dvcqg_units_find(const dw_dvcqg_units *u, const char *key, const char **commune, const char **agency) {
  if (!u || !key || !key[0]) return -1;
  unit *x;
  HASH_FIND_STR(u->h, key, x);
  if (!x) return -1;
  *commune = x->commune;
  *agency = x->agency;
  return 0;
}

/* Splits one CSV line into at most 4 fields (quotes per RFC 4180, spaces
 * around unquoted fields trimmed). Returns the number of fields, or -1
 * with why. Fields point into out (NUL-separated). */
static int split_csv(const char *s, size_t len, dw_buf *out, const char *field[4], char *why, size_t wn) {
  int nf = 0;
  size_t i = 0;
  dw_buf_reset(out);
  size_t starts[4];
  for (;;) {
    if (nf == 4) {
      snprintf(why, wn, "more than 3 fields (want key,commune,agency)");
      return -1;
    }
    while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
    starts[nf] = out->len;
    if (i < len && s[i] == '"') {
      i++;
      for (;;) {
        if (i >= len) {
          snprintf(why, wn, "field %d: unterminated quote", nf + 1);
          return -1;
        }
        if (s[i] == '"') {
          if (i + 1 < len && s[i + 1] == '"') {
            dw_buf_putc(out, '"');
            i += 2;
            continue;
          }
          i++;
          break;
        }
        dw_buf_putc(out, s[i++]);
      }
      while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
      if (i < len && s[i] != ',') {
        snprintf(why, wn, "field %d: text after the closing quote", nf + 1);
        return -1;
      }
    } else {
      size_t b = i;
      while (i < len && s[i] != ',') i++;
      size_t e = i;
      while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) e--;
      if (memchr(s + b, '"', e - b)) {
        snprintf(why, wn, "field %d: a quote inside an unquoted field", nf + 1);
        return -1;
      }
      dw_buf_put(out, s + b, e - b);
    }
    dw_buf_putc(out, '\0');
    nf++;
    if (i >= len) break;
    i++; /* the comma */
  }
  if (out->oom) {
    snprintf(why, wn, "out of memory");
    return -1;
  }
  for (int k = 0; k < nf; k++) field[k] = out->data + starts[k];
  return nf;
}

static int valid_commune(const char *s) {
  if (strlen(s) != 5) return 0;
  for (int i = 0; i < 5; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  return 1;
}

/* One data line into the table: 0, or -1 with why. */
static int add_unit(dw_dvcqg_units *u, const char *const f[3], unsigned line, char *why, size_t wn) {
  if (!f[0][0]) {
    snprintf(why, wn, "empty key");
    return -1;
  }
  if (!valid_commune(f[1])) {
    snprintf(why, wn, "commune must be a 5-digit administrative-unit code (column 2)");
    return -1;
  }
  if (!f[2][0] || strlen(f[2]) >= DW_ID_MAX) {
    snprintf(why, wn, "agency must be 1..%d bytes (column 3)", DW_ID_MAX - 1);
    return -1;
  }
  unit *x;
  HASH_FIND_STR(u->h, f[0], x);
  if (x) {
    if (strcmp(x->commune, f[1]) == 0 && strcmp(x->agency, f[2]) == 0) return 0;
    snprintf(why, wn, "key given again with another commune/agency (first on line %u)", x->line);
    return -1;
  }
  if (!(x = calloc(1, sizeof *x)) || !(x->key = strdup(f[0]))) {
    free(x);
    snprintf(why, wn, "out of memory");
    return -1;
  }
  snprintf(x->commune, sizeof x->commune, "%s", f[1]);
  snprintf(x->agency, sizeof x->agency, "%s", f[2]);
  x->line = line;
  HASH_ADD_KEYPTR(hh, u->h, x->key, strlen(x->key), x);
  u->n++;
  return 0;
}

dw_dvcqg_units *dw_dvcqg_units_parse(const char *text, size_t len, const char *name, char *err, size_t n) {
  if (!dw_utf8_valid(text, len)) {
    snprintf(err, n, "%s: not valid UTF-8", name);
    return NULL;
  }
  dw_dvcqg_units *u = calloc(1, sizeof *u);
  if (!u) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  dw_buf fields = DW_BUF_INIT;
  size_t pos = 0;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* a spreadsheet's BOM */
  unsigned line = 0;
  int data_lines = 0;
  char why[256];
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - text) : len, l = end - pos;
    const char *s = text + pos;
    pos = nl ? end + 1 : len;
    line++;
    if (l && s[l - 1] == '\r') l--;
    size_t i = 0;
    while (i < l && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == l || s[i] == '#') continue;
    if (memchr(s, '\0', l)) {
      snprintf(err, n, "%s:%u: a NUL byte", name, line);
      goto bad;
    }
    const char *f[4];
    int nf = split_csv(s, l, &fields, f, why, sizeof why);
    if (nf >= 0 && nf != 3) snprintf(why, sizeof why, "%d field%s (want key,commune,agency)", nf, nf == 1 ? "" : "s");
    if (nf != 3) {
      snprintf(err, n, "%s:%u: %s", name, line, why);
      goto bad;
    }
    if (data_lines++ == 0 && strcasecmp(f[0], "key") == 0 && strcasecmp(f[1], "commune") == 0 &&
        strcasecmp(f[2], "agency") == 0)
      continue; /* the header */
    if (add_unit(u, f, line, why, sizeof why)) {
      snprintf(err, n, "%s:%u: %s", name, line, why);
      goto bad;
    }
  }
  dw_buf_free(&fields);
  if (!u->n) {
    snprintf(err, n, "%s: no units (want lines key,commune,agency)", name);
    dw_dvcqg_units_destroy(u);
    return NULL;
  }
  return u;
bad:
  dw_buf_free(&fields);
  dw_dvcqg_units_destroy(u);
  return NULL;
}

dw_dvcqg_units *dw_dvcqg_units_load(const char *path, char *err, size_t n) {
  dw_buf b = DW_BUF_INIT;
  char why[512];
  if (dw_buf_read_file(&b, path, why, sizeof why)) {
    snprintf(err, n, "units file %s", why);
    dw_buf_free(&b);
    return NULL;
  }
  char name[1100];
  snprintf(name, sizeof name, "units file %s", path);
  dw_dvcqg_units *u = dw_dvcqg_units_parse(b.data, b.len, name, err, n);
  dw_buf_free(&b);
  return u;
}
