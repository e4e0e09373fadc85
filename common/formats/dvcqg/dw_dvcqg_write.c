/* dw_dvcqg_write: events -> the sync records a one-stop system would send
 * to the national portal (what `simulate --format dvcqg` writes). For each
 * event written, the dossier's snapshot after it goes out as one JSON line,
 * so a dossier appears status by status over time; reading the file back
 * (dw_dvcqg.h) gives the events the format can carry.
 *
 * What a snapshot holds, by event: RECEIVED opens it (status 2; NgayHenTra
 * = due_at, or processing_days working days on the calendar), DIGITIZED
 * marks the papers DuocSoHoa (and HoSoCoThanhPhanSoHoa, except online where
 * that flag means "fully online"), DOC_REUSED and PAPER_REQUESTED add a
 * paper (reused: DuocTaiSuDung 1, DuocLayTuKhoDMQG 1 or DuocTaiSuDung 2 in
 * turn), TRANSFERRED changes DonViXuLy, SUPPLEMENT_* add and close a round
 * (a new due also replaces NgayHenTra), RESULT_ISSUED/RESULT_DIGITIZED set
 * NgayKetThucXuLy and the result's link, RETURNED/REJECTED/WITHDRAWN end
 * it, PAYMENT lists the fee (DuocThanhToanTrucTuyen 1 when online).
 * APOLOGY_ISSUED and RATED change nothing the format shows. A dossier is
 * forgotten once returned, refused or withdrawn (later events of it write
 * nothing and are counted).
 *
 * Personal fields are filled with obviously fake values, all containing
 * "ZZFAKE" (or "zzfake"), so that tests can prove none of them leaks.
 *
 * Units: DonViXuLy is "<agency> tại <commune>"; every such key is written,
 * with its commune and agency, to the units CSV (property `units`, default
 * OUTPUT.units.csv) when the file is finished. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_buf.h"
#include "dw_calendar.h"
#include "dw_dvcqg_internal.h"
#include "dw_dvcqg_write.h"
#include "dw_log.h"
#include "dw_reader.h"

#define DEFAULT_HOURS "07:30-11:30,13:30-17:00"

typedef struct wpaper {
  char *name;
  int so_hoa, tai_su_dung, kho, reused;
} wpaper;

typedef struct wround {
  int64_t req, rcv, due;
  char *reason;
} wround;

typedef struct wdossier {
  char id[DW_ID_MAX];
  uint64_t k; /* the dossier's number: its fake personal values */
  char procedure[DW_CODE_MAX], commune[DW_CODE_MAX], agency[DW_ID_MAX];
  int kenh, so_hoa, digitized, status, fee, paid_online, result_link, nreused;
  int64_t tn, ht, kt, tra, tc;
  wpaper *papers;
  size_t npapers;
  wround *rounds;
  size_t nrounds;
  UT_hash_handle hh;
} wdossier;

typedef struct wunit {
  char *key;
  char commune[DW_CODE_MAX], agency[DW_ID_MAX];
  UT_hash_handle hh;
} wunit;

typedef struct writer {
  FILE *f;
  int own;
  char *units_path;
  int off;
  char *cal_dir, *cal_hours;
  dw_calendar *cal; /* loaded at the first RECEIVED without due_at */
  wdossier *open;
  wunit *units;
  uint64_t next_k, records, skipped;
  dw_buf line;
} writer;

static void dossier_free(wdossier *d) {
  for (size_t i = 0; i < d->npapers; i++) free(d->papers[i].name);
  for (size_t i = 0; i < d->nrounds; i++) free(d->rounds[i].reason);
  free(d->papers);
  free(d->rounds);
  free(d);
}

static void writer_free(writer *w) {
  wdossier *d, *dt;
  HASH_ITER(hh, w->open, d, dt) {
    HASH_DEL(w->open, d);
    dossier_free(d);
  }
  wunit *u, *ut;
  HASH_ITER(hh, w->units, u, ut) {
    HASH_DEL(w->units, u);
    free(u->key);
    free(u);
  }
  dw_calendar_destroy(w->cal);
  free(w->units_path);
  free(w->cal_dir);
  free(w->cal_hours);
  dw_buf_free(&w->line);
  free(w);
}

