/* dw_archive: the filter of replay and export, the merged block stream of
 * the archive, and one dossier's events (see dw_archive.h). */
#include "dw_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_archive_block.h"
#include "dw_pg.h"
#include "dw_time.h"

bool dw_replay_filter_match(const dw_replay_filter *f, const dw_event *ev) {
  if (f->from != DW_TIME_NONE && ev->occurred_at < f->from) return false;
  if (f->to != DW_TIME_NONE && ev->occurred_at > f->to) return false;
  if (f->n_communes == 0) return true;
  for (size_t i = 0; i < f->n_communes; i++)
    if (strcmp(f->communes[i], ev->commune) == 0) return true;
  return false;
}

int dw_archive_decode(dw_avro *av, const dw_archive_raw *raw, dw_event *ev, char *err, size_t n) {
  if (!raw->is_json) return dw_avro_decode_event(av, raw->bytes, raw->len, ev, err, n);
  return dw_event_from_json((const char *)raw->bytes, raw->len, ev, err, n);
}

/* The order fields of a record: the codec's peek for Avro, the full parse
 * for JSON (only converted rows without an Avro value are JSON). */
static int peek_record(dw_avro *av, dw_event *scratch, const dw_archive_record *rec, dw_archive_raw *out, char *err,
                       size_t n) {
  out->bytes = rec->bytes;
  out->len = rec->len;
  out->is_json = rec->kind == DW_ARCHIVE_JSON;
  out->partition = rec->partition;
  if (!out->is_json)
    return dw_avro_peek_event(av, rec->bytes, rec->len, &out->occurred_at, &out->event_id, &out->event_id_len,
                              &out->dossier_id, &out->dossier_id_len, err, n);
  if (dw_event_from_json((const char *)rec->bytes, rec->len, scratch, err, n)) return -1;
  out->occurred_at = scratch->occurred_at;
  out->event_id = scratch->event_id, out->event_id_len = strlen(scratch->event_id);
  out->dossier_id = scratch->dossier_id, out->dossier_id_len = strlen(scratch->dossier_id);
  return 0;
}

/* ---- the merged stream ---- */

/* One block in the merge, at its current record. */
typedef struct cursor {
  PGresult *res; /* holds the block's bytes */
  const unsigned char *data;
  size_t len, pos;
  int64_t first_at;
  dw_archive_raw cur;
  /* the current record's ids, copied: a peek without a plan, or of JSON,
   * points into a scratch event the next peek overwrites */
  char id[DW_ID_MAX], dossier[DW_ID_MAX];
} cursor;

struct dw_archive_reader {
  PGconn *pg;
  dw_avro *av;
  dw_replay_filter f;
  bool streaming;   /* the block query's rows are still coming */
  cursor *pending;  /* fetched, not in the merge yet */
  cursor **heap;    /* the merge: a min-heap on the current records */
  size_t nheap, cap;
  cursor *out;      /* the cursor whose record was handed out last */
  char bad[512];    /* why a block is malformed */
  /* records skipped for their unreadable order fields, reported one by one */
  char (*skipped)[512];
  size_t nskipped, skipped_at, cap_skipped;
  uint64_t disorders;
  dw_event scratch;
};

static int key_cmp(const dw_archive_raw *a, const dw_archive_raw *b) {
  if (a->occurred_at != b->occurred_at) return a->occurred_at < b->occurred_at ? -1 : 1;
  size_t l = a->event_id_len < b->event_id_len ? a->event_id_len : b->event_id_len;
  int c = memcmp(a->event_id, b->event_id, l);
  if (c) return c;
  return a->event_id_len < b->event_id_len ? -1 : a->event_id_len > b->event_id_len;
}

static void heap_push(dw_archive_reader *r, cursor *c) {
  size_t i = r->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (key_cmp(&r->heap[p]->cur, &c->cur) <= 0) break;
    r->heap[i] = r->heap[p];
    i = p;
  }
  r->heap[i] = c;
}

static cursor *heap_pop(dw_archive_reader *r) {
  cursor *top = r->heap[0], *last = r->heap[--r->nheap];
  size_t i = 0, n = r->nheap;
  for (;;) {
    size_t l = 2 * i + 1, m = l;
    if (l >= n) break;
    if (l + 1 < n && key_cmp(&r->heap[l + 1]->cur, &r->heap[l]->cur) < 0) m = l + 1;
    if (key_cmp(&last->cur, &r->heap[m]->cur) <= 0) break;
    r->heap[i] = r->heap[m];
    i = m;
  }
  if (n) r->heap[i] = last;
  return top;
}

