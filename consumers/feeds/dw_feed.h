/* dw_feed: the outbox feeds, and the runner that drives them in the
 * background of `watch`. A feed delivers what changed in the PostgreSQL
 * outbox (dw_outbox.h) somewhere: the runner selects what is new after the
 * feed's cursor, one page at a time, hands the page to the feed to encode
 * and deliver, and moves the cursor once the feed says the page is
 * delivered (at-least-once). Each feed runs in its own thread with its own
 * PostgreSQL connection, holding the feed's advisory lock (one active
 * deliverer per feed however many watch processes run), so that neither
 * watch's batch transactions nor one feed ever wait behind another.
 *
 * Feeds are plugins: a folder consumers/feeds/NAME/ with a CMakeLists.txt
 * calling `dw_plugin(feed NAME DEPS dw_feeds ...)` and defining
 * `const dw_feed dw_feed_NAME`; CMake lists it in the registry. */
#ifndef DW_FEED_H
#define DW_FEED_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "dw_config.h"
#include "dw_outbox.h"

/* What a feed gets each round besides its page. */
typedef struct dw_feed_round {
  PGconn *pg;     /* the feed's connection (no transaction open) */
  int64_t now;    /* the clock: the watermark with watch --clock watermark, else the wall clock */
  bool legacy;    /* the feed's legacy_keys flag (see migration 007) */
  bool legacy_done; /* set by the feed when it has dealt with it */
} dw_feed_round;

typedef struct dw_feed {
  const char *name; /* its cursor row and lock in PostgreSQL ("kafka_alerts") */
  dw_outbox_source source;
  const char *doc;
  /* the sweep period: a config key (ms), or 0 => period_ms */
  const char *period_key;
  int period_ms;
  bool kicked_by_commits; /* woken by every commit that wrote its source (alerts: latency) */
  void *(*open)(const dw_config *cfg, char *errstr, size_t errstr_size);
  /* Encodes and delivers page: 0 when every row was delivered (a row it
   * cannot encode is reported on the log and counted in *skipped, or it
   * would block the feed for ever); -1 to retry the page later. */
  int (*deliver)(void *st, const dw_outbox_page *page, dw_feed_round *r, long *skipped, char *errstr,
                 size_t errstr_size);
  /* After the pages of a round (NULL: nothing): derived rows, housekeeping. */
  int (*round_end)(void *st, dw_feed_round *r, char *errstr, size_t errstr_size);
  void (*close)(void *st);
} dw_feed;

extern const dw_feed *const dw_feed_plugins[];

/* ---- the runner ---- */

typedef struct dw_feeds dw_feeds;

/* Starts every registered feed (threads). */
dw_feeds *dw_feeds_start(const dw_config *cfg, const char *conninfo, char *errstr, size_t errstr_size);
/* A commit wrote alerts: wake the feeds that want it. */
void dw_feeds_kick(dw_feeds *f, dw_outbox_source src);
/* The clock for the feeds (watch --clock watermark); DW_TIME_NONE: wall. */
void dw_feeds_set_now(dw_feeds *f, int64_t now_ms);
/* Milliseconds the feeds were busy since the last call (stats). */
int64_t dw_feeds_take_busy_ms(dw_feeds *f);
typedef struct dw_feed_stats {
  const char *name;
  uint64_t delivered, skipped, failed_rounds;
  long backlog; /* rows after the cursor at the end of the last round; -1 unknown */
  bool active;  /* holds the feed's lock */
} dw_feed_stats;
/* Calls fn for every feed. */
void dw_feeds_stats(dw_feeds *f, void (*fn)(const dw_feed_stats *s, void *opaque), void *opaque);
/* A last round of every feed, then stops them. */
void dw_feeds_stop(dw_feeds *f);

#endif