void *dvcqg_create(const char *path, const char *const *props, char *err, size_t n) {
  writer *w = calloc(1, sizeof *w);
  if (!w) goto oom;
  w->off = 420;
  const char *units = NULL, *dir = NULL, *hours = NULL;
  for (const char *const *kv = props; kv && kv[0]; kv += 2) {
    if (strcmp(kv[0], "units") == 0) units = kv[1];
    if (strcmp(kv[0], DW_FORMAT_PROP_UTC_OFFSET) == 0) w->off = atoi(kv[1]);
    if (strcmp(kv[0], DW_FORMAT_PROP_CALENDAR_DIR) == 0 && kv[1][0]) dir = kv[1];
    if (strcmp(kv[0], DW_FORMAT_PROP_CALENDAR_HOURS) == 0 && kv[1][0]) hours = kv[1];
  }
  w->own = strcmp(path, "-") != 0;
  if (!units && !w->own) {
    snprintf(err, n, "format dvcqg needs an output file (the units file goes next to it as FILE.units.csv) or the "
             "units property");
    free(w);
    return NULL;
  }
  char def[4200];
  snprintf(def, sizeof def, "%s.units.csv", path);
  if (!(w->units_path = strdup(units ? units : def))) goto oom;
  if ((dir && !(w->cal_dir = strdup(dir))) || (hours && !(w->cal_hours = strdup(hours)))) goto oom;
  w->f = w->own ? fopen(path, "w") : stdout;
  if (!w->f) {
    snprintf(err, n, "%s: %s", path, strerror(errno));
    writer_free(w);
    return NULL;
  }
  if (w->own) setvbuf(w->f, NULL, _IOFBF, 1 << 20);
  return w;
oom:
  snprintf(err, n, "out of memory");
  if (w) writer_free(w);
  return NULL;
}

/* ---- one snapshot --------------------------------------------------------- */

static void put_key(dw_buf *b, const char *k, int first) {
  if (!first) dw_buf_putc(b, ',');
  dw_buf_json_string(b, k);
  dw_buf_putc(b, ':');
}

static void put_str(dw_buf *b, const char *k, const char *v) {
  put_key(b, k, 0);
  dw_buf_json_string(b, v);
}

static void put_date(writer *w, dw_buf *b, const char *k, int64_t t) {
  char s[15] = "";
  if (t != DW_TIME_NONE) dvcqg_date_format(t, w->off, s);
  put_str(b, k, s);
}

static void put_int(dw_buf *b, const char *k, int v) {
  put_key(b, k, 0);
  dw_buf_printf(b, "\"%d\"", v);
}

static void unit_key(const wdossier *d, char *out, size_t n) { snprintf(out, n, "%s tại %s", d->agency, d->commune); }

