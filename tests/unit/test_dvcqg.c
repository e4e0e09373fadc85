/* test_dvcqg: the national portal's sync records (DongBoHoSoMC) -> events.
 * Every row of the mapping table with hand-written records and the exact
 * events expected (ids, types, times, fields); every kind of refusal with
 * the field and reason it names; no personal value in any event, reject
 * text or reply; conflicts; idempotence (the same records twice, and every
 * intermediate snapshot of a dossier in order and shuffled, against the
 * final snapshot alone: the same event ids, and the same fields except what
 * only intermediate snapshots show); request bodies (envelope, array, JSON
 * Lines) and the portal-style reply; transactions; the units file; the
 * file reader's shapes (JSON Lines, array, envelope; truncated ones); and
 * the writer's records read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_codec.h"
#include "dw_dvcqg.h"
#include "dw_dvcqg_internal.h" /* the date functions */
#include "dw_reader.h"
#include "dw_time.h"

#define MAXEV 256

/* ---- a sink that keeps everything ----------------------------------------- */

typedef struct got_reject {
  uint64_t record, line;
  char ma[64], field[128], why[512], reason[768];
  char *raw;
} got_reject;

typedef struct got {
  dw_event ev[MAXEV];
  int nev;
  got_reject rej[64];
  int nrej;
  dw_dvcqg_conflict conf[16];
  char conf_text[16][3][64];
  int nconf;
} got;

static int on_ev(const dw_event *ev, uint64_t record, void *o) {
  (void)record;
  got *g = o;
  assert_true(g->nev < MAXEV);
  g->ev[g->nev++] = *ev;
  return 0;
}

static int on_rej(const dw_dvcqg_reject *r, void *o) {
  got *g = o;
  assert_true(g->nrej < 64);
  got_reject *x = &g->rej[g->nrej++];
  x->record = r->record;
  x->line = r->line;
  snprintf(x->ma, sizeof x->ma, "%s", r->ma_ho_so);
  snprintf(x->field, sizeof x->field, "%s", r->field);
  snprintf(x->why, sizeof x->why, "%s", r->why);
  snprintf(x->reason, sizeof x->reason, "%s", r->reason);
  x->raw = r->raw ? strndup(r->raw, r->raw_len) : NULL;
  return 0;
}

static void on_conf(const dw_dvcqg_conflict *c, void *o) {
  got *g = o;
  assert_true(g->nconf < 16);
  g->conf[g->nconf] = *c;
  snprintf(g->conf_text[g->nconf][0], 64, "%s", c->field);
  snprintf(g->conf_text[g->nconf][1], 64, "%s", c->first);
  snprintf(g->conf_text[g->nconf][2], 64, "%s", c->value);
  g->nconf++;
}

static void got_clear(got *g) {
  for (int i = 0; i < g->nrej; i++) free(g->rej[i].raw);
  memset(g, 0, sizeof *g);
}

static dw_dvcqg_sink sink_of(got *g) { return (dw_dvcqg_sink){on_ev, on_rej, on_conf, g}; }

/* ---- fixtures -------------------------------------------------------------------- */

static const char units_csv[] =
  "key,commune,agency\n"
  "# the test province\n"
  "UBND-A tại 29001,29001,UBND-29001\n"
  "\"UBND xã B, tỉnh M\",29002,UBND-29002\n"
  "STP-86 tại 29001,29001,STP-86\n"
  "MADV-C,29003,UBND-29003\n";

