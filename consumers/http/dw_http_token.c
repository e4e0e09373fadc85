/* dw_http_token: tokens (the kernel's getrandom, Nettle's SHA-256 and
 * constant-time comparison) and scopes (see dw_http_token.h). */
#include "dw_http_token.h"

#include <errno.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "dw_http_params.h"

static const char HEX[] = "0123456789abcdef";

void dw_token_hex(const uint8_t in[32], char out[65]) {
  for (int i = 0; i < 32; i++) {
    out[2 * i] = HEX[in[i] >> 4];
    out[2 * i + 1] = HEX[in[i] & 15];
  }
  out[64] = 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int dw_token_unhex(const char *hex, uint8_t out[32]) {
  if (!hex || strlen(hex) != 64) return -1;
  for (int i = 0; i < 32; i++) {
    int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
    if (a < 0 || b < 0) return -1;
    out[i] = (uint8_t)(a << 4 | b);
  }
  return 0;
}

void dw_token_hash(const char *secret, uint8_t out[32]) {
  struct sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, strlen(secret), (const uint8_t *)secret);
  sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

bool dw_token_equal(const uint8_t a[32], const uint8_t b[32]) { return memeql_sec(a, b, 32) != 0; }

/* n bytes from the kernel's random source (blocks only until it is seeded) */
static int random_bytes(uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

int dw_token_generate(char *token, char id[DW_TOKEN_ID_LEN + 1], uint8_t hash[32]) {
  uint8_t rnd[6 + 32];
  if (random_bytes(rnd, sizeof rnd)) return -1;
  for (int i = 0; i < 6; i++) {
    id[2 * i] = HEX[rnd[i] >> 4];
    id[2 * i + 1] = HEX[rnd[i] & 15];
  }
  id[DW_TOKEN_ID_LEN] = 0;
  char secret[65];
  dw_token_hex(rnd + 6, secret);
  snprintf(token, DW_TOKEN_LEN + 1, "dwt_%s_%s", id, secret);
  dw_token_hash(secret, hash);
  explicit_bzero(rnd, sizeof rnd);
  explicit_bzero(secret, sizeof secret);
  return 0;
}

int dw_token_parse_bearer(const char *h, char id[DW_TOKEN_ID_LEN + 1], const char **secret) {
  if (!h || strncmp(h, "Bearer ", 7) != 0) return -1;
  const char *t = h + 7;
  while (*t == ' ') t++;
  if (strlen(t) != DW_TOKEN_LEN || strncmp(t, "dwt_", 4) != 0 || t[4 + DW_TOKEN_ID_LEN] != '_') return -1;
  for (int i = 0; i < DW_TOKEN_ID_LEN; i++)
    if (hexval(t[4 + i]) < 0) return -1;
  for (int i = 0; i < 64; i++)
    if (hexval(t[5 + DW_TOKEN_ID_LEN + i]) < 0) return -1;
  memcpy(id, t + 4, DW_TOKEN_ID_LEN);
  id[DW_TOKEN_ID_LEN] = 0;
  *secret = t + 5 + DW_TOKEN_ID_LEN;
  return 0;
}

const char *dw_scope_kind_name(dw_scope_kind k) {
  switch (k) {
  case DW_SCOPE_PROVINCE: return "province";
  case DW_SCOPE_AGENCY: return "agency";
  case DW_SCOPE_COMMUNE: return "commune";
  case DW_SCOPE_INGEST: return "ingest";
  default: return "none";
  }
}

int dw_scope_parse(const char *s, dw_scope *out, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  if (!s) s = "";
  if (strcmp(s, "province") == 0) {
    out->kind = DW_SCOPE_PROVINCE;
    return 0;
  }
  if (strcmp(s, "ingest") == 0) {
    out->kind = DW_SCOPE_INGEST;
    return 0;
  }
  const char *list;
  if (strncmp(s, "agency:", 7) == 0) {
    out->kind = DW_SCOPE_AGENCY;
    list = s + 7;
  } else if (strncmp(s, "commune:", 8) == 0) {
    out->kind = DW_SCOPE_COMMUNE;
    list = s + 8;
  } else {
    snprintf(err, n, "scope '%s': want province, ingest, agency:A[,B...] or commune:C[,D...]", s);
    return -1;
  }
  for (const char *p = list;;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    char code[64];
    if (l == 0 || l >= sizeof code) {
      snprintf(err, n, "scope '%s': empty or over-long code at offset %zu", s, (size_t)(p - s));
      return -1;
    }
    memcpy(code, p, l);
    code[l] = 0;
    if (!dw_http_is_code(code)) {
      snprintf(err, n, "scope '%s': '%s' is not a code (printable ASCII, no spaces, quotes or commas)", s, code);
      return -1;
    }
    if (out->kind == DW_SCOPE_COMMUNE && (l != 5 || strspn(code, "0123456789") != 5)) {
      snprintf(err, n, "scope '%s': commune '%s' is not a 5-digit unit code", s, code);
      return -1;
    }
    if (out->n == DW_SCOPE_MAX_UNITS) {
      snprintf(err, n, "scope '%s': more than %d units", s, DW_SCOPE_MAX_UNITS);
      return -1;
    }
    memcpy(out->units[out->n++], code, l + 1);
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

void dw_scope_units_csv(const dw_scope *sc, char *out, size_t n) {
  size_t used = 0;
  if (n) out[0] = 0;
  for (int i = 0; i < sc->n && used < n; i++) {
    int w = snprintf(out + used, n - used, "%s%s", i ? "," : "", sc->units[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

void dw_scope_format(const dw_scope *sc, char *out, size_t n) {
  if (sc->kind == DW_SCOPE_AGENCY || sc->kind == DW_SCOPE_COMMUNE) {
    char csv[DW_SCOPE_MAX_UNITS * 64];
    dw_scope_units_csv(sc, csv, sizeof csv);
    snprintf(out, n, "%s:%s", dw_scope_kind_name(sc->kind), csv);
  } else {
    snprintf(out, n, "%s", dw_scope_kind_name(sc->kind));
  }
}

static bool listed(const dw_scope *sc, const char *code) {
  for (int i = 0; code && i < sc->n; i++)
    if (strcmp(sc->units[i], code) == 0) return true;
  return false;
}

bool dw_scope_covers(const dw_scope *sc, const char *type, const char *unit) {
  switch (sc->kind) {
  case DW_SCOPE_PROVINCE: return true;
  case DW_SCOPE_AGENCY: return strcmp(type, "agency") == 0 && listed(sc, unit);
  case DW_SCOPE_COMMUNE: return strcmp(type, "commune") == 0 && listed(sc, unit);
  default: return false;
  }
}
