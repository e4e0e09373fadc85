/* dw_dvcqg_map: one sync record (a dossier snapshot) -> the events it
 * implies (see dw_dvcqg.h for the mapping), with the per-dossier memory
 * that turns a repeated or later snapshot into duplicates plus what is new,
 * and reports conflicts. Stages per record: check (every field read with
 * its type; the first problem refuses the whole record), reconcile (the
 * dossier's memory: conflicts, the first values standing), derive (the
 * events, in a fixed order), emit (new ids only). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#include "dw_buf.h"
#include "dw_dvcqg_internal.h"
#include "dw_json.h"
#include "dw_log.h"
#include "dw_time.h"

/* ---- personal data ------------------------------------------------------ */

/* Name fragments of personal fields (case-insensitive, anywhere in the
 * name): the citizen's or organisation's name (ChuHoSo, HoTen, NguoiNop,
 * NguoiNhan, NguoiDaiDien, DoiTuong), officials' names (NguoiKy, CanBo,
 * NguoiXuLy), phone and fax, e-mail, ID numbers (DinhDanh, CMND, CCCD,
 * HoChieu, SoGiayTo, MaSoThue), addresses (DiaChi), birth date and sex, and
 * free text that usually names the applicant (TrichYeu, GhiChu,
 * ThongTinKhac), plus account and password fields. */
const char *const dw_dvcqg_personal_fragments[] = {
  "chuhoso", "hoten", "nguoinop", "nguoinhan", "nguoidaidien", "doituong", "nguoiky", "canbo", "nguoixuly",
  "dienthoai", "fax", "email", "dinhdanh", "cmnd", "cccd", "hochieu", "sogiayto", "masothue", "diachi",
  "ngaysinh", "gioitinh", "trichyeu", "ghichu", "thongtinkhac", "taikhoan", "matkhau", NULL,
};

int dw_dvcqg_is_personal(const char *key) {
  /* the whole name, however long: a prefix would let "<128 bytes>ChuHoSo" through */
  for (const char *const *f = dw_dvcqg_personal_fragments; *f; f++)
    if (strcasestr(key, *f)) return 1;
  /* DinhDanhCHS and the like: "CHS" = chủ hồ sơ */
  size_t n = strlen(key);
  return n >= 3 && strcasecmp(key + n - 3, "chs") == 0;
}

void dvcqg_blank_personal(json_t *v) {
  if (json_is_object(v)) {
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
      json_t *x = json_object_iter_value(it);
      if (dw_dvcqg_is_personal(json_object_iter_key(it))) {
        if (!json_is_string(x) || json_string_length(x)) json_object_iter_set_new(v, it, json_string(""));
      } else {
        dvcqg_blank_personal(x);
      }
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) dvcqg_blank_personal(x);
  }
}

void dvcqg_json_error(const json_error_t *e, uint64_t line_base, uint64_t col_base, char *out, size_t n) {
  char text[JSON_ERROR_TEXT_LENGTH];
  snprintf(text, sizeof text, "%s", e->text);
  char *near = strstr(text, " near ");
  if (near) *near = '\0';
  char *uni = strstr(text, "invalid Unicode");
  if (uni) snprintf(uni, sizeof text - (size_t)(uni - text), "invalid Unicode escape");
  if (e->line < 1) {
    snprintf(out, n, "invalid JSON: %s", text);
    return;
  }
  uint64_t line = line_base + (uint64_t)e->line - 1;
  uint64_t col = e->line == 1 ? col_base + (uint64_t)(e->column > 0 ? e->column : 1) - 1 : (uint64_t)e->column;
  snprintf(out, n, "invalid JSON at line %llu column %llu: %s", (unsigned long long)line, (unsigned long long)col,
           text);
}

int dvcqg_envelope(json_t *v, json_t **data, const char **madonvi, char *why, size_t n) {
  if (!json_is_object(v)) return 0;
  json_t *d = json_object_get(v, "data");
  if (!d && !json_object_get(v, "madonvi") && !json_object_get(v, "service")) return 0;
  if (json_object_get(v, "MaHoSo")) return 0; /* a record with a field named like the envelope's */
  if (!json_is_array(d)) {
    snprintf(why, n, "envelope: field 'data': %s", d ? "not an array of records" : "missing");
    return -1;
  }
  json_t *u = json_object_get(v, "madonvi");
  if (u && !json_is_null(u) && !json_is_string(u)) {
    snprintf(why, n, "envelope: field 'madonvi': not a string");
    return -1;
  }
  *data = d;
  *madonvi = json_is_string(u) && json_string_length(u) ? json_string_value(u) : NULL;
  return 1;
}

/* ---- dates ------------------------------------------------------------- */

static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

