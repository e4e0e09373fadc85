/* dw_dvcqg: the national public-service portal's dossier sync records
 * (Cổng Dịch vụ công quốc gia, service DongBoHoSoMC; format name "dvcqg")
 * turned into the contract's events (CONTRACT §2). This is the one mapping:
 * the `dvcqg` file format (import, audit) and the HTTP endpoint
 * `POST /api/dvcqg/DongBoHoSoMC` of `serve` both call it, so a record gives
 * the same events whichever way it comes in.
 *
 * A record is a SNAPSHOT of one dossier (all strings; dates yyyyMMddHHmmss
 * in local time). Every event it implies is derived, each with a stable id
 *   dvcqg:{MaHoSo}:{TYPE}:{yyyyMMddHHmmss}[:{n}]
 * (n: the paper's position in TaiLieuNop, or the supplement round's rank by
 * NgayBoSung, from 1), so a record sent again, or a later snapshot of the
 * same dossier, yields duplicates plus what is new:
 *   RECEIVED at NgayTiepNhan (status >= 2; due_at = NgayHenTra; channel from
 *     KenhThucHien: 1/missing IN_PERSON, 3 POSTAL, 2 ONLINE_FULL when
 *     HoSoCoThanhPhanSoHoa is 1, else ONLINE_PARTIAL)
 *   DIGITIZED at NgayTiepNhan: HoSoCoThanhPhanSoHoa 1 or a paper's DuocSoHoa
 *     1, channel not ONLINE_FULL
 *   DOC_REUSED at NgayTiepNhan: each paper with DuocTaiSuDung 1/2 or
 *     DuocLayTuKhoDMQG 1 (document = TenTepDinhKem)
 *   SUPPLEMENT_REQUESTED at NgayBoSung (reason NoiDungBoSung) and
 *     SUPPLEMENT_RECEIVED at NgayTiepNhanBoSung (due_at = NgayHenTraMoi):
 *     each DanhSachHoSoBoSung round
 *   RESULT_ISSUED at NgayKetThucXuLy: status 9 or 10 (digitized when a
 *     DanhSachGiayToKetQua entry has a DuongDanTepTinKetQua)
 *   RETURNED at NgayTra: status 10
 *   REJECTED at NgayTuChoi, else NgayKetThucXuLy: status 3
 *   WITHDRAWN at NgayKetThucXuLy, else the record's latest date: status 7
 *   PAYMENT (online) at NgayTiepNhan: DuocThanhToanTrucTuyen 1 or 2
 * commune and agency come from the units table (key = the record's
 * DonViXuLy, else the envelope's madonvi). Status 1 (new) derives nothing.
 *
 * A record is refused as a whole (no event from it) when a field is
 * missing, of the wrong JSON type or unreadable; the reject names the
 * record's position, its MaHoSo when known, the field and the reason.
 *
 * Personal data: the fields listed by dw_dvcqg_is_personal() (names, phone,
 * e-mail, ID numbers, addresses, birth dates, free-text summaries) are
 * blanked in every record as soon as it is parsed, so no event, log line,
 * reject or reply can hold them; a record that is not even valid JSON has
 * no raw text in its reject, and JSON error messages never quote input.
 *
 * Memory: a mapper remembers, per dossier (MaHoSo), the event ids it
 * derived and the first NgayTiepNhan and NgayHenTra. A later record with
 * another NgayTiepNhan, or another NgayHenTra while neither record lists a
 * supplement round, is a CONFLICT: counted, reported with both values, and
 * the first value stands (events are facts; nothing is rewritten).
 *
 * Not thread-safe: one mapper per thread, or a lock around begin..commit. */
#ifndef DW_DVCQG_H
#define DW_DVCQG_H

#include <stddef.h>
#include <stdint.h>

#include "dw_event.h"

/* MaHoSo longer than this is refused: the event ids would not fit. */
#define DW_DVCQG_MAHOSO_MAX 48

/* ---- units: key,commune,agency ---------------------------------------- */