typedef struct fx {
  dw_dvcqg_units *u;
  dw_dvcqg *m;
  got g;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  char err[256];
  f->u = dw_dvcqg_units_parse(units_csv, strlen(units_csv), "units", err, sizeof err);
  if (!f->u) fail_msg("%s", err);
  f->m = dw_dvcqg_new(f->u, 420, 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  got_clear(&f->g);
  dw_dvcqg_destroy(f->m);
  dw_dvcqg_units_destroy(f->u);
  free(f);
  return 0;
}

static int map(fx *f, const char *json) {
  dw_dvcqg_sink s = sink_of(&f->g);
  return dw_dvcqg_record(f->m, json, strlen(json), NULL, 1, 1, &s, NULL);
}

static int64_t at(const char *rfc3339) {
  int64_t ms;
  char err[128];
  if (dw_time_parse_rfc3339(rfc3339, &ms, err, sizeof err)) fail_msg("%s: %s", rfc3339, err);
  return ms;
}

static const dw_event *find(const got *g, const char *id) {
  for (int i = 0; i < g->nev; i++)
    if (strcmp(g->ev[i].event_id, id) == 0) return &g->ev[i];
  return NULL;
}

static const dw_event *must(const got *g, const char *id) {
  const dw_event *e = find(g, id);
  if (!e) {
    for (int i = 0; i < g->nev; i++) print_message("  have %s\n", g->ev[i].event_id);
    fail_msg("no event %s", id);
  }
  return e;
}

#define HEAD(ma) "{\"MaHoSo\":\"" ma "\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"UBND-A tại 29001\""
#define RCVD "\"NgayTiepNhan\":\"20250429080000\",\"NgayHenTra\":\"20250506170000\""
#define T_TN "2025-04-29T08:00:00+07:00"
#define T_HT "2025-05-06T17:00:00+07:00"

static void common_fields(const dw_event *e, const char *dossier) {
  assert_string_equal(e->dossier_id, dossier);
  assert_string_equal(e->commune, "29001");
  assert_string_equal(e->agency, "UBND-29001");
  assert_string_equal(e->procedure, "1.001612");
}

/* ---- every mapping row ---------------------------------------------------------- */

static void test_received_channels(void **state) {
  fx *f = *state;
  static const struct {
    const char *extra;
    dw_channel ch;
  } cases[] = {
    {"", DW_CH_IN_PERSON},
    {",\"KenhThucHien\":\"1\"", DW_CH_IN_PERSON},
    {",\"KenhThucHien\":\"3\"", DW_CH_POSTAL},
    {",\"KenhThucHien\":\"2\"", DW_CH_ONLINE_PARTIAL},
    {",\"KenhThucHien\":\"2\",\"HoSoCoThanhPhanSoHoa\":\"0\"", DW_CH_ONLINE_PARTIAL},
    {",\"KenhThucHien\":\"2\",\"HoSoCoThanhPhanSoHoa\":\"1\"", DW_CH_ONLINE_FULL},
    {",\"KenhThucHien\":2,\"HoSoCoThanhPhanSoHoa\":1", DW_CH_ONLINE_FULL}, /* integers accepted for codes */
    {",\"KenhThucHien\":\"\"", DW_CH_IN_PERSON},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char rec[1024], ma[32], id[128];
    snprintf(ma, sizeof ma, "H-%zu", i);
    snprintf(rec, sizeof rec, "{\"MaHoSo\":\"%s\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"UBND-A tại 29001\","
             "\"TrangThaiHoSo\":\"2\"," RCVD "%s}", ma, cases[i].extra);
    got_clear(&f->g);
    assert_int_equal(0, map(f, rec));
    assert_int_equal(1, f->g.nev);
    snprintf(id, sizeof id, "dvcqg:%s:RECEIVED:20250429080000", ma);
    const dw_event *e = must(&f->g, id);
    assert_int_equal(DW_EV_RECEIVED, e->type);
    common_fields(e, ma);
    assert_true(e->occurred_at == at(T_TN));
    assert_true(e->due_at == at(T_HT));
    assert_int_equal(-1, e->processing_days);
    if (e->channel != cases[i].ch) fail_msg("case %zu: channel %s", i, dw_channel_name(e->channel));
  }
}

static void test_status_1_derives_nothing(void **state) {
  fx *f = *state;
  /* not yet received: no event, no unit needed, no NgayTiepNhan needed */
  assert_int_equal(0, map(f, "{\"MaHoSo\":\"N1\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"nowhere\",\"TrangThaiHoSo\":\"1\"}"));
  assert_int_equal(0, f->g.nev);
  assert_int_equal(0, f->g.nrej);
  dw_dvcqg_stats st;
  dw_dvcqg_stats_get(f->m, &st);
  assert_int_equal(1, st.records);
  assert_int_equal(0, st.events);
}

static void test_digitized(void **state) {
  fx *f = *state;
  /* in person, the dossier flag */
  assert_int_equal(0, map(f, HEAD("D1") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"HoSoCoThanhPhanSoHoa\":\"1\"}"));
  const dw_event *e = must(&f->g, "dvcqg:D1:DIGITIZED:20250429080000");
  assert_int_equal(DW_EV_DIGITIZED, e->type);
  assert_true(e->occurred_at == at(T_TN));
  common_fields(e, "D1");
  /* online partial, a paper's flag */
  assert_int_equal(0, map(f, HEAD("D2") ",\"TrangThaiHoSo\":\"4\",\"KenhThucHien\":\"2\"," RCVD
                          ",\"TaiLieuNop\":[{\"TenTepDinhKem\":\"Tờ khai\",\"DuocSoHoa\":\"0\"},{\"TenTepDinhKem\":\"Bản vẽ\",\"DuocSoHoa\":\"1\"}]}"));
  must(&f->g, "dvcqg:D2:DIGITIZED:20250429080000");
  /* postal */
  assert_int_equal(0, map(f, HEAD("D3") ",\"TrangThaiHoSo\":\"4\",\"KenhThucHien\":\"3\"," RCVD
                          ",\"TaiLieuNop\":[{\"DuocSoHoa\":1}]}"));
  must(&f->g, "dvcqg:D3:DIGITIZED:20250429080000");
  /* fully online: no intake digitization event */
  int before = f->g.nev;
  assert_int_equal(0, map(f, HEAD("D4") ",\"TrangThaiHoSo\":\"4\",\"KenhThucHien\":\"2\",\"HoSoCoThanhPhanSoHoa\":\"1\"," RCVD
                          ",\"TaiLieuNop\":[{\"DuocSoHoa\":\"1\"}]}"));
  assert_int_equal(before + 1, f->g.nev);
  assert_int_equal(DW_CH_ONLINE_FULL, must(&f->g, "dvcqg:D4:RECEIVED:20250429080000")->channel);
  assert_null(find(&f->g, "dvcqg:D4:DIGITIZED:20250429080000"));
  /* nothing digitized: no event */
  before = f->g.nev;
  assert_int_equal(0, map(f, HEAD("D5") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"TaiLieuNop\":[{\"DuocSoHoa\":\"0\"}]}"));
  assert_int_equal(before + 1, f->g.nev);
}

static void test_doc_reused(void **state) {
  fx *f = *state;
  assert_int_equal(0, map(f, HEAD("R1") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"TaiLieuNop\":["
                          "{\"TenTepDinhKem\":\"Tờ khai\",\"DuocTaiSuDung\":\"0\",\"DuocLayTuKhoDMQG\":\"0\"},"
                          "{\"TenTepDinhKem\":\"Giấy khai sinh\",\"DuocTaiSuDung\":\"1\"},"
                          "{\"TenTepDinhKem\":\"Căn cước\",\"DuocTaiSuDung\":\"2\"},"
                          "{\"TenTepDinhKem\":\"Sổ đỏ\",\"DuocLayTuKhoDMQG\":\"1\"},"
                          "{\"DuocLayTuKhoDMQG\":1}]}"));
  assert_int_equal(5, f->g.nev); /* RECEIVED + 4 reused */
  static const char *const docs[] = {"Giấy khai sinh", "Căn cước", "Sổ đỏ", "TaiLieuNop[5]"};
  for (int n = 2; n <= 5; n++) {
    char id[96];
    snprintf(id, sizeof id, "dvcqg:R1:DOC_REUSED:20250429080000:%d", n);
    const dw_event *e = must(&f->g, id);
    assert_int_equal(DW_EV_DOC_REUSED, e->type);
    assert_true(e->occurred_at == at(T_TN));
    assert_string_equal(docs[n - 2], e->document);
    common_fields(e, "R1");
  }
  assert_null(find(&f->g, "dvcqg:R1:DOC_REUSED:20250429080000:1"));
}

static void test_supplement_rounds(void **state) {
  fx *f = *state;
  /* listed newest first: the rounds are numbered by NgayBoSung */
  assert_int_equal(0, map(f, HEAD("S1") ",\"TrangThaiHoSo\":\"5\"," RCVD ",\"DanhSachHoSoBoSung\":["
                          "{\"NgayBoSung\":\"20250505090000\",\"NoiDungBoSung\":\"Thiếu chữ ký\"},"
                          "{\"NgayBoSung\":\"20250430100000\",\"NoiDungBoSung\":\"Thiếu bản sao\","
                          "\"NgayTiepNhanBoSung\":\"20250502140000\",\"NgayHenTraMoi\":\"20250509170000\"},"
                          "{\"NgayBoSung\":\"20250502150000\",\"NgayTiepNhanBoSung\":\"20250505080000\"}]}"));
  const dw_event *e = must(&f->g, "dvcqg:S1:SUPPLEMENT_REQUESTED:20250430100000:1");
  assert_int_equal(DW_EV_SUPPLEMENT_REQUESTED, e->type);
  assert_true(e->occurred_at == at("2025-04-30T10:00:00+07:00"));
  assert_string_equal("Thiếu bản sao", e->reason);
  common_fields(e, "S1");
  e = must(&f->g, "dvcqg:S1:SUPPLEMENT_RECEIVED:20250502140000:1");
  assert_int_equal(DW_EV_SUPPLEMENT_RECEIVED, e->type);
  assert_true(e->occurred_at == at("2025-05-02T14:00:00+07:00"));
  assert_true(e->due_at == at("2025-05-09T17:00:00+07:00"));
  e = must(&f->g, "dvcqg:S1:SUPPLEMENT_REQUESTED:20250502150000:2");
  assert_string_equal("Yêu cầu bổ sung (không ghi nội dung)", e->reason);
  e = must(&f->g, "dvcqg:S1:SUPPLEMENT_RECEIVED:20250505080000:2");
  assert_true(e->due_at == DW_TIME_NONE); /* no new due: the engine shifts the old one */
  must(&f->g, "dvcqg:S1:SUPPLEMENT_REQUESTED:20250505090000:3");
  assert_int_equal(1 + 5, f->g.nev); /* round 3 not received back yet */
}

static void test_result_returned(void **state) {
  fx *f = *state;
  assert_int_equal(0, map(f, HEAD("K1") ",\"TrangThaiHoSo\":\"9\"," RCVD ",\"NgayKetThucXuLy\":\"20250505103000\","
                          "\"DanhSachGiayToKetQua\":[{\"TenGiayTo\":\"GCN\",\"DuongDanTepTinKetQua\":\"\"},"
                          "{\"TenGiayTo\":\"QĐ\",\"DuongDanTepTinKetQua\":\"https://kq/1.pdf\"}]}"));
  const dw_event *e = must(&f->g, "dvcqg:K1:RESULT_ISSUED:20250505103000");
  assert_int_equal(DW_EV_RESULT_ISSUED, e->type);
  assert_true(e->occurred_at == at("2025-05-05T10:30:00+07:00"));
  assert_true(e->digitized);
  common_fields(e, "K1");
  assert_int_equal(2, f->g.nev);
  assert_int_equal(0, map(f, HEAD("K2") ",\"TrangThaiHoSo\":\"9\"," RCVD ",\"NgayKetThucXuLy\":\"20250505103000\","
                          "\"DanhSachGiayToKetQua\":[{\"TenGiayTo\":\"GCN\",\"DuongDanTepTinKetQua\":\"\"}]}"));
  assert_false(must(&f->g, "dvcqg:K2:RESULT_ISSUED:20250505103000")->digitized);
  assert_int_equal(0, map(f, HEAD("K3") ",\"TrangThaiHoSo\":\"10\"," RCVD ",\"NgayKetThucXuLy\":\"20250505103000\","
                          "\"NgayTra\":\"20250506090000\"}"));
  assert_false(must(&f->g, "dvcqg:K3:RESULT_ISSUED:20250505103000")->digitized);
  e = must(&f->g, "dvcqg:K3:RETURNED:20250506090000");
  assert_int_equal(DW_EV_RETURNED, e->type);
  assert_true(e->occurred_at == at("2025-05-06T09:00:00+07:00"));
  /* processing (4..8) issues nothing */
  for (int s = 4; s <= 8; s++) {
    char rec[512], ma[16];
    snprintf(ma, sizeof ma, "K-%d", s);
    snprintf(rec, sizeof rec, "{\"MaHoSo\":\"%s\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"UBND-A tại 29001\","
             "\"TrangThaiHoSo\":\"%d\"," RCVD ",\"NgayKetThucXuLy\":\"20250505103000\"}", ma, s);
    got_clear(&f->g);
    assert_int_equal(0, map(f, rec));
    for (int i = 0; i < f->g.nev; i++) assert_true(f->g.ev[i].type != DW_EV_RESULT_ISSUED);
  }
}

static void test_rejected_withdrawn(void **state) {
  fx *f = *state;
  assert_int_equal(0, map(f, HEAD("X1") ",\"TrangThaiHoSo\":\"3\"," RCVD ",\"NgayTuChoi\":\"20250430160000\","
                          "\"NgayKetThucXuLy\":\"20250430170000\"}"));
  const dw_event *e = must(&f->g, "dvcqg:X1:REJECTED:20250430160000");
  assert_int_equal(DW_EV_REJECTED, e->type);
  assert_true(e->occurred_at == at("2025-04-30T16:00:00+07:00"));
  assert_string_equal("Không tiếp nhận / từ chối giải quyết (TrangThaiHoSo 3)", e->reason);
  common_fields(e, "X1");
  assert_int_equal(0, map(f, HEAD("X2") ",\"TrangThaiHoSo\":\"3\"," RCVD ",\"NgayKetThucXuLy\":\"20250430170000\"}"));
  must(&f->g, "dvcqg:X2:REJECTED:20250430170000");
  /* withdrawn: at NgayKetThucXuLy */
  assert_int_equal(0, map(f, HEAD("W1") ",\"TrangThaiHoSo\":\"7\"," RCVD ",\"NgayKetThucXuLy\":\"20250501083000\"}"));
  e = must(&f->g, "dvcqg:W1:WITHDRAWN:20250501083000");
  assert_int_equal(DW_EV_WITHDRAWN, e->type);
  assert_true(e->occurred_at == at("2025-05-01T08:30:00+07:00"));
  /* else the record's latest date of something that happened (not the due) */
  assert_int_equal(0, map(f, HEAD("W2") ",\"TrangThaiHoSo\":\"7\"," RCVD ",\"DanhSachHoSoBoSung\":["
                          "{\"NgayBoSung\":\"20250430100000\",\"NgayTiepNhanBoSung\":\"20250502140000\"}]}"));
  must(&f->g, "dvcqg:W2:WITHDRAWN:20250502140000");
  assert_int_equal(0, map(f, HEAD("W3") ",\"TrangThaiHoSo\":\"7\"," RCVD "}"));
  must(&f->g, "dvcqg:W3:WITHDRAWN:20250429080000");
}

static void test_payment(void **state) {
  fx *f = *state;
  assert_int_equal(0, map(f, HEAD("P1") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"DuocThanhToanTrucTuyen\":\"1\","
                          "\"DanhSachLePhi\":[{\"TenPhiLePhi\":\"Lệ phí\",\"Gia\":\"50000\"}]}"));
  const dw_event *e = must(&f->g, "dvcqg:P1:PAYMENT:20250429080000");
  assert_int_equal(DW_EV_PAYMENT, e->type);
  assert_true(e->online);
  assert_true(e->occurred_at == at(T_TN));
  common_fields(e, "P1");
  assert_int_equal(0, map(f, HEAD("P2") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"DuocThanhToanTrucTuyen\":\"2\",\"DanhSachLePhi\":[{\"Gia\":50000}]}"));
  assert_true(must(&f->g, "dvcqg:P2:PAYMENT:20250429080000")->online);
  int before = f->g.nev;
  assert_int_equal(0, map(f, HEAD("P3") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"DuocThanhToanTrucTuyen\":\"0\",\"DanhSachLePhi\":[{\"Gia\":\"50000\"}]}"));
  assert_int_equal(before + 1, f->g.nev); /* a fee listed is not a payment */
}

static void test_units_and_envelope(void **state) {
  fx *f = *state;
  dw_dvcqg_sink s = sink_of(&f->g);
  /* a quoted key with a comma */
  assert_int_equal(0, map(f, "{\"MaHoSo\":\"U1\",\"MaTTHC\":\"2.000815\",\"DonViXuLy\":\"UBND xã B, tỉnh M\","
                          "\"TrangThaiHoSo\":\"2\"," RCVD "}"));
  const dw_event *e = must(&f->g, "dvcqg:U1:RECEIVED:20250429080000");
  assert_string_equal("29002", e->commune);
  assert_string_equal("UBND-29002", e->agency);
  assert_string_equal("2.000815", e->procedure);
  /* the envelope's madonvi when DonViXuLy is not mapped (or absent) */
  const char body[] = "{\"session\":\"s\",\"madonvi\":\"MADV-C\",\"service\":\"DongBoHoSoMC\",\"isUpdating\":\"False\",\"data\":["
                      "{\"MaHoSo\":\"U2\",\"MaTTHC\":\"1.1\",\"DonViXuLy\":\"Một cửa xã C\",\"TrangThaiHoSo\":\"2\"," RCVD "},"
                      "{\"MaHoSo\":\"U3\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"," RCVD "},"
                      "{\"MaHoSo\":\"U4\",\"MaTTHC\":\"1.1\",\"DonViXuLy\":\"UBND-A tại 29001\",\"TrangThaiHoSo\":\"2\"," RCVD "}]}";
  dw_dvcqg_stats st;
  char err[256];
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_string_equal("29003", must(&f->g, "dvcqg:U2:RECEIVED:20250429080000")->commune);
  assert_string_equal("29003", must(&f->g, "dvcqg:U3:RECEIVED:20250429080000")->commune);
  assert_string_equal("29001", must(&f->g, "dvcqg:U4:RECEIVED:20250429080000")->commune); /* DonViXuLy first */
  assert_int_equal(3, st.records);
  assert_int_equal(3, st.events);
  /* unmapped, with and without an envelope */
  assert_int_equal(1, map(f, "{\"MaHoSo\":\"U5\",\"MaTTHC\":\"1.1\",\"DonViXuLy\":\"Xã Lạ\",\"TrangThaiHoSo\":\"2\"," RCVD "}"));
  assert_string_equal("DonViXuLy", f->g.rej[0].field);
  assert_string_equal("unit 'Xã Lạ' is not in the units file", f->g.rej[0].why);
  assert_int_equal(1, map(f, "{\"MaHoSo\":\"U6\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"," RCVD "}"));
  assert_string_equal("DonViXuLy", f->g.rej[1].field);
  const char body2[] = "{\"madonvi\":\"MADV-Z\",\"data\":[{\"MaHoSo\":\"U7\",\"MaTTHC\":\"1.1\",\"DonViXuLy\":\"Xã Lạ\",\"TrangThaiHoSo\":\"2\"," RCVD "}]}";
  assert_int_equal(0, dw_dvcqg_body(f->m, body2, strlen(body2), &s, &st, err, sizeof err));
  assert_int_equal(1, st.rejects);
  assert_string_equal("unit 'Xã Lạ' (nor madonvi 'MADV-Z') is not in the units file", f->g.rej[2].why);
}

/* ---- refusals ---------------------------------------------------------------------- */

static void test_rejects(void **state) {
  fx *f = *state;
  static const struct {
    const char *rec, *ma, *field, *why;
  } cases[] = {
    {"{\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"}", "", "MaHoSo", "missing"},
    {"{\"MaHoSo\":\"\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"}", "", "MaHoSo", "missing"},
    {"{\"MaHoSo\":12,\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"}", "", "MaHoSo", "expected a string, got an integer"},
    {"{\"MaHoSo\":\"E1\",\"TrangThaiHoSo\":\"2\"}", "E1", "MaTTHC", "missing"},
    {"{\"MaHoSo\":\"E2\",\"MaTTHC\":\"1.1\"}", "E2", "TrangThaiHoSo", "missing"},
    {"{\"MaHoSo\":\"E3\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"11\"}", "E3", "TrangThaiHoSo", "unknown value '11' (1..10)"},
    {"{\"MaHoSo\":\"E4\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"0\"}", "E4", "TrangThaiHoSo", "unknown value '0' (1..10)"},
    {"{\"MaHoSo\":\"E5\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"đã nhận\"}", "E5", "TrangThaiHoSo", "not a code (1..10)"},
    {"{\"MaHoSo\":\"E6\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":[2]}", "E6", "TrangThaiHoSo", "expected a string, got an array"},
    {"{\"MaHoSo\":\"E7\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayHenTra\":\"20250506170000\"}", "E7", "NgayTiepNhan",
     "missing (status 2)"},
    {"{\"MaHoSo\":\"E8\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"4\",\"NgayTiepNhan\":\"20250429080000\"}", "E8", "NgayHenTra",
     "missing (status 4: RECEIVED needs a due time)"},
    {"{\"MaHoSo\":\"E9\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"20251332250000\"}", "E9", "NgayTiepNhan",
     "'20251332250000' is not a date yyyyMMddHHmmss (month 13)"},
    {"{\"MaHoSo\":\"E10\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"20250229080000\"}", "E10", "NgayTiepNhan",
     "'20250229080000' is not a date yyyyMMddHHmmss (day 29)"},
    {"{\"MaHoSo\":\"E11\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"20250429240000\"}", "E11", "NgayTiepNhan",
     "'20250429240000' is not a date yyyyMMddHHmmss (hour 24)"},
    {"{\"MaHoSo\":\"E12\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"2025-04-29 08:00\"}", "E12", "NgayTiepNhan",
     "not a date yyyyMMddHHmmss"},
    {"{\"MaHoSo\":\"E13\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":20250429080000}", "E13", "NgayTiepNhan",
     "expected a string, got an integer"},
    {"{\"MaHoSo\":\"E14\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"9\"," RCVD ",\"DonViXuLy\":\"UBND-A tại 29001\"}", "E14",
     "NgayKetThucXuLy", "missing (status 9: the result's date)"},
    {"{\"MaHoSo\":\"E15\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"10\"," RCVD ",\"NgayKetThucXuLy\":\"20250505103000\"}", "E15",
     "NgayTra", "missing (status 10: the return's date)"},
    {"{\"MaHoSo\":\"E16\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"3\"," RCVD "}", "E16", "NgayTuChoi",
     "missing (status 3: the refusal's date; or NgayKetThucXuLy)"},
    {"{\"MaHoSo\":\"E17\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"KenhThucHien\":\"4\"}", "E17", "KenhThucHien",
     "unknown value '4' (1 in person, 2 online, 3 postal)"},
    {"{\"MaHoSo\":\"E18\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"KenhThucHien\":true}", "E18", "KenhThucHien",
     "expected a string, got a boolean"},
    {"{\"MaHoSo\":\"E19\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"TaiLieuNop\":{\"a\":1}}", "E19", "TaiLieuNop",
     "expected a list, got an object"},
    {"{\"MaHoSo\":\"E20\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"TaiLieuNop\":[{},\"x\"]}", "E20", "TaiLieuNop[2]",
     "expected an object, got a string"},
    {"{\"MaHoSo\":\"E21\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"TaiLieuNop\":[{\"DuocSoHoa\":\"3\"}]}", "E21",
     "TaiLieuNop[1].DuocSoHoa", "unknown value '3' (0 or 1)"},
    {"{\"MaHoSo\":\"E22\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"DanhSachHoSoBoSung\":[{\"NoiDungBoSung\":\"x\"}]}", "E22",
     "DanhSachHoSoBoSung[1].NgayBoSung", "missing (the round's request date)"},
    {"{\"MaHoSo\":\"E23\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"DanhSachHoSoBoSung\":[{\"NgayBoSung\":\"20250431100000\"}]}",
     "E23", "DanhSachHoSoBoSung[1].NgayBoSung", "'20250431100000' is not a date yyyyMMddHHmmss (day 31)"},
    {"{\"MaHoSo\":\"E24\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"DanhSachGiayToKetQua\":[{\"DuongDanTepTinKetQua\":1}]}",
     "E24", "DanhSachGiayToKetQua[1].DuongDanTepTinKetQua", "expected a string, got an integer"},
    {"{\"MaHoSo\":\"E25\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"DanhSachLePhi\":[{\"Gia\":[1]}]}", "E25",
     "DanhSachLePhi[1].Gia", "expected a string, got an array"},
    {"{\"MaHoSo\":\"E26\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"DuocThanhToanTrucTuyen\":\"3\"}", "E26",
     "DuocThanhToanTrucTuyen", "unknown value '3' (0, 1 or 2)"},
    {"{\"MaHoSo\":\"0123456789012345678901234567890123456789012345678\",\"MaTTHC\":\"1.1\"}", "", "MaHoSo",
     "longer than 48 bytes (49)"},
    {"{\"MaHoSo\":\"E27\",\"MaTTHC\":\"01234567890123456789012345678901\",\"TrangThaiHoSo\":\"2\"}", "E27", "MaTTHC",
     "longer than 31 bytes"},
    {"[1]", "", "", "not a JSON object (got an array)"},
    {"{\"MaHoSo\":\"E28\",\"MaHoSo\":\"E29\"}", "", "", "invalid JSON at line 1 column 24: duplicate object key"},
    {"{\"MaHoSo\":\"E30\",\"MaTTHC\":\"1.", "", "", "invalid JSON at line 1 column 28: premature end of input"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    got_clear(&f->g);
    int rc = map(f, cases[i].rec);
    if (rc != 1 || f->g.nrej != 1) fail_msg("case %zu (%s): rc %d, %d rejects", i, cases[i].rec, rc, f->g.nrej);
    got_reject *r = &f->g.rej[0];
    if (strcmp(r->ma, cases[i].ma) || strcmp(r->field, cases[i].field) || strcmp(r->why, cases[i].why))
      fail_msg("case %zu: got MaHoSo '%s' field '%s' why '%s'", i, r->ma, r->field, r->why);
    assert_int_equal(0, f->g.nev);
    assert_int_equal(1, r->record);
    /* the sentence names the dossier and the field */
    if (cases[i].ma[0]) assert_non_null(strstr(r->reason, cases[i].ma));
    if (cases[i].field[0]) assert_non_null(strstr(r->reason, cases[i].field));
    /* a record that was JSON keeps its (blanked) text; broken JSON none */
    if (cases[i].rec[0] == '{' && strncmp(r->why, "invalid JSON", 12) != 0) assert_non_null(r->raw);
    if (strncmp(r->why, "invalid JSON", 12) == 0) assert_null(r->raw);
  }
  dw_dvcqg_stats st;
  dw_dvcqg_stats_get(f->m, &st);
  assert_int_equal(sizeof cases / sizeof cases[0], st.rejects);
  assert_int_equal(st.rejects, st.records);
}

/* ---- personal data ----------------------------------------------------------------- */

#define PERSONAL                                                                                                   \
  "\"ChuHoSo\":\"ZZFAKE Nguyễn Văn A\",\"SoDienThoai\":\"09ZZFAKE01\",\"Email\":\"zzfake@example.invalid\","         \
  "\"DinhDanhCHS\":\"ZZFAKE001\",\"SoDinhDanh\":\"ZZFAKE002\",\"DiaChiThuongTruChuHoSo\":\"ZZFAKE số 1\","             \
  "\"TrichYeuHoSo\":\"ZZFAKE của ông A\",\"GhiChu\":\"gọi ZZFAKE\",\"Fax\":\"ZZFAKE\",\"NgaySinh\":\"ZZFAKE\","        \
  "\"HoTenNguoiNop\":\"ZZFAKE\",\"SoCMND\":\"ZZFAKE\",\"ThongTinNguoiNop\":{\"Ten\":\"ZZFAKE\"},\"MaDoiTuong\":\"ZZFAKE\"," \
  "\"NguoiKy\":\"ZZFAKE\",\"TenCanBoTiepNhan\":\"ZZFAKE\",\"EmailChuHoSo\":[\"ZZFAKE\"]"

static int has_fake(const char *s) { return s && strcasestr(s, "zzfake") != NULL; }

static void test_personal_never_leaks(void **state) {
  fx *f = *state;
  /* events from a record full of personal fields (nested too) */
  assert_int_equal(0, map(f, HEAD("PD1") ",\"TrangThaiHoSo\":\"10\"," RCVD "," PERSONAL
                          ",\"NgayKetThucXuLy\":\"20250505103000\",\"NgayTra\":\"20250506090000\",\"TaiLieuNop\":["
                          "{\"TenTepDinhKem\":\"Giấy khai sinh\",\"DuocTaiSuDung\":\"1\",\"NguoiNop\":\"ZZFAKE\"}],"
                          "\"DanhSachHoSoBoSung\":[{\"NgayBoSung\":\"20250430100000\",\"NoiDungBoSung\":\"Thiếu\",\"SoDienThoai\":\"ZZFAKE\"}]}"));
  assert_true(f->g.nev >= 4);
  for (int i = 0; i < f->g.nev; i++) {
    char *js = dw_event_to_json(&f->g.ev[i], 420);
    if (has_fake(js)) fail_msg("personal value in an event: %s", js);
    free(js);
  }
  /* a refused record: its raw text is there, blanked */
  assert_int_equal(1, map(f, HEAD("PD2") ",\"TrangThaiHoSo\":\"2\"," PERSONAL ",\"NgayTiepNhan\":\"20251332250000\","
                          "\"TaiLieuNop\":[{\"NguoiNop\":\"ZZFAKE\",\"TenTepDinhKem\":\"ok\"}]}"));
  got_reject *r = &f->g.rej[0];
  assert_non_null(r->raw);
  if (has_fake(r->raw) || has_fake(r->reason)) fail_msg("personal value in a reject: %s / %s", r->raw, r->reason);
  assert_non_null(strstr(r->raw, "\"ChuHoSo\":\"\""));
  assert_non_null(strstr(r->raw, "\"MaHoSo\":\"PD2\""));
  assert_non_null(strstr(r->raw, "\"TenTepDinhKem\":\"ok\""));
  /* broken JSON: jansson quotes the input near the error; we never do */
  static const char *const broken[] = {
    "{\"MaHoSo\":\"PD3\",\"ChuHoSo\":\"ZZFAKE Nguyễn",
    "{\"MaHoSo\":\"PD4\",\"ChuHoSo\":\"ZZFAKE\" \"SoDienThoai\"}",
    "{\"MaHoSo\":\"PD5\",\"Email\":zzfake@x}",
    "{\"MaHoSo\":\"PD6\",\"ChuHoSo\":\"ZZFAKE\xff\"}",
    "{\"MaHoSo\":\"PD7\",\"ChuHoSo\":\"ZZFAKE\",\"ChuHoSo\":\"ZZFAKE2\"}",
  };
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    got_clear(&f->g);
    assert_int_equal(1, map(f, broken[i]));
    r = &f->g.rej[0];
    if (has_fake(r->reason) || r->raw) fail_msg("broken record %zu leaks: %s", i, r->reason);
    assert_non_null(strstr(r->reason, "invalid JSON at line 1 column"));
  }
  /* the reply lists MaHoSo and the reason only */
  got_clear(&f->g);
  dw_dvcqg_reply *rp = dw_dvcqg_reply_new();
  const char body[] = "[" HEAD("PD8") ",\"TrangThaiHoSo\":\"2\"," PERSONAL ",\"NgayTiepNhan\":\"2025\"}]";
  dw_dvcqg_sink s = sink_of(&f->g);
  dw_dvcqg_stats st;
  char err[256];
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(1, f->g.nrej);
  dw_dvcqg_reject rej = {1, 0, "PD8", f->g.rej[0].field, f->g.rej[0].why, f->g.rej[0].reason, NULL, 0};
  dw_dvcqg_reply_add(rp, &rej);
  char *js = dw_dvcqg_reply_json(rp, &st, NULL);
  assert_false(has_fake(js));
  free(js);
  dw_dvcqg_reply_destroy(rp);
  /* the list of personal names */
  static const char *const personal[] = {"ChuHoSo", "SoDienThoai", "Email", "DinhDanhCHS", "DiaChiThuongTruChuHoSo",
                                         "SoCMND", "SoCCCD", "HoChieu", "NgaySinh", "HoTen", "TrichYeuHoSo",
                                         "GhiChu", "Fax", "MaSoThue", "TenNguoiNop", "DienThoaiNguoiNhan", "MaDoiTuong",
                                         "soDienThoai", "EMAIL"};
  for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++)
    if (!dw_dvcqg_is_personal(personal[i])) fail_msg("%s is not treated as personal", personal[i]);
  /* the whole name counts, however long (the first 127 bytes once did) */
  char pad[200], longname[256], rec[1024];
  memset(pad, 'X', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  static const char *const tails[] = {"ChuHoSo", "DinhDanhCHS", "soDienThoai"};
  for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    snprintf(longname, sizeof longname, "%s%s", pad, tails[i]);
    if (!dw_dvcqg_is_personal(longname)) fail_msg("a %zu-byte name ending in %s is not personal", strlen(longname), tails[i]);
    got_clear(&f->g);
    snprintf(rec, sizeof rec, HEAD("PD9") ",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"20251332250000\",\"%s\":\"ZZFAKE\"}",
             longname);
    assert_int_equal(1, map(f, rec));
    if (has_fake(f->g.rej[0].raw)) fail_msg("a long personal name leaks into the reject: %s", f->g.rej[0].raw);
  }
  static const char *const kept[] = {"MaHoSo", "MaTTHC", "DonViXuLy", "TenTepDinhKem", "NoiDungBoSung", "NgayTiepNhan",
                                     "TrangThaiHoSo", "KenhThucHien", "DuongDanTepTinKetQua", "TenGiayTo", "Gia",
                                     "HoSoCoThanhPhanSoHoa", "DuocThanhToanTrucTuyen", "NgayHenTraMoi"};
  for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
    if (dw_dvcqg_is_personal(kept[i])) fail_msg("%s is blanked but the mapping needs it", kept[i]);
}

