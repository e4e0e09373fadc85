/* dw_http_cache: serve's replies to the aggregates and ranking routes, kept
 * while the data they are made of is unchanged, so that many readers of the
 * same page (a province's department heads opening one ranking) cost one
 * computation. serve still authenticates every request and reads the data
 * version in the request's own transaction; only the rendering is shared.
 *
 * The key is everything the reply depends on: the route and its query
 * string, the token's scope (row-level security filters by it), the period
 * as resolved now ("current" moves at midnight), and the version of the
 * data (dw_http_data_version(), migration 014: storage files and largest
 * change_seq of alerts and aggregates). An entry also expires after
 * max_age_ms, a bound on staleness should anything change those tables
 * without stamping change_seq (an edit by hand). The least recently used
 * entry makes room. Thread-safe (libmicrohttpd's threads share one cache).
 * A hit copies the body, its gzip and its ETag into the response; a miss
 * stores them after the handler rendered the body. */
#ifndef DW_HTTP_CACHE_H
#define DW_HTTP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_http.h"

typedef struct dw_http_cache dw_http_cache;

/* max_entries 0: a cache that keeps nothing (every lookup misses). */
dw_http_cache *dw_http_cache_new(size_t max_entries, int64_t max_age_ms);
void dw_http_cache_destroy(dw_http_cache *c);
/* Does it keep anything (max_entries > 0)? */
bool dw_http_cache_enabled(const dw_http_cache *c);

/* 1 and resp's body, gz and etag_value filled when key is held and younger
 * than max_age_ms at now_ms; 0 otherwise (resp untouched). */
int dw_http_cache_get(dw_http_cache *c, const char *key, int64_t now_ms, dw_http_resp *resp);
/* Keeps resp's body under key (with its gzip and ETag, which it also puts
 * in resp so the reply does not compute them again). */
void dw_http_cache_put(dw_http_cache *c, const char *key, int64_t now_ms, dw_http_resp *resp);

/* Lookups answered and missed so far (metrics). */
void dw_http_cache_counts(dw_http_cache *c, uint64_t *hits, uint64_t *misses);

#endif
