/* test_codec: dossier events through JSON Lines and Avro (single-object and
 * container files), schema evolution both ways, every error kind with its
 * message, and seeded fuzzing of both decoders (no crash, every input counted
 * as an event or an error). Also measures encode/decode throughput, and with
 * DW_CODEC_DUMP_DIR set writes files for tests/integration/
 * avro_python_crosscheck.sh to decode with python3-avro. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dw_buf.h"
#include "dw_codec.h"
#include "dw_codec_internal.h"
#include "dw_rejects.h"
#include "dw_time.h"

/* Codec functions beyond dw_codec.h (defined in dw_codec_avro.c). */
int dw_avro_register_writer_schema(dw_avro *av, const char *schema_json, char *err, size_t n);
dw_avro *dw_avro_new_with_event_schema(const char *schema_json, char *errstr, size_t errstr_size);
uint64_t dw_avro_event_fingerprint(const dw_avro *av);

#ifndef DW_SOURCE_DIR
#define DW_SOURCE_DIR "."
#endif

#define DOSSIER "\"dossier_id\":\"H01.23-250429-0001\""
#define REST "\"occurred_at\":\"2025-04-29T08:00:00+07:00\",\"commune\":\"00004\",\"agency\":\"UBND-00004\",\"procedure\":\"1.001612\""
#define BASE DOSSIER "," REST

/* One line per type, written in dw_event_to_json's field order so that a
 * round trip must reproduce the text exactly. */
static const char *const lines[DW_EV__COUNT] = {
  "{\"event_id\":\"e1\"," DOSSIER ",\"type\":\"RECEIVED\"," REST ",\"channel\":\"ONLINE_PARTIAL\",\"due_at\":\"2025-05-06T17:00:00+07:00\",\"processing_days\":5}",
  "{\"event_id\":\"e2\"," DOSSIER ",\"type\":\"DIGITIZED\"," REST "}",
  "{\"event_id\":\"e3\"," DOSSIER ",\"type\":\"DOC_REUSED\"," REST ",\"document\":\"Giấy khai sinh\"}",
  "{\"event_id\":\"e4\"," DOSSIER ",\"type\":\"PAPER_REQUESTED\"," REST ",\"document\":\"CCCD\",\"in_warehouse\":true}",
  "{\"event_id\":\"e5\"," DOSSIER ",\"type\":\"TRANSFERRED\"," REST ",\"to_agency\":\"STNMT-01\"}",
  "{\"event_id\":\"e6\"," DOSSIER ",\"type\":\"SUPPLEMENT_REQUESTED\"," REST ",\"reason\":\"thiếu bản vẽ \\\"A\\\"\"}",
  "{\"event_id\":\"e7\"," DOSSIER ",\"type\":\"SUPPLEMENT_RECEIVED\"," REST ",\"due_at\":\"2025-05-08T10:30:00.250+07:00\"}",
  "{\"event_id\":\"e8\"," DOSSIER ",\"type\":\"APOLOGY_ISSUED\"," REST ",\"new_due_at\":\"2025-05-12T17:00:00+07:00\"}",
  "{\"event_id\":\"e9\"," DOSSIER ",\"type\":\"RESULT_ISSUED\"," REST ",\"digitized\":false}",
  "{\"event_id\":\"e10\"," DOSSIER ",\"type\":\"RESULT_DIGITIZED\"," REST "}",
  "{\"event_id\":\"e11\"," DOSSIER ",\"type\":\"RETURNED\"," REST "}",
  "{\"event_id\":\"e12\"," DOSSIER ",\"type\":\"REJECTED\"," REST ",\"reason\":\"không đủ điều kiện\"}",
  "{\"event_id\":\"e13\"," DOSSIER ",\"type\":\"WITHDRAWN\"," REST "}",
  "{\"event_id\":\"e14\"," DOSSIER ",\"type\":\"PAYMENT\"," REST ",\"online\":true}",
  "{\"event_id\":\"e15\"," DOSSIER ",\"type\":\"RATED\"," REST ",\"score\":4}",
};

static const char *src_dir(void) {
  const char *d = getenv("DW_SOURCE_DIR");
  return d && *d ? d : DW_SOURCE_DIR;
}

static char *slurp(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = '\0';
  fclose(f);
  return s;
}

static void parse_ok(const char *line, dw_event *ev) {
  char err[256] = "";
  if (dw_event_from_json(line, strlen(line), ev, err, sizeof err) != 0) fail_msg("%s\n  -> %s", line, err);
}

static void expect_json_err(const char *line, const char *msg) {
  dw_event ev;
  char err[256] = "";
  if (dw_event_from_json(line, strlen(line), &ev, err, sizeof err) == 0) fail_msg("accepted: %s", line);
  if (!strstr(err, msg)) fail_msg("%s\n  error '%s' lacks '%s'", line, err, msg);
}

/* ---- JSON ---- */

static void test_json_roundtrip_all_types(void **state) {
  (void)state;
  for (int t = 0; t < DW_EV__COUNT; t++) {
    dw_event ev;
    parse_ok(lines[t], &ev);
    assert_int_equal(ev.type, t);
    char *out = dw_event_to_json(&ev, 420);
    assert_non_null(out);
    if (strcmp(out, lines[t]) != 0) fail_msg("type %d:\n in  %s\n out %s", t, lines[t], out);
    dw_event again;
    parse_ok(out, &again);
    assert_memory_equal(&ev, &again, sizeof ev);
    free(out);
  }
}

static void test_json_lenient(void **state) {
  (void)state;
  dw_event ev;
  /* unknown fields, null optionals, fields of other types: ignored */
  parse_ok("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"IN_PERSON\",\"processing_days\":0,"
           "\"due_at\":null,\"future_field\":{\"a\":[1,2]},\"score\":99,\"online\":\"maybe\"}", &ev);
  assert_int_equal(ev.processing_days, 0);
  assert_true(ev.due_at == DW_TIME_NONE);
  assert_int_equal(ev.score, 0);
  parse_ok("{\"event_id\":\"x\"," BASE ",\"type\":\"SUPPLEMENT_RECEIVED\"}", &ev);
  assert_true(ev.due_at == DW_TIME_NONE);
  parse_ok("  {\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"ONLINE_FULL\",\"due_at\":\"2025-04-29T01:00:00Z\"}\n", &ev);
  assert_int_equal(ev.channel, DW_CH_ONLINE_FULL);
  char *out = dw_event_to_json(&ev, 420);
  assert_non_null(strstr(out, "\"due_at\":\"2025-04-29T08:00:00+07:00\""));
  assert_null(strstr(out, "processing_days"));
  free(out);
}

