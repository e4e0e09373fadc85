/* dw_buf: growable buffer, JSON strings, UTF-8 (see dw_buf.h). */
#include "dw_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dw_buf_reset(dw_buf *b) {
  b->len = 0;
  b->oom = false;
  if (b->data) b->data[0] = '\0';
}

void dw_buf_free(dw_buf *b) {
  free(b->data);
  *b = (dw_buf)DW_BUF_INIT;
}

int dw_buf_reserve(dw_buf *b, size_t n) {
  if (b->oom) return -1;
  if (b->len + n + 1 <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n + 1) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) {
    b->oom = true;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void dw_buf_put(dw_buf *b, const void *p, size_t n) {
  if (dw_buf_reserve(b, n)) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void dw_buf_puts(dw_buf *b, const char *s) { dw_buf_put(b, s, strlen(s)); }

void dw_buf_putc(dw_buf *b, char c) { dw_buf_put(b, &c, 1); }

void dw_buf_printf(dw_buf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    dw_buf_put(b, small, (size_t)n);
    return;
  }
  if (dw_buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

size_t dw_utf8_len(const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

int dw_utf8_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if ((unsigned char)s[i] < 0x80) continue; /* ASCII, the common case, without a call */
    size_t l = dw_utf8_len(s + i, n - i);
    if (!l) return 0;
    i += l - 1;
  }
  return 1;
}

void dw_buf_json_string_n(dw_buf *b, const char *s, size_t n) {
  dw_buf_putc(b, '"');
  size_t run = 0; /* start of the plain run being gathered */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      size_t l = dw_utf8_len(s + i, n - i);
      if (l) {
        i += l - 1;
        continue;
      }
      dw_buf_put(b, s + run, i - run);
      dw_buf_puts(b, "\\ufffd"); /* not UTF-8 (e.g. a character cut by a fixed-size message) */
      run = i + 1;
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7F) continue;
    dw_buf_put(b, s + run, i - run);
    switch (c) {
    case '"': dw_buf_puts(b, "\\\""); break;
    case '\\': dw_buf_puts(b, "\\\\"); break;
    case '\n': dw_buf_puts(b, "\\n"); break;
    case '\r': dw_buf_puts(b, "\\r"); break;
    case '\t': dw_buf_puts(b, "\\t"); break;
    default: dw_buf_printf(b, "\\u%04x", c);
    }
    run = i + 1;
  }
  dw_buf_put(b, s + run, n - run);
  dw_buf_putc(b, '"');
}

void dw_buf_json_string(dw_buf *b, const char *s) {
  if (!s)
    dw_buf_puts(b, "null");
  else
    dw_buf_json_string_n(b, s, strlen(s));
}

char *dw_buf_take(dw_buf *b) {
  if (b->oom) {
    dw_buf_free(b);
    return NULL;
  }
  char *s = b->data ? b->data : strdup("");
  *b = (dw_buf)DW_BUF_INIT;
  return s;
}

int dw_buf_read_file(dw_buf *b, const char *path, char *err, size_t n) {
  bool std_in = strcmp(path, "-") == 0;
  FILE *f = std_in ? stdin : fopen(path, "rb");
  if (!f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    return -1;
  }
  char chunk[1 << 16];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) dw_buf_put(b, chunk, got);
  int bad = ferror(f) ? errno : 0;
  if (!std_in) fclose(f);
  if (bad || b->oom) {
    snprintf(err, n, "%s: %s", path, bad ? strerror(bad) : "out of memory");
    return -1;
  }
  if (!b->data) dw_buf_puts(b, ""); /* an empty file: a valid, empty text */
  return 0;
}
