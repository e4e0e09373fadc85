/* dw_runs: records sorted by key, in memory up to a budget and in sorted
 * runs on a temp file beyond it (see dw_runs.h).
 *
 * A record is a header (key and value lengths), the key, the value, back to
 * back in one buffer while held, and the same bytes in a run. The held
 * records are sorted through an array of their offsets; a run is one
 * stretch of the temp file. Reading back is a k-way merge over a binary
 * heap: one cursor per run (read ahead in 32 KiB blocks by pread, so the
 * file's own position, where runs are appended, never moves) and one per
 * set's held records. */
#include "dw_runs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dw_buf.h"
#include "dw_paths.h"

typedef struct rec_hdr {
  uint32_t klen, vlen;
} rec_hdr;

typedef struct run {
  uint64_t start, end; /* bytes of the temp file */
} run;

struct dw_runs {
  char name[32];
  size_t budget;
  dw_buf held;    /* records back to back */
  uint64_t *offs; /* each held record's offset in held */
  size_t noffs, offs_cap;
  int sorted; /* offs in key order */
  FILE *file;
  uint64_t file_len;
  run *runs;
  size_t nruns, runs_cap;
  uint64_t count, on_disk;
};

#define READ_AHEAD (32 * 1024) /* a cursor's read-ahead: a national year's alerts are ~1,000 runs */

dw_runs *dw_runs_new(const char *name, size_t budget) {
  dw_runs *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  snprintf(r->name, sizeof r->name, "%s", name);
  r->budget = budget;
  return r;
}

void dw_runs_destroy(dw_runs *r) {
  if (!r) return;
  dw_buf_free(&r->held);
  free(r->offs);
  free(r->runs);
  if (r->file) fclose(r->file);
  free(r);
}

uint64_t dw_runs_count(const dw_runs *r) { return r->count; }
uint64_t dw_runs_on_disk(const dw_runs *r) { return r->on_disk; }

static int key_cmp(const char *a, size_t al, const char *b, size_t bl) {
  int c = memcmp(a, b, al < bl ? al : bl);
  return c ? c : (al > bl) - (al < bl);
}

/* Equal keys by offset: the order they were put in. */
static int cmp_held(const void *x, const void *y, void *arena) {
  const uint64_t ox = *(const uint64_t *)x, oy = *(const uint64_t *)y;
  const char *base = arena, *a = base + ox, *b = base + oy;
  rec_hdr ha, hb;
  memcpy(&ha, a, sizeof ha), memcpy(&hb, b, sizeof hb);
  int c = key_cmp(a + sizeof ha, ha.klen, b + sizeof hb, hb.klen);
  return c ? c : (ox > oy) - (ox < oy);
}

static void sort_held(dw_runs *r) {
  if (!r->sorted && r->noffs > 1) qsort_r(r->offs, r->noffs, sizeof *r->offs, cmp_held, r->held.data);
  r->sorted = 1;
}

/* The folder of the temp files, as dw_tmpfile chooses it. */
static const char *tmp_dir(void) {
  const char *dir = getenv("TMPDIR");
  return dir && *dir ? dir : "/tmp";
}

static int io_fail(const dw_runs *r, const char *what, char *err, size_t n) {
  snprintf(err, n, "%s the %s temp file (TMPDIR %s): %s", what, r->name, tmp_dir(), strerror(errno ? errno : EIO));
  return -1;
}

/* The held records, sorted, as a new run. */
static int flush_run(dw_runs *r, char *err, size_t n) {
  if (!r->noffs) return 0;
  sort_held(r);
  errno = 0;
  if (!r->file && !(r->file = dw_tmpfile(r->name))) return io_fail(r, "creating", err, n);
  if (r->nruns == r->runs_cap) {
    size_t cap = r->runs_cap ? 2 * r->runs_cap : 16;
    run *v = realloc(r->runs, cap * sizeof *v);
    if (!v) return snprintf(err, n, "out of memory"), -1;
    r->runs = v, r->runs_cap = cap;
  }
  const uint64_t start = r->file_len;
  for (size_t i = 0; i < r->noffs; i++) {
    const char *rec = r->held.data + r->offs[i];
    rec_hdr h;
    memcpy(&h, rec, sizeof h);
    const size_t size = sizeof h + h.klen + h.vlen;
    if (fwrite(rec, size, 1, r->file) != 1) return io_fail(r, "writing", err, n);
    r->file_len += size;
  }
  r->runs[r->nruns++] = (run){start, r->file_len};
  r->on_disk += r->noffs;
  dw_buf_reset(&r->held);
  r->noffs = 0;
  return 0;
}

int dw_runs_flush(dw_runs *r, char *err, size_t n) { return flush_run(r, err, n); }

int dw_runs_put(dw_runs *r, const void *key, size_t klen, const void *val, size_t vlen, char *err, size_t n) {
  if (klen > UINT32_MAX || vlen > UINT32_MAX) return snprintf(err, n, "record too long"), -1;
  const rec_hdr h = {(uint32_t)klen, (uint32_t)vlen};
  const size_t need = sizeof h + klen + vlen + sizeof *r->offs;
  if (r->noffs && r->held.len + r->noffs * sizeof *r->offs + need > r->budget && flush_run(r, err, n)) return -1;
  if (r->noffs == r->offs_cap) {
    size_t cap = r->offs_cap ? 2 * r->offs_cap : 1024;
    uint64_t *v = realloc(r->offs, cap * sizeof *v);
    if (!v) return snprintf(err, n, "out of memory"), -1;
    r->offs = v, r->offs_cap = cap;
  }
  const size_t at = r->held.len;
  dw_buf_put(&r->held, &h, sizeof h);
  dw_buf_put(&r->held, key, klen);
  dw_buf_put(&r->held, val, vlen);
  if (r->held.oom) return snprintf(err, n, "out of memory"), -1;
  r->offs[r->noffs++] = at;
  r->sorted = 0;
  r->count++;
  return 0;
}