static void test_json_errors(void **state) {
  (void)state;
  char long_id[200];
  memset(long_id, 'x', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  char buf[1024];
  expect_json_err("", "invalid JSON");
  expect_json_err("{\"event_id\":", "invalid JSON");
  expect_json_err("[1,2]", "expected a JSON object, got an array");
  expect_json_err("\"RECEIVED\"", "expected a JSON object, got a string");
  expect_json_err("{\"event_id\":\"x\"," BASE "}", "field 'type': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":7}", "field 'type': expected a string, got an integer");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"EXPLODED\"}", "field 'type': unknown event type 'EXPLODED'");
  expect_json_err("{" BASE ",\"type\":\"DIGITIZED\"}", "field 'event_id': required");
  expect_json_err("{\"event_id\":\"\"," BASE ",\"type\":\"DIGITIZED\"}", "field 'event_id': required");
  expect_json_err("{\"event_id\":5," BASE ",\"type\":\"DIGITIZED\"}", "field 'event_id': expected a string, got an integer");
  snprintf(buf, sizeof buf, "{\"event_id\":\"%s\"," BASE ",\"type\":\"DIGITIZED\"}", long_id);
  expect_json_err(buf, "field 'event_id': too long (199 bytes, at most 95)");
  expect_json_err("{\"event_id\":\"x\",\"dossier_id\":\"d\",\"occurred_at\":\"2025-04-29 08:00\",\"commune\":\"1\",\"agency\":\"a\","
                  "\"procedure\":\"p\",\"type\":\"DIGITIZED\"}", "field 'occurred_at': bad RFC 3339 timestamp");
  expect_json_err("{\"event_id\":\"x\",\"dossier_id\":\"d\",\"occurred_at\":\"2025-04-29T08:00:00\",\"commune\":\"1\",\"agency\":\"a\","
                  "\"procedure\":\"p\",\"type\":\"DIGITIZED\"}", "field 'occurred_at': bad RFC 3339 timestamp");
  expect_json_err("{\"event_id\":\"x\",\"dossier_id\":\"d\",\"occurred_at\":1714352400000,\"commune\":\"1\",\"agency\":\"a\","
                  "\"procedure\":\"p\",\"type\":\"DIGITIZED\"}", "field 'occurred_at': expected an RFC 3339 timestamp string, got an integer");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"processing_days\":5}", "field 'channel': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"FAX\",\"processing_days\":5}",
                  "field 'channel': unknown channel 'FAX'");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"POSTAL\"}",
                  "field 'due_at': RECEIVED needs 'due_at' or 'processing_days'");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"POSTAL\",\"processing_days\":-1}",
                  "field 'processing_days': -1 is outside 0..");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"POSTAL\",\"processing_days\":2.5}",
                  "field 'processing_days': expected an integer, got a number");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RATED\",\"score\":6}", "field 'score': 6 is outside 1..5");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RATED\",\"score\":0}", "field 'score': 0 is outside 1..5");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RATED\"}", "field 'score': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"PAPER_REQUESTED\",\"document\":\"CCCD\"}",
                  "field 'in_warehouse': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"PAPER_REQUESTED\",\"document\":\"CCCD\",\"in_warehouse\":1}",
                  "field 'in_warehouse': expected a boolean, got an integer");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RESULT_ISSUED\"}", "field 'digitized': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"PAYMENT\",\"online\":null}", "field 'online': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"DOC_REUSED\"}", "field 'document': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"TRANSFERRED\"}", "field 'to_agency': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"REJECTED\",\"reason\":[]}", "field 'reason': expected a string, got an array");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"APOLOGY_ISSUED\"}", "field 'new_due_at': required");
  expect_json_err("{\"event_id\":\"x\"," BASE ",\"type\":\"RATED\",\"score\":4,\"score\":5}", "duplicate");
  char longtext[700];
  memset(longtext, 'r', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = '\0';
  snprintf(buf, sizeof buf, "{\"event_id\":\"x\"," BASE ",\"type\":\"REJECTED\",\"reason\":\"%.600s\"}", longtext);
  expect_json_err(buf, "field 'reason': too long (600 bytes, at most 511)");
  expect_json_err("{\"event_id\":\"x\",\"dossier_id\":\"d\",\"occurred_at\":\"2025-04-29T08:00:00Z\",\"commune\":\"123456789012345678901234567890123\","
                  "\"agency\":\"a\",\"procedure\":\"p\",\"type\":\"DIGITIZED\"}", "field 'commune': too long (33 bytes, at most 31)");
}

/* ---- Avro ---- */

static dw_avro *codec(void) {
  char err[256] = "";
  dw_avro *av = dw_avro_new(err, sizeof err);
  if (!av) fail_msg("dw_avro_new: %s", err);
  return av;
}

/* The one JSON string writer gives valid JSON whatever the bytes: valid
 * UTF-8 passes through, every byte outside a valid sequence becomes
 * U+FFFD - a message cut mid-character by a fixed-size buffer (a quoted
 * value in a reject reason) included - and a reject keeps its reason. */
static void test_json_string_utf8(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
    {"Phường An Bình", "\"Phường An Bình\""},
    {"cut t\xe1\xba", "\"cut t\\ufffd\\ufffd\""},            /* a 3-byte character cut after 2 */
    {"\x80lone", "\"\\ufffdlone\""},                             /* a lone continuation byte */
    {"over\xc0\xaf", "\"over\\ufffd\\ufffd\""},               /* overlong '/' */
    {"sur\xed\xa0\x80", "\"sur\\ufffd\\ufffd\\ufffd\""},    /* a surrogate */
    {"big\xf4\x90\x80\x80", "\"big\\ufffd\\ufffd\\ufffd\\ufffd\""}, /* past U+10FFFF */
    {"max\xf4\x8f\xbf\xbf\"q\"", "\"max\xf4\x8f\xbf\xbf\\\"q\\\"\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dw_buf b = DW_BUF_INIT;
    dw_buf_json_string(&b, cases[i].in);
    assert_false(b.oom);
    assert_string_equal(cases[i].out, b.data);
    assert_true(dw_utf8_valid(b.data, b.len));
    json_error_t e;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("case %zu is not JSON: %s (%s)", i, b.data, e.text);
    json_decref(j);
    assert_int_equal(i == 0 || i == 6, dw_utf8_valid(cases[i].in, strlen(cases[i].in)));
    dw_buf_free(&b);
  }
  /* a reason cut mid-character is kept (it once became "invalid input") */
  char path[] = "/tmp/test_codec_rejects_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  dw_rejects *r = dw_rejects_new(path, 0);
  assert_non_null(r);
  dw_reject rej = {.at = 3, .unit = "line", .raw = "{}", .raw_len = 2};
  snprintf(rej.reason, sizeof rej.reason, "field 'type': unknown event type '%.20s'", "ệệệệệệệệệệ");
  char err[256];
  assert_int_equal(0, dw_rejects_add(r, "in.jsonl", &rej, err, sizeof err));
  assert_int_equal(0, dw_rejects_close(r, err, sizeof err));
  json_error_t e;
  json_t *line = json_load_file(path, 0, &e);
  unlink(path);
  if (!line) fail_msg("the reject line is not JSON: %s", e.text);
  assert_string_equal("field 'type': unknown event type 'ệệệệệệ\xef\xbf\xbd\xef\xbf\xbd'",
                      json_string_value(json_object_get(line, "reason")));
  json_decref(line);
}

static void test_avro_roundtrip_all_types(void **state) {
  (void)state;
  dw_avro *av = codec();
  for (int t = 0; t < DW_EV__COUNT; t++) {
    dw_event ev, back;
    parse_ok(lines[t], &ev);
    const void *buf;
    size_t len;
    char err[256] = "";
    if (dw_avro_encode_event(av, &ev, &buf, &len, err, sizeof err)) fail_msg("encode %d: %s", t, err);
    const unsigned char *b = buf;
    assert_int_equal(b[0], 0xC3);
    assert_int_equal(b[1], 0x01);
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) fp |= (uint64_t)b[2 + i] << (8 * i);
    assert_true(fp == dw_avro_event_fingerprint(av));
    if (dw_avro_decode_event(av, buf, len, &back, err, sizeof err)) fail_msg("decode %d: %s", t, err);
    assert_memory_equal(&ev, &back, sizeof ev);
    char *out = dw_event_to_json(&back, 420);
    assert_string_equal(out, lines[t]);
    free(out);
  }
  dw_avro_destroy(av);
}