int dvcqg_date_parse(const char *s, int off, int64_t *ms, char *why, size_t n) {
  size_t len = strlen(s);
  int ok = len == 14;
  for (size_t i = 0; ok && i < 14; i++) ok = s[i] >= '0' && s[i] <= '9';
  if (!ok) {
    snprintf(why, n, "not a date yyyyMMddHHmmss");
    return -1;
  }
  int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2), h = digits(s + 8, 2), mi = digits(s + 10, 2),
      se = digits(s + 12, 2);
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *bad = NULL;
  int val = 0;
  if (y < 1970) bad = "year", val = y;
  else if (mo < 1 || mo > 12) bad = "month", val = mo;
  else if (d < 1 || d > dim[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)))
    bad = "day", val = d;
  else if (h > 23) bad = "hour", val = h;
  else if (mi > 59) bad = "minute", val = mi;
  else if (se > 59) bad = "second", val = se;
  if (bad) {
    snprintf(why, n, "'%s' is not a date yyyyMMddHHmmss (%s %d)", s, bad, val);
    return -1;
  }
  *ms = (dw_days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + se) * 1000LL - (int64_t)off * DW_MS_PER_MIN;
  return 0;
}

void dvcqg_date_format(int64_t ms, int off, char out[15]) {
  int64_t local = ms + (int64_t)off * DW_MS_PER_MIN;
  int64_t secs = local >= 0 ? local / 1000 : (local - 999) / 1000;
  int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  int64_t rem = secs - days * 86400;
  int y, m, d;
  dw_civil_from_days(days, &y, &m, &d);
  snprintf(out, 15, "%04d%02d%02d%02d%02d%02d", y % 10000, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
           (int)(rem % 60));
}

/* ---- the mapper and its memory -------------------------------------------- */

typedef struct memo {
  char ma[DW_DVCQG_MAHOSO_MAX + 1];
  char tn[15], ht[15]; /* the first NgayTiepNhan / NgayHenTra */
  uint64_t tn_rec, ht_rec;
  int rounds;          /* some record of it listed a supplement round */
  char *ids;           /* derived ids without "dvcqg:{MaHoSo}:", NUL-separated */
  size_t ids_len, ids_cap;
  uint64_t gen;        /* the transaction that last saved it */
  UT_hash_handle hh;
} memo;

/* what a transaction may have to put back */
typedef struct undo {
  memo *mm;
  int created;
  char tn[15], ht[15];
  uint64_t tn_rec, ht_rec;
  int rounds;
  size_t ids_len;
} undo;

typedef struct paper {
  const char *name;
  int so_hoa, tai_su_dung, kho;
} paper;

typedef struct round {
  size_t idx;
  int64_t req, rcv, new_due;
  char req_s[15], rcv_s[15];
  const char *reason;
} round;

struct dw_dvcqg {
  const dw_dvcqg_units *units;
  int off;
  size_t max_dossiers;
  memo *memos;
  size_t nmemos;
  int in_txn;
  uint64_t gen;
  undo *undo;
  size_t nundo, undo_cap;
  dw_dvcqg_stats total;
  /* scratch, reused record to record */
  paper *papers;
  size_t papers_cap;
  round *rounds;
  size_t rounds_cap;
  dw_event *evs;
  size_t evs_cap;
};

dw_dvcqg *dw_dvcqg_new(const dw_dvcqg_units *units, int utc_offset_min, size_t max_dossiers) {
  dw_dvcqg *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->units = units;
  m->off = utc_offset_min;
  m->max_dossiers = max_dossiers;
  return m;
}

static void memo_free(memo *mm) {
  free(mm->ids);
  free(mm);
}

void dw_dvcqg_destroy(dw_dvcqg *m) {
  if (!m) return;
  memo *x, *tmp;
  HASH_ITER(hh, m->memos, x, tmp) {
    HASH_DEL(m->memos, x);
    memo_free(x);
  }
  free(m->undo);
  free(m->papers);
  free(m->rounds);
  free(m->evs);
  free(m);
}

void dw_dvcqg_stats_get(const dw_dvcqg *m, dw_dvcqg_stats *st) { *st = m->total; }
size_t dw_dvcqg_dossiers(const dw_dvcqg *m) { return m->nmemos; }

/* Forgets the least recently used dossiers beyond max_dossiers (never
 * inside a transaction: the undo log points at them). */
static void evict(dw_dvcqg *m) {
  if (!m->max_dossiers || m->in_txn) return;
  while (m->nmemos > m->max_dossiers) {
    memo *old = m->memos; /* uthash keeps insertion order; a touch re-adds */
    HASH_DEL(m->memos, old);
    memo_free(old);
    m->nmemos--;
  }
}

void dw_dvcqg_begin(dw_dvcqg *m) {
  m->in_txn = 1;
  m->gen++;
  m->nundo = 0;
}