/* ---- the merge ---- */

typedef struct cursor {
  int set, rank; /* rank: the set's runs in the order written, then its held records */
  const char *key, *val; /* the current record */
  uint32_t klen, vlen;
  const dw_runs *held; /* a set's held records (NULL: a run) */
  size_t next;
  int fd; /* a run: read ahead into buf */
  uint64_t pos, end;
  char *buf;
  size_t blen, bpos, bcap;
} cursor;

/* At least need bytes of the run from bpos in buf. */
static int ensure(cursor *c, size_t need) {
  if (c->blen - c->bpos >= need) return 0;
  memmove(c->buf, c->buf + c->bpos, c->blen - c->bpos);
  c->blen -= c->bpos, c->bpos = 0;
  if (need > c->bcap) {
    char *b = realloc(c->buf, need);
    if (!b) return errno = ENOMEM, -1;
    c->buf = b, c->bcap = need;
  }
  while (c->blen < need && c->pos < c->end) {
    size_t want = c->bcap - c->blen;
    if (want > c->end - c->pos) want = (size_t)(c->end - c->pos);
    ssize_t got = pread(c->fd, c->buf + c->blen, want, (off_t)c->pos);
    if (got <= 0) return errno = got < 0 ? errno : EIO, -1;
    c->pos += (uint64_t)got, c->blen += (size_t)got;
  }
  return c->blen < need ? (errno = EIO, -1) : 0;
}

/* The cursor's next record: 1, 0 at its end, -1 on a read error. */
static int advance(cursor *c) {
  const char *rec;
  if (c->held) {
    if (c->next == c->held->noffs) return 0;
    rec = c->held->held.data + c->held->offs[c->next++];
  } else {
    if (c->bpos == c->blen && c->pos == c->end) return 0;
    rec_hdr h;
    if (ensure(c, sizeof h)) return -1;
    memcpy(&h, c->buf + c->bpos, sizeof h);
    if (ensure(c, sizeof h + h.klen + h.vlen)) return -1;
    rec = c->buf + c->bpos;
    c->bpos += sizeof h + h.klen + h.vlen;
  }
  rec_hdr h;
  memcpy(&h, rec, sizeof h);
  c->klen = h.klen, c->vlen = h.vlen;
  c->key = rec + sizeof h, c->val = c->key + h.klen;
  return 1;
}

static int less(const cursor *a, const cursor *b) {
  int c = key_cmp(a->key, a->klen, b->key, b->klen);
  if (c) return c < 0;
  return a->set != b->set ? a->set < b->set : a->rank < b->rank;
}

static void sift_down(cursor **heap, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, m = i;
    if (l < n && less(heap[l], heap[m])) m = l;
    if (l + 1 < n && less(heap[l + 1], heap[m])) m = l + 1;
    if (m == i) return;
    cursor *t = heap[i];
    heap[i] = heap[m], heap[m] = t;
    i = m;
  }
}

int dw_runs_each(dw_runs *const *sets, int n,
                 void (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *opaque), void *opaque,
                 char *err, size_t en) {
  size_t ncur = 0;
  for (int s = 0; s < n; s++) ncur += 1 + sets[s]->nruns;
  cursor *cur = calloc(ncur ? ncur : 1, sizeof *cur);
  cursor **heap = calloc(ncur ? ncur : 1, sizeof *heap);
  size_t made = 0, live = 0;
  int rc = -1;
  if (!cur || !heap) goto oom;
  for (int s = 0; s < n; s++) {
    dw_runs *r = sets[s];
    sort_held(r);
    errno = 0;
    if (r->file && fflush(r->file)) {
      io_fail(r, "writing", err, en);
      goto out;
    }
    for (size_t k = 0; k < r->nruns; k++) {
      cursor *c = &cur[made++];
      *c = (cursor){.set = s, .rank = (int)k, .fd = fileno(r->file), .pos = r->runs[k].start, .end = r->runs[k].end};
      if (!(c->buf = malloc(READ_AHEAD))) goto oom;
      c->bcap = READ_AHEAD;
    }
    cur[made++] = (cursor){.set = s, .rank = (int)r->nruns, .held = r};
  }
  const cursor *bad = NULL;
  for (size_t i = 0; i < made; i++) {
    int got = advance(&cur[i]);
    if (got < 0) {
      bad = &cur[i];
      goto unreadable;
    }
    if (got) heap[live++] = &cur[i];
  }
  for (size_t i = live / 2; i-- > 0;) sift_down(heap, live, i);
  while (live) {
    cursor *c = heap[0];
    fn(c->key, c->klen, c->val, c->vlen, opaque);
    int got = advance(c);
    if (got < 0) {
      bad = c;
      goto unreadable;
    }
    if (!got) heap[0] = heap[--live];
    if (live > 1) sift_down(heap, live, 0); /* one cursor left (or only one: nothing spilled) needs no heap */
  }
  rc = 0;
  goto out;
unreadable:
  snprintf(err, en, "reading back the %s temp file (TMPDIR %s): %s", sets[bad->set]->name, tmp_dir(),
           strerror(errno ? errno : EIO));
  goto out;
oom:
  snprintf(err, en, "out of memory");
out:
  for (size_t i = 0; i < made; i++) free(cur[i].buf);
  free(cur);
  free(heap);
  return rc;
}