static void test_avro_fingerprint_is_schema_fingerprint(void **state) {
  (void)state;
  char *json = slurp("schemas/dossier_event.avsc");
  assert_non_null(json);
  char *canon = dw_avro_canonical_form(json, NULL, 0);
  assert_non_null(canon);
  dw_avro *av = codec();
  assert_true(dw_avro_event_fingerprint(av) == dw_avro_crc64(canon, strlen(canon)));
  dw_avro_destroy(av);
  free(canon);
  free(json);
}

/* Encodes with a codec and returns a malloc'd copy. */
static unsigned char *enc_copy(dw_avro *av, const dw_event *ev, size_t *len) {
  const void *buf;
  char err[256] = "";
  if (dw_avro_encode_event(av, ev, &buf, len, err, sizeof err)) fail_msg("encode: %s", err);
  unsigned char *c = malloc(*len + 16);
  memcpy(c, buf, *len);
  return c;
}

static void expect_avro_err(dw_avro *av, const unsigned char *b, size_t len, const char *msg) {
  dw_event ev;
  char err[256] = "";
  if (dw_avro_decode_event(av, b, len, &ev, err, sizeof err) == 0) fail_msg("accepted (%zu bytes), wanted '%s'", len, msg);
  if (!strstr(err, msg)) fail_msg("error '%s' lacks '%s'", err, msg);
}

static void test_schema_evolution(void **state) {
  (void)state;
  char err[256] = "";
  char *v2 = slurp("tests/data/codec/dossier_event_v2.avsc");
  assert_non_null(v2);
  dw_avro *a1 = codec();
  dw_avro *a2 = dw_avro_new_with_event_schema(v2, err, sizeof err);
  if (!a2) fail_msg("v2 codec: %s", err);
  assert_true(dw_avro_event_fingerprint(a1) != dw_avro_event_fingerprint(a2));

  /* v2 writer -> v1 reader: unknown until registered, then the extra field
   * is skipped */
  dw_event ev, back;
  parse_ok(lines[DW_EV_RECEIVED], &ev);
  size_t len;
  unsigned char *b2 = enc_copy(a2, &ev, &len);
  char hex[32];
  snprintf(hex, sizeof hex, "%016" PRIx64, dw_avro_event_fingerprint(a2));
  expect_avro_err(a1, b2, len, "unknown writer schema fingerprint");
  expect_avro_err(a1, b2, len, hex);
  if (dw_avro_register_writer_schema(a1, v2, err, sizeof err)) fail_msg("register: %s", err);
  if (dw_avro_register_writer_schema(a1, v2, err, sizeof err)) fail_msg("register twice: %s", err);
  if (dw_avro_decode_event(a1, b2, len, &back, err, sizeof err)) fail_msg("v2->v1: %s", err);
  assert_memory_equal(&ev, &back, sizeof ev);
  /* the new field set (last field: union index 0 -> 1 + string "abc") */
  assert_int_equal(b2[len - 1], 0x00);
  memcpy(b2 + len - 1, "\x02\x06" "abc", 5);
  if (dw_avro_decode_event(a1, b2, len + 4, &back, err, sizeof err)) fail_msg("v2 with value->v1: %s", err);
  assert_memory_equal(&ev, &back, sizeof ev);
  /* and v2 reads its own bytes too */
  if (dw_avro_decode_event(a2, b2, len + 4, &back, err, sizeof err)) fail_msg("v2->v2: %s", err);
  assert_memory_equal(&ev, &back, sizeof ev);
  free(b2);

  /* v1 writer -> v2 reader: the v2-only field is absent (default null) */
  for (int t = 0; t < DW_EV__COUNT; t++) {
    parse_ok(lines[t], &ev);
    unsigned char *b1 = enc_copy(a1, &ev, &len);
    if (dw_avro_decode_event(a2, b1, len, &back, err, sizeof err)) fail_msg("v1->v2 type %d: %s", t, err);
    assert_memory_equal(&ev, &back, sizeof ev);
    free(b1);
  }
  /* a writer lacking a reader field without a default cannot be read */
  const char *lacking = "{\"type\":\"record\",\"name\":\"DossierEvent\",\"namespace\":\"vn.dossierwatch\",\"fields\":["
                        "{\"name\":\"event_id\",\"type\":\"string\"}]}";
  assert_int_equal(dw_avro_register_writer_schema(a1, lacking, err, sizeof err), -1);
  assert_non_null(strstr(err, "lacks field 'dossier_id'"));
  assert_int_equal(dw_avro_register_writer_schema(a1, "{\"type\":", err, sizeof err), -1);
  dw_avro_destroy(a1);
  dw_avro_destroy(a2);
  free(v2);
}

/* avro-c's resolved reader does not remap enum indexes: a writer schema
 * with the symbols in another order must still read as the right symbols. */
static void test_enum_symbol_order(void **state) {
  (void)state;
  char err[256] = "";
  char *v1 = slurp("schemas/dossier_event.avsc");
  char *p = strstr(v1, "\"RECEIVED\", \"DIGITIZED\"");
  assert_non_null(p);
  memcpy(p, "\"DIGITIZED\", \"RECEIVED\"", strlen("\"DIGITIZED\", \"RECEIVED\""));
  p = strstr(v1, "\"IN_PERSON\", \"POSTAL\"");
  assert_non_null(p);
  memcpy(p, "\"POSTAL\", \"IN_PERSON\"", strlen("\"POSTAL\", \"IN_PERSON\""));
  dw_avro *odd = dw_avro_new_with_event_schema(v1, err, sizeof err);
  if (!odd) fail_msg("reordered codec: %s", err);
  dw_avro *av = codec();
  if (dw_avro_register_writer_schema(av, v1, err, sizeof err)) fail_msg("register: %s", err);
  const char *in = "{\"event_id\":\"x\"," BASE ",\"type\":\"RECEIVED\",\"channel\":\"IN_PERSON\",\"processing_days\":3}";
  dw_event ev, back;
  parse_ok(in, &ev);
  size_t len;
  unsigned char *b = enc_copy(odd, &ev, &len);
  if (dw_avro_decode_event(av, b, len, &back, err, sizeof err)) fail_msg("decode: %s", err);
  assert_int_equal(back.type, DW_EV_RECEIVED);
  assert_int_equal(back.channel, DW_CH_IN_PERSON);
  assert_memory_equal(&ev, &back, sizeof ev);
  free(b);
  dw_avro_destroy(av);
  dw_avro_destroy(odd);
  free(v1);
}