void dw_dvcqg_commit(dw_dvcqg *m) {
  m->in_txn = 0;
  m->nundo = 0;
  evict(m);
}

void dw_dvcqg_rollback(dw_dvcqg *m) {
  for (size_t i = m->nundo; i-- > 0;) {
    undo *u = &m->undo[i];
    if (u->created) {
      HASH_DEL(m->memos, u->mm);
      memo_free(u->mm);
      m->nmemos--;
      continue;
    }
    memcpy(u->mm->tn, u->tn, sizeof u->tn);
    memcpy(u->mm->ht, u->ht, sizeof u->ht);
    u->mm->tn_rec = u->tn_rec;
    u->mm->ht_rec = u->ht_rec;
    u->mm->rounds = u->rounds;
    u->mm->ids_len = u->ids_len;
  }
  m->nundo = 0;
  m->in_txn = 0;
  evict(m);
}

/* Notes what a transaction must restore of mm before it changes. */
static int save(dw_dvcqg *m, memo *mm, int created) {
  if (!m->in_txn || mm->gen == m->gen) return 0;
  if (m->nundo == m->undo_cap) {
    size_t cap = m->undo_cap ? m->undo_cap * 2 : 64;
    undo *u = realloc(m->undo, cap * sizeof *u);
    if (!u) return -1;
    m->undo = u;
    m->undo_cap = cap;
  }
  undo *u = &m->undo[m->nundo++];
  u->mm = mm;
  u->created = created;
  memcpy(u->tn, mm->tn, sizeof u->tn);
  memcpy(u->ht, mm->ht, sizeof u->ht);
  u->tn_rec = mm->tn_rec;
  u->ht_rec = mm->ht_rec;
  u->rounds = mm->rounds;
  u->ids_len = mm->ids_len;
  mm->gen = m->gen;
  return 0;
}

static int memo_has(const memo *mm, const char *suffix) {
  for (size_t i = 0; i < mm->ids_len; i += strlen(mm->ids + i) + 1)
    if (strcmp(mm->ids + i, suffix) == 0) return 1;
  return 0;
}

static int memo_add(memo *mm, const char *suffix) {
  size_t l = strlen(suffix) + 1;
  if (mm->ids_len + l > mm->ids_cap) {
    size_t cap = mm->ids_cap ? mm->ids_cap * 2 : 256;
    while (cap < mm->ids_len + l) cap *= 2;
    char *p = realloc(mm->ids, cap);
    if (!p) return -1;
    mm->ids = p;
    mm->ids_cap = cap;
  }
  memcpy(mm->ids + mm->ids_len, suffix, l);
  mm->ids_len += l;
  return 0;
}

/* ---- check: reading the record's fields ------------------------------------ */

typedef struct check {
  char field[96];
  char why[256];
} check;

static int fail(check *c, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(check *c, const char *field, const char *fmt, ...) {
  snprintf(c->field, sizeof c->field, "%s", field);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  return -1;
}

/* A value safe to quote in a message: short, digits and date punctuation. */
static int quotable(const char *s) {
  size_t n = strlen(s);
  if (n > 24) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789-:/. TZ+", s[i])) return 0;
  return 1;
}

/* A string field: *out NULL when absent, null or "". */
static int get_str(check *c, json_t *o, const char *key, const char *path, const char **out) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v)) return fail(c, path, "expected a string, got %s", dw_json_kind(v));
  if (json_string_length(v)) *out = json_string_value(v);
  return 0;
}

/* A code field ("1", or 1): one of the digits in `allowed`; dflt when
 * absent. */
static int get_code(check *c, json_t *o, const char *key, const char *path, const char *allowed, int dflt,
                    const char *meaning, int *out) {
  json_t *v = json_object_get(o, key);
  *out = dflt;
  if (!v || json_is_null(v)) return 0;
  long long x;
  if (json_is_integer(v)) {
    x = json_integer_value(v);
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (!s[0]) return 0;
    size_t n = strlen(s);
    int ok = n <= 3;
    for (size_t i = 0; ok && i < n; i++) ok = s[i] >= '0' && s[i] <= '9';
    if (!ok)
      return quotable(s) ? fail(c, path, "'%s' is not a code (%s)", s, meaning)
                         : fail(c, path, "not a code (%s)", meaning);
    x = atoll(s);
  } else {
    return fail(c, path, "expected a string, got %s", dw_json_kind(v));
  }
  /* allowed: "0,1,2" style list of values */
  for (const char *p = allowed; *p;) {
    char *end;
    long long a = strtoll(p, &end, 10);
    if (a == x) {
      *out = (int)x;
      return 0;
    }
    p = *end == ',' ? end + 1 : end;
  }
  return fail(c, path, "unknown value '%lld' (%s)", x, meaning);
}