/* ---- conflicts ------------------------------------------------------------------- */

static void test_conflicts(void **state) {
  fx *f = *state;
  assert_int_equal(0, map(f, HEAD("C1") ",\"TrangThaiHoSo\":\"2\"," RCVD ",\"HoSoCoThanhPhanSoHoa\":\"1\"}"));
  assert_int_equal(2, f->g.nev);
  /* another NgayTiepNhan and NgayHenTra, no supplement round: both conflicts; the first stands */
  assert_int_equal(0, map(f, HEAD("C1") ",\"TrangThaiHoSo\":\"4\",\"NgayTiepNhan\":\"20250429090000\","
                          "\"NgayHenTra\":\"20250507170000\",\"HoSoCoThanhPhanSoHoa\":\"1\"}"));
  assert_int_equal(2, f->g.nev); /* only duplicates: the ids keep the first NgayTiepNhan */
  assert_int_equal(2, f->g.nconf);
  assert_string_equal("NgayTiepNhan", f->g.conf_text[0][0]);
  assert_string_equal("20250429080000", f->g.conf_text[0][1]);
  assert_string_equal("20250429090000", f->g.conf_text[0][2]);
  assert_string_equal("NgayHenTra", f->g.conf_text[1][0]);
  assert_string_equal("20250506170000", f->g.conf_text[1][1]);
  assert_string_equal("20250507170000", f->g.conf_text[1][2]);
  /* a new NgayHenTra with a supplement round is the round's new due: no conflict */
  assert_int_equal(0, map(f, HEAD("C1") ",\"TrangThaiHoSo\":\"4\"," "\"NgayTiepNhan\":\"20250429080000\","
                          "\"NgayHenTra\":\"20250509170000\",\"DanhSachHoSoBoSung\":[{\"NgayBoSung\":\"20250430100000\","
                          "\"NgayTiepNhanBoSung\":\"20250502140000\",\"NgayHenTraMoi\":\"20250509170000\"}]}"));
  assert_int_equal(2, f->g.nconf);
  assert_int_equal(4, f->g.nev);
  /* and once a round was seen, another due is explained by it */
  assert_int_equal(0, map(f, HEAD("C1") ",\"TrangThaiHoSo\":\"4\",\"NgayTiepNhan\":\"20250429080000\","
                          "\"NgayHenTra\":\"20250512170000\"}"));
  assert_int_equal(2, f->g.nconf);
  dw_dvcqg_stats st;
  dw_dvcqg_stats_get(f->m, &st);
  assert_int_equal(2, st.conflicts);
  assert_int_equal(4, st.events);
  assert_int_equal(2 + 1 + 1, st.duplicates);
}