/* Builds a v1 body by hand with avro-c, for values our encoder refuses. */
static unsigned char *raw_event(dw_avro *av, const char *commune, const char *type_sym, int score, size_t *len) {
  char *json = slurp("schemas/dossier_event.avsc");
  avro_schema_t s;
  assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
  avro_value_iface_t *cls = avro_generic_class_from_schema(s);
  avro_value_t v, f, b;
  avro_generic_value_new(cls, &v);
  const char *strs[][2] = {{"event_id", "r1"}, {"dossier_id", "d1"}, {"commune", commune}, {"agency", "a"}, {"procedure", "p"}};
  for (size_t i = 0; i < 5; i++) {
    avro_value_get_by_name(&v, strs[i][0], &f, NULL);
    avro_value_set_string(&f, strs[i][1]);
  }
  avro_value_get_by_name(&v, "type", &f, NULL);
  avro_value_set_enum(&f, avro_schema_enum_get_by_name(avro_value_get_schema(&f), type_sym));
  avro_value_get_by_name(&v, "occurred_at", &f, NULL);
  avro_value_set_long(&f, 1745888400000LL);
  size_t cnt;
  avro_value_get_size(&v, &cnt);
  for (size_t i = 7; i < cnt; i++) { /* optional fields: null */
    avro_value_get_by_index(&v, i, &f, NULL);
    avro_value_set_branch(&f, 0, &b);
  }
  if (score) {
    avro_value_get_by_name(&v, "score", &f, NULL);
    avro_value_set_branch(&f, 1, &b);
    avro_value_set_int(&b, score);
  }
  size_t sz;
  avro_value_sizeof(&v, &sz);
  unsigned char *out = malloc(sz + 10);
  out[0] = 0xC3;
  out[1] = 0x01;
  uint64_t fp = dw_avro_event_fingerprint(av);
  for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(fp >> (8 * i));
  avro_writer_t w = avro_writer_memory((const char *)out + 10, (int64_t)sz);
  assert_int_equal(avro_value_write(w, &v), 0);
  avro_writer_free(w);
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(s);
  free(json);
  *len = sz + 10;
  return out;
}

static void test_avro_errors(void **state) {
  (void)state;
  dw_avro *av = codec();
  dw_event ev;
  parse_ok(lines[DW_EV_PAYMENT], &ev);
  size_t len;
  unsigned char *b = enc_copy(av, &ev, &len);
  char err[256];

  expect_avro_err(av, (const unsigned char *)"", 0, "bad magic");
  expect_avro_err(av, (const unsigned char *)"{\"event_id\":1}", 14, "bad magic");
  expect_avro_err(av, b, 6, "truncated single-object header");
  unsigned char bad[64];
  memcpy(bad, b, 10);
  bad[2] ^= 0xff;
  expect_avro_err(av, bad, 10, "unknown writer schema fingerprint");
  /* every truncation of the body is an error, never a crash or a leak */
  for (size_t cut = 10; cut < len; cut++) {
    dw_event tmp;
    assert_int_equal(dw_avro_decode_event(av, b, cut, &tmp, err, sizeof err), -1);
  }
  expect_avro_err(av, b, len - 3, "truncated");
  expect_avro_err(av, b, 12, "field 'event_id': truncated");
  /* trailing garbage */
  memcpy(b + len, "\x01\x02", 2);
  expect_avro_err(av, b, len + 2, "2 trailing bytes");
  /* body ends: online (union 1, true), score (union 0) -> online null */
  assert_memory_equal(b + len - 3, "\x02\x01\x00", 3);
  memcpy(b + len - 3, "\x00\x00", 2);
  expect_avro_err(av, b, len - 1, "field 'online': required (boolean)");
  /* invalid boolean byte and union index */
  memcpy(b + len - 3, "\x02\x07\x00", 3);
  expect_avro_err(av, b, len, "field 'online': invalid boolean byte");
  memcpy(b + len - 3, "\x02\x01\x08", 3);
  expect_avro_err(av, b, len, "field 'score': union branch out of range");
  /* enum index out of range: the type enum follows event_id and dossier_id */
  size_t type_at = 10 + 1 + strlen(ev.event_id) + 1 + strlen(ev.dossier_id);
  memcpy(b + len - 3, "\x02\x01\x00", 3);
  b[type_at] = 0x7e; /* zigzag 63 */
  expect_avro_err(av, b, len, "field 'type': enum index out of range");
  b[type_at] = 0x81; /* varint never ends inside the data */
  for (size_t i = type_at + 1; i < len; i++) b[i] = 0xff;
  expect_avro_err(av, b, len, "field 'type': invalid varint");
  free(b);

  /* values the encoder refuses, written by hand */
  b = raw_event(av, "123456789012345678901234567890123", "DIGITIZED", 0, &len);
  expect_avro_err(av, b, len, "field 'commune': too long (33 bytes, at most 31)");
  free(b);
  b = raw_event(av, "00004", "RATED", 9, &len);
  expect_avro_err(av, b, len, "field 'score': 9 is outside 1..5");
  free(b);
  b = raw_event(av, "00004", "RATED", 0, &len);
  expect_avro_err(av, b, len, "field 'score'");
  free(b);
  b = raw_event(av, "00004", "TRANSFERRED", 0, &len);
  expect_avro_err(av, b, len, "field 'to_agency': required");
  free(b);
  b = raw_event(av, "", "DIGITIZED", 0, &len);
  expect_avro_err(av, b, len, "field 'commune': required");
  free(b);
  b = raw_event(av, "0\xff", "DIGITIZED", 0, &len);
  expect_avro_err(av, b, len, "field 'commune': invalid UTF-8");
  free(b);
  b = raw_event(av, "00004", "DIGITIZED", 0, &len);
  assert_int_equal(dw_avro_decode_event(av, b, len, &ev, err, sizeof err), 0);
  free(b);

  /* the encoder validates too */
  dw_event_init(&ev);
  const void *out;
  assert_int_equal(dw_avro_encode_event(av, &ev, &out, &len, err, sizeof err), -1);
  assert_non_null(strstr(err, "field 'event_id': required"));
  dw_avro_destroy(av);
}

/* ---- fuzzing ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) { /* xorshift64*, seeded: reproducible */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static int fuzz_iters(void) {
  const char *s = getenv("DW_CODEC_FUZZ_N");
  return s ? atoi(s) : 3000;
}

static void check_decoded(dw_avro *av, const dw_event *ev) {
  /* whatever a decoder accepts is a valid event that encodes again */
  char err[256];
  assert_int_equal(dw_event_validate(ev, err, sizeof err), 0);
  char *j = dw_event_to_json(ev, 420);
  assert_non_null(j);
  free(j);
  const void *o;
  size_t l;
  if (dw_avro_encode_event(av, ev, &o, &l, err, sizeof err)) fail_msg("re-encode: %s", err);
}