static void cursor_free(cursor *c) {
  if (!c) return;
  PQclear(c->res);
  free(c);
}

static void copy_ids(cursor *c) {
  size_t l = c->cur.event_id_len < sizeof c->id - 1 ? c->cur.event_id_len : sizeof c->id - 1;
  memcpy(c->id, c->cur.event_id, l);
  c->id[l] = 0;
  c->cur.event_id = c->id, c->cur.event_id_len = l;
  l = c->cur.dossier_id_len < sizeof c->dossier - 1 ? c->cur.dossier_id_len : sizeof c->dossier - 1;
  memcpy(c->dossier, c->cur.dossier_id, l);
  c->dossier[l] = 0;
  c->cur.dossier_id = c->dossier, c->cur.dossier_id_len = l;
}

/* Moves c to its next record in the time range: 1, 0 when used up, -1 on a
 * malformed block (reason in r->bad). A record whose order fields cannot be
 * read is skipped and reported through r->bad. */
static int cursor_advance(dw_archive_reader *r, cursor *c, bool first) {
  dw_archive_raw prev = c->cur;
  char prev_id[DW_ID_MAX];
  memcpy(prev_id, c->id, sizeof prev_id);
  prev.event_id = prev_id;
  for (;;) {
    dw_archive_record rec;
    char why[400];
    int rc = dw_archive_block_next(c->data, c->len, &c->pos, &rec, why, sizeof why);
    if (rc <= 0) {
      if (rc < 0) snprintf(r->bad, sizeof r->bad, "%s", why);
      return rc;
    }
    if (rec.kind == DW_ARCHIVE_SKIP) continue; /* a duplicate's place */
    if (peek_record(r->av, &r->scratch, &rec, &c->cur, why, sizeof why)) {
      if (r->nskipped == r->cap_skipped) {
        size_t cap = r->cap_skipped ? r->cap_skipped * 2 : 16;
        char(*p)[512] = realloc(r->skipped, cap * sizeof *p);
        if (!p) {
          snprintf(r->bad, sizeof r->bad, "out of memory");
          return -1;
        }
        r->skipped = p;
        r->cap_skipped = cap;
      }
      snprintf(r->skipped[r->nskipped++], sizeof *r->skipped,
               "archived event (block record at byte %zu) cannot be read: %s", c->pos - rec.len, why);
      continue;
    }
    if (r->f.from != DW_TIME_NONE && c->cur.occurred_at < r->f.from) continue;
    if (r->f.to != DW_TIME_NONE && c->cur.occurred_at > r->f.to) return 0; /* in order: the rest is later */
    copy_ids(c);
    if (!first && key_cmp(&c->cur, &prev) < 0) r->disorders++;
    return 1;
  }
}

/* The next block of the query into r->pending (NULL at the end). */
static int fetch_block(dw_archive_reader *r, char *err, size_t n) {
  while (r->streaming && !r->pending) {
    PGresult *res = PQgetResult(r->pg);
    if (!res) {
      r->streaming = false;
      break;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK) { /* the end; NULL follows */
      PQclear(res);
      continue;
    }
    if (st != PGRES_SINGLE_TUPLE) {
      dw_pg_error(r->pg, res, "reading archive_blocks", err, n);
      PQclear(res);
      while ((res = PQgetResult(r->pg))) PQclear(res);
      r->streaming = false;
      return -1;
    }
    cursor *c = calloc(1, sizeof *c);
    if (!c) {
      PQclear(res);
      snprintf(err, n, "out of memory");
      return -1;
    }
    c->res = res;
    c->first_at = dw_pg_bin_get_time(PQgetvalue(res, 0, 0));
    c->data = (const unsigned char *)PQgetvalue(res, 0, 1);
    c->len = (size_t)PQgetlength(res, 0, 1);
    int rc = cursor_advance(r, c, true);
    if (rc < 0) {
      snprintf(err, n, "%s", r->bad);
      cursor_free(c);
      return -1;
    }
    if (rc == 0) {
      cursor_free(c); /* nothing in the range */
      continue;
    }
    r->pending = c;
  }
  return 0;
}