/* ---- idempotence ------------------------------------------------------------------- */

/* One dossier, snapshot by snapshot, as a one-stop system sends it: new,
 * received, digitized with a reused paper and paid online, transferred
 * (another DonViXuLy), supplement requested, supplement received with a
 * new due (NgayHenTra replaced), result issued without its electronic copy,
 * the copy linked later, returned. */
#define SNAP(unit, status, ht, extra)                                                                               \
  "{\"MaHoSo\":\"ID1\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"" unit "\",\"TrangThaiHoSo\":\"" status "\","       \
  "\"ChuHoSo\":\"ZZFAKE\",\"NgayTiepNhan\":\"20250429080000\",\"NgayHenTra\":\"" ht "\"" extra "}"
#define PAPERS_0 ",\"TaiLieuNop\":[{\"TenTepDinhKem\":\"Tờ khai\",\"DuocSoHoa\":\"0\"}]"
#define PAPERS_1                                                                                           \
  ",\"HoSoCoThanhPhanSoHoa\":\"1\",\"DuocThanhToanTrucTuyen\":\"1\",\"TaiLieuNop\":[{\"TenTepDinhKem\":\"Tờ khai\"," \
  "\"DuocSoHoa\":\"1\"},{\"TenTepDinhKem\":\"Giấy khai sinh\",\"DuocTaiSuDung\":\"1\"}]"
