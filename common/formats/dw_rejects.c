/* dw_rejects: the reject file (see dw_rejects.h). */
#include "dw_rejects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dw_buf.h"

struct dw_rejects {
  char *path;
  int append;
  FILE *f;
  uint64_t count;
  dw_buf line;
};

dw_rejects *dw_rejects_new(const char *path, int append) {
  dw_rejects *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->append = append;
  if (path && !(r->path = strdup(path))) {
    free(r);
    return NULL;
  }
  return r;
}

static void base64(dw_buf *b, const unsigned char *s, size_t n) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  dw_buf_putc(b, '"');
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)s[i] << 16;
    if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
    if (i + 2 < n) v |= s[i + 2];
    char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                 i + 2 < n ? tbl[v & 63] : '='};
    dw_buf_put(b, q, 4);
  }
  dw_buf_putc(b, '"');
}

int dw_rejects_add(dw_rejects *r, const char *file, const dw_reject *rej, char *err, size_t n) {
  r->count++;
  if (!r->path) return 0;
  if (!r->f && !(r->f = fopen(r->path, r->append ? "a" : "w"))) {
    snprintf(err, n, "cannot write the reject file %s: %s", r->path, strerror(errno));
    return -1;
  }
  dw_buf *b = &r->line;
  dw_buf_reset(b);
  dw_buf_puts(b, "{\"file\":");
  dw_buf_json_string(b, file);
  dw_buf_printf(b, ",\"%s\":%llu,\"reason\":", rej->unit && strcmp(rej->unit, "record") == 0 ? "record" : "line",
                (unsigned long long)rej->at);
  dw_buf_json_string(b, rej->reason); /* a reason cut mid-character ends in U+FFFD */
  if (rej->raw) {
    if (dw_utf8_valid(rej->raw, rej->raw_len)) {
      dw_buf_puts(b, ",\"raw\":");
      dw_buf_json_string_n(b, rej->raw, rej->raw_len);
    } else {
      dw_buf_puts(b, ",\"raw_base64\":");
      base64(b, (const unsigned char *)rej->raw, rej->raw_len);
    }
  }
  dw_buf_puts(b, "}\n");
  /* rare: flushed at once, so they survive a run that dies later */
  if (b->oom || fwrite(b->data, 1, b->len, r->f) != b->len || fflush(r->f) != 0) {
    snprintf(err, n, "cannot write the reject file %s: %s", r->path, b->oom ? "out of memory" : strerror(errno));
    return -1;
  }
  return 0;
}

uint64_t dw_rejects_count(const dw_rejects *r) { return r->count; }
const char *dw_rejects_path(const dw_rejects *r) { return r->path; }

int dw_rejects_close(dw_rejects *r, char *err, size_t n) {
  if (!r) return 0;
  int rc = 0;
  /* a clean run leaves no reject file: not even a previous run's */
  struct stat st;
  if (r->path && !r->f && !r->append && stat(r->path, &st) == 0 && S_ISREG(st.st_mode)) unlink(r->path);
  if (r->f && fclose(r->f) != 0) {
    snprintf(err, n, "cannot write the reject file %s: %s", r->path, strerror(errno));
    rc = -1;
  }
  dw_buf_free(&r->line);
  free(r->path);
  free(r);
  return rc;
}