static void test_fuzz_avro(void **state) {
  (void)state;
  rng_state = 42;
  dw_avro *av = codec();
  unsigned char *valid[DW_EV__COUNT];
  size_t vlen[DW_EV__COUNT];
  for (int t = 0; t < DW_EV__COUNT; t++) {
    dw_event ev;
    parse_ok(lines[t], &ev);
    valid[t] = enc_copy(av, &ev, &vlen[t]);
  }
  int n = fuzz_iters(), ok = 0, bad = 0;
  unsigned char buf[600];
  for (int i = 0; i < n; i++) {
    size_t len;
    int mode = i % 3;
    if (mode == 0) { /* random bytes, sometimes behind a valid header */
      len = rnd() % 300;
      for (size_t k = 0; k < len; k++) buf[k] = (unsigned char)rnd();
      if (len >= 10 && (rnd() & 1)) memcpy(buf, valid[0], 10);
    } else { /* a valid message with a few bytes changed, cut or extended */
      int t = (int)(rnd() % DW_EV__COUNT);
      len = vlen[t];
      memcpy(buf, valid[t], len);
      int flips = 1 + (int)(rnd() % 4);
      for (int k = 0; k < flips; k++) {
        size_t at = 10 + rnd() % (len - 10);
        buf[at] = (rnd() & 1) ? (unsigned char)rnd() : (unsigned char)(buf[at] ^ (1u << (rnd() % 8)));
      }
      if (mode == 2) {
        if (rnd() & 1)
          len = 10 + rnd() % (len - 10);
        else
          for (int k = 0; k < 4; k++) buf[len++] = (unsigned char)rnd();
      }
    }
    dw_event ev;
    char err[256];
    if (dw_avro_decode_event(av, buf, len, &ev, err, sizeof err) == 0) {
      ok++;
      check_decoded(av, &ev);
    } else {
      assert_true(err[0] != '\0');
      bad++;
    }
  }
  assert_int_equal(ok + bad, n);
  fprintf(stderr, "avro fuzz: %d inputs, %d decoded, %d errors\n", n, ok, bad);
  assert_true(bad > n / 2);
  for (int t = 0; t < DW_EV__COUNT; t++) free(valid[t]);
  dw_avro_destroy(av);
}

/* The resolved decoder (a plan per writer schema) must give exactly what
 * the generic way gives (the walk, avro-c's generic value and resolved
 * reader): the same event byte for byte, or the same error text, for every
 * input; for our schema, a v2 writer with an extra field and a writer with
 * its enum symbols in another order. */
static void expect_same(dw_avro *av, const unsigned char *b, size_t len, int *ok, int *bad) {
  dw_event e1, e2;
  char m1[256] = "", m2[256] = "";
  memset(&e1, 0x5a, sizeof e1);
  memset(&e2, 0xa5, sizeof e2);
  int r1 = dw_avro_decode_event(av, b, len, &e1, m1, sizeof m1);
  int r2 = dw_avro__decode_event_generic(av, b, len, &e2, m2, sizeof m2);
  if (r1 != r2) fail_msg("plan %d (%s), generic %d (%s), %zu bytes", r1, m1, r2, m2, len);
  if (r1) {
    if (strcmp(m1, m2)) fail_msg("plan '%s', generic '%s'", m1, m2);
    (*bad)++;
  } else {
    (*ok)++;
  }
  assert_memory_equal(&e1, &e2, sizeof e1);
}

static void test_plan_equals_generic(void **state) {
  (void)state;
  rng_state = 99;
  char err[256] = "";
  dw_avro *av = codec();
  char *v2 = slurp("tests/data/codec/dossier_event_v2.avsc");
  char *odd_json = slurp("schemas/dossier_event.avsc");
  char *p = strstr(odd_json, "\"RECEIVED\", \"DIGITIZED\"");
  memcpy(p, "\"DIGITIZED\", \"RECEIVED\"", strlen("\"DIGITIZED\", \"RECEIVED\""));
  p = strstr(odd_json, "\"IN_PERSON\", \"POSTAL\"");
  memcpy(p, "\"POSTAL\", \"IN_PERSON\"", strlen("\"POSTAL\", \"IN_PERSON\""));
  dw_avro *a2 = dw_avro_new_with_event_schema(v2, err, sizeof err);
  dw_avro *odd = dw_avro_new_with_event_schema(odd_json, err, sizeof err);
  assert_non_null(a2);
  assert_non_null(odd);
  if (dw_avro_register_writer_schema(av, v2, err, sizeof err) || dw_avro_register_writer_schema(av, odd_json, err, sizeof err))
    fail_msg("register: %s", err);
  assert_int_equal(dw_avro__writer_has_plan(av, dw_avro_event_fingerprint(av)), 1);
  assert_int_equal(dw_avro__writer_has_plan(av, dw_avro_event_fingerprint(a2)), 1);
  assert_int_equal(dw_avro__writer_has_plan(av, dw_avro_event_fingerprint(odd)), 1);
  dw_avro *writers[3] = {av, a2, odd};
  unsigned char *valid[3][DW_EV__COUNT];
  size_t vlen[3][DW_EV__COUNT];
  for (int w = 0; w < 3; w++)
    for (int t = 0; t < DW_EV__COUNT; t++) {
      dw_event ev;
      parse_ok(lines[t], &ev);
      valid[w][t] = enc_copy(writers[w], &ev, &vlen[w][t]);
    }
  int ok = 0, bad = 0, n = fuzz_iters() * 10;
  /* every valid message, every truncation and every single-byte change to 0x00, 0xff, +1 */
  for (int w = 0; w < 3; w++)
    for (int t = 0; t < DW_EV__COUNT; t++) {
      unsigned char buf[700];
      size_t len = vlen[w][t];
      for (size_t cut = 0; cut <= len; cut++) expect_same(av, valid[w][t], cut, &ok, &bad);
      for (size_t at = 10; at < len; at++)
        for (int k = 0; k < 3; k++) {
          memcpy(buf, valid[w][t], len);
          buf[at] = k == 0 ? 0 : k == 1 ? 0xff : (unsigned char)(buf[at] + 1);
          expect_same(av, buf, len, &ok, &bad);
        }
    }
  /* seeded mutations, as test_fuzz_avro */
  for (int i = 0; i < n; i++) {
    unsigned char buf[700];
    int w = (int)(rnd() % 3), t = (int)(rnd() % DW_EV__COUNT);
    size_t len = vlen[w][t];
    memcpy(buf, valid[w][t], len);
    int flips = 1 + (int)(rnd() % 6);
    for (int k = 0; k < flips; k++) {
      size_t at = 10 + rnd() % (len - 10);
      buf[at] = (rnd() & 1) ? (unsigned char)rnd() : (unsigned char)(buf[at] ^ (1u << (rnd() % 8)));
    }
    if (rnd() % 3 == 0) {
      if (rnd() & 1)
        len = 10 + rnd() % (len - 10);
      else
        for (int k = 0; k < 4; k++) buf[len++] = (unsigned char)rnd();
    }
    expect_same(av, buf, len, &ok, &bad);
  }
  /* values the encoder refuses */
  const char *communes[] = {"123456789012345678901234567890123", "", "0\xff", "00004", "a\xc3\xa9" "b"};
  const char *types[] = {"DIGITIZED", "RATED", "TRANSFERRED", "PAYMENT", "RECEIVED"};
  for (size_t c = 0; c < sizeof communes / sizeof *communes; c++)
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
      for (int score = 0; score < 10; score += 3) {
        size_t len;
        unsigned char *b = raw_event(av, communes[c], types[t], score, &len);
        expect_same(av, b, len, &ok, &bad);
        free(b);
      }
  fprintf(stderr, "plan vs generic: %d decoded, %d errors, all equal\n", ok, bad);
  assert_true(ok > 100 && bad > 1000);
  for (int w = 0; w < 3; w++)
    for (int t = 0; t < DW_EV__COUNT; t++) free(valid[w][t]);
  dw_avro_destroy(odd);
  dw_avro_destroy(a2);
  dw_avro_destroy(av);
  free(v2);
  free(odd_json);
}