#define ROUND_OPEN ",\"DanhSachHoSoBoSung\":[{\"NgayBoSung\":\"20250430100000\",\"NoiDungBoSung\":\"Thiếu bản sao\"}]"
#define ROUND_DONE                                                                                  \
  ",\"DanhSachHoSoBoSung\":[{\"NgayBoSung\":\"20250430100000\",\"NoiDungBoSung\":\"Thiếu bản sao\"," \
  "\"NgayTiepNhanBoSung\":\"20250502140000\",\"NgayHenTraMoi\":\"20250509170000\"}]"
#define RESULT(link) ",\"NgayKetThucXuLy\":\"20250508100000\",\"DanhSachGiayToKetQua\":[{\"TenGiayTo\":\"GCN\",\"DuongDanTepTinKetQua\":\"" link "\"}]"

static const char *const snaps[] = {
  "{\"MaHoSo\":\"ID1\",\"MaTTHC\":\"1.001612\",\"DonViXuLy\":\"UBND-A tại 29001\",\"TrangThaiHoSo\":\"1\",\"ChuHoSo\":\"ZZFAKE\"}",
  SNAP("UBND-A tại 29001", "2", "20250506170000", PAPERS_0),
  SNAP("UBND-A tại 29001", "2", "20250506170000", PAPERS_1),
  SNAP("STP-86 tại 29001", "4", "20250506170000", PAPERS_1),
  SNAP("STP-86 tại 29001", "5", "20250506170000", PAPERS_1 ROUND_OPEN),
  SNAP("STP-86 tại 29001", "4", "20250509170000", PAPERS_1 ROUND_DONE),
  SNAP("STP-86 tại 29001", "9", "20250509170000", PAPERS_1 ROUND_DONE RESULT("")),
  SNAP("STP-86 tại 29001", "9", "20250509170000", PAPERS_1 ROUND_DONE RESULT("https://kq/ID1.pdf")),
  SNAP("STP-86 tại 29001", "10", "20250509170000", PAPERS_1 ROUND_DONE RESULT("https://kq/ID1.pdf") ",\"NgayTra\":\"20250509090000\""),
};
#define NSNAPS ((int)(sizeof snaps / sizeof snaps[0]))

static void map_order(const int *order, got *g) {
  char err[256];
  dw_dvcqg_units *u = dw_dvcqg_units_parse(units_csv, strlen(units_csv), "units", err, sizeof err);
  dw_dvcqg *m = dw_dvcqg_new(u, 420, 0);
  dw_dvcqg_sink s = sink_of(g);
  for (int i = 0; i < NSNAPS; i++) {
    if (order[i] < 0) continue;
    assert_int_equal(0, dw_dvcqg_record(m, snaps[order[i]], strlen(snaps[order[i]]), NULL, (uint64_t)i + 1, 0, &s, NULL));
  }
  dw_dvcqg_destroy(m);
  dw_dvcqg_units_destroy(u);
}

/* The event of g with e's id must equal e, except the fields that only the
 * intermediate snapshots show: the agency before the transfer, the original
 * due before the round that set a new one, and that the result was first
 * issued without its electronic copy (value_ok: either snapshot's value). */
static void same_event(const dw_event *a, const dw_event *b, int lenient) {
  assert_string_equal(a->event_id, b->event_id);
  assert_int_equal(a->type, b->type);
  assert_true(a->occurred_at == b->occurred_at);
  assert_string_equal(a->commune, b->commune);
  assert_string_equal(a->procedure, b->procedure);
  assert_int_equal(a->channel, b->channel);
  assert_string_equal(a->document, b->document);
  assert_string_equal(a->reason, b->reason);
  assert_int_equal(a->online, b->online);
  if (a->type != DW_EV_SUPPLEMENT_RECEIVED) assert_true(a->type == DW_EV_RECEIVED || a->due_at == b->due_at);
  if (!lenient) {
    assert_string_equal(a->agency, b->agency);
    assert_true(a->due_at == b->due_at);
    assert_int_equal(a->digitized, b->digitized);
  }
}