static void snapshot(writer *w, const wdossier *d, dw_buf *b) {
  unsigned long long k = (unsigned long long)d->k;
  char key[256], fake[256];
  dw_buf_reset(b);
  dw_buf_putc(b, '{');
  put_key(b, "MaHoSo", 1);
  dw_buf_json_string(b, d->id);
  put_str(b, "MaTTHC", d->procedure);
  unit_key(d, key, sizeof key);
  put_str(b, "DonViXuLy", key);
  put_int(b, "KenhThucHien", d->kenh);
  snprintf(fake, sizeof fake, "ZZFAKE Nguyễn Văn Giả %llu", k);
  put_str(b, "ChuHoSo", fake);
  put_str(b, "LoaiDoiTuong", "1");
  snprintf(fake, sizeof fake, "09ZZFAKE%06llu", k % 1000000);
  put_str(b, "SoDienThoai", fake);
  snprintf(fake, sizeof fake, "zzfake.%llu@example.invalid", k);
  put_str(b, "Email", fake);
  snprintf(fake, sizeof fake, "ZZFAKE%012llu", k);
  put_str(b, "DinhDanhCHS", fake);
  snprintf(fake, sizeof fake, "ZZFAKE số %llu đường Giả Định, %s", k, d->commune);
  put_str(b, "DiaChiThuongTruChuHoSo", fake);
  snprintf(fake, sizeof fake, "ZZFAKE hồ sơ của ông Nguyễn Văn Giả %llu", k);
  put_str(b, "TrichYeuHoSo", fake);
  put_int(b, "TrangThaiHoSo", d->status);
  put_date(w, b, "NgayNopHoSo", d->tn);
  put_date(w, b, "NgayTiepNhan", d->tn);
  put_date(w, b, "NgayHenTra", d->ht);
  put_date(w, b, "NgayKetThucXuLy", d->kt);
  put_date(w, b, "NgayTra", d->tra);
  put_date(w, b, "NgayTuChoi", d->tc);
  put_int(b, "HoSoCoThanhPhanSoHoa", d->so_hoa);
  put_int(b, "DuocThanhToanTrucTuyen", d->paid_online);
  put_key(b, "TaiLieuNop", 0);
  dw_buf_putc(b, '[');
  for (size_t i = 0; i < d->npapers; i++) {
    const wpaper *p = &d->papers[i];
    dw_buf_puts(b, i ? ",{" : "{");
    put_key(b, "TenTepDinhKem", 1);
    dw_buf_json_string(b, p->name);
    put_int(b, "DuocSoHoa", p->so_hoa);
    put_int(b, "DuocTaiSuDung", p->tai_su_dung);
    put_int(b, "DuocLayTuKhoDMQG", p->kho);
    dw_buf_putc(b, '}');
  }
  dw_buf_putc(b, ']');
  put_key(b, "DanhSachHoSoBoSung", 0);
  dw_buf_putc(b, '[');
  for (size_t i = 0; i < d->nrounds; i++) {
    const wround *r = &d->rounds[i];
    dw_buf_puts(b, i ? ",{" : "{");
    put_key(b, "NgayBoSung", 1);
    char s[15];
    dvcqg_date_format(r->req, w->off, s);
    dw_buf_json_string(b, s);
    put_str(b, "NoiDungBoSung", r->reason);
    put_date(w, b, "NgayTiepNhanBoSung", r->rcv);
    put_date(w, b, "NgayHenTraMoi", r->due);
    dw_buf_putc(b, '}');
  }
  dw_buf_putc(b, ']');
  put_key(b, "DanhSachGiayToKetQua", 0);
  if (d->kt != DW_TIME_NONE && d->status != 7) {
    char link[256] = "";
    if (d->result_link) snprintf(link, sizeof link, "https://ketqua.example.invalid/%s.pdf", d->id);
    dw_buf_puts(b, "[{");
    put_key(b, "TenGiayTo", 1);
    dw_buf_json_string(b, "Kết quả giải quyết thủ tục hành chính");
    put_str(b, "DuongDanTepTinKetQua", link);
    dw_buf_puts(b, "}]");
  } else {
    dw_buf_puts(b, "[]");
  }
  put_key(b, "DanhSachLePhi", 0);
  if (d->fee) {
    dw_buf_puts(b, "[{");
    put_key(b, "TenPhiLePhi", 1);
    dw_buf_json_string(b, "Lệ phí giải quyết");
    put_str(b, "Gia", "50000");
    dw_buf_puts(b, "}]");
  } else {
    dw_buf_puts(b, "[]");
  }
  dw_buf_putc(b, '}');
}

/* ---- events into the dossier --------------------------------------------------- */

static int note_unit(writer *w, const wdossier *d, char *err, size_t n) {
  char key[256];
  unit_key(d, key, sizeof key);
  wunit *u;
  HASH_FIND_STR(w->units, key, u);
  if (u) return 0;
  if (!(u = calloc(1, sizeof *u)) || !(u->key = strdup(key))) {
    free(u);
    snprintf(err, n, "out of memory");
    return -1;
  }
  snprintf(u->commune, sizeof u->commune, "%s", d->commune);
  snprintf(u->agency, sizeof u->agency, "%s", d->agency);
  HASH_ADD_KEYPTR(hh, w->units, u->key, strlen(u->key), u);
  return 0;
}