static void tmp_path(char *out, size_t n, const char *name);

/* Container files: avro-c reads the writer's value, the plan maps it. The
 * same records, valid and not (written with avro-c directly), must read the
 * same through the plan and the generic way. */
static void test_plan_container_equals_generic(void **state) {
  (void)state;
  char path[1024], err[256] = "";
  tmp_path(path, sizeof path, "plan.avro");
  char *json = slurp("schemas/dossier_event.avsc");
  avro_schema_t s;
  assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
  avro_value_iface_t *cls = avro_generic_class_from_schema(s);
  avro_value_t v, f, b;
  avro_generic_value_new(cls, &v);
  remove(path);
  avro_file_writer_t w;
  assert_int_equal(avro_file_writer_create(path, s, &w), 0);
  const char *communes[] = {"00004", "", "0\xff", "123456789012345678901234567890123", "a\xc3\xa9" "b"};
  int records = 0;
  for (size_t c = 0; c < sizeof communes / sizeof *communes; c++)
    for (int t = 0; t < DW_EV__COUNT; t++)
      for (int opt = 0; opt < 4; opt++) {
        const char *strs[][2] = {{"event_id", "r1"}, {"dossier_id", "d1"}, {"commune", communes[c]}, {"agency", "a"}, {"procedure", "p"}};
        for (size_t i = 0; i < 5; i++) {
          avro_value_get_by_name(&v, strs[i][0], &f, NULL);
          avro_value_set_string(&f, strs[i][1]);
        }
        avro_value_get_by_name(&v, "type", &f, NULL);
        avro_value_set_enum(&f, t);
        avro_value_get_by_name(&v, "occurred_at", &f, NULL);
        avro_value_set_long(&f, opt == 3 ? -99999999999999999LL : 1745888400000LL);
        size_t cnt;
        avro_value_get_size(&v, &cnt);
        for (size_t i = 7; i < cnt; i++) { /* optional fields: null, or a value (opt) */
          const char *name;
          avro_value_get_by_index(&v, i, &f, &name);
          avro_value_set_branch(&f, opt == 0 ? 0 : 1, &b);
          if (opt == 0) continue;
          switch (avro_value_get_type(&b)) {
          case AVRO_STRING: avro_value_set_string(&b, opt == 2 ? "" : "x"); break;
          case AVRO_INT32: avro_value_set_int(&b, opt == 2 ? 9 : 3); break;
          case AVRO_INT64: avro_value_set_long(&b, opt == 2 ? 253402300800000LL : 1745988400000LL); break;
          case AVRO_BOOLEAN: avro_value_set_boolean(&b, opt == 2); break;
          case AVRO_ENUM: avro_value_set_enum(&b, opt == 2 ? 3 : 1); break;
          default: break;
          }
        }
        assert_int_equal(avro_file_writer_append_value(w, &v), 0);
        records++;
      }
  avro_file_writer_close(w);
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(s);
  free(json);

  dw_avro *av = codec();
  dw_avro_file *fp = dw_avro_file_open(av, path, err, sizeof err), *fg = dw_avro_file_open(av, path, err, sizeof err);
  assert_non_null(fp);
  assert_non_null(fg);
  int ok = 0, bad = 0;
  for (int r = 0; r < records; r++) {
    dw_event e1, e2;
    char m1[256] = "", m2[256] = "";
    dw_avro__set_generic_only(av, 0);
    int r1 = dw_avro_file_read(fp, &e1, m1, sizeof m1);
    dw_avro__set_generic_only(av, 1);
    int r2 = dw_avro_file_read(fg, &e2, m2, sizeof m2);
    if (r1 != r2 || (r1 < 0 && strcmp(m1, m2))) fail_msg("record %d: plan %d '%s', generic %d '%s'", r, r1, m1, r2, m2);
    if (r1 == 1) assert_memory_equal(&e1, &e2, sizeof e1);
    if (r1 == 0) fail_msg("file ended after %d of %d records", r, records);
    r1 == 1 ? ok++ : bad++; /* a refused record was read whole: the next follows */
  }
  fprintf(stderr, "container plan vs generic: %d read, %d refused, all equal\n", ok, bad);
  assert_true(ok > 10 && bad > 100);
  dw_avro_file_close(fp);
  dw_avro_file_close(fg);
  dw_avro_destroy(av);
  unlink(path);
}

static void test_fuzz_json(void **state) {
  (void)state;
  rng_state = 7;
  dw_avro *av = codec();
  static const char alphabet[] = "{}[]\":,0123456789-+.eE tfnulrsaTZ\\/xyzé";
  int n = fuzz_iters(), ok = 0, bad = 0;
  char buf[2048];
  for (int i = 0; i < n; i++) {
    const char *src = lines[rnd() % DW_EV__COUNT];
    size_t len = strlen(src);
    memcpy(buf, src, len);
    int edits = 1 + (int)(rnd() % 3);
    for (int k = 0; k < edits && len > 0; k++) {
      size_t at = rnd() % len;
      switch (rnd() % 4) {
      case 0: buf[at] = alphabet[rnd() % (sizeof alphabet - 1)]; break;         /* replace */
      case 1: memmove(buf + at, buf + at + 1, len - at - 1); len--; break;      /* delete */
      case 2:                                                                   /* insert */
        if (len + 1 < sizeof buf) {
          memmove(buf + at + 1, buf + at, len - at);
          buf[at] = alphabet[rnd() % (sizeof alphabet - 1)];
          len++;
        }
        break;
      default: buf[at] = (char)(rnd() & 0xff); break; /* any byte, NUL included */
      }
    }
    if (i % 10 == 0) { /* pure noise now and then */
      len = rnd() % 100;
      for (size_t k = 0; k < len; k++) buf[k] = (char)rnd();
    }
    dw_event ev;
    char err[256] = "";
    if (dw_event_from_json(buf, len, &ev, err, sizeof err) == 0) {
      ok++;
      check_decoded(av, &ev);
    } else {
      assert_true(err[0] != '\0');
      bad++;
    }
  }
  assert_int_equal(ok + bad, n);
  fprintf(stderr, "json fuzz: %d inputs, %d parsed, %d errors\n", n, ok, bad);
  dw_avro_destroy(av);
}

/* ---- container files ---- */

static void tmp_path(char *out, size_t n, const char *name) {
  const char *t = getenv("TMPDIR");
  snprintf(out, n, "%s/test_codec_%ld_%s", t && *t ? t : "/tmp", (long)getpid(), name);
}