/* The time range as the WHERE clause of the block query and its params. */
typedef struct where_sql {
  char sql[160];
  const char *params[2];
  int nparams;
  char from[40], to[40];
} where_sql;

static void build_where(const dw_replay_filter *f, where_sql *w) {
  memset(w, 0, sizeof *w);
  size_t off = 0;
  const char *kw = " WHERE ";
  if (f->from != DW_TIME_NONE) {
    dw_time_format(f->from, 0, w->from, sizeof w->from);
    w->params[w->nparams++] = w->from;
    off += (size_t)snprintf(w->sql + off, sizeof w->sql - off, "%slast_at >= $%d::timestamptz", kw, w->nparams);
    kw = " AND ";
  }
  if (f->to != DW_TIME_NONE) {
    dw_time_format(f->to, 0, w->to, sizeof w->to);
    w->params[w->nparams++] = w->to;
    snprintf(w->sql + off, sizeof w->sql - off, "%sfirst_at <= $%d::timestamptz", kw, w->nparams);
  }
}

dw_archive_reader *dw_archive_open(PGconn *pg, dw_avro *av, const dw_replay_filter *f, int64_t *count, char *err,
                                   size_t n) {
  dw_archive_reader *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  r->pg = pg;
  r->av = av;
  r->f = *f;
  where_sql w;
  build_where(f, &w);
  char sql[512];
  if (dw_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, n)) goto fail;
  if (count) {
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(n), 0) FROM archive_blocks%s", w.sql);
    PGresult *res = dw_pg_query(pg, sql, w.nparams, w.params, err, n);
    if (!res) goto fail;
    *count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
  }
  snprintf(sql, sizeof sql, "SELECT first_at, events FROM archive_blocks%s ORDER BY first_at, block_id", w.sql);
  if (!PQsendQueryParams(pg, sql, w.nparams, NULL, w.params, NULL, NULL, 1) || !PQsetSingleRowMode(pg)) {
    dw_pg_error(pg, NULL, "reading archive_blocks", err, n);
    goto fail;
  }
  r->streaming = true;
  return r;
fail:
  PQclear(PQexec(pg, "ROLLBACK"));
  free(r->heap);
  free(r);
  return NULL;
}

int dw_archive_next_raw(dw_archive_reader *r, dw_archive_raw *out, char *err, size_t n) {
  /* the cursor handed out last moves on first */
  if (r->out) {
    cursor *c = r->out;
    r->out = NULL;
    int rc = cursor_advance(r, c, false);
    if (rc < 0) {
      snprintf(err, n, "%s", r->bad);
      cursor_free(c);
      return -1;
    }
    if (rc == 0)
      cursor_free(c);
    else
      heap_push(r, c);
  }
  for (;;) {
    if (r->skipped_at < r->nskipped) {
      snprintf(err, n, "%s", r->skipped[r->skipped_at++]);
      if (r->skipped_at == r->nskipped) r->skipped_at = r->nskipped = 0;
      return 2;
    }
    if (fetch_block(r, err, n)) return -1;
    /* a block joins the merge before any event later than its first */
    if (r->pending && (r->nheap == 0 || r->pending->first_at <= r->heap[0]->cur.occurred_at)) {
      if (r->nheap == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        cursor **h = realloc(r->heap, cap * sizeof *h);
        if (!h) {
          snprintf(err, n, "out of memory");
          return -1;
        }
        r->heap = h;
        r->cap = cap;
      }
      heap_push(r, r->pending);
      r->pending = NULL;
      continue;
    }
    if (r->nheap == 0) return 0;
    r->out = heap_pop(r);
    *out = r->out->cur;
    return 1;
  }
}

int dw_archive_next(dw_archive_reader *r, dw_event *ev, int32_t *partition, char *err, size_t n) {
  for (;;) {
    dw_archive_raw raw;
    int rc = dw_archive_next_raw(r, &raw, err, n);
    if (rc != 1) {
      if (rc == 2) dw_event_init(ev);
      return rc;
    }
    *partition = raw.partition;
    char why[400];
    if (dw_archive_decode(r->av, &raw, ev, why, sizeof why)) {
      dw_event_init(ev);
      size_t l = raw.event_id_len < sizeof ev->event_id - 1 ? raw.event_id_len : sizeof ev->event_id - 1;
      memcpy(ev->event_id, raw.event_id, l);
      ev->event_id[l] = 0;
      snprintf(err, n, "archived event '%s' cannot be decoded: %s", ev->event_id, why);
      return 2;
    }
    if (dw_replay_filter_match(&r->f, ev)) return 1;
  }
}

