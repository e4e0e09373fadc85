/* Unit tests: the socket-free parts of the HTTP surface. Route matching
 * (captures, 404 versus 405 with Allow, the "*" tail, serve's own table:
 * every API route needs a token, the ingest route needs a body and the
 * ingest scope); strict parameter parsing (unknown, repeated, empty, out of
 * range, codes with quotes or spaces, comma lists); Accept-Encoding; ETags
 * and If-None-Match; gzip round trip through libdeflate; listen addresses;
 * tokens (format, parse, constant-time compare of hashes) and scopes; the
 * keyset cursor; period names; the units file reader (quotes, errors with
 * file:line) and that the shipped deploy/units files are exactly what the
 * simulator writes for its presets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "dw_config.h"
#include "dw_http.h"
#include "dw_http_api.h"
#include "dw_http_cache.h"
#include "dw_http_params.h"
#include "dw_http_serve.h"
#include "dw_http_token.h"
#include "dw_http_units.h"
#include "dw_sim_profile.h"

static int h_dummy(dw_http_req *r, dw_http_resp *s, void *a) {
  (void)r;
  (void)s;
  (void)a;
  return 0;
}

static const dw_http_route table[] = {
  {"GET", "/api/v1/alerts", h_dummy, DW_HTTP_AUTH, ""},
  {"GET", "/api/v1/dossiers/{id}", h_dummy, DW_HTTP_AUTH, ""},
  {"GET", "/api/v1/units/{type}/{code}", h_dummy, DW_HTTP_AUTH, ""},
  {"POST", "/api/v1/alerts", h_dummy, DW_HTTP_BODY, ""},
  {"GET", "/static/*", h_dummy, 0, ""},
  {"GET", "/", h_dummy, 0, ""},
};
#define NT (sizeof table / sizeof *table)

static int match(const char *method, const char *path, const char **caps, size_t *nc, char *allow) {
  static char scratch[256];
  return dw_http_match(table, NT, method, path, scratch, caps, nc, allow, 64);
}

static void test_match(void **state) {
  (void)state;
  const char *c[DW_HTTP_MAX_CAPTURES];
  size_t nc;
  char allow[64];
  assert_int_equal(match("GET", "/api/v1/alerts", c, &nc, allow), 0);
  assert_int_equal(nc, 0);
  assert_int_equal(match("POST", "/api/v1/alerts", c, &nc, allow), 3);
  assert_int_equal(match("GET", "/api/v1/dossiers/29221-20250429-0001", c, &nc, allow), 1);
  assert_int_equal(nc, 1);
  assert_string_equal(c[0], "29221-20250429-0001");
  assert_int_equal(match("GET", "/api/v1/units/agency/UBND-1", c, &nc, allow), 2);
  assert_int_equal(nc, 2);
  assert_string_equal(c[0], "agency");
  assert_string_equal(c[1], "UBND-1");
  /* an empty or extra segment is not an id */
  assert_int_equal(match("GET", "/api/v1/dossiers/", c, &nc, allow), -404);
  assert_int_equal(match("GET", "/api/v1/dossiers/a/b", c, &nc, allow), -404);
  assert_int_equal(match("GET", "/api/v1/alerts/", c, &nc, allow), -404);
  assert_int_equal(match("GET", "/api/v1/alertsX", c, &nc, allow), -404);
  assert_int_equal(match("GET", "/nothing", c, &nc, allow), -404);
  /* the path exists, the method does not */
  assert_int_equal(match("DELETE", "/api/v1/alerts", c, &nc, allow), -405);
  assert_string_equal(allow, "GET, HEAD, POST");
  assert_int_equal(match("POST", "/api/v1/dossiers/x", c, &nc, allow), -405);
  assert_string_equal(allow, "GET, HEAD");
  assert_int_equal(match("GET", "/static/app.js", c, &nc, allow), 4);
  assert_string_equal(c[0], "app.js");
  assert_int_equal(match("GET", "/static/", c, &nc, allow), 4);
  assert_string_equal(c[0], "");
  assert_int_equal(match("GET", "/", c, &nc, allow), 5);
}