static void test_container_file(void **state) {
  (void)state;
  dw_avro *av = codec();
  char path[1024], err[256] = "";
  tmp_path(path, sizeof path, "events.avro");
  dw_avro_file *f = dw_avro_file_create(av, path, err, sizeof err);
  if (!f) fail_msg("create: %s", err);
  for (int r = 0; r < 100; r++)
    for (int t = 0; t < DW_EV__COUNT; t++) {
      dw_event ev;
      parse_ok(lines[t], &ev);
      if (dw_avro_file_write(f, &ev, err, sizeof err)) fail_msg("write: %s", err);
    }
  dw_event empty;
  dw_event_init(&empty);
  assert_int_equal(dw_avro_file_write(f, &empty, err, sizeof err), -1);
  dw_avro_file_close(f);
  assert_true(dw_avro_file_sniff(path));

  f = dw_avro_file_open(av, path, err, sizeof err);
  if (!f) fail_msg("open: %s", err);
  int count = 0, rc;
  dw_event ev, want;
  while ((rc = dw_avro_file_read(f, &ev, err, sizeof err)) == 1) {
    parse_ok(lines[count % DW_EV__COUNT], &want);
    assert_memory_equal(&ev, &want, sizeof ev);
    count++;
  }
  if (rc < 0) fail_msg("read: %s", err);
  assert_int_equal(count, 100 * DW_EV__COUNT);
  assert_int_equal(dw_avro_file_read(f, &ev, err, sizeof err), 0);
  dw_avro_file_close(f);

  /* a v2-written container is read by the v1 codec (schema from the file) */
  char *v2 = slurp("tests/data/codec/dossier_event_v2.avsc");
  dw_avro *a2 = dw_avro_new_with_event_schema(v2, err, sizeof err);
  assert_non_null(a2);
  f = dw_avro_file_create(a2, path, err, sizeof err);
  parse_ok(lines[DW_EV_RATED], &want);
  assert_int_equal(dw_avro_file_write(f, &want, err, sizeof err), 0);
  dw_avro_file_close(f);
  f = dw_avro_file_open(av, path, err, sizeof err);
  assert_non_null(f);
  assert_int_equal(dw_avro_file_read(f, &ev, err, sizeof err), 1);
  assert_memory_equal(&ev, &want, sizeof ev);
  assert_int_equal(dw_avro_file_read(f, &ev, err, sizeof err), 0);
  dw_avro_file_close(f);
  dw_avro_destroy(a2);
  free(v2);
  unlink(path);

  /* not a container */
  tmp_path(path, sizeof path, "events.jsonl");
  FILE *j = fopen(path, "w");
  fprintf(j, "%s\n", lines[0]);
  fclose(j);
  assert_false(dw_avro_file_sniff(path));
  assert_null(dw_avro_file_open(av, path, err, sizeof err));
  assert_true(err[0] != '\0');
  unlink(path);
  assert_false(dw_avro_file_sniff("/nonexistent/file.avro"));
  assert_null(dw_avro_file_open(av, "/nonexistent/file.avro", err, sizeof err));
  dw_avro_destroy(av);
}

/* ---- alerts and aggregates ---- */

static void sample_alert(dw_alert *a) {
  memset(a, 0, sizeof *a);
  snprintf(a->alert_id, sizeof a->alert_id, "H01:OVERDUE:1745888400000");
  a->rule = DW_RULE_OVERDUE;
  snprintf(a->dossier_id, sizeof a->dossier_id, "H01");
  snprintf(a->commune, sizeof a->commune, "00004");
  snprintf(a->agency, sizeof a->agency, "UBND-00004");
  snprintf(a->procedure, sizeof a->procedure, "1.001612");
  a->severity = DW_SEV_CRITICAL;
  a->raised_at = 1745888400000LL;
  a->due_at = 1745880000000LL;
  a->cleared_at = DW_TIME_NONE;
  snprintf(a->detail, sizeof a->detail, "quá hạn");
}

static void sample_row(dw_agg_row *r, dw_agg_rates *x) {
  memset(r, 0, sizeof *r);
  r->unit_type = DW_UNIT_COMMUNE;
  r->unit = "00004";
  r->period_kind = DW_PERIOD_MONTH;
  snprintf(r->period, sizeof r->period, "2025-04");
  for (int c = 0; c < DW_C__COUNT; c++) r->counters[c] = c * 10 + 1;
  r->open_overdue = 3;
  x->on_time_rate = 87.5;
  x->intake_digitized_rate = NAN;
  x->result_digitized_rate = 50;
  x->online_rate = 12.34;
  x->rating_avg = 4.25;
  x->reuse_rate = 0;
  x->paid_online_rate = NAN;
  x->score = 61.5;
  x->score_100 = 75;
}

/* Decodes a single-object message of an embedded schema with plain avro-c. */
static void read_back(const void *buf, size_t len, const char *schema_file, avro_value_t *v, avro_value_iface_t **cls,
                      avro_schema_t *s) {
  char *json = slurp(schema_file);
  assert_int_equal(avro_schema_from_json_length(json, strlen(json), s), 0);
  char *canon = dw_avro_canonical_form(json, NULL, 0);
  uint64_t fp = dw_avro_crc64(canon, strlen(canon)), got = 0;
  for (int i = 0; i < 8; i++) got |= (uint64_t)((const unsigned char *)buf)[2 + i] << (8 * i);
  assert_true(fp == got);
  *cls = avro_generic_class_from_schema(*s);
  avro_generic_value_new(*cls, v);
  avro_reader_t r = avro_reader_memory((const char *)buf + 10, (int64_t)len - 10);
  assert_int_equal(avro_value_read(r, v), 0);
  avro_reader_free(r);
  free(canon);
  free(json);
}

static void test_alert_and_aggregate(void **state) {
  (void)state;
  dw_avro *av = codec();
  char err[256];
  const void *buf;
  size_t len;
  dw_alert a;
  sample_alert(&a);
  if (dw_avro_encode_alert(av, &a, &buf, &len, err, sizeof err)) fail_msg("alert: %s", err);
  avro_value_t v, f, b;
  avro_value_iface_t *cls;
  avro_schema_t s;
  read_back(buf, len, "schemas/alert.avsc", &v, &cls, &s);
  const char *str;
  size_t sz;
  int idx;
  int64_t l;
  avro_value_get_by_name(&v, "alert_id", &f, NULL);
  avro_value_get_string(&f, &str, &sz);
  assert_string_equal(str, a.alert_id);
  avro_value_get_by_name(&v, "rule", &f, NULL);
  avro_value_get_enum(&f, &idx);
  assert_string_equal(avro_schema_enum_get(avro_value_get_schema(&f), idx), "OVERDUE");
  avro_value_get_by_name(&v, "severity", &f, NULL);
  avro_value_get_enum(&f, &idx);
  assert_string_equal(avro_schema_enum_get(avro_value_get_schema(&f), idx), "critical");
  avro_value_get_by_name(&v, "cleared_at", &f, NULL);
  avro_value_get_discriminant(&f, &idx);
  assert_int_equal(idx, 0);
  avro_value_get_by_name(&v, "due_at", &f, NULL);
  avro_value_get_current_branch(&f, &b);
  avro_value_get_long(&b, &l);
  assert_true(l == a.due_at);
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(s);
  a.cleared_at = a.raised_at + 1000;
  assert_int_equal(dw_avro_encode_alert(av, &a, &buf, &len, err, sizeof err), 0);

  dw_agg_row r;
  dw_agg_rates x;
  sample_row(&r, &x);
  if (dw_avro_encode_aggregate(av, &r, &x, &buf, &len, err, sizeof err)) fail_msg("aggregate: %s", err);
  read_back(buf, len, "schemas/compliance_aggregate.avsc", &v, &cls, &s);
  avro_value_get_by_name(&v, "late", &f, NULL);
  avro_value_get_long(&f, &l);
  assert_true(l == r.counters[DW_C_LATE]);
  avro_value_get_by_name(&v, "intake_digitized_rate", &f, NULL);
  avro_value_get_discriminant(&f, &idx);
  assert_int_equal(idx, 0);
  double d;
  avro_value_get_by_name(&v, "online_rate", &f, NULL);
  avro_value_get_current_branch(&f, &b);
  avro_value_get_double(&b, &d);
  assert_true(d == 12.34);
  avro_value_get_by_name(&v, "period", &f, NULL);
  avro_value_get_string(&f, &str, &sz);
  assert_string_equal(str, "2025-04");
  avro_value_decref(&v);
  avro_value_iface_decref(cls);
  avro_schema_decref(s);
  dw_avro_destroy(av);
}

