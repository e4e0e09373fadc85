/* dw_http_cache: rendered replies kept while their data is unchanged (see
 * dw_http_cache.h). A small array searched linearly: a province has a few
 * dozen distinct pages worth keeping, and a lookup is a string compare per
 * entry under one mutex, against milliseconds for a rendering. */
#include "dw_http_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  char *key;
  dw_buf body, gz;
  char etag[24];
  int64_t made_ms, used;
} entry;

struct dw_http_cache {
  pthread_mutex_t mu;
  entry *v;
  size_t max, n;
  int64_t max_age_ms, tick;
  uint64_t hits, misses;
};

dw_http_cache *dw_http_cache_new(size_t max_entries, int64_t max_age_ms) {
  dw_http_cache *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (max_entries && !(c->v = calloc(max_entries, sizeof *c->v))) {
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->mu, NULL);
  c->max = max_entries;
  c->max_age_ms = max_age_ms;
  return c;
}

bool dw_http_cache_enabled(const dw_http_cache *c) { return c && c->max > 0; }

static void entry_free(entry *e) {
  free(e->key);
  dw_buf_free(&e->body);
  dw_buf_free(&e->gz);
  memset(e, 0, sizeof *e);
}

void dw_http_cache_destroy(dw_http_cache *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n; i++) entry_free(&c->v[i]);
  free(c->v);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static int copy_buf(dw_buf *to, const dw_buf *from) {
  dw_buf_reset(to);
  if (from->len) dw_buf_put(to, from->data, from->len);
  return to->oom ? -1 : 0;
}

int dw_http_cache_get(dw_http_cache *c, const char *key, int64_t now_ms, dw_http_resp *resp) {
  int found = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->n && !found; i++) {
    entry *e = &c->v[i];
    if (strcmp(e->key, key) != 0 || now_ms - e->made_ms > c->max_age_ms) continue;
    if (copy_buf(&resp->body, &e->body) || copy_buf(&resp->gz, &e->gz)) {
      dw_buf_free(&resp->gz); /* out of memory: render it instead */
      dw_buf_reset(&resp->body);
      break;
    }
    memcpy(resp->etag_value, e->etag, sizeof e->etag);
    e->used = ++c->tick;
    found = 1;
  }
  if (found)
    c->hits++;
  else
    c->misses++;
  pthread_mutex_unlock(&c->mu);
  return found;
}

void dw_http_cache_put(dw_http_cache *c, const char *key, int64_t now_ms, dw_http_resp *resp) {
  if (resp->body.oom || resp->status != 200) return;
  /* what the reply would compute anyway, done once for every hit to come */
  dw_http_etag(resp->body.data ? resp->body.data : "", resp->body.len, resp->etag_value);
  dw_buf_free(&resp->gz);
  if (resp->body.len >= 512 && (dw_http_gzip(resp->body.data, resp->body.len, &resp->gz) || resp->gz.oom ||
                                resp->gz.len >= resp->body.len))
    dw_buf_free(&resp->gz);
  if (!c->max) return;
  entry fresh = {0};
  if (!(fresh.key = strdup(key)) || copy_buf(&fresh.body, &resp->body) || copy_buf(&fresh.gz, &resp->gz)) {
    entry_free(&fresh);
    return;
  }
  memcpy(fresh.etag, resp->etag_value, sizeof fresh.etag);
  fresh.made_ms = now_ms;
  pthread_mutex_lock(&c->mu);
  fresh.used = ++c->tick;
  size_t at = c->n;
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->v[i].key, key) == 0) at = i; /* another thread rendered it too */
  if (at == c->n && c->n == c->max) {
    at = 0; /* the least recently used makes room */
    for (size_t i = 1; i < c->n; i++)
      if (c->v[i].used < c->v[at].used) at = i;
  }
  if (at < c->n)
    entry_free(&c->v[at]);
  else
    c->n++;
  c->v[at] = fresh;
  pthread_mutex_unlock(&c->mu);
}

void dw_http_cache_counts(dw_http_cache *c, uint64_t *hits, uint64_t *misses) {
  pthread_mutex_lock(&c->mu);
  *hits = c->hits;
  *misses = c->misses;
  pthread_mutex_unlock(&c->mu);
}
