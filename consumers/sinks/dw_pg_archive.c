/* dw_pg_archive: the archive writer (see dw_pg_archive.h). */
#include "dw_pg_archive.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "dw_archive_block.h"
#include "dw_pg.h"

typedef struct unit {
  int32_t no;
  UT_hash_handle hh;
  char code[]; /* agency or commune code */
} unit;

typedef struct key_slot {
  dw_archive_key key;
  size_t first; /* index of the first id with this key */
  bool used;
} key_slot;

struct dw_pg_archive {
  unit *units;
  /* between dedupe_send and _recv: the distinct keys sent, in order */
  dw_archive_key *keys;
  size_t *key_first; /* keys[j] is ids[key_first[j]] */
  size_t nkeys, cap_keys, cap_first;
  /* the first of the 2048 block ids reserved by the last dedupe, for _send */
  int64_t block_base;
  bool has_base;
};

const char DW_PG_ARCHIVE_COPY_BLOCKS[] =
  "COPY archive_blocks (block_id, first_at, last_at, n, events) FROM STDIN (FORMAT binary)";
const char DW_PG_ARCHIVE_COPY_EVENTS[] =
  "COPY archive_events (event_key, block_id, agency, commune, seq, kafka_partition, dossier_id)"
  " FROM STDIN (FORMAT binary)";

dw_pg_archive *dw_pg_archive_new(void) { return calloc(1, sizeof(dw_pg_archive)); }

void dw_pg_archive_destroy(dw_pg_archive *a) {
  if (!a) return;
  unit *u, *t;
  HASH_ITER(hh, a->units, u, t) {
    HASH_DEL(a->units, u);
    free(u);
  }
  free(a->keys);
  free(a->key_first);
  free(a);
}

/* ---- units ---- */

static int32_t unit_no(const dw_pg_archive *a, const char *code) {
  unit *u;
  HASH_FIND_STR(a->units, code, u);
  return u ? u->no : -1;
}

static int learn_unit(dw_pg_archive *a, const char *code, int32_t no) {
  if (unit_no(a, code) >= 0) return 0;
  size_t l = strlen(code) + 1;
  unit *u = malloc(sizeof *u + l);
  if (!u) return -1;
  memcpy(u->code, code, l);
  u->no = no;
  HASH_ADD_KEYPTR(hh, a->units, u->code, l - 1, u);
  return 0;
}

/* The codes of rows the cache lacks, as a text[] literal (empty: none). */
static void missing_codes(const dw_pg_archive *a, const dw_pg_archive_row *rows, size_t n, dw_buf *lit) {
  unit *seen = NULL; /* codes already put in the literal */
  for (size_t i = 0; i < n; i++) {
    const char *codes[2] = {rows[i].ev->agency, rows[i].ev->commune};
    for (int k = 0; k < 2; k++) {
      const char *c = codes[k];
      unit *u;
      if (unit_no(a, c) >= 0) continue;
      HASH_FIND_STR(seen, c, u);
      if (u) continue;
      size_t l = strlen(c) + 1;
      if (!(u = malloc(sizeof *u + l))) {
        lit->oom = true;
        continue;
      }
      memcpy(u->code, c, l);
      HASH_ADD_KEYPTR(hh, seen, u->code, l - 1, u);
      dw_buf_puts(lit, lit->len ? "," : "{");
      dw_pg_array_elem(lit, c);
    }
  }
  if (lit->len) dw_buf_puts(lit, "}");
  unit *u, *t;
  HASH_ITER(hh, seen, u, t) {
    HASH_DEL(seen, u);
    free(u);
  }
}

int dw_pg_archive_units(dw_pg_archive *a, PGconn *pg, const dw_pg_archive_row *rows, size_t n, char *err, size_t en) {
  /* new codes are inserted; the SELECT of the same statement sees the ones
   * that were there before (one snapshot); one committed by another process
   * meanwhile is seen on the next round */
  static const char sql[] = "WITH ins AS (INSERT INTO archive_units (code) SELECT unnest($1::text[]) ORDER BY 1"
                            " ON CONFLICT DO NOTHING RETURNING unit_no, code)"
                            " SELECT unit_no, code FROM ins UNION ALL"
                            " SELECT unit_no, code FROM archive_units WHERE code = ANY ($1::text[])";
  for (int round = 0; round < 3; round++) {
    dw_buf lit = DW_BUF_INIT;
    missing_codes(a, rows, n, &lit);
    if (lit.oom) {
      dw_buf_free(&lit);
      snprintf(err, en, "out of memory");
      return -1;
    }
    if (!lit.len) return 0;
    const char *params[1] = {lit.data};
    PGresult *res = dw_pg_query(pg, sql, 1, params, err, en);
    dw_buf_free(&lit);
    if (!res) return -1;
    int rc = 0;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++)
      rc = learn_unit(a, PQgetvalue(res, r, 1), (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10));
    PQclear(res);
    if (rc) {
      snprintf(err, en, "out of memory");
      return -1;
    }
  }
  snprintf(err, en, "archive_units: codes still without a number after 3 rounds");
  return -1;
}