static void test_serve_table(void **state) {
  (void)state;
  size_t n;
  const dw_http_route *r = dw_serve_routes(&n);
  int api = 0, ingest = 0, writes = 0;
  for (size_t i = 0; i < n; i++) {
    assert_non_null(r[i].handler);
    if (strncmp(r[i].pattern, "/api/", 5) == 0) {
      api++;
      assert_true(r[i].flags & DW_HTTP_AUTH); /* every API route needs a token */
    } else {
      assert_false(r[i].flags & DW_HTTP_AUTH); /* dashboard files and ops endpoints do not */
    }
    if (r[i].flags & DW_HTTP_INGEST) {
      ingest++;
      assert_string_equal(r[i].method, "POST");
      assert_true(r[i].flags & DW_HTTP_BODY);
    }
    if (r[i].flags & DW_HTTP_WRITE) { /* only the silences write, never with a GET */
      writes++;
      assert_true(strncmp(r[i].pattern, "/api/v1/silences", 16) == 0);
      assert_string_not_equal(r[i].method, "GET");
    }
    for (size_t j = 0; j < i; j++) /* no two routes for one method and pattern */
      assert_false(!strcmp(r[i].method, r[j].method) && !strcmp(r[i].pattern, r[j].pattern));
  }
  assert_int_equal(api, 11);
  assert_int_equal(ingest, 1);
  assert_int_equal(writes, 2);
  static char scratch[128];
  const char *c[4];
  size_t nc;
  char allow[64];
  int k = dw_http_match(r, n, "POST", "/api/dvcqg/DongBoHoSoMC", scratch, c, &nc, allow, sizeof allow);
  assert_true(k >= 0 && (r[k].flags & DW_HTTP_INGEST));
  assert_int_equal(dw_http_match(r, n, "GET", "/api/dvcqg/DongBoHoSoMC", scratch, c, &nc, allow, sizeof allow), -405);
  k = dw_http_match(r, n, "DELETE", "/api/v1/silences/0f8e", scratch, c, &nc, allow, sizeof allow);
  assert_true(k >= 0 && (r[k].flags & DW_HTTP_WRITE));
  assert_int_equal(nc, 1);
  assert_string_equal(c[0], "0f8e");
  assert_int_equal(dw_http_match(r, n, "PUT", "/api/v1/silences", scratch, c, &nc, allow, sizeof allow), -405);
}

static dw_http_req req_of(const char *const *kv, size_t n) {
  dw_http_req r;
  memset(&r, 0, sizeof r);
  for (size_t i = 0; i < n; i++) r.query[r.nquery++] = (dw_http_kv){kv[2 * i], kv[2 * i + 1]};
  return r;
}

static int is_400(dw_http_resp *resp, const char *needle) {
  int ok = resp->status == 400 && resp->body.data && strstr(resp->body.data, needle) != NULL;
  if (!ok) fprintf(stderr, "got %d %s\n", resp->status, resp->body.data ? resp->body.data : "");
  dw_buf_free(&resp->body);
  memset(resp, 0, sizeof *resp);
  return ok;
}