/* The units CSV: one "key,commune,agency" a line (RFC 4180 quoting for keys
 * with commas; an optional header line "key,commune,agency"; blank lines
 * and lines starting with '#' are skipped). commune is a 5-digit unit code.
 * A key given twice with different values is an error. NULL with errstr
 * naming the file and line. */
typedef struct dw_dvcqg_units dw_dvcqg_units;
dw_dvcqg_units *dw_dvcqg_units_load(const char *path, char *errstr, size_t errstr_size);
/* The same from text; name is used in messages. */
dw_dvcqg_units *dw_dvcqg_units_parse(const char *text, size_t len, const char *name, char *errstr,
                                     size_t errstr_size);
size_t dw_dvcqg_units_count(const dw_dvcqg_units *u);
/* 0 and the unit's commune and agency, or -1 when key is not mapped. */
int dw_dvcqg_units_find(const dw_dvcqg_units *u, const char *key, const char **commune, const char **agency);
void dw_dvcqg_units_destroy(dw_dvcqg_units *u);

/* ---- the mapper ---------------------------------------------------------- */

typedef struct dw_dvcqg dw_dvcqg;

/* units must outlive the mapper. utc_offset_min: the local time of the
 * dates (calendar.utc_offset_min, 420). max_dossiers: how many dossiers the
 * memory keeps (0: all); beyond it the oldest is forgotten, so a later
 * record of it is mapped afresh (its events are then duplicates for the
 * engine, which ignores them by id). NULL when out of memory. */
dw_dvcqg *dw_dvcqg_new(const dw_dvcqg_units *units, int utc_offset_min, size_t max_dossiers);
void dw_dvcqg_destroy(dw_dvcqg *m);

typedef struct dw_dvcqg_stats {
  uint64_t records;    /* records read (mapped or refused) */
  uint64_t events;     /* new events derived (called back) */
  uint64_t duplicates; /* events an earlier record had already derived */
  uint64_t conflicts;  /* fields contradicting an earlier record */
  uint64_t rejects;    /* records refused */
  uint64_t blank;      /* blank lines of JSON Lines input */
} dw_dvcqg_stats;

/* A refused record. Valid during the callback only. */
typedef struct dw_dvcqg_reject {
  uint64_t record;      /* position of the record in its input, from 1 */
  uint64_t line;        /* line it starts on (0: unknown) */
  const char *ma_ho_so; /* its MaHoSo, "" when unknown */
  const char *field;    /* "NgayTiepNhan", "TaiLieuNop[2].DuocSoHoa", "" for the whole record */
  const char *why;      /* the reason alone: "'20251332250000' is not a date (month 13)" */
  const char *reason;   /* one sentence for logs: "MaHoSo 'X': field 'F': why" */
  const char *raw;      /* the record as JSON, personal fields blanked; NULL for invalid JSON */
  size_t raw_len;
} dw_dvcqg_reject;

/* A field of a later record contradicting the first one (which stands). */
typedef struct dw_dvcqg_conflict {
  uint64_t record, first_record; /* positions, as above (first_record: 0 when it was in an earlier input) */
  const char *ma_ho_so;
  const char *field; /* "NgayTiepNhan" or "NgayHenTra" */
  const char *first; /* the value that stands */
  const char *value; /* the value of this record */
} dw_dvcqg_conflict;

/* What a mapping reports. event: a NEW event (duplicates are only
 * counted); record = the position of the record it came from. A non-zero
 * return from event or reject stops the mapping (the call returns -1).
 * Any callback may be NULL; a NULL conflict callback logs a warning
 * (dw_log) naming the record, the dossier and both values. */
typedef struct dw_dvcqg_sink {
  int (*event)(const dw_event *ev, uint64_t record, void *opaque);
  int (*reject)(const dw_dvcqg_reject *rej, void *opaque);
  void (*conflict)(const dw_dvcqg_conflict *c, void *opaque);
  void *opaque;
} dw_dvcqg_sink;

/* Maps ONE record: json is its JSON object text (len bytes); madonvi the
 * envelope's unit key or NULL; record/line its position for messages.
 * Returns 0 (mapped), 1 (refused: the reject callback was called) or -1
 * (a callback stopped it, or out of memory). st (may be NULL) is added to. */