static int add_paper(wdossier *d, const char *name, int so_hoa, int tsd, int kho, int reused) {
  wpaper *p = realloc(d->papers, (d->npapers + 1) * sizeof *p);
  if (!p) return -1;
  d->papers = p;
  p = &d->papers[d->npapers];
  if (!(p->name = strdup(name))) return -1;
  d->npapers++;
  p->so_hoa = so_hoa, p->tai_su_dung = tsd, p->kho = kho, p->reused = reused;
  return 0;
}

static int due_of(writer *w, const dw_event *ev, int64_t *due, char *err, size_t n) {
  if (ev->due_at != DW_TIME_NONE) {
    *due = ev->due_at;
    return 0;
  }
  if (!w->cal) {
    char why[512];
    if (!(w->cal = dw_calendar_new(w->cal_dir ? w->cal_dir : dw_calendar_default_dir(),
                                   w->cal_hours ? w->cal_hours : DEFAULT_HOURS, w->off, why, sizeof why))) {
      snprintf(err, n, "calendar (for NgayHenTra from processing_days): %s", why);
      return -1;
    }
  }
  char why[256];
  int64_t work = (int64_t)ev->processing_days * dw_calendar_day_ms(w->cal);
  if (dw_calendar_add_working(w->cal, ev->occurred_at, work, due, why, sizeof why)) {
    snprintf(err, n, "event %s: NgayHenTra from processing_days: %s", ev->event_id, why);
    return -1;
  }
  return 0;
}

static wdossier *received(writer *w, const dw_event *ev, char *err, size_t n) {
  wdossier *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  snprintf(d->id, sizeof d->id, "%s", ev->dossier_id);
  d->k = ++w->next_k;
  snprintf(d->procedure, sizeof d->procedure, "%s", ev->procedure);
  snprintf(d->commune, sizeof d->commune, "%s", ev->commune);
  d->kenh = ev->channel == DW_CH_POSTAL ? 3 : ev->channel == DW_CH_IN_PERSON ? 1 : 2;
  d->so_hoa = ev->channel == DW_CH_ONLINE_FULL;
  d->status = 2;
  d->tn = ev->occurred_at;
  d->kt = d->tra = d->tc = DW_TIME_NONE;
  if (due_of(w, ev, &d->ht, err, n) || add_paper(d, "Tờ khai", d->so_hoa, 0, 0, 0)) {
    if (!err[0]) snprintf(err, n, "out of memory");
    dossier_free(d);
    return NULL;
  }
  HASH_ADD_STR(w->open, id, d);
  return d;
}

/* Applies ev to d. 1 when the dossier is finished after this snapshot. */
static int apply(wdossier *d, const dw_event *ev) {
  switch (ev->type) {
  case DW_EV_DIGITIZED:
    d->digitized = 1;
    if (d->kenh != 2) d->so_hoa = 1; /* online, the flag would mean "fully online" */
    for (size_t i = 0; i < d->npapers; i++)
      if (!d->papers[i].reused) d->papers[i].so_hoa = 1;
    return 0;
  case DW_EV_DOC_REUSED: {
    int turn = d->nreused++ % 3;
    return add_paper(d, ev->document, 0, turn == 0 ? 1 : turn == 2 ? 2 : 0, turn == 1, 1) ? -1 : 0;
  }
  case DW_EV_PAPER_REQUESTED: return add_paper(d, ev->document, d->digitized, 0, 0, 0) ? -1 : 0;
  case DW_EV_TRANSFERRED:
    if (d->status == 2) d->status = 4;
    return 0;
  case DW_EV_SUPPLEMENT_REQUESTED: {
    wround *r = realloc(d->rounds, (d->nrounds + 1) * sizeof *r);
    if (!r) return -1;
    d->rounds = r;
    r = &d->rounds[d->nrounds];
    if (!(r->reason = strdup(ev->reason))) return -1;
    d->nrounds++;
    r->req = ev->occurred_at;
    r->rcv = r->due = DW_TIME_NONE;
    d->status = 5;
    return 0;
  }
  case DW_EV_SUPPLEMENT_RECEIVED:
    for (size_t i = d->nrounds; i-- > 0;)
      if (d->rounds[i].rcv == DW_TIME_NONE) {
        d->rounds[i].rcv = ev->occurred_at;
        d->rounds[i].due = ev->due_at;
        if (ev->due_at != DW_TIME_NONE) d->ht = ev->due_at; /* the new appointment */
        break;
      }
    d->status = 4;
    return 0;
  case DW_EV_RESULT_ISSUED:
    d->kt = ev->occurred_at;
    d->result_link = ev->digitized;
    d->status = 9;
    return 0;
  case DW_EV_RESULT_DIGITIZED: d->result_link = 1; return 0;
  case DW_EV_RETURNED:
    d->tra = ev->occurred_at;
    d->status = 10;
    return 1;
  case DW_EV_REJECTED:
    d->tc = ev->occurred_at;
    d->status = 3;
    return 1;
  case DW_EV_WITHDRAWN:
    d->kt = ev->occurred_at;
    d->status = 7;
    return 1;
  case DW_EV_PAYMENT:
    d->fee = 1;
    if (ev->online) d->paid_online = 1;
    return 0;
  default: return 0; /* APOLOGY_ISSUED, RATED: nothing the format shows */
  }
}