/* ---- dedupe ---- */

static int reserve(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 1024;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static uint64_t key_hash(const dw_archive_key *k) {
  uint64_t h;
  memcpy(&h, k->b, 8); /* SHA-256 bytes: already uniform */
  return h;
}

/* The distinct keys of ids, in first-occurrence order, into a->keys. */
static int distinct_keys(dw_pg_archive *a, const char *const *ids, size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap *= 2;
  key_slot *tab = calloc(cap, sizeof *tab);
  if (!tab || reserve((void **)&a->keys, &a->cap_keys, n, sizeof *a->keys) ||
      reserve((void **)&a->key_first, &a->cap_first, n, sizeof *a->key_first)) {
    free(tab);
    return -1;
  }
  a->nkeys = 0;
  for (size_t i = 0; i < n; i++) {
    dw_archive_key k;
    dw_archive_event_key(ids[i], strlen(ids[i]), &k);
    size_t h = (size_t)key_hash(&k) & (cap - 1);
    while (tab[h].used && memcmp(tab[h].key.b, k.b, sizeof k.b)) h = (h + 1) & (cap - 1);
    if (tab[h].used) continue;
    tab[h] = (key_slot){k, i, true};
    a->keys[a->nkeys] = k;
    a->key_first[a->nkeys++] = i;
  }
  free(tab);
  return 0;
}

/* The keys the archive has, and the batch's block ids: one nextval of
 * archive_block_id (INCREMENT BY 2048) reserves base .. base + 2047. */
#define BLOCKS_PER_BATCH 2048
static const char DEDUPE_SQL[] =
  "SELECT 0, t.i FROM unnest($1::uuid[]) WITH ORDINALITY AS t(k, i)"
  " WHERE EXISTS (SELECT 1 FROM archive_events e WHERE e.event_key = t.k)"
  " UNION ALL SELECT 1, nextval('archive_block_id')";

int dw_pg_archive_dedupe_send(dw_pg_archive *a, PGconn *pg, const char *const *ids, size_t n, char *err, size_t en) {
  a->nkeys = 0;
  a->has_base = false;
  if (n == 0) return 0;
  if ((n + DW_ARCHIVE_BLOCK_EVENTS - 1) / DW_ARCHIVE_BLOCK_EVENTS > BLOCKS_PER_BATCH) {
    snprintf(err, en, "archive: %zu events in one batch, at most %d", n, BLOCKS_PER_BATCH * DW_ARCHIVE_BLOCK_EVENTS);
    return -1;
  }
  if (distinct_keys(a, ids, n)) {
    snprintf(err, en, "out of memory");
    return -1;
  }
  /* uuid[] in the binary array format: 1 dimension, no nulls, element OID 2950 */
  dw_buf arr = DW_BUF_INIT;
  const uint32_t head[5] = {1, 0, 2950, (uint32_t)a->nkeys, 1};
  for (int i = 0; i < 5; i++) {
    unsigned char be[4] = {(unsigned char)(head[i] >> 24), (unsigned char)(head[i] >> 16),
                           (unsigned char)(head[i] >> 8), (unsigned char)head[i]};
    dw_buf_put(&arr, be, 4);
  }
  for (size_t j = 0; j < a->nkeys; j++) {
    dw_buf_put(&arr, "\0\0\0\x10", 4);
    dw_buf_put(&arr, a->keys[j].b, 16);
  }
  int rc = 0;
  if (arr.oom) {
    snprintf(err, en, "out of memory");
    rc = -1;
  } else {
    const char *params[1] = {arr.data};
    const int lengths[1] = {(int)arr.len}, formats[1] = {1};
    if (!PQsendQueryParams(pg, DEDUPE_SQL, 1, NULL, params, lengths, formats, 0)) {
      dw_pg_error(pg, NULL, "archive dedupe", err, en);
      rc = -1;
    }
  }
  dw_buf_free(&arr);
  return rc;
}

int dw_pg_archive_dedupe_recv(dw_pg_archive *a, PGconn *pg, const char *const *ids, size_t n, uint8_t *is_new,
                              char *err, size_t en) {
  (void)ids;
  memset(is_new, 0, n);
  if (n == 0) return 0;
  for (size_t j = 0; j < a->nkeys; j++) is_new[a->key_first[j]] = 1;
  int rc = 0;
  PGresult *res;
  while ((res = PQgetResult(pg))) { /* always drained: the connection stays usable */
    if (rc == 0 && PQresultStatus(res) != PGRES_TUPLES_OK) {
      dw_pg_error(pg, res, "archive dedupe", err, en);
      rc = -1;
    }
    for (int r = 0; rc == 0 && r < PQntuples(res); r++) {
      long long v = strtoll(PQgetvalue(res, r, 1), NULL, 10);
      if (PQgetvalue(res, r, 0)[0] == '0') {
        if (v >= 1 && (size_t)v <= a->nkeys) is_new[a->key_first[v - 1]] = 0;
      } else {
        a->block_base = v;
        a->has_base = true;
      }
    }
    PQclear(res);
  }
  if (rc) memset(is_new, 0, n);
  return rc;
}

/* ---- blocks ---- */

static int cmp_rows(const void *x, const void *y) {
  const dw_event *a = (*(const dw_pg_archive_row *const *)x)->ev, *b = (*(const dw_pg_archive_row *const *)y)->ev;
  if (a->occurred_at != b->occurred_at) return a->occurred_at < b->occurred_at ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

int dw_pg_archive_copy_data(dw_pg_archive *a, const dw_pg_archive_row *rows, size_t n, int64_t first_block,
                            dw_buf *blocks, dw_buf *events, char *err, size_t en) {
  const dw_pg_archive_row **order = malloc((n ? n : 1) * sizeof *order);
  if (!order) {
    snprintf(err, en, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) order[i] = &rows[i];
  qsort(order, n, sizeof *order, cmp_rows);
  dw_pg_bin_begin(blocks);
  dw_pg_bin_begin(events);
  dw_buf data = DW_BUF_INIT;
  int rc = 0;
  for (size_t start = 0, b = 0; start < n && rc == 0; start += DW_ARCHIVE_BLOCK_EVENTS, b++) {
    size_t end = n - start < DW_ARCHIVE_BLOCK_EVENTS ? n : start + DW_ARCHIVE_BLOCK_EVENTS;
    int64_t block_id = first_block + (int64_t)b;
    dw_buf_reset(&data);
    for (size_t i = start; i < end; i++) {
      const dw_pg_archive_row *r = order[i];
      dw_archive_block_put(&data, r->partition, DW_ARCHIVE_AVRO, r->bytes, r->len);
      int32_t ag = unit_no(a, r->ev->agency), co = unit_no(a, r->ev->commune);
      if (ag < 0 || co < 0) {
        snprintf(err, en, "archive: unit '%s' has no number (dw_pg_archive_units not called?)",
                 ag < 0 ? r->ev->agency : r->ev->commune);
        rc = -1;
        break;
      }
      dw_archive_key k;
      dw_archive_event_key(r->ev->event_id, strlen(r->ev->event_id), &k);
      dw_pg_bin_row(events, 7);
      dw_pg_bin_bytes(events, k.b, sizeof k.b);
      dw_pg_bin_int8(events, block_id);
      dw_pg_bin_int4(events, ag);
      dw_pg_bin_int4(events, co);
      dw_pg_bin_int2(events, (int16_t)(i - start));
      if (r->partition >= 0 && r->partition <= INT16_MAX)
        dw_pg_bin_int2(events, (int16_t)r->partition);
      else
        dw_pg_bin_null(events);
      dw_pg_bin_bytes(events, r->ev->dossier_id, strlen(r->ev->dossier_id));
    }
    dw_pg_bin_row(blocks, 5);
    dw_pg_bin_int8(blocks, block_id);
    dw_pg_bin_time(blocks, order[start]->ev->occurred_at);
    dw_pg_bin_time(blocks, order[end - 1]->ev->occurred_at);
    dw_pg_bin_int4(blocks, (int32_t)(end - start));
    dw_pg_bin_bytes(blocks, data.data ? data.data : "", data.len);
  }
  dw_pg_bin_end(blocks);
  dw_pg_bin_end(events);
  if (rc == 0 && (data.oom || blocks->oom || events->oom)) {
    snprintf(err, en, "out of memory");
    rc = -1;
  }
  dw_buf_free(&data);
  free(order);
  return rc;
}

int dw_pg_archive_send(dw_pg_archive *a, PGconn *pg, const dw_pg_archive_row *rows, size_t n, char *err, size_t en) {
  if (n == 0) return 0;
  if (!a->has_base || (n + DW_ARCHIVE_BLOCK_EVENTS - 1) / DW_ARCHIVE_BLOCK_EVENTS > BLOCKS_PER_BATCH) {
    snprintf(err, en, "archive: no block ids reserved for these %zu events (dedupe first)", n);
    return -1;
  }
  dw_buf blocks = DW_BUF_INIT, events = DW_BUF_INIT;
  int rc = dw_pg_archive_copy_data(a, rows, n, a->block_base, &blocks, &events, err, en);
  if (rc == 0) rc = dw_pg_copy(pg, DW_PG_ARCHIVE_COPY_BLOCKS, blocks.data, blocks.len, err, en);
  if (rc == 0) rc = dw_pg_copy_send(pg, DW_PG_ARCHIVE_COPY_EVENTS, events.data, events.len, err, en);
  dw_buf_free(&blocks);
  dw_buf_free(&events);
  a->has_base = false;
  return rc;
}

int dw_pg_archive_finish(dw_pg_archive *a, PGconn *pg, size_t n, char *err, size_t en) {
  (void)a;
  return n == 0 ? 0 : dw_pg_copy_end(pg, DW_PG_ARCHIVE_COPY_EVENTS, err, en);
}