static void test_idempotence(void **state) {
  (void)state;
  static got final, inorder, twice, shuffled;
  int order[NSNAPS];
  /* the final snapshot alone */
  memset(&final, 0, sizeof final);
  for (int i = 0; i < NSNAPS; i++) order[i] = i == NSNAPS - 1 ? NSNAPS - 1 : -1;
  map_order(order, &final);
  assert_int_equal(8, final.nev); /* RECEIVED DIGITIZED DOC_REUSED PAYMENT SUPPLEMENT_* x2 RESULT_ISSUED RETURNED */
  /* every snapshot in order */
  memset(&inorder, 0, sizeof inorder);
  for (int i = 0; i < NSNAPS; i++) order[i] = i;
  map_order(order, &inorder);
  assert_int_equal(final.nev, inorder.nev);
  /* the same, twice: nothing new the second time */
  memset(&twice, 0, sizeof twice);
  {
    char err[256];
    dw_dvcqg_units *u = dw_dvcqg_units_parse(units_csv, strlen(units_csv), "units", err, sizeof err);
    dw_dvcqg *m = dw_dvcqg_new(u, 420, 0);
    dw_dvcqg_sink s = sink_of(&twice);
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < NSNAPS; i++) dw_dvcqg_record(m, snaps[i], strlen(snaps[i]), NULL, 1, 0, &s, NULL);
    dw_dvcqg_stats st;
    dw_dvcqg_stats_get(m, &st);
    assert_int_equal(final.nev, st.events);
    assert_int_equal(0, st.conflicts);
    assert_int_equal(2 * NSNAPS, st.records);
    dw_dvcqg_destroy(m);
    dw_dvcqg_units_destroy(u);
  }
  assert_int_equal(final.nev, twice.nev);
  for (int i = 0; i < final.nev; i++) {
    const dw_event *o = find(&inorder, final.ev[i].event_id);
    if (!o) fail_msg("in order: no %s", final.ev[i].event_id);
    same_event(&final.ev[i], o, 1);
    same_event(o, must(&twice, o->event_id), 0);
  }
  /* what only the intermediate snapshots show, exactly */
  const dw_event *rf = must(&final, "dvcqg:ID1:RECEIVED:20250429080000"), *ro = must(&inorder, rf->event_id);
  assert_string_equal("STP-86", rf->agency);
  assert_string_equal("UBND-29001", ro->agency); /* received before the transfer */
  assert_true(rf->due_at == at("2025-05-09T17:00:00+07:00"));
  assert_true(ro->due_at == at("2025-05-06T17:00:00+07:00")); /* the due before the round's new one */
  assert_true(must(&final, "dvcqg:ID1:RESULT_ISSUED:20250508100000")->digitized);
  assert_false(must(&inorder, "dvcqg:ID1:RESULT_ISSUED:20250508100000")->digitized); /* copy linked later */
  assert_string_equal("STP-86", must(&inorder, "dvcqg:ID1:RESULT_ISSUED:20250508100000")->agency);
  /* shuffled: 400 seeded permutations and the reverse */
  unsigned seed = 12345;
  for (int k = 0; k <= 400; k++) {
    for (int i = 0; i < NSNAPS; i++) order[i] = k == 0 ? NSNAPS - 1 - i : i;
    for (int i = NSNAPS - 1; k && i > 0; i--) {
      seed = seed * 1103515245u + 12345u;
      int j = (int)((seed >> 16) % (unsigned)(i + 1)), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    memset(&shuffled, 0, sizeof shuffled);
    map_order(order, &shuffled);
    if (shuffled.nev != final.nev) fail_msg("permutation %d: %d events, want %d", k, shuffled.nev, final.nev);
    for (int i = 0; i < final.nev; i++) {
      const dw_event *x = find(&shuffled, final.ev[i].event_id);
      if (!x) fail_msg("permutation %d: no %s", k, final.ev[i].event_id);
      same_event(&final.ev[i], x, 1);
      /* the lenient fields hold one of the two snapshots' values */
      const dw_event *o = must(&inorder, x->event_id);
      assert_true(strcmp(x->agency, o->agency) == 0 || strcmp(x->agency, final.ev[i].agency) == 0);
      assert_true(x->due_at == o->due_at || x->due_at == final.ev[i].due_at);
    }
  }
}

/* ---- bodies, replies, transactions ------------------------------------------------ */

static void test_body_shapes(void **state) {
  fx *f = *state;
  dw_dvcqg_sink s = sink_of(&f->g);
  dw_dvcqg_stats st;
  char err[256];
  const char *rec_a = HEAD("B1") ",\"TrangThaiHoSo\":\"2\"," RCVD "}";
  const char *rec_b = HEAD("B2") ",\"TrangThaiHoSo\":\"2\"," RCVD "}";
  char body[4096];
  /* a bare array */
  snprintf(body, sizeof body, " [ %s ,\n %s ] ", rec_a, rec_b);
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(2, st.records);
  assert_int_equal(2, st.events);
  /* JSON Lines, with a blank line and a bad line (refused, the rest goes on) */
  snprintf(body, sizeof body, "%s\n\n{\"MaHoSo\":\"B3\",\n%s\n", rec_a, rec_b);
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(3, st.records);
  assert_int_equal(0, st.events);
  assert_int_equal(2, st.duplicates);
  assert_int_equal(1, st.rejects);
  assert_int_equal(1, st.blank);
  assert_int_equal(2, f->g.rej[0].record);
  assert_int_equal(3, f->g.rej[0].line);
  /* one record */
  assert_int_equal(0, dw_dvcqg_body(f->m, rec_a, strlen(rec_a), &s, &st, err, sizeof err));
  assert_int_equal(1, st.duplicates);
  /* not JSON: -1 with the position, quoting nothing */
  static const char *const bad[] = {
    "", "  \n ", "{\"madonvi\":\"x\",\"data\":[{\"MaHoSo\":\"ZZFAKE\"", "[{\"MaHoSo\":\"B9\"}", "\"ZZFAKE\"", "42",
    "{\"madonvi\":\"x\",\"data\":{}}", "{\"service\":\"DongBoHoSoMC\"}", "nope ZZFAKE",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(-1, dw_dvcqg_body(f->m, bad[i], strlen(bad[i]), &s, &st, err, sizeof err));
    if (!err[0] || has_fake(err)) fail_msg("body %zu: '%s'", i, err);
    char *js = dw_dvcqg_reply_error(err);
    json_error_t je;
    json_t *v = json_loads(js, 0, &je);
    assert_non_null(v);
    assert_string_equal(DW_DVCQG_BAD_REQUEST, json_string_value(json_object_get(v, "error_code")));
    json_decref(v);
    free(js);
  }
}

static int reply_add(const dw_dvcqg_reject *rej, void *rp) { return dw_dvcqg_reply_add(rp, rej); }

static void test_reply(void **state) {
  fx *f = *state;
  dw_dvcqg_reply *rp = dw_dvcqg_reply_new();
  dw_dvcqg_stats st = {3, 7, 2, 1, 0, 0};
  char *js = dw_dvcqg_reply_json(rp, &st, NULL);
  json_error_t je;
  json_t *v = json_loads(js, 0, &je);
  assert_non_null(v);
  assert_string_equal("0", json_string_value(json_object_get(v, "error_code")));
  assert_int_equal(7, json_integer_value(json_object_get(v, "events")));
  assert_int_equal(1, json_integer_value(json_object_get(v, "conflicts")));
  assert_null(json_object_get(v, "data"));
  json_decref(v);
  free(js);
  /* with refusals, each with MaHoSo and reason */
  const char body[] = "{\"madonvi\":\"MADV-C\",\"data\":[" HEAD("RP1") ",\"TrangThaiHoSo\":\"2\"," RCVD "},"
                      "{\"MaHoSo\":\"RP2\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\",\"NgayTiepNhan\":\"20251332250000\"},"
                      "{\"MaTTHC\":\"1.1\"}]}";
  dw_dvcqg_sink s = {NULL, reply_add, NULL, rp};
  char err[256];
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  js = dw_dvcqg_reply_json(rp, &st, NULL);
  v = json_loads(js, 0, &je);
  assert_non_null(v);
  assert_string_equal("1", json_string_value(json_object_get(v, "error_code")));
  assert_int_equal(3, json_integer_value(json_object_get(v, "records")));
  assert_int_equal(2, json_integer_value(json_object_get(v, "rejected")));
  json_t *data = json_object_get(v, "data");
  assert_int_equal(2, json_array_size(data));
  assert_string_equal("RP2", json_string_value(json_object_get(json_array_get(data, 0), "MaHoSo")));
  assert_int_equal(2, json_integer_value(json_object_get(json_array_get(data, 0), "record")));
  assert_string_equal("field 'NgayTiepNhan': '20251332250000' is not a date yyyyMMddHHmmss (month 13)",
                      json_string_value(json_object_get(json_array_get(data, 0), "error")));
  assert_string_equal("", json_string_value(json_object_get(json_array_get(data, 1), "MaHoSo")));
  assert_string_equal("field 'MaHoSo': missing", json_string_value(json_object_get(json_array_get(data, 1), "error")));
  json_decref(v);
  free(js);
  /* a delivery failure */
  js = dw_dvcqg_reply_json(rp, &st, "Local: Message timed out");
  v = json_loads(js, 0, &je);
  assert_string_equal(DW_DVCQG_FAILED, json_string_value(json_object_get(v, "error_code")));
  assert_non_null(strstr(json_string_value(json_object_get(v, "message")), "Message timed out"));
  assert_null(json_object_get(v, "data"));
  json_decref(v);
  free(js);
  dw_dvcqg_reply_destroy(rp);
}

static void test_transactions(void **state) {
  fx *f = *state;
  dw_dvcqg_sink s = sink_of(&f->g);
  dw_dvcqg_stats st;
  char err[256];
  const char body[] = "[" HEAD("T1") ",\"TrangThaiHoSo\":\"2\"," RCVD "}," HEAD("T2") ",\"TrangThaiHoSo\":\"2\"," RCVD "}]";
  /* T2 known before: the rollback must not forget it */
  const char *t2 = HEAD("T2") ",\"TrangThaiHoSo\":\"2\"," RCVD ",\"HoSoCoThanhPhanSoHoa\":\"0\"}";
  assert_int_equal(0, map(f, t2));
  dw_dvcqg_begin(f->m);
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(1, st.events);
  dw_dvcqg_rollback(f->m); /* not delivered: as if never seen */
  assert_int_equal(1, dw_dvcqg_dossiers(f->m));
  dw_dvcqg_begin(f->m);
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(1, st.events); /* T1 again */
  assert_int_equal(1, st.duplicates);
  dw_dvcqg_commit(f->m);
  assert_int_equal(0, dw_dvcqg_body(f->m, body, strlen(body), &s, &st, err, sizeof err));
  assert_int_equal(0, st.events);
  assert_int_equal(2, st.duplicates);
  /* a rollback undoes what a known dossier learnt too */
  const char more[] = HEAD("T1") ",\"TrangThaiHoSo\":\"4\"," RCVD ",\"HoSoCoThanhPhanSoHoa\":\"1\"}";
  dw_dvcqg_begin(f->m);
  assert_int_equal(0, dw_dvcqg_body(f->m, more, strlen(more), &s, &st, err, sizeof err));
  assert_int_equal(1, st.events);
  dw_dvcqg_rollback(f->m);
  assert_int_equal(0, dw_dvcqg_body(f->m, more, strlen(more), &s, &st, err, sizeof err));
  assert_int_equal(1, st.events);
}