typedef struct date {
  int64_t ms; /* DW_TIME_NONE when absent */
  char s[15];
} date;

static int get_date(check *c, dw_dvcqg *m, json_t *o, const char *key, const char *path, date *out) {
  const char *s;
  out->ms = DW_TIME_NONE;
  out->s[0] = '\0';
  if (get_str(c, o, key, path, &s)) return -1;
  if (!s) return 0;
  char why[128];
  if (dvcqg_date_parse(s, m->off, &out->ms, why, sizeof why)) {
    if (!quotable(s)) return fail(c, path, "not a date yyyyMMddHHmmss");
    return fail(c, path, "%s", why);
  }
  memcpy(out->s, s, 15);
  return 0;
}

/* A list field: *out NULL when absent or null; every entry must be an object. */
static int get_list(check *c, json_t *o, const char *key, json_t **out) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_array(v)) return fail(c, key, "expected a list, got %s", dw_json_kind(v));
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) if (!json_is_object(x)) {
    char path[96];
    snprintf(path, sizeof path, "%s[%zu]", key, i + 1);
    return fail(c, path, "expected an object, got %s", dw_json_kind(x));
  }
  *out = v;
  return 0;
}

typedef struct rec {
  const char *ma, *tthc, *dvxl;
  int status, kenh, so_hoa, online_paid;
  date tn, ht, kt, tra, tc;
  size_t npapers, nrounds;
  int result_link;
  const char *commune, *agency;
} rec;