static void test_params(void **state) {
  (void)state;
  dw_http_resp resp;
  memset(&resp, 0, sizeof resp);
  static const char *const allowed[] = {"limit", "unit", "state", NULL};
  const char *kv1[] = {"limit", "5", "bogus", "1"};
  dw_http_req r = req_of(kv1, 2);
  assert_int_equal(dw_http_params_only(&r, &resp, allowed), -1);
  assert_true(is_400(&resp, "unknown parameter 'bogus'"));

  int64_t v;
  const char *kv2[] = {"limit", "5"};
  r = req_of(kv2, 1);
  assert_int_equal(dw_http_param_int(&r, &resp, "limit", 1, 1000, 100, &v), 0);
  assert_int_equal(v, 5);
  r = req_of(NULL, 0);
  assert_int_equal(dw_http_param_int(&r, &resp, "limit", 1, 1000, 100, &v), 0);
  assert_int_equal(v, 100);
  const char *bad_ints[] = {"0", "1001", "5x", "", " 5", "+5", "99999999999999999999", "-1"};
  for (size_t i = 0; i < sizeof bad_ints / sizeof *bad_ints; i++) {
    const char *kv[] = {"limit", bad_ints[i]};
    r = req_of(kv, 1);
    assert_int_equal(dw_http_param_int(&r, &resp, "limit", 1, 1000, 100, &v), -1);
    assert_true(is_400(&resp, "parameter 'limit'"));
  }
  const char *kv3[] = {"limit", "5", "limit", "6"};
  r = req_of(kv3, 2);
  assert_int_equal(dw_http_param_int(&r, &resp, "limit", 1, 1000, 100, &v), -1);
  assert_true(is_400(&resp, "given more than once"));

  const char *s;
  const char *kv4[] = {"state", "opened"};
  r = req_of(kv4, 1);
  assert_int_equal(dw_http_param_choice(&r, &resp, "state", "open|cleared|all", "open", &s), -1);
  assert_true(is_400(&resp, "must be one of open|cleared|all"));
  const char *kv5[] = {"state", "cleared"};
  r = req_of(kv5, 1);
  assert_int_equal(dw_http_param_choice(&r, &resp, "state", "open|cleared|all", "open", &s), 0);
  assert_string_equal(s, "cleared");
  r = req_of(NULL, 0);
  assert_int_equal(dw_http_param_choice(&r, &resp, "state", "open|cleared|all", NULL, &s), -1);
  assert_true(is_400(&resp, "required"));

  char codes[4][64];
  int n;
  const char *kv6[] = {"unit", "29221,29233", "unit", "UBND-29221"};
  r = req_of(kv6, 2);
  assert_int_equal(dw_http_param_codes(&r, &resp, "unit", codes, 4, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(codes[2], "UBND-29221");
  const char *bad_codes[] = {"a'b", "a b", "a\"b", "a\\b", "", "a,,b", "x<y", "\x01", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad_codes / sizeof *bad_codes; i++) {
    const char *kv[] = {"unit", bad_codes[i]};
    r = req_of(kv, 1);
    assert_int_equal(dw_http_param_codes(&r, &resp, "unit", codes, 4, &n), -1);
    assert_true(is_400(&resp, "parameter 'unit'"));
  }
  const char *kv7[] = {"unit", "a,b,c,d,e"};
  r = req_of(kv7, 1);
  assert_int_equal(dw_http_param_codes(&r, &resp, "unit", codes, 4, &n), -1);
  assert_true(is_400(&resp, "more than 4 values"));
}

static void test_encoding_etag(void **state) {
  (void)state;
  assert_true(dw_http_accepts_gzip("gzip"));
  assert_true(dw_http_accepts_gzip("deflate, gzip;q=0.5, br"));
  assert_true(dw_http_accepts_gzip("*"));
  assert_true(dw_http_accepts_gzip("GZIP"));
  assert_false(dw_http_accepts_gzip(NULL));
  assert_false(dw_http_accepts_gzip("identity"));
  assert_false(dw_http_accepts_gzip("gzip;q=0"));
  assert_false(dw_http_accepts_gzip("*;q=0.5, gzip;q=0"));
  assert_false(dw_http_accepts_gzip("gzipx"));

  char e1[24], e2[24];
  dw_http_etag("abc", 3, e1);
  dw_http_etag("abd", 3, e2);
  assert_int_equal(strlen(e1), 20);
  assert_memory_equal(e1, "W/\"", 3);
  assert_string_not_equal(e1, e2);
  char list[80];
  assert_true(dw_http_etag_matches(e1, e1));
  assert_true(dw_http_etag_matches(e1 + 2, e1)); /* weak comparison: W/ ignored */
  snprintf(list, sizeof list, "%s, %s", e2, e1);
  assert_true(dw_http_etag_matches(list, e1));
  assert_true(dw_http_etag_matches("*", e1));
  assert_false(dw_http_etag_matches(e2, e1));
  assert_false(dw_http_etag_matches(NULL, e1));
  assert_false(dw_http_etag_matches("\"\"", e1));

  /* gzip: decompressing gives the bytes back */
  char in[5000];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (char)("dossierwatch "[i % 13]);
  dw_buf gz = DW_BUF_INIT;
  assert_int_equal(dw_http_gzip(in, sizeof in, &gz), 0);
  assert_true(gz.len < sizeof in / 4);
  assert_int_equal((unsigned char)gz.data[0], 0x1f); /* gzip magic */
  assert_int_equal((unsigned char)gz.data[1], 0x8b);
  char back[6000];
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  assert_non_null(d);
  size_t total_out = 0;
  assert_int_equal(libdeflate_gzip_decompress(d, gz.data, gz.len, back, sizeof back, &total_out), LIBDEFLATE_SUCCESS);
  libdeflate_free_decompressor(d);
  assert_int_equal(total_out, sizeof in);
  assert_memory_equal(back, in, sizeof in);
  dw_buf_free(&gz);
}

static void test_listen(void **state) {
  (void)state;
  char host[64], err[128];
  int port;
  assert_int_equal(dw_http_parse_listen("127.0.0.1:8080", host, sizeof host, &port, err, sizeof err), 0);
  assert_string_equal(host, "127.0.0.1");
  assert_int_equal(port, 8080);
  assert_int_equal(dw_http_parse_listen("[::1]:0", host, sizeof host, &port, err, sizeof err), 0);
  assert_string_equal(host, "::1");
  assert_int_equal(port, 0);
  assert_int_equal(dw_http_parse_listen(":9464", host, sizeof host, &port, err, sizeof err), 0);
  assert_string_equal(host, "");
  const char *bad[] = {"", "localhost", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:80x", "[::1]8080", "[::1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(dw_http_parse_listen(bad[i], host, sizeof host, &port, err, sizeof err), -1);
}

static void test_tokens_scopes(void **state) {
  (void)state;
  char tok[DW_TOKEN_LEN + 1], id[DW_TOKEN_ID_LEN + 1], id2[DW_TOKEN_ID_LEN + 1], hdr[128];
  uint8_t h[32], h2[32];
  assert_int_equal(dw_token_generate(tok, id, h), 0);
  assert_int_equal(strlen(tok), DW_TOKEN_LEN);
  assert_memory_equal(tok, "dwt_", 4);
  snprintf(hdr, sizeof hdr, "Bearer %s", tok);
  const char *secret;
  assert_int_equal(dw_token_parse_bearer(hdr, id2, &secret), 0);
  assert_string_equal(id, id2);
  dw_token_hash(secret, h2);
  assert_true(dw_token_equal(h, h2));
  h2[31] ^= 1;
  assert_false(dw_token_equal(h, h2));
  char hex[65];
  uint8_t back[32];
  dw_token_hex(h, hex);
  assert_int_equal(dw_token_unhex(hex, back), 0);
  assert_memory_equal(back, h, 32);
  assert_int_equal(dw_token_unhex("zz", back), -1);
  /* two tokens differ */
  char tok2[DW_TOKEN_LEN + 1];
  assert_int_equal(dw_token_generate(tok2, id2, h2), 0);
  assert_string_not_equal(tok, tok2);
  const char *bad[] = {NULL, "", "Basic abc", "Bearer", "Bearer dwt_", "bearer xyz", tok /* no "Bearer " */};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(dw_token_parse_bearer(bad[i], id2, &secret), -1);
  snprintf(hdr, sizeof hdr, "Bearer %sX", tok);
  assert_int_equal(dw_token_parse_bearer(hdr, id2, &secret), -1);
  snprintf(hdr, sizeof hdr, "Bearer %s", tok);
  hdr[7 + 10] = 'G'; /* not hex */
  assert_int_equal(dw_token_parse_bearer(hdr, id2, &secret), -1);

  dw_scope sc;
  char err[256], out[256];
  assert_int_equal(dw_scope_parse("province", &sc, err, sizeof err), 0);
  assert_int_equal(sc.kind, DW_SCOPE_PROVINCE);
  assert_int_equal(dw_scope_parse("agency:UBND-29221,CA-29221", &sc, err, sizeof err), 0);
  assert_int_equal(sc.kind, DW_SCOPE_AGENCY);
  assert_int_equal(sc.n, 2);
  dw_scope_format(&sc, out, sizeof out);
  assert_string_equal(out, "agency:UBND-29221,CA-29221");
  assert_true(dw_scope_covers(&sc, "agency", "CA-29221"));
  assert_false(dw_scope_covers(&sc, "agency", "UBND-29233"));
  assert_false(dw_scope_covers(&sc, "commune", "29221"));
  assert_int_equal(dw_scope_parse("commune:29221", &sc, err, sizeof err), 0);
  assert_true(dw_scope_covers(&sc, "commune", "29221"));
  assert_false(dw_scope_covers(&sc, "province", "all"));
  assert_int_equal(dw_scope_parse("ingest", &sc, err, sizeof err), 0);
  assert_false(dw_scope_covers(&sc, "commune", "29221"));
  const char *bad_scopes[] = {"", "all", "agency:", "agency:a,,b", "agency:a b", "commune:2922", "commune:abcde",
                              "agency:x'y", "Province"};
  for (size_t i = 0; i < sizeof bad_scopes / sizeof *bad_scopes; i++)
    assert_int_equal(dw_scope_parse(bad_scopes[i], &sc, err, sizeof err), -1);
}

static void test_cursor_periods(void **state) {
  (void)state;
  int64_t ms;
  char id[160];
  assert_int_equal(dw_api_cursor_parse("1745888400000:29221-0001:OVERDUE:1745888400000", &ms, id, sizeof id), 0);
  assert_int_equal(ms, 1745888400000LL);
  assert_string_equal(id, "29221-0001:OVERDUE:1745888400000");
  const char *bad[] = {"", ":x", "12", "12:", "a1:x", "1234567890123456:x", "12:a\nb"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(dw_api_cursor_parse(bad[i], &ms, id, sizeof id), -1);

  dw_config *cfg = dw_config_new();
  char err[256];
  dw_units *u = dw_units_load(NULL, err, sizeof err);
  dw_api *api = dw_api_new(cfg, u, err, sizeof err);
  assert_non_null(api);
  dw_api_period p;
  const int64_t now = 1745888400000LL; /* 2025-04-29T08:00:00+07:00 */
  assert_int_equal(dw_api_period_resolve(api, "commune", "quarter", "current", now, &p, err, sizeof err), 0);
  assert_string_equal(p.from, "2025-Q2");
  assert_string_equal(p.cur, "2025-Q2");
  assert_int_equal(dw_api_period_resolve(api, "agency", "rolling30", "current", now, &p, err, sizeof err), 0);
  assert_string_equal(p.from, "2025-04-29");
  assert_int_equal(dw_api_period_resolve(api, "commune", "month", "2025-03", now, &p, err, sizeof err), 0);
  assert_string_equal(p.cur, "2025-04");
  const char *bad_periods[][2] = {{"month", "2025-13"}, {"month", "2025-4"},    {"quarter", "2025-Q0"},
                                  {"year", "25"},       {"day", "2025-02-30"},  {"day", "2025-04-29x"},
                                  {"quarter", "2025Q2"}, {"month", "2025-04' OR '1"}};
  for (size_t i = 0; i < sizeof bad_periods / sizeof *bad_periods; i++)
    assert_int_equal(dw_api_period_resolve(api, "commune", bad_periods[i][0], bad_periods[i][1], now, &p, err, sizeof err),
                     -1);
  assert_int_equal(dw_api_period_resolve(api, "village", "month", "current", now, &p, err, sizeof err), -1);
  assert_int_equal(dw_api_period_range(api, "commune", "month", "2025-01", "current", now, &p, err, sizeof err), 0);
  assert_string_equal(p.to, "2025-04");
  assert_int_equal(dw_api_period_range(api, "commune", "month", "2025-06", "2025-01", now, &p, err, sizeof err), -1);
  assert_int_equal(dw_api_period_range(api, "commune", "rolling30", "2025-01-01", "2025-01-02", now, &p, err, sizeof err), -1);
  dw_api_destroy(api);
  dw_units_destroy(u);
  dw_config_destroy(cfg);
}

static void test_units(void **state) {
  (void)state;
  char err[256];
  const char *csv = "code,name,type,parent\n86,Tỉnh Vĩnh Long,province,\n29221,Xã Long Hiệp,commune,86\r\n"
                    "1.003010,\"Đăng ký đất đai, tài sản \"\"gắn liền\"\"\",procedure,\n\n";
  dw_units *u = dw_units_parse(csv, strlen(csv), "t.csv", err, sizeof err);
  assert_non_null(u);
  assert_int_equal(dw_units_count(u), 3);
  assert_string_equal(dw_units_name(u, "commune", "29221"), "Xã Long Hiệp");
  assert_string_equal(dw_units_name(u, "province", "all"), "Tỉnh Vĩnh Long");
  assert_string_equal(dw_units_name(u, "procedure", "1.003010"), "Đăng ký đất đai, tài sản \"gắn liền\"");
  assert_null(dw_units_name(u, "agency", "29221"));
  dw_units_destroy(u);
  const char *bad[][2] = {{"code,name\n", "t.csv:1: the header"},
                          {"code,name,type,parent\n1,a,village,\n", "t.csv:2: type must be"},
                          {"code,name,type,parent\n1,a,commune\n", "t.csv:2: 3 fields"},
                          {"code,name,type,parent\n1,\"a,commune,\n", "t.csv:2: unterminated"},
                          {"code,name,type,parent\n1,a,commune,\n1,b,commune,\n", "t.csv:3: commune 1 listed twice"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_null(dw_units_parse(bad[i][0], strlen(bad[i][0]), "t.csv", err, sizeof err));
    assert_non_null(strstr(err, bad[i][1]));
  }
  assert_null(dw_units_load("no-such-preset", err, sizeof err));
  assert_non_null(strstr(err, "seed-letter"));
  u = dw_units_load("seed-letter", err, sizeof err);
  assert_non_null(u);
  assert_string_equal(dw_units_name(u, "commune", "29233"), "Xã Thanh An");
  assert_string_equal(dw_units_name(u, "agency", "UBND-29221"), "UBND Xã Long Hiệp");
  dw_units_destroy(u);
}

/* The shipped files are the simulator's output (simulate --units-out):
 * names next to codes cannot drift from what the presets simulate. */
static void check_shipped(const char *file, dw_sim_profile *prof) {
  char path[1024];
  snprintf(path, sizeof path, "%s/deploy/units/%s", DW_SOURCE_DIR, file);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char text[1 << 20];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  dw_buf b = DW_BUF_INIT;
  assert_int_equal(dw_sim_profile_units_csv(prof, &b), 0);
  if (b.len != n || memcmp(b.data, text, n) != 0)
    fail_msg("%s differs from `simulate --units-out` (regenerate it: see NOTES-h12.md)", path);
  dw_buf_free(&b);
  dw_sim_profile_destroy(prof);
}

static void test_shipped_units(void **state) {
  (void)state;
  char err[256];
  dw_sim_profile *p = dw_sim_profile_preset("seed-letter", err, sizeof err);
  assert_non_null(p);
  check_shipped("seed-letter.csv", p);
  check_shipped("generated.csv", dw_sim_profile_generated(3321));
}

/* The reply cache: a miss, then the body, its gzip and ETag back; expiry
 * by age; the least recently used entry makes room; a cache of 0 entries
 * keeps nothing. */
static void fill(dw_http_resp *r, const char *text, size_t times) {
  memset(r, 0, sizeof *r);
  r->status = 200;
  for (size_t i = 0; i < times; i++) dw_buf_puts(&r->body, text);
}

static void resp_free(dw_http_resp *r) {
  dw_buf_free(&r->body);
  dw_buf_free(&r->gz);
}

static void test_reply_cache(void **state) {
  (void)state;
  dw_http_cache *c = dw_http_cache_new(2, 1000);
  assert_non_null(c);
  assert_true(dw_http_cache_enabled(c));
  dw_http_resp r, got;
  memset(&got, 0, sizeof got);
  assert_int_equal(dw_http_cache_get(c, "a", 0, &got), 0);
  fill(&r, "{\"rows\":[1,2,3]}", 100); /* long enough to be gzip'd */
  dw_http_cache_put(c, "a", 0, &r);
  assert_true(r.etag_value[0] != '\0');
  assert_true(r.gz.len > 0 && r.gz.len < r.body.len);
  assert_int_equal(dw_http_cache_get(c, "a", 500, &got), 1);
  assert_int_equal(got.body.len, r.body.len);
  assert_memory_equal(got.body.data, r.body.data, r.body.len);
  assert_int_equal(got.gz.len, r.gz.len);
  assert_string_equal(got.etag_value, r.etag_value);
  resp_free(&got);
  memset(&got, 0, sizeof got);
  /* older than max_age: rendered again */
  assert_int_equal(dw_http_cache_get(c, "a", 1001, &got), 0);
  /* b and c: a (used at 500, made at 0) is the least recently used */
  dw_http_resp rb, rc;
  fill(&rb, "b", 1);
  fill(&rc, "c", 1);
  dw_http_cache_put(c, "b", 600, &rb);
  assert_int_equal(dw_http_cache_get(c, "b", 700, &got), 1);
  resp_free(&got);
  memset(&got, 0, sizeof got);
  dw_http_cache_put(c, "c", 800, &rc);
  assert_int_equal(dw_http_cache_get(c, "a", 800, &got), 0);
  assert_int_equal(dw_http_cache_get(c, "b", 800, &got), 1);
  resp_free(&got);
  memset(&got, 0, sizeof got);
  assert_int_equal(dw_http_cache_get(c, "c", 800, &got), 1);
  assert_string_equal(got.body.data, "c");
  resp_free(&got);
  uint64_t hits, misses;
  dw_http_cache_counts(c, &hits, &misses);
  assert_int_equal(hits, 4);
  assert_int_equal(misses, 3);
  resp_free(&r);
  resp_free(&rb);
  resp_free(&rc);
  dw_http_cache_destroy(c);
  /* nothing kept, but the ETag is still computed */
  c = dw_http_cache_new(0, 1000);
  assert_false(dw_http_cache_enabled(c));
  fill(&r, "x", 1);
  dw_http_cache_put(c, "a", 0, &r);
  assert_true(r.etag_value[0] != '\0');
  memset(&got, 0, sizeof got);
  assert_int_equal(dw_http_cache_get(c, "a", 0, &got), 0);
  resp_free(&r);
  dw_http_cache_destroy(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reply_cache), cmocka_unit_test(test_match),         cmocka_unit_test(test_serve_table),   cmocka_unit_test(test_params),
    cmocka_unit_test(test_encoding_etag), cmocka_unit_test(test_listen),        cmocka_unit_test(test_tokens_scopes),
    cmocka_unit_test(test_cursor_periods), cmocka_unit_test(test_units),        cmocka_unit_test(test_shipped_units),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