static void test_max_dossiers(void **state) {
  fx *f = *state;
  dw_dvcqg *m = dw_dvcqg_new(f->u, 420, 2);
  dw_dvcqg_sink s = sink_of(&f->g);
  const char *recs[] = {HEAD("M1") ",\"TrangThaiHoSo\":\"2\"," RCVD "}", HEAD("M2") ",\"TrangThaiHoSo\":\"2\"," RCVD "}",
                        HEAD("M3") ",\"TrangThaiHoSo\":\"2\"," RCVD "}"};
  dw_dvcqg_stats st = {0};
  dw_dvcqg_record(m, recs[0], strlen(recs[0]), NULL, 1, 0, &s, &st);
  dw_dvcqg_record(m, recs[1], strlen(recs[1]), NULL, 2, 0, &s, &st);
  dw_dvcqg_record(m, recs[0], strlen(recs[0]), NULL, 3, 0, &s, &st); /* M1 used again: M2 is the oldest */
  dw_dvcqg_record(m, recs[2], strlen(recs[2]), NULL, 4, 0, &s, &st);
  assert_int_equal(2, dw_dvcqg_dossiers(m));
  assert_int_equal(3, st.events);
  dw_dvcqg_record(m, recs[0], strlen(recs[0]), NULL, 5, 0, &s, &st);
  assert_int_equal(3, st.events);
  dw_dvcqg_record(m, recs[1], strlen(recs[1]), NULL, 6, 0, &s, &st);
  assert_int_equal(4, st.events); /* M2 was forgotten: derived afresh */
  dw_dvcqg_destroy(m);
}

/* ---- the units file --------------------------------------------------------------- */

