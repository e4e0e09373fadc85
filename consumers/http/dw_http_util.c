/* dw_http_util: the parts of dw_http that need no socket, kept apart so
 * the unit tests exercise them directly: route matching, Accept-Encoding,
 * ETags and If-None-Match, gzip (libdeflate), listen addresses. */
#include <ctype.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dw_hash.h"
#include "dw_http.h"

/* Does one pattern match path? Fills captures (pointing into scratch, a
 * copy of path that is cut at segment ends). */
static bool match_one(const char *pattern, const char *path, char *scratch, const char **caps, size_t *ncaps) {
  *ncaps = 0;
  strcpy(scratch, path);
  const char *p = pattern;
  char *q = scratch;
  while (*p) {
    if (*p == '*' && p[1] == 0) {
      if (*ncaps < DW_HTTP_MAX_CAPTURES) caps[(*ncaps)++] = q;
      return true;
    }
    if (*p == '{') {
      const char *close = strchr(p, '}');
      if (!close) return false;
      char *end = q;
      while (*end && *end != '/') end++;
      if (end == q) return false; /* an empty segment is no id */
      bool last = *end == 0;
      *end = 0;
      if (*ncaps < DW_HTTP_MAX_CAPTURES) caps[(*ncaps)++] = q;
      p = close + 1;
      if (last) return *p == 0;
      if (*p != '/') return false;
      q = end + 1;
      p++;
      continue;
    }
    if (*p != *q) return false;
    p++;
    q++;
  }
  return *q == 0;
}

int dw_http_match(const dw_http_route *routes, size_t n, const char *method, const char *path, char *scratch,
                  const char **caps, size_t *ncaps, char *allow, size_t allow_size) {
  bool path_known = false;
  if (allow_size) allow[0] = 0;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    size_t nc;
    const char *c[DW_HTTP_MAX_CAPTURES];
    if (!match_one(routes[i].pattern, path, scratch, c, &nc)) continue;
    if (strcmp(routes[i].method, method) == 0) {
      /* the scratch copy holds this route's cuts: match again into it */
      match_one(routes[i].pattern, path, scratch, caps, ncaps);
      return (int)i;
    }
    path_known = true;
    const char *m = routes[i].method;
    if (allow_size && !strstr(allow, m)) {
      int w = snprintf(allow + used, allow_size - used, "%s%s%s", used ? ", " : "", m,
                       strcmp(m, "GET") == 0 ? ", HEAD" : "");
      if (w > 0 && (size_t)w < allow_size - used) used += (size_t)w;
    }
  }
  *ncaps = 0;
  return path_known ? -405 : -404;
}

/* Accept-Encoding: "gzip, deflate;q=0.5", "*;q=0.1", "gzip;q=0". */
bool dw_http_accepts_gzip(const char *h) {
  if (!h) return false;
  bool star = false, gzip = false, gzip_seen = false;
  const char *p = h;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *tok = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ') p++;
    size_t tl = (size_t)(p - tok);
    double q = 1;
    while (*p && *p != ',') {
      if (*p == ';') {
        p++;
        while (*p == ' ') p++;
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
      } else {
        p++;
      }
    }
    if (tl == 4 && strncasecmp(tok, "gzip", 4) == 0) {
      gzip_seen = true;
      gzip = q > 0;
    } else if (tl == 1 && tok[0] == '*') {
      star = q > 0;
    }
  }
  return gzip_seen ? gzip : star;
}

void dw_http_etag(const void *body, size_t len, char out[24]) {
  snprintf(out, 24, "W/\"%016llx\"", (unsigned long long)dw_hash_fast(body, len));
}

bool dw_http_etag_matches(const char *h, const char *etag) {
  if (!h || !etag) return false;
  const char *want = strncmp(etag, "W/", 2) == 0 ? etag + 2 : etag;
  size_t wl = strlen(want);
  const char *p = h;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    if (*p == '*') return true;
    if (strncmp(p, "W/", 2) == 0) p += 2;
    const char *tok = p;
    if (*p == '"') {
      const char *close = strchr(p + 1, '"');
      p = close ? close + 1 : p + strlen(p);
    } else {
      while (*p && *p != ',') p++;
    }
    if ((size_t)(p - tok) == wl && strncmp(tok, want, wl) == 0) return true;
    while (*p && *p != ',') p++;
  }
  return false;
}

int dw_http_gzip(const void *in, size_t len, dw_buf *out) {
  /* level 1: JSON still shrinks ~5x, at a fraction of level 6's time (the
   * API is CPU-bound under concurrent readers). A compressor per call: it
   * is a few hundred kB, and the threads of the server each compress. */
  struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
  if (!c) return -1;
  size_t bound = libdeflate_gzip_compress_bound(c, len);
  if (dw_buf_reserve(out, bound + 1)) {
    libdeflate_free_compressor(c);
    return -1;
  }
  size_t produced = libdeflate_gzip_compress(c, in, len, out->data + out->len, bound);
  libdeflate_free_compressor(c);
  if (produced == 0) return -1;
  out->len += produced;
  out->data[out->len] = 0;
  return 0;
}

int dw_http_parse_listen(const char *s, char *host, size_t hn, int *port, char *err, size_t n) {
  if (!s || !*s) {
    snprintf(err, n, "empty listen address (want HOST:PORT, e.g. 127.0.0.1:8080)");
    return -1;
  }
  const char *colon;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') {
      snprintf(err, n, "listen address '%s': want [IPv6]:PORT", s);
      return -1;
    }
    snprintf(host, hn, "%.*s", (int)(close - s - 1), s + 1);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) {
      snprintf(err, n, "listen address '%s': want HOST:PORT, e.g. 127.0.0.1:8080", s);
      return -1;
    }
    snprintf(host, hn, "%.*s", (int)(colon - s), s);
  }
  char *end;
  long p = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || p < 0 || p > 65535) {
    snprintf(err, n, "listen address '%s': port must be 0..65535", s);
    return -1;
  }
  *port = (int)p;
  return 0;
}