int dw_dvcqg_record(dw_dvcqg *m, const char *json, size_t len, const char *madonvi, uint64_t record,
                    uint64_t line, const dw_dvcqg_sink *sink, dw_dvcqg_stats *st);

/* Maps a whole request body: the envelope {"session", "madonvi", "service",
 * "isUpdating", "data": [RECORD...]}, a bare JSON array of records, one
 * record object, or JSON Lines of any of these. The body must be valid JSON
 * as a whole (or, for JSON Lines of two lines or more, line by line: a bad
 * line is then a refused record). Returns 0 when the body was mapped (some
 * records may have been refused: st->rejects), -1 when it is not JSON or not
 * records at all (errstr: "line L column C: reason", never quoting the
 * input: answer 400 with dw_dvcqg_reply_error), -2 when a callback stopped
 * it or out of memory. st (may be NULL) receives this body's counts. */
int dw_dvcqg_body(dw_dvcqg *m, const char *body, size_t len, const dw_dvcqg_sink *sink, dw_dvcqg_stats *st,
                  char *errstr, size_t errstr_size);

/* Transactions for callers that deliver the events before acknowledging
 * (the HTTP handler): between begin and commit, what the memory learns
 * (ids derived, first values) can be undone with rollback, so that a body
 * whose events could not be delivered is mapped afresh when sent again.
 * Without begin, every record commits at once (the file reader). */
void dw_dvcqg_begin(dw_dvcqg *m);
void dw_dvcqg_commit(dw_dvcqg *m);
void dw_dvcqg_rollback(dw_dvcqg *m);

/* Totals since the mapper was made. */
void dw_dvcqg_stats_get(const dw_dvcqg *m, dw_dvcqg_stats *st);
/* Dossiers in the memory. */
size_t dw_dvcqg_dossiers(const dw_dvcqg *m);

/* ---- the portal-style reply ---------------------------------------------- */

/* error_code values, strings as the portal's are */
#define DW_DVCQG_OK "0"           /* every record accepted */
#define DW_DVCQG_REJECTED "1"     /* some records refused (listed); the others accepted */
#define DW_DVCQG_BAD_REQUEST "-1" /* not JSON / not records: nothing accepted */
#define DW_DVCQG_FAILED "-2"      /* accepted but not delivered: nothing accepted, send again */

/* Collects the refused records of one body; add it from the sink's reject
 * callback (dw_dvcqg_reply_add), then build the answer:
 *   {"error_code":"0","message":"...","records":3,"events":7,"duplicates":2,
 *    "conflicts":0,"rejected":0}
 *   {"error_code":"1",...,"rejected":1,"data":[{"MaHoSo":"X","record":2,
 *    "error":"field 'NgayTiepNhan': missing"}]}
 *   {"error_code":"-2","message":"not delivered: <failure>; send again"} */
typedef struct dw_dvcqg_reply dw_dvcqg_reply;
dw_dvcqg_reply *dw_dvcqg_reply_new(void);
/* 0, or -1 when out of memory. */
int dw_dvcqg_reply_add(dw_dvcqg_reply *r, const dw_dvcqg_reject *rej);
/* malloc'd JSON text (NULL when out of memory). failure: NULL when the
 * events were delivered, else why not (error_code -2; the counts and
 * rejects are left out: nothing was accepted). */
char *dw_dvcqg_reply_json(const dw_dvcqg_reply *r, const dw_dvcqg_stats *st, const char *failure);
void dw_dvcqg_reply_destroy(dw_dvcqg_reply *r);
/* {"error_code":"-1","message":why}: for a body dw_dvcqg_body refused. */
char *dw_dvcqg_reply_error(const char *why);

/* ---- personal data --------------------------------------------------------- */

/* Is a record field personal (blanked everywhere)? Case-insensitive: a name
 * holding one of dw_dvcqg_personal_fragments ("chuhoso", "dienthoai",
 * "email", "dinhdanh", "diachi", ...) anywhere, at any depth of the record. */
int dw_dvcqg_is_personal(const char *key);
extern const char *const dw_dvcqg_personal_fragments[]; /* NULL-terminated */

#endif