int dvcqg_write(void *st, const dw_event *ev, char *err, size_t n) {
  writer *w = st;
  err[0] = '\0';
  wdossier *d;
  HASH_FIND_STR(w->open, ev->dossier_id, d);
  int done = 0;
  if (ev->type == DW_EV_RECEIVED && !d) {
    if (!(d = received(w, ev, err, n))) {
      if (!err[0]) snprintf(err, n, "out of memory");
      return -1;
    }
  } else if (!d) {
    w->skipped++; /* its RECEIVED was not written, or it is finished */
    return 0;
  } else if ((done = apply(d, ev)) < 0) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  snprintf(d->agency, sizeof d->agency, "%s", ev->agency); /* after a transfer: the new agency */
  if (note_unit(w, d, err, n)) return -1;
  snapshot(w, d, &w->line);
  if (w->line.oom) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (fwrite(w->line.data, 1, w->line.len, w->f) != w->line.len || fputc('\n', w->f) == EOF) {
    snprintf(err, n, "write failed: %s", strerror(errno));
    return -1;
  }
  w->records++;
  if (done) {
    HASH_DEL(w->open, d);
    dossier_free(d);
  }
  return 0;
}

/* ---- the end: the units file ---------------------------------------------------- */

static int by_key(wunit *a, wunit *b) { return strcmp(a->key, b->key); }

static int write_units(writer *w, char *err, size_t n) {
  FILE *f = fopen(w->units_path, "w");
  if (!f) {
    snprintf(err, n, "units file %s: %s", w->units_path, strerror(errno));
    return -1;
  }
  fputs("key,commune,agency\n", f);
  HASH_SORT(w->units, by_key);
  for (wunit *u = w->units; u; u = u->hh.next) {
    if (strpbrk(u->key, ",\"")) {
      fputc('"', f);
      for (const char *p = u->key; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
      }
      fputc('"', f);
    } else {
      fputs(u->key, f);
    }
    fprintf(f, ",%s,%s\n", u->commune, u->agency);
  }
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    snprintf(err, n, "units file %s: write failed", w->units_path);
    return -1;
  }
  return 0;
}

int dvcqg_finish(void *st, char *err, size_t n) {
  writer *w = st;
  int rc = 0;
  if (fflush(w->f) != 0 || ferror(w->f)) {
    snprintf(err, n, "write failed: %s", strerror(errno));
    rc = -1;
  }
  if (w->own && fclose(w->f) != 0 && rc == 0) {
    snprintf(err, n, "close failed: %s", strerror(errno));
    rc = -1;
  }
  if (rc == 0) rc = write_units(w, err, n);
  if (w->skipped)
    DW_LOG_INF("dvcqg: %llu events wrote no record (their dossier's RECEIVED was not written, or it was already "
               "returned, refused or withdrawn)",
               (unsigned long long)w->skipped);
  writer_free(w);
  return rc;
}