static void test_units_file(void **state) {
  (void)state;
  static const struct {
    const char *text, *err;
  } bad[] = {
    {"a,2900,X\n", "u:1: commune must be a 5-digit administrative-unit code (column 2)"},
    {"a,29001\n", "u:1: 2 fields (want key,commune,agency)"},
    {"a,29001,X,Y\n", "u:1: 4 fields (want key,commune,agency)"},
    {"a,29001,X,Y,Z\n", "u:1: more than 3 fields (want key,commune,agency)"},
    {"a,29001,X\n\na,29002,X\n", "u:3: key given again with another commune/agency (first on line 1)"},
    {",29001,X\n", "u:1: empty key"},
    {"\"a,29001,X\n", "u:1: field 1: unterminated quote"},
    {"a,UBND-1,29001\n", "u:1: commune must be a 5-digit administrative-unit code (column 2)"},
    {"# nothing\n\n", "u: no units (want lines key,commune,agency)"},
    {"key,commune,agency\n", "u: no units (want lines key,commune,agency)"},
  };
  char err[256];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    dw_dvcqg_units *u = dw_dvcqg_units_parse(bad[i].text, strlen(bad[i].text), "u", err, sizeof err);
    assert_null(u);
    assert_string_equal(bad[i].err, err);
  }
  const char ok[] = "\xEF\xBB\xBF" "key,commune,agency\r\n a , 29001 , UBND-1 \r\n\"b \"\"x\"\", c\",29002,UBND-2\na,29001,UBND-1\n";
  dw_dvcqg_units *u = dw_dvcqg_units_parse(ok, strlen(ok), "u", err, sizeof err);
  if (!u) fail_msg("%s", err);
  assert_int_equal(2, dw_dvcqg_units_count(u));
  const char *c, *a;
  assert_int_equal(0, dw_dvcqg_units_find(u, "a", &c, &a));
  assert_string_equal("29001", c);
  assert_string_equal("UBND-1", a);
  assert_int_equal(0, dw_dvcqg_units_find(u, "b \"x\", c", &c, &a));
  assert_string_equal("29002", c);
  assert_int_equal(-1, dw_dvcqg_units_find(u, "zz", &c, &a));
  dw_dvcqg_units_destroy(u);
  assert_null(dw_dvcqg_units_load("/nonexistent/units.csv", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent/units.csv"));
}

/* ---- the file reader ---------------------------------------------------------------- */

static char tmpdir[256];

static void write_file(const char *name, const char *text, char *path, size_t n) {
  snprintf(path, n, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

typedef struct read_out {
  int events, rejects, failed;
  char ids[2048];
  char reasons[2048];
  char fail[512];
  uint64_t records, derived, dups, rejected, blank;
} read_out;

static void stat_fn(const char *name, uint64_t v, void *o) {
  read_out *r = o;
  if (strcmp(name, "records read") == 0) r->records = v;
  if (strcmp(name, "events derived") == 0) r->derived = v;
  if (strcmp(name, "duplicates") == 0) r->dups = v;
  if (strcmp(name, "records rejected") == 0) r->rejected = v;
  if (strcmp(name, "blank") == 0) r->blank = v;
}

static void read_all(const char *path, const char *units, read_out *o) {
  memset(o, 0, sizeof *o);
  const char *props[] = {"units", units, NULL};
  char err[512];
  dw_reader *r = dw_reader_open("dvcqg", path, props, err, sizeof err);
  if (!r) fail_msg("%s", err);
  dw_event ev;
  dw_reject rej;
  for (;;) {
    dw_read_result k = dw_reader_next(r, &ev, &rej, err, sizeof err);
    if (k == DW_READ_END) break;
    if (k == DW_READ_FAIL) {
      o->failed = 1;
      snprintf(o->fail, sizeof o->fail, "%s", err);
      break;
    }
    if (k == DW_READ_EVENT) {
      o->events++;
      size_t l = strlen(o->ids);
      snprintf(o->ids + l, sizeof o->ids - l, "%s@%s%llu ", ev.event_id, rej.unit, (unsigned long long)rej.at);
    } else {
      o->rejects++;
      size_t l = strlen(o->reasons);
      snprintf(o->reasons + l, sizeof o->reasons - l, "%s %llu: %s|", rej.unit, (unsigned long long)rej.at, rej.reason);
      assert_false(has_fake(rej.raw));
    }
  }
  dw_reader_stats(r, stat_fn, o);
  dw_reader_close(r);
}

static void test_reader_shapes(void **state) {
  (void)state;
  char units[512], path[512];
  write_file("units.csv", units_csv, units, sizeof units);
  const char *a = HEAD("F1") ",\"TrangThaiHoSo\":\"2\"," RCVD ",\"ChuHoSo\":\"ZZFAKE\"}";
  const char *b = HEAD("F2") ",\"TrangThaiHoSo\":\"2\"," RCVD "}";
  char text[8192];
  read_out o;
  /* JSON Lines: a blank line, a bad line, an envelope on a line */
  snprintf(text, sizeof text, "%s\n\n{\"MaHoSo\":\"F3\",\"ChuHoSo\":\"ZZFAKE\n%s\n{\"madonvi\":\"MADV-C\",\"data\":[%s]}\n", a, b, a);
  write_file("lines.jsonl", text, path, sizeof path);
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_string_equal("dvcqg:F1:RECEIVED:20250429080000@line1 dvcqg:F2:RECEIVED:20250429080000@line4 ", o.ids);
  assert_string_equal("line 3: invalid JSON at line 3 column 32: premature end of input|", o.reasons);
  assert_int_equal(4, o.records);
  assert_int_equal(2, o.derived);
  assert_int_equal(1, o.dups);
  assert_int_equal(1, o.rejected);
  assert_int_equal(1, o.blank);
  /* a pretty array */
  snprintf(text, sizeof text, "[\n  %s,\n  %s,\n  {\"MaHoSo\":\"F4\"}\n]\n", a, b);
  write_file("array.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_string_equal("dvcqg:F1:RECEIVED:20250429080000@record1 dvcqg:F2:RECEIVED:20250429080000@record2 ", o.ids);
  assert_string_equal("record 3: line 4: MaHoSo 'F4': field 'MaTTHC': missing|", o.reasons);
  /* a pretty envelope */
  snprintf(text, sizeof text, "{\n  \"session\": \"abc\",\n  \"madonvi\": \"MADV-C\",\n  \"data\": [\n    %s,\n    %s\n  ]\n}\n", a, b);
  write_file("envelope.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_int_equal(2, o.events);
  /* an envelope whose one record is alone on its line, madonvi after data */
  snprintf(text, sizeof text, "{\"data\": [\n{\"MaHoSo\":\"F6\",\"MaTTHC\":\"1.1\",\"TrangThaiHoSo\":\"2\"," RCVD "}\n],\n"
           "\"madonvi\": \"MADV-C\"}\n");
  write_file("envelope1.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_string_equal("dvcqg:F6:RECEIVED:20250429080000@record1 ", o.ids);
  /* truncated array and envelope: nothing mapped, a failure naming the place */
  snprintf(text, sizeof text, "[\n  %s,\n  %s,\n  {\"MaHoSo\":\"F5\",\"ChuHoSo\":\"ZZFAKE", a, b);
  write_file("trunc.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_true(o.failed);
  assert_int_equal(0, o.events);
  assert_string_equal("the array's element that starts at line 4: invalid JSON at line 4 column 34: premature end of input", o.fail);
  snprintf(text, sizeof text, "{\n  \"madonvi\": \"MADV-C\",\n  \"data\": [\n    %s,\n    {\"ChuHoSo\": \"ZZFAKE", a);
  write_file("trunc_env.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_true(o.failed);
  assert_int_equal(0, o.events);
  assert_false(has_fake(o.fail));
  assert_non_null(strstr(o.fail, "invalid JSON at line 5"));
  snprintf(text, sizeof text, "[%s] trailing", a);
  write_file("trail.json", text, path, sizeof path);
  read_all(path, units, &o);
  assert_true(o.failed);
  assert_int_equal(0, o.events);
  /* empty file: no records */
  write_file("empty.json", "", path, sizeof path);
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_int_equal(0, o.events + o.rejects);
  /* the units property is required, and checked */
  const char *none[] = {NULL};
  char err[256];
  assert_null(dw_reader_open("dvcqg", path, none, err, sizeof err));
  assert_non_null(strstr(err, "--units"));
  const char *missing[] = {"units", "/nonexistent.csv", NULL};
  assert_null(dw_reader_open("dvcqg", path, missing, err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent.csv"));
}

/* ---- the writer, read back ------------------------------------------------------------ */

static dw_event mk(const char *id, dw_event_type t, const char *when, const char *agency) {
  dw_event e;
  dw_event_init(&e);
  snprintf(e.event_id, sizeof e.event_id, "%s", id);
  snprintf(e.dossier_id, sizeof e.dossier_id, "W-1");
  e.type = t;
  e.occurred_at = at(when);
  snprintf(e.commune, sizeof e.commune, "29001");
  snprintf(e.agency, sizeof e.agency, "%s", agency);
  snprintf(e.procedure, sizeof e.procedure, "1.001612");
  return e;
}

static void test_writer_roundtrip(void **state) {
  (void)state;
  char path[512], units[600];
  snprintf(path, sizeof path, "%s/sim.dvcqg", tmpdir);
  snprintf(units, sizeof units, "%s.units.csv", path);
  const char *props[] = {DW_FORMAT_PROP_UTC_OFFSET, "420", NULL};
  char err[512];
  dw_writer *w = dw_writer_create("dvcqg", path, props, err, sizeof err);
  if (!w) fail_msg("%s", err);
  dw_event evs[16];
  int n = 0;
  evs[n] = mk("s1", DW_EV_RECEIVED, "2025-04-29T08:00:00+07:00", "UBND-29001");
  evs[n].channel = DW_CH_ONLINE_PARTIAL;
  evs[n++].processing_days = 3; /* NgayHenTra from the calendar: 3 working days */
  evs[n++] = mk("s2", DW_EV_PAYMENT, "2025-04-29T08:10:00+07:00", "UBND-29001");
  evs[n - 1].online = true;
  evs[n++] = mk("s3", DW_EV_DOC_REUSED, "2025-04-29T08:20:00+07:00", "UBND-29001");
  snprintf(evs[n - 1].document, DW_TEXT_MAX, "Giấy khai sinh");
  evs[n++] = mk("s4", DW_EV_PAPER_REQUESTED, "2025-04-29T08:30:00+07:00", "UBND-29001");
  snprintf(evs[n - 1].document, DW_TEXT_MAX, "Sổ hộ khẩu");
  evs[n++] = mk("s5", DW_EV_DIGITIZED, "2025-04-29T09:00:00+07:00", "UBND-29001");
  evs[n++] = mk("s6", DW_EV_TRANSFERRED, "2025-04-29T10:00:00+07:00", "STP-86");
  snprintf(evs[n - 1].to_agency, DW_ID_MAX, "STP-86");
  evs[n++] = mk("s7", DW_EV_SUPPLEMENT_REQUESTED, "2025-04-30T10:00:00+07:00", "STP-86");
  snprintf(evs[n - 1].reason, DW_TEXT_MAX, "Thiếu bản sao");
  evs[n++] = mk("s8", DW_EV_SUPPLEMENT_RECEIVED, "2025-05-02T14:00:00+07:00", "STP-86");
  evs[n - 1].due_at = at("2025-05-09T17:00:00+07:00");
  evs[n++] = mk("s9", DW_EV_APOLOGY_ISSUED, "2025-05-05T14:00:00+07:00", "STP-86");
  evs[n - 1].new_due_at = at("2025-05-12T17:00:00+07:00");
  evs[n++] = mk("s10", DW_EV_RESULT_ISSUED, "2025-05-08T10:00:00+07:00", "STP-86");
  evs[n++] = mk("s11", DW_EV_RESULT_DIGITIZED, "2025-05-08T15:00:00+07:00", "STP-86");
  evs[n++] = mk("s12", DW_EV_RETURNED, "2025-05-09T09:00:00+07:00", "STP-86");
  evs[n++] = mk("s13", DW_EV_RATED, "2025-05-09T10:00:00+07:00", "STP-86");
  evs[n - 1].score = 5;
  for (int i = 0; i < n; i++)
    if (dw_writer_write(w, &evs[i], err, sizeof err)) fail_msg("%s", err);
  if (dw_writer_close(w, err, sizeof err)) fail_msg("%s", err);
  /* 12 records (RATED after the return writes none), full of fake personal data */
  FILE *f = fopen(path, "r");
  char line[8192];
  int lines = 0, fakes = 0;
  while (fgets(line, sizeof line, f)) lines++, fakes += has_fake(line);
  fclose(f);
  assert_int_equal(12, lines);
  assert_int_equal(12, fakes);
  read_out o;
  read_all(path, units, &o);
  assert_false(o.failed);
  assert_int_equal(0, o.rejects);
  assert_string_equal("dvcqg:W-1:RECEIVED:20250429080000@line1 dvcqg:W-1:PAYMENT:20250429080000@line2 "
                      "dvcqg:W-1:DOC_REUSED:20250429080000:2@line3 dvcqg:W-1:DIGITIZED:20250429080000@line5 "
                      "dvcqg:W-1:SUPPLEMENT_REQUESTED:20250430100000:1@line7 "
                      "dvcqg:W-1:SUPPLEMENT_RECEIVED:20250502140000:1@line8 "
                      "dvcqg:W-1:RESULT_ISSUED:20250508100000@line10 dvcqg:W-1:RETURNED:20250509090000@line12 ",
                      o.ids);
  assert_int_equal(12, o.records);
  /* the units file names both agencies of the dossier */
  f = fopen(units, "r");
  assert_non_null(f);
  char all[1024] = "";
  size_t got = fread(all, 1, sizeof all - 1, f);
  all[got] = '\0';
  fclose(f);
  assert_string_equal("key,commune,agency\nSTP-86 tại 29001,29001,STP-86\nUBND-29001 tại 29001,29001,UBND-29001\n", all);
  /* NgayHenTra from processing_days = 3 working days on the calendar */
  const char *props2[] = {"units", units, NULL};
  dw_reader *r = dw_reader_open("dvcqg", path, props2, err, sizeof err);
  dw_event ev;
  dw_reject rej;
  assert_int_equal(DW_READ_EVENT, dw_reader_next(r, &ev, &rej, err, sizeof err));
  assert_true(ev.due_at == at("2025-05-07T08:00:00+07:00")); /* Apr 30, May 1 and 2 are days off */
  assert_string_equal("UBND-29001", ev.agency);
  assert_int_equal(DW_CH_ONLINE_PARTIAL, ev.channel);
  dw_reader_close(r);
  /* to stdout, the units file needs a place */
  assert_null(dw_writer_create("dvcqg", "-", props, err, sizeof err));
  assert_non_null(strstr(err, "units"));
}

static void test_dates(void **state) {
  (void)state;
  int64_t ms;
  char why[128], out[15];
  assert_int_equal(0, dvcqg_date_parse("20240229235959", 420, &ms, why, sizeof why));
  assert_true(ms == at("2024-02-29T23:59:59+07:00"));
  dvcqg_date_format(ms, 420, out);
  assert_string_equal("20240229235959", out);
  assert_int_equal(0, dvcqg_date_parse("20000229000000", 0, &ms, why, sizeof why));
  assert_true(ms == at("2000-02-29T00:00:00Z"));
  dvcqg_date_format(at("2025-04-29T08:00:00.999+07:00"), 420, out); /* whole seconds */
  assert_string_equal("20250429080000", out);
  dvcqg_date_format(at("2025-04-29T01:00:00Z"), 0, out);
  assert_string_equal("20250429010000", out);
  static const struct {
    const char *s, *why;
  } bad[] = {
    {"21000229000000", "'21000229000000' is not a date yyyyMMddHHmmss (day 29)"},
    {"20250001000000", "'20250001000000' is not a date yyyyMMddHHmmss (month 0)"},
    {"20250100000000", "'20250100000000' is not a date yyyyMMddHHmmss (day 0)"},
    {"20250101006000", "'20250101006000' is not a date yyyyMMddHHmmss (minute 60)"},
    {"20250101000060", "'20250101000060' is not a date yyyyMMddHHmmss (second 60)"},
    {"19691231235959", "'19691231235959' is not a date yyyyMMddHHmmss (year 1969)"},
    {"2025010100000", "not a date yyyyMMddHHmmss"},
    {"202501010000001", "not a date yyyyMMddHHmmss"},
    {"2025010100000a", "not a date yyyyMMddHHmmss"},
    {"", "not a date yyyyMMddHHmmss"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(-1, dvcqg_date_parse(bad[i].s, 420, &ms, why, sizeof why));
    assert_string_equal(bad[i].why, why);
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/test_dvcqg.XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_received_channels, setup, teardown),
    cmocka_unit_test_setup_teardown(test_status_1_derives_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_digitized, setup, teardown),
    cmocka_unit_test_setup_teardown(test_doc_reused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_supplement_rounds, setup, teardown),
    cmocka_unit_test_setup_teardown(test_result_returned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rejected_withdrawn, setup, teardown),
    cmocka_unit_test_setup_teardown(test_payment, setup, teardown),
    cmocka_unit_test_setup_teardown(test_units_and_envelope, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_personal_never_leaks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_conflicts, setup, teardown),
    cmocka_unit_test(test_idempotence),
    cmocka_unit_test_setup_teardown(test_body_shapes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reply, setup, teardown),
    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_max_dossiers, setup, teardown),
    cmocka_unit_test(test_units_file),
    cmocka_unit_test(test_reader_shapes),
    cmocka_unit_test(test_writer_roundtrip),
    cmocka_unit_test(test_dates),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) rc = rc ? rc : 1;
  return rc;
}