uint64_t dw_archive_disorders(const dw_archive_reader *r) { return r ? r->disorders : 0; }

int dw_archive_close(dw_archive_reader *r, char *err, size_t n) {
  if (!r) return 0;
  cursor_free(r->out);
  cursor_free(r->pending);
  for (size_t i = 0; i < r->nheap; i++) cursor_free(r->heap[i]);
  free(r->heap);
  free(r->skipped);
  if (r->streaming) { /* closed early: stop the query */
    PGcancel *cn = PQgetCancel(r->pg);
    char ignored[256];
    if (cn) {
      PQcancel(cn, ignored, sizeof ignored);
      PQfreeCancel(cn);
    }
    PGresult *res;
    while ((res = PQgetResult(r->pg))) PQclear(res);
  }
  int rc = 0;
  if (PQtransactionStatus(r->pg) == PQTRANS_INERROR || r->streaming)
    PQclear(PQexec(r->pg, "ROLLBACK"));
  else
    rc = dw_pg_exec(r->pg, "COMMIT", err, n);
  free(r);
  return rc;
}

/* ---- one dossier ---- */

/* A dossier's events as they are found (blocks in any order), then sorted
 * and handed out: the stages both ways of reading one dossier share. */
typedef struct found {
  dw_event ev;
  int32_t partition;
} found;

typedef struct found_list {
  found *v;
  size_t n, cap;
  long bad; /* records that are no event of this dossier */
} found_list;

static int cmp_found(const void *a, const void *b) {
  const dw_event *x = &((const found *)a)->ev, *y = &((const found *)b)->ev;
  if (x->occurred_at != y->occurred_at) return x->occurred_at < y->occurred_at ? -1 : 1;
  return strcmp(x->event_id, y->event_id);
}

/* Decodes one record into the list: 0, or -1 out of memory. A record that
 * does not decode, or names another dossier than the index, counts as bad. */
static int found_add(found_list *l, dw_avro *av, const dw_archive_record *rec, const char *dossier_id) {
  if (l->n == l->cap) {
    size_t c = l->cap ? l->cap * 2 : 8;
    found *p = realloc(l->v, c * sizeof *p);
    if (!p) return -1;
    l->v = p;
    l->cap = c;
  }
  char why[400];
  dw_archive_raw raw = {.bytes = rec->bytes, .len = rec->len, .is_json = rec->kind == DW_ARCHIVE_JSON,
                        .partition = rec->partition};
  if (rec->kind == DW_ARCHIVE_SKIP || dw_archive_decode(av, &raw, &l->v[l->n].ev, why, sizeof why) ||
      strcmp(l->v[l->n].ev.dossier_id, dossier_id) != 0) { /* the index names the dossier; the event must say the same */
    l->bad++;
    return 0;
  }
  l->v[l->n++].partition = rec->partition;
  return 0;
}

/* Sorted, through fn; frees the list. The number given to fn. */
static long found_deliver(found_list *l, int (*fn)(const dw_event *ev, int32_t partition, void *opaque),
                          void *opaque, long *undecodable) {
  long rc = 0;
  if (l->n) qsort(l->v, l->n, sizeof *l->v, cmp_found); /* no list at all for an unknown dossier */
  for (size_t i = 0; i < l->n; i++) {
    rc++;
    if (fn && fn(&l->v[i].ev, l->v[i].partition, opaque)) break;
  }
  free(l->v);
  if (undecodable) *undecodable = l->bad;
  return rc;
}

/* int2[] in the binary array format: the values into seqs (at most cap). */
static int parse_int2_array(const char *p, int len, int16_t *seqs, int cap) {
  if (len < 12) return 0;
  int32_t ndim = dw_pg_bin_get_int4(p);
  if (ndim == 0) return 0;
  if (ndim != 1 || len < 20) return -1;
  int32_t cnt = dw_pg_bin_get_int4(p + 12);
  const char *q = p + 20, *end = p + len;
  int k = 0;
  for (int32_t i = 0; i < cnt && k < cap; i++) {
    if (end - q < 4) return -1;
    int32_t l = dw_pg_bin_get_int4(q);
    q += 4;
    if (l != 2 || end - q < 2) return -1;
    seqs[k++] = (int16_t)(((unsigned char)q[0] << 8) | (unsigned char)q[1]);
    q += 2;
  }
  return k;
}