static int grow(void **p, size_t *cap, size_t want, size_t size) {
  if (want <= *cap) return 0;
  size_t c = *cap ? *cap : 8;
  while (c < want) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int check_papers(check *c, dw_dvcqg *m, json_t *o, rec *r) {
  json_t *list;
  if (get_list(c, o, "TaiLieuNop", &list)) return -1;
  r->npapers = list ? json_array_size(list) : 0;
  if (grow((void **)&m->papers, &m->papers_cap, r->npapers, sizeof *m->papers))
    return fail(c, "TaiLieuNop", "out of memory");
  for (size_t i = 0; i < r->npapers; i++) {
    json_t *e = json_array_get(list, i);
    paper *p = &m->papers[i];
    char path[4][96];
    snprintf(path[0], sizeof path[0], "TaiLieuNop[%zu].TenTepDinhKem", i + 1);
    snprintf(path[1], sizeof path[1], "TaiLieuNop[%zu].DuocSoHoa", i + 1);
    snprintf(path[2], sizeof path[2], "TaiLieuNop[%zu].DuocTaiSuDung", i + 1);
    snprintf(path[3], sizeof path[3], "TaiLieuNop[%zu].DuocLayTuKhoDMQG", i + 1);
    if (get_str(c, e, "TenTepDinhKem", path[0], &p->name) ||
        get_code(c, e, "DuocSoHoa", path[1], "0,1", 0, "0 or 1", &p->so_hoa) ||
        get_code(c, e, "DuocTaiSuDung", path[2], "0,1,2", 0, "0, 1 or 2", &p->tai_su_dung) ||
        get_code(c, e, "DuocLayTuKhoDMQG", path[3], "0,1", 0, "0 or 1", &p->kho))
      return -1;
  }
  return 0;
}

static int cmp_round(const void *a, const void *b) {
  const round *x = a, *y = b;
  if (x->req != y->req) return x->req < y->req ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int check_rounds(check *c, dw_dvcqg *m, json_t *o, rec *r) {
  json_t *list;
  if (get_list(c, o, "DanhSachHoSoBoSung", &list)) return -1;
  r->nrounds = list ? json_array_size(list) : 0;
  if (grow((void **)&m->rounds, &m->rounds_cap, r->nrounds, sizeof *m->rounds))
    return fail(c, "DanhSachHoSoBoSung", "out of memory");
  for (size_t i = 0; i < r->nrounds; i++) {
    json_t *e = json_array_get(list, i);
    round *x = &m->rounds[i];
    x->idx = i;
    char path[4][96];
    snprintf(path[0], sizeof path[0], "DanhSachHoSoBoSung[%zu].NgayBoSung", i + 1);
    snprintf(path[1], sizeof path[1], "DanhSachHoSoBoSung[%zu].NoiDungBoSung", i + 1);
    snprintf(path[2], sizeof path[2], "DanhSachHoSoBoSung[%zu].NgayTiepNhanBoSung", i + 1);
    snprintf(path[3], sizeof path[3], "DanhSachHoSoBoSung[%zu].NgayHenTraMoi", i + 1);
    date req, rcv, due;
    if (get_date(c, m, e, "NgayBoSung", path[0], &req) || get_str(c, e, "NoiDungBoSung", path[1], &x->reason) ||
        get_date(c, m, e, "NgayTiepNhanBoSung", path[2], &rcv) || get_date(c, m, e, "NgayHenTraMoi", path[3], &due))
      return -1;
    if (req.ms == DW_TIME_NONE) return fail(c, path[0], "missing (the round's request date)");
    x->req = req.ms;
    x->rcv = rcv.ms;
    x->new_due = due.ms;
    memcpy(x->req_s, req.s, 15);
    memcpy(x->rcv_s, rcv.s, 15);
  }
  if (r->nrounds > 1) qsort(m->rounds, r->nrounds, sizeof *m->rounds, cmp_round);
  return 0;
}

static int check_results(check *c, json_t *o, rec *r) {
  json_t *list;
  if (get_list(c, o, "DanhSachGiayToKetQua", &list)) return -1;
  r->result_link = 0;
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    const char *name, *link;
    char p1[96], p2[96];
    snprintf(p1, sizeof p1, "DanhSachGiayToKetQua[%zu].TenGiayTo", i + 1);
    snprintf(p2, sizeof p2, "DanhSachGiayToKetQua[%zu].DuongDanTepTinKetQua", i + 1);
    if (get_str(c, e, "TenGiayTo", p1, &name) || get_str(c, e, "DuongDanTepTinKetQua", p2, &link)) return -1;
    if (link) r->result_link = 1;
  }
  if (get_list(c, o, "DanhSachLePhi", &list)) return -1;
  json_array_foreach(list, i, e) {
    json_t *g = json_object_get(e, "Gia");
    if (g && !json_is_null(g) && !json_is_string(g) && !json_is_number(g)) {
      char p[96];
      snprintf(p, sizeof p, "DanhSachLePhi[%zu].Gia", i + 1);
      return fail(c, p, "expected a string, got %s", dw_json_kind(g));
    }
  }
  return 0;
}

/* Every field the mapping reads, with its type, and what the status needs. */
static int check_record(check *c, dw_dvcqg *m, json_t *o, const char *madonvi, rec *r) {
  memset(r, 0, sizeof *r);
  if (get_str(c, o, "MaHoSo", "MaHoSo", &r->ma)) return -1;
  if (!r->ma) return fail(c, "MaHoSo", "missing");
  if (strlen(r->ma) > DW_DVCQG_MAHOSO_MAX) {
    const char *ma = r->ma;
    r->ma = NULL; /* not quoted: too long to be a dossier code */
    return fail(c, "MaHoSo", "longer than %d bytes (%zu)", DW_DVCQG_MAHOSO_MAX, strlen(ma));
  }
  for (const char *p = r->ma; *p; p++)
    if ((unsigned char)*p < 0x20) {
      r->ma = NULL;
      return fail(c, "MaHoSo", "contains a control character");
    }
  if (get_str(c, o, "MaTTHC", "MaTTHC", &r->tthc)) return -1;
  if (!r->tthc) return fail(c, "MaTTHC", "missing");
  if (strlen(r->tthc) >= DW_CODE_MAX) return fail(c, "MaTTHC", "longer than %d bytes", DW_CODE_MAX - 1);
  json_t *st = json_object_get(o, "TrangThaiHoSo");
  if (!st || json_is_null(st) || (json_is_string(st) && !json_string_length(st)))
    return fail(c, "TrangThaiHoSo", "missing");
  if (get_code(c, o, "TrangThaiHoSo", "TrangThaiHoSo", "1,2,3,4,5,6,7,8,9,10", 0, "1..10", &r->status) ||
      get_code(c, o, "KenhThucHien", "KenhThucHien", "1,2,3", 1, "1 in person, 2 online, 3 postal", &r->kenh) ||
      get_code(c, o, "HoSoCoThanhPhanSoHoa", "HoSoCoThanhPhanSoHoa", "0,1", 0, "0 or 1", &r->so_hoa) ||
      get_code(c, o, "DuocThanhToanTrucTuyen", "DuocThanhToanTrucTuyen", "0,1,2", 0, "0, 1 or 2", &r->online_paid) ||
      get_date(c, m, o, "NgayTiepNhan", "NgayTiepNhan", &r->tn) || get_date(c, m, o, "NgayHenTra", "NgayHenTra", &r->ht) ||
      get_date(c, m, o, "NgayKetThucXuLy", "NgayKetThucXuLy", &r->kt) || get_date(c, m, o, "NgayTra", "NgayTra", &r->tra) ||
      get_date(c, m, o, "NgayTuChoi", "NgayTuChoi", &r->tc) || get_str(c, o, "DonViXuLy", "DonViXuLy", &r->dvxl) ||
      check_papers(c, m, o, r) || check_rounds(c, m, o, r) || check_results(c, o, r))
    return -1;
  if (r->status == 1) return 0; /* not yet received: nothing to derive, no unit needed */
  if (r->tn.ms == DW_TIME_NONE) return fail(c, "NgayTiepNhan", "missing (status %d)", r->status);
  if (r->ht.ms == DW_TIME_NONE) return fail(c, "NgayHenTra", "missing (status %d: RECEIVED needs a due time)", r->status);
  if ((r->status == 9 || r->status == 10) && r->kt.ms == DW_TIME_NONE)
    return fail(c, "NgayKetThucXuLy", "missing (status %d: the result's date)", r->status);
  if (r->status == 10 && r->tra.ms == DW_TIME_NONE) return fail(c, "NgayTra", "missing (status 10: the return's date)");
  if (r->status == 3 && r->tc.ms == DW_TIME_NONE && r->kt.ms == DW_TIME_NONE)
    return fail(c, "NgayTuChoi", "missing (status 3: the refusal's date; or NgayKetThucXuLy)");
  if (dw_dvcqg_units_find(m->units, r->dvxl, &r->commune, &r->agency) &&
      dw_dvcqg_units_find(m->units, madonvi, &r->commune, &r->agency)) {
    if (!r->dvxl && !madonvi) return fail(c, "DonViXuLy", "missing (and no envelope madonvi): no unit to file it under");
    /* unit names are not personal: quote them so the units file can be fixed */
    return fail(c, r->dvxl ? "DonViXuLy" : "madonvi", "unit '%s'%s%s%s is not in the units file",
                r->dvxl ? r->dvxl : madonvi, r->dvxl && madonvi ? " (nor madonvi '" : "",
                r->dvxl && madonvi ? madonvi : "", r->dvxl && madonvi ? "')" : "");
  }
  return 0;
}

/* ---- reject -------------------------------------------------------------- */

static int refuse(dw_dvcqg *m, json_t *o, uint64_t record, uint64_t line, const char *ma, const check *c,
                  const dw_dvcqg_sink *sink, dw_dvcqg_stats *st) {
  m->total.records++, m->total.rejects++;
  if (st) st->records++, st->rejects++;
  if (!sink || !sink->reject) return 1;
  dw_buf reason = DW_BUF_INIT;
  if (ma) dw_buf_printf(&reason, "MaHoSo '%s': ", ma);
  if (c->field[0]) dw_buf_printf(&reason, "field '%s': ", c->field);
  dw_buf_puts(&reason, c->why);
  char *raw = o ? json_dumps(o, JSON_COMPACT) : NULL;
  dw_dvcqg_reject rej = {record, line, ma ? ma : "", c->field, c->why,
                         reason.oom ? c->why : reason.data, raw, raw ? strlen(raw) : 0};
  int stop = sink->reject(&rej, sink->opaque);
  free(raw);
  dw_buf_free(&reason);
  return stop ? -1 : 1;
}

int dvcqg_refuse_text(dw_dvcqg *m, uint64_t record, uint64_t line, const char *field, const char *why,
                      const dw_dvcqg_sink *sink, dw_dvcqg_stats *st) {
  check c;
  snprintf(c.field, sizeof c.field, "%s", field ? field : "");
  snprintf(c.why, sizeof c.why, "%s", why);
  return refuse(m, NULL, record, line, NULL, &c, sink, st);
}

/* ---- reconcile: the dossier's memory -------------------------------------- */

static void conflict(dw_dvcqg *m, const dw_dvcqg_sink *sink, dw_dvcqg_stats *st, uint64_t record, const memo *mm,
                     const char *field, const char *first, uint64_t first_rec, const char *value) {
  m->total.conflicts++;
  if (st) st->conflicts++;
  dw_dvcqg_conflict c = {record, first_rec, mm->ma, field, first, value};
  if (sink && sink->conflict) {
    sink->conflict(&c, sink->opaque);
    return;
  }
  DW_LOG_WARNING("dvcqg: record %llu (MaHoSo %s): %s %s differs from %s of %s %llu; the first stands",
                 (unsigned long long)record, mm->ma, field, value, first, first_rec ? "record" : "an earlier input",
                 (unsigned long long)first_rec);
}

/* Finds or makes the dossier's memory, reports conflicts and makes the
 * first values stand in r. NULL when out of memory. */
static memo *reconcile(dw_dvcqg *m, rec *r, uint64_t record, const dw_dvcqg_sink *sink, dw_dvcqg_stats *st) {
  memo *mm;
  HASH_FIND_STR(m->memos, r->ma, mm);
  if (!mm) {
    if (!(mm = calloc(1, sizeof *mm))) return NULL;
    snprintf(mm->ma, sizeof mm->ma, "%s", r->ma);
    memcpy(mm->tn, r->tn.s, 15);
    memcpy(mm->ht, r->ht.s, 15);
    mm->tn_rec = mm->ht_rec = record;
    mm->rounds = r->nrounds > 0;
    HASH_ADD_STR(m->memos, ma, mm);
    m->nmemos++;
    if (save(m, mm, 1)) {
      HASH_DEL(m->memos, mm);
      memo_free(mm);
      m->nmemos--;
      return NULL;
    }
    return mm;
  }
  if (save(m, mm, 0)) return NULL;
  /* most recently used last: eviction takes the head */
  HASH_DEL(m->memos, mm);
  HASH_ADD_STR(m->memos, ma, mm);
  if (strcmp(mm->tn, r->tn.s) != 0) {
    conflict(m, sink, st, record, mm, "NgayTiepNhan", mm->tn, mm->tn_rec, r->tn.s);
    char why[64];
    memcpy(r->tn.s, mm->tn, 15);
    dvcqg_date_parse(r->tn.s, m->off, &r->tn.ms, why, sizeof why);
  }
  if (strcmp(mm->ht, r->ht.s) != 0 && !mm->rounds && !r->nrounds) {
    conflict(m, sink, st, record, mm, "NgayHenTra", mm->ht, mm->ht_rec, r->ht.s);
    char why[64];
    memcpy(r->ht.s, mm->ht, 15);
    dvcqg_date_parse(r->ht.s, m->off, &r->ht.ms, why, sizeof why);
  }
  if (r->nrounds) mm->rounds = 1;
  return mm;
}

/* ---- derive ---------------------------------------------------------------- */

/* Copies text into a DW_TEXT_MAX field, cut at a character boundary. */
static void put_text(char *dst, const char *s) {
  size_t n = strlen(s);
  if (n >= DW_TEXT_MAX) {
    n = DW_TEXT_MAX - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
  }
  memcpy(dst, s, n);
  dst[n] = '\0';
}

static dw_event *add_event(dw_dvcqg *m, size_t *n, const rec *r, dw_event_type t, int64_t at, const char *at_s,
                           int seq) {
  if (grow((void **)&m->evs, &m->evs_cap, *n + 1, sizeof *m->evs)) return NULL;
  dw_event *ev = &m->evs[(*n)++];
  dw_event_init(ev);
  if (seq)
    snprintf(ev->event_id, sizeof ev->event_id, "dvcqg:%s:%s:%s:%d", r->ma, dw_event_type_name(t), at_s, seq);
  else
    snprintf(ev->event_id, sizeof ev->event_id, "dvcqg:%s:%s:%s", r->ma, dw_event_type_name(t), at_s);
  snprintf(ev->dossier_id, sizeof ev->dossier_id, "%s", r->ma);
  ev->type = t;
  ev->occurred_at = at;
  snprintf(ev->commune, sizeof ev->commune, "%s", r->commune);
  snprintf(ev->agency, sizeof ev->agency, "%s", r->agency);
  snprintf(ev->procedure, sizeof ev->procedure, "%s", r->tthc);
  return ev;
}

#define ADD(t, at, s, seq)                                   \
  do {                                                       \
    if (!(ev = add_event(m, &n, r, (t), (at), (s), (seq)))) \
      return -1;                                             \
  } while (0)

/* The events r implies, in a fixed order, into m->evs. Returns their
 * number, or -1 when out of memory. */
static long derive(dw_dvcqg *m, const rec *r) {
  size_t n = 0;
  dw_event *ev;
  dw_channel ch = r->kenh == 3 ? DW_CH_POSTAL : r->kenh == 2 ? (r->so_hoa ? DW_CH_ONLINE_FULL : DW_CH_ONLINE_PARTIAL)
                                                             : DW_CH_IN_PERSON;
  ADD(DW_EV_RECEIVED, r->tn.ms, r->tn.s, 0);
  ev->channel = ch;
  ev->due_at = r->ht.ms;
  int digitized = r->so_hoa;
  for (size_t i = 0; i < r->npapers; i++) digitized |= m->papers[i].so_hoa;
  if (digitized && ch != DW_CH_ONLINE_FULL) ADD(DW_EV_DIGITIZED, r->tn.ms, r->tn.s, 0);
  for (size_t i = 0; i < r->npapers; i++) {
    const paper *p = &m->papers[i];
    if (!p->tai_su_dung && !p->kho) continue;
    ADD(DW_EV_DOC_REUSED, r->tn.ms, r->tn.s, (int)i + 1);
    if (p->name)
      put_text(ev->document, p->name);
    else
      snprintf(ev->document, sizeof ev->document, "TaiLieuNop[%zu]", i + 1);
  }
  if (r->online_paid) {
    ADD(DW_EV_PAYMENT, r->tn.ms, r->tn.s, 0);
    ev->online = true;
  }
  for (size_t i = 0; i < r->nrounds; i++) {
    const round *x = &m->rounds[i];
    ADD(DW_EV_SUPPLEMENT_REQUESTED, x->req, x->req_s, (int)i + 1);
    put_text(ev->reason, x->reason ? x->reason : "Yêu cầu bổ sung (không ghi nội dung)");
    if (x->rcv == DW_TIME_NONE) continue;
    ADD(DW_EV_SUPPLEMENT_RECEIVED, x->rcv, x->rcv_s, (int)i + 1);
    ev->due_at = x->new_due;
  }
  if (r->status == 9 || r->status == 10) {
    ADD(DW_EV_RESULT_ISSUED, r->kt.ms, r->kt.s, 0);
    ev->digitized = r->result_link;
  }
  if (r->status == 10) ADD(DW_EV_RETURNED, r->tra.ms, r->tra.s, 0);
  if (r->status == 3) {
    const date *d = r->tc.ms != DW_TIME_NONE ? &r->tc : &r->kt;
    ADD(DW_EV_REJECTED, d->ms, d->s, 0);
    snprintf(ev->reason, sizeof ev->reason, "Không tiếp nhận / từ chối giải quyết (TrangThaiHoSo 3)");
  }
  if (r->status == 7) {
    /* at NgayKetThucXuLy, else the latest date of something that happened */
    int64_t at = r->kt.ms;
    const char *at_s = r->kt.s;
    if (at == DW_TIME_NONE) {
      at = r->tn.ms, at_s = r->tn.s;
      const date *cand[] = {&r->tra, &r->tc};
      for (size_t i = 0; i < 2; i++)
        if (cand[i]->ms != DW_TIME_NONE && cand[i]->ms > at) at = cand[i]->ms, at_s = cand[i]->s;
      for (size_t i = 0; i < r->nrounds; i++) {
        const round *x = &m->rounds[i];
        if (x->req > at) at = x->req, at_s = x->req_s;
        if (x->rcv != DW_TIME_NONE && x->rcv > at) at = x->rcv, at_s = x->rcv_s;
      }
    }
    ADD(DW_EV_WITHDRAWN, at, at_s, 0);
  }
  return (long)n;
}
#undef ADD

/* ---- one record --------------------------------------------------------------- */

int dvcqg_map_value(dw_dvcqg *m, json_t *o, const char *madonvi, uint64_t record, uint64_t line,
                    const dw_dvcqg_sink *sink, dw_dvcqg_stats *st) {
  check c = {"", ""};
  if (!json_is_object(o)) {
    fail(&c, "", "not a JSON object (got %s)", dw_json_kind(o));
    return refuse(m, NULL, record, line, NULL, &c, sink, st);
  }
  dvcqg_blank_personal(o);
  rec r;
  if (check_record(&c, m, o, madonvi, &r)) return refuse(m, o, record, line, r.ma, &c, sink, st);
  m->total.records++;
  if (st) st->records++;
  if (r.status == 1) return 0;
  memo *mm = reconcile(m, &r, record, sink, st);
  if (!mm) return -1;
  long n = derive(m, &r);
  if (n < 0) return -1;
  size_t pre = strlen("dvcqg:") + strlen(r.ma) + 1;
  for (long i = 0; i < n; i++) {
    dw_event *ev = &m->evs[i];
    char why[256];
    if (dw_event_validate(ev, why, sizeof why)) { /* cannot happen after check_record; refuse rather than guess */
      fail(&c, "", "derived %s event: %s", dw_event_type_name(ev->type), why);
      m->total.records--;
      if (st) st->records--;
      return refuse(m, o, record, line, r.ma, &c, sink, st);
    }
  }
  for (long i = 0; i < n; i++) {
    dw_event *ev = &m->evs[i];
    const char *suffix = ev->event_id + pre;
    if (memo_has(mm, suffix)) {
      m->total.duplicates++;
      if (st) st->duplicates++;
      continue;
    }
    if (memo_add(mm, suffix)) return -1;
    m->total.events++;
    if (st) st->events++;
    if (sink && sink->event && sink->event(ev, record, sink->opaque)) return -1;
  }
  evict(m);
  return 0;
}

int dw_dvcqg_record(dw_dvcqg *m, const char *json, size_t len, const char *madonvi, uint64_t record, uint64_t line,
                    const dw_dvcqg_sink *sink, dw_dvcqg_stats *st) {
  json_error_t e;
  json_t *o = json_loadb(json, len, DVCQG_JSON_FLAGS, &e);
  if (!o) {
    char why[256];
    dvcqg_json_error(&e, line ? line : 1, 1, why, sizeof why);
    return dvcqg_refuse_text(m, record, line, "", why, sink, st);
  }
  int rc = dvcqg_map_value(m, o, madonvi, record, line, sink, st);
  json_decref(o);
  return rc;
}
