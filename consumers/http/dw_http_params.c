/* dw_http_params: strict query-parameter parsing (see dw_http_params.h). */
#include "dw_http_params.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dw_http_is_code(const char *s) {
  size_t n = 0;
  for (; s[n]; n++) {
    unsigned char c = (unsigned char)s[n];
    if (c <= 0x20 || c >= 0x7f || strchr("\"'\\<>,", c)) return 0;
  }
  return n >= 1 && n <= 63;
}

int dw_http_params_only(const dw_http_req *req, dw_http_resp *resp, const char *const *allowed) {
  for (size_t i = 0; i < req->nquery; i++) {
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, req->query[i].key) == 0;
    if (!ok) {
      char name[80];
      snprintf(name, sizeof name, "%s", req->query[i].key);
      for (char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20) *p = '?';
      return dw_http_error(resp, 400, "unknown parameter '%s'", name), -1;
    }
  }
  return 0;
}

int dw_http_param_str(const dw_http_req *req, dw_http_resp *resp, const char *name, const char **out) {
  *out = NULL;
  for (size_t i = 0; i < req->nquery; i++) {
    if (strcmp(req->query[i].key, name) != 0) continue;
    if (*out) return dw_http_error(resp, 400, "parameter '%s': given more than once", name), -1;
    *out = req->query[i].value;
    if (!**out) return dw_http_error(resp, 400, "parameter '%s': empty value", name), -1;
  }
  return 0;
}

int dw_http_param_choice(const dw_http_req *req, dw_http_resp *resp, const char *name, const char *choices,
                         const char *def, const char **out) {
  const char *v;
  if (dw_http_param_str(req, resp, name, &v)) return -1;
  if (!v) {
    if (!def) return dw_http_error(resp, 400, "parameter '%s': required (one of %s)", name, choices), -1;
    *out = def;
    return 0;
  }
  size_t vl = strlen(v);
  for (const char *p = choices; *p;) {
    const char *e = strchr(p, '|');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == vl && strncmp(p, v, l) == 0) {
      *out = v;
      return 0;
    }
    p += l + (e ? 1 : 0);
  }
  return dw_http_error(resp, 400, "parameter '%s': must be one of %s", name, choices), -1;
}

int dw_http_param_int(const dw_http_req *req, dw_http_resp *resp, const char *name, int64_t min, int64_t max,
                      int64_t def, int64_t *out) {
  const char *v;
  if (dw_http_param_str(req, resp, name, &v)) return -1;
  if (!v) {
    *out = def;
    return 0;
  }
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || *end || end == v || v[0] == ' ' || v[0] == '+' || x < min || x > max)
    return dw_http_error(resp, 400, "parameter '%s': must be an integer in %lld..%lld", name, (long long)min,
                         (long long)max),
           -1;
  *out = x;
  return 0;
}

int dw_http_param_codes(const dw_http_req *req, dw_http_resp *resp, const char *name, char out[][64], int max,
                        int *n) {
  *n = 0;
  for (size_t i = 0; i < req->nquery; i++) {
    if (strcmp(req->query[i].key, name) != 0) continue;
    const char *p = req->query[i].value;
    if (!*p) return dw_http_error(resp, 400, "parameter '%s': empty value", name), -1;
    while (1) {
      const char *e = strchr(p, ',');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      char code[64];
      if (l == 0 || l >= sizeof code)
        return dw_http_error(resp, 400, "parameter '%s': a code must have 1..63 characters", name), -1;
      memcpy(code, p, l);
      code[l] = 0;
      if (!dw_http_is_code(code))
        return dw_http_error(resp, 400, "parameter '%s': not a code (printable ASCII, no spaces or quotes)", name),
               -1;
      if (*n == max) return dw_http_error(resp, 400, "parameter '%s': more than %d values", name, max), -1;
      memcpy(out[(*n)++], code, l + 1);
      if (!e) break;
      p = e + 1;
    }
  }
  return 0;
}