/* One block's wanted records (seqs ascending) into the list: 0, or -1 out
 * of memory. Positions past the block's end, or a malformed block, count as
 * bad. */
static int found_from_block(found_list *l, dw_avro *av, const unsigned char *data, size_t len, const int16_t *seqs,
                            int ns, const char *dossier_id) {
  size_t pos = 0;
  int want = 0;
  dw_archive_record rec;
  char why[400];
  for (int idx = 0; want < ns; idx++) {
    if (dw_archive_block_next(data, len, &pos, &rec, why, sizeof why) <= 0) {
      l->bad += ns - want;
      return 0;
    }
    if (idx != seqs[want]) continue;
    want++;
    if (found_add(l, av, &rec, dossier_id)) return -1;
  }
  return 0;
}

static PGresult *dossier_query(PGconn *pg, const char *sql, const char *dossier_id, char *err, size_t n) {
  const char *params[1] = {dossier_id};
  PGresult *res = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 1);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    dw_pg_error(pg, res, "reading the dossier's archived events", err, n);
    PQclear(res);
    return NULL;
  }
  return res;
}

long dw_archive_read_dossier(PGconn *pg, dw_avro *av, const char *dossier_id,
                             int (*fn)(const dw_event *ev, int32_t partition, void *opaque), void *opaque,
                             long *undecodable, char *err, size_t n) {
  static const char sql[] =
    "SELECT b.events, s.seqs FROM (SELECT block_id, array_agg(seq ORDER BY seq) AS seqs FROM archive_events"
    " WHERE dossier_id = $1 AND block_id IS NOT NULL GROUP BY block_id) s"
    " JOIN archive_blocks b ON b.block_id = s.block_id ORDER BY b.block_id";
  if (undecodable) *undecodable = 0;
  PGresult *res = dossier_query(pg, sql, dossier_id, err, n);
  if (!res) return -1;
  found_list l = {0};
  int16_t seqs[DW_ARCHIVE_BLOCK_EVENTS];
  for (int row = 0; row < PQntuples(res); row++) {
    int ns = parse_int2_array(PQgetvalue(res, row, 1), PQgetlength(res, row, 1), seqs, DW_ARCHIVE_BLOCK_EVENTS);
    const char *fail = ns < 0 ? "archive_events.seq: unexpected array" : NULL;
    if (!fail && found_from_block(&l, av, (const unsigned char *)PQgetvalue(res, row, 0),
                                  (size_t)PQgetlength(res, row, 0), seqs, ns, dossier_id))
      fail = "out of memory";
    if (fail) {
      snprintf(err, n, "%s", fail);
      PQclear(res);
      free(l.v);
      return -1;
    }
  }
  PQclear(res);
  return found_deliver(&l, fn, opaque, undecodable);
}

long dw_archive_read_dossier_records(PGconn *pg, dw_avro *av, const char *sql, const char *dossier_id,
                                     int (*fn)(const dw_event *ev, int32_t partition, void *opaque), void *opaque,
                                     long *undecodable, char *err, size_t n) {
  if (undecodable) *undecodable = 0;
  PGresult *res = dossier_query(pg, sql, dossier_id, err, n);
  if (!res) return -1;
  if (PQnfields(res) != 3 || PQftype(res, 0) != 23 || PQftype(res, 1) != 23 || PQftype(res, 2) != 17) {
    snprintf(err, n, "reading the dossier's archived events: want (int4, int4, bytea) rows");
    PQclear(res);
    return -1;
  }
  found_list l = {0};
  for (int row = 0; row < PQntuples(res); row++) {
    dw_archive_record rec = {.partition = dw_pg_bin_get_int4(PQgetvalue(res, row, 0)),
                             .kind = (int)dw_pg_bin_get_int4(PQgetvalue(res, row, 1)),
                             .bytes = (const unsigned char *)PQgetvalue(res, row, 2),
                             .len = (size_t)PQgetlength(res, row, 2)};
    if (found_add(&l, av, &rec, dossier_id)) {
      snprintf(err, n, "out of memory");
      PQclear(res);
      free(l.v);
      return -1;
    }
  }
  PQclear(res);
  return found_deliver(&l, fn, opaque, undecodable);
}