/* ---- throughput (reported, not asserted) and the python dump ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_throughput(void **state) {
  (void)state;
  const char *s = getenv("DW_CODEC_BENCH_N");
  int n = s ? atoi(s) : 30000;
  dw_avro *av = codec();
  dw_event evs[DW_EV__COUNT], back;
  unsigned char *enc[DW_EV__COUNT];
  size_t elen[DW_EV__COUNT];
  for (int t = 0; t < DW_EV__COUNT; t++) {
    parse_ok(lines[t], &evs[t]);
    enc[t] = enc_copy(av, &evs[t], &elen[t]);
  }
  char err[256];
  const void *o;
  size_t l;
  double t0 = now_s();
  for (int i = 0; i < n; i++) assert_int_equal(dw_avro_encode_event(av, &evs[i % DW_EV__COUNT], &o, &l, err, sizeof err), 0);
  double t1 = now_s();
  for (int i = 0; i < n; i++)
    assert_int_equal(dw_avro_decode_event(av, enc[i % DW_EV__COUNT], elen[i % DW_EV__COUNT], &back, err, sizeof err), 0);
  double t2 = now_s();
  for (int i = 0; i < n; i++) {
    const char *line = lines[i % DW_EV__COUNT];
    assert_int_equal(dw_event_from_json(line, strlen(line), &back, err, sizeof err), 0);
  }
  double t3 = now_s();
  for (int i = 0; i < n; i++) free(dw_event_to_json(&evs[i % DW_EV__COUNT], 420));
  double t4 = now_s();
  fprintf(stderr, "throughput (%d events): avro encode %.0f/s, avro decode %.0f/s, json parse %.0f/s, json write %.0f/s\n", n,
          n / (t1 - t0), n / (t2 - t1), n / (t3 - t2), n / (t4 - t3));
  for (int t = 0; t < DW_EV__COUNT; t++) free(enc[t]);
  dw_avro_destroy(av);
}

/* DW_CODEC_DUMP_DIR: expected.jsonl (times at UTC), messages.bin (4-byte LE
 * length + single-object message, per event), events.avro (container),
 * alert.bin and aggregate.bin (one message each). */
static void test_dump_for_python(void **state) {
  (void)state;
  const char *dir = getenv("DW_CODEC_DUMP_DIR");
  if (!dir || !*dir) skip();
  char path[1024], err[256];
  dw_avro *av = codec();
  snprintf(path, sizeof path, "%s/expected.jsonl", dir);
  FILE *exp = fopen(path, "w");
  snprintf(path, sizeof path, "%s/messages.bin", dir);
  FILE *msg = fopen(path, "wb");
  snprintf(path, sizeof path, "%s/events.avro", dir);
  dw_avro_file *f = dw_avro_file_create(av, path, err, sizeof err);
  assert_non_null(exp);
  assert_non_null(msg);
  assert_non_null(f);
  for (int t = 0; t < DW_EV__COUNT; t++) {
    dw_event ev;
    parse_ok(lines[t], &ev);
    char *j = dw_event_to_json(&ev, 0);
    fprintf(exp, "%s\n", j);
    free(j);
    const void *buf;
    size_t len;
    assert_int_equal(dw_avro_encode_event(av, &ev, &buf, &len, err, sizeof err), 0);
    unsigned char hdr[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    fwrite(hdr, 1, 4, msg);
    fwrite(buf, 1, len, msg);
    assert_int_equal(dw_avro_file_write(f, &ev, err, sizeof err), 0);
  }
  fclose(exp);
  fclose(msg);
  dw_avro_file_close(f);
  const void *buf;
  size_t len;
  dw_alert a;
  sample_alert(&a);
  assert_int_equal(dw_avro_encode_alert(av, &a, &buf, &len, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/alert.bin", dir);
  FILE *o = fopen(path, "wb");
  fwrite(buf, 1, len, o);
  fclose(o);
  dw_agg_row r;
  dw_agg_rates x;
  sample_row(&r, &x);
  assert_int_equal(dw_avro_encode_aggregate(av, &r, &x, &buf, &len, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/aggregate.bin", dir);
  o = fopen(path, "wb");
  fwrite(buf, 1, len, o);
  fclose(o);
  dw_avro_destroy(av);
}

/* The alert schema's rules are the rules table (dw_rules.def): the real
 * schema passes, one with two rules swapped or one missing fails. */
static void test_rules_match_schema(void **state) {
  (void)state;
  char path[1200], err[512];
  const char *src = getenv("DW_SOURCE_DIR");
  snprintf(path, sizeof path, "%s/schemas/alert.avsc", src && *src ? src : DW_SOURCE_DIR);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char json[65536];
  size_t len = fread(json, 1, sizeof json - 1, f);
  fclose(f);
  json[len] = 0;
  assert_int_equal(dw_avro_check_rules(json, err, sizeof err), 0);
  char *swapped = strdup(json);
  char *a = strstr(swapped, "\"DUE_SOON\", \"OVERDUE\"");
  assert_non_null(a);
  memcpy(a, "\"OVERDUE\", \"DUE_SOON\"", strlen("\"OVERDUE\", \"DUE_SOON\""));
  assert_int_equal(dw_avro_check_rules(swapped, err, sizeof err), -1);
  assert_non_null(strstr(err, "DUE_SOON"));
  free(swapped);
  char *fewer = strdup(json);
  char *p = strstr(fewer, ", \"PAPER_REQUESTED_FROM_WAREHOUSE\"");
  assert_non_null(p);
  memmove(p, p + strlen(", \"PAPER_REQUESTED_FROM_WAREHOUSE\""), strlen(p + strlen(", \"PAPER_REQUESTED_FROM_WAREHOUSE\"")) + 1);
  assert_int_equal(dw_avro_check_rules(fewer, err, sizeof err), -1);
  free(fewer);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rules_match_schema),
    cmocka_unit_test(test_json_roundtrip_all_types),
    cmocka_unit_test(test_json_lenient),
    cmocka_unit_test(test_json_errors),
    cmocka_unit_test(test_json_string_utf8),
    cmocka_unit_test(test_avro_roundtrip_all_types),
    cmocka_unit_test(test_avro_fingerprint_is_schema_fingerprint),
    cmocka_unit_test(test_schema_evolution),
    cmocka_unit_test(test_enum_symbol_order),
    cmocka_unit_test(test_avro_errors),
    cmocka_unit_test(test_fuzz_avro),
    cmocka_unit_test(test_plan_equals_generic),
    cmocka_unit_test(test_plan_container_equals_generic),
    cmocka_unit_test(test_fuzz_json),
    cmocka_unit_test(test_container_file),
    cmocka_unit_test(test_alert_and_aggregate),
    cmocka_unit_test(test_throughput),
    cmocka_unit_test(test_dump_for_python),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
