/* dw_engine: the one engine behind audit, watch and replay (CONTRACT §4).
 * It keeps each dossier's state (order-independent facts, small), decides
 * which alerts hold at the engine's clock, and tells a sink about every
 * alert raised, updated or cleared; it also feeds dw_aggregates.
 *
 * Clock: the engine never reads the wall clock. The caller moves it forward
 * with dw_engine_advance(now) (wall clock in watch, event-time watermark or
 * --as-of in audit/replay), which fires every time rule whose deadline is
 * <= now, in deadline order, from a timer heap (no scan of all dossiers).
 * Events may arrive out of order or twice: duplicates (same event_id) are
 * ignored; a late event re-derives the dossier so that the final state and
 * open alerts equal in-order delivery. Alert times are logical (raised_at =
 * the instant the condition began), so the same events give the same alerts
 * whatever the delivery. */
#ifndef DW_ENGINE_H
#define DW_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "dw_aggregates.h"
#include "dw_alert.h"
#include "dw_calendar.h"
#include "dw_config.h"
#include "dw_event.h"

typedef struct dw_engine dw_engine;

typedef struct dw_engine_sink {
  /* Called for every alert change; `a` is valid only during the call. */
  void (*alert)(void *opaque, const dw_alert *a, dw_alert_change change);
  void *opaque;
} dw_engine_sink;

typedef enum dw_apply_status {
  DW_APPLY_OK = 0,
  DW_APPLY_DUPLICATE, /* same event_id seen before: ignored */
  DW_APPLY_ERROR,     /* cannot be applied (e.g. date outside the calendar): reason in errstr */
  DW_APPLY_SETTLED,   /* applied to the aggregates only: the dossier already left memory (tombstone) */
} dw_apply_status;

/* cfg: rules.* keys; cal: borrowed; agg: borrowed, may be NULL. */
dw_engine *dw_engine_new(const dw_config *cfg, const dw_calendar *cal, dw_aggregates *agg,
                         dw_engine_sink sink, char *errstr, size_t errstr_size);
void dw_engine_destroy(dw_engine *eng);

dw_apply_status dw_engine_apply(dw_engine *eng, const dw_event *ev, char *errstr, size_t errstr_size);

/* A hint, nothing more: the event for dossier_id will be applied
 * DW_ENGINE_PREFETCH_AHEAD applies from now. Dossiers are scattered over
 * hundreds of megabytes, so an apply mostly waits for memory; callers that
 * hold events in an array call this for event i + DW_ENGINE_PREFETCH_AHEAD
 * before applying event i, and the engine starts loading that dossier's
 * table slot, then (on later calls) the dossier and its buffers, so that
 * they are in cache when the apply comes. Calling it wrongly or not at all
 * changes no result. */
#define DW_ENGINE_PREFETCH_AHEAD 8
void dw_engine_prefetch(dw_engine *eng, const char *dossier_id);

/* Moves the clock to now (never backwards) and fires due timers. */
void dw_engine_advance(dw_engine *eng, int64_t now);
int64_t dw_engine_now(const dw_engine *eng);
/* Earliest pending timer, or DW_TIME_NONE. */
int64_t dw_engine_next_deadline(const dw_engine *eng);

/* Calls fn for every open alert. */
void dw_engine_foreach_open_alert(const dw_engine *eng, void (*fn)(const dw_alert *a, void *opaque), void *opaque);

typedef struct dw_engine_stats {
  uint64_t applied, duplicates, errors;
  uint64_t dossiers_in_memory, dossiers_open, open_alerts, evicted;
  uint64_t open_by_rule[DW_RULE__COUNT]; /* open_alerts per rule */
  uint64_t late_after_eviction; /* events for dossiers already evicted: counted per event only */
  uint64_t state_bytes; /* bytes held for dossier state (for bytes/dossier) */
} dw_engine_stats;
void dw_engine_stats_get(const dw_engine *eng, dw_engine_stats *out);

/* Persistence (watch): each dossier's state as an opaque, versioned byte
 * string, so that state of a Kafka partition can be saved with the offsets
 * and loaded on assignment.
 * - dw_engine_drain_dirty: fn for every dossier changed since the last drain,
 *   once, then forgets the marks. A dossier that left memory gets a small
 *   tombstone blob (dw_engine_blob_is_tombstone) instead of its state (one
 *   that came back since, after its tombstone expired, its state): keep
 *   it, so that a late event for that dossier is still recognised after a
 *   restart and never rebuilds it (its per-dossier counters are settled).
 *   `open`: the dossier is received and not closed (0 for a tombstone).
 * - dw_engine_restore: loads one dossier or tombstone (no alerts or
 *   aggregates emitted; a dossier's open alerts are part of its blob).
 *   as_of: the clock its state was saved at (everything up to it has been
 *   evaluated and told; DW_TIME_NONE: unknown). The dossier is evaluated
 *   again only once the clock reaches as_of, never at an earlier instant:
 *   a process starting behind the partition's last owner (a rebalance
 *   between processes at different clocks) must not evaluate a state
 *   whose events lie ahead of its clock (an alert raised and cleared
 *   before would be raised again).
 * - dw_engine_forget: drops dossiers for which keep(dossier_id) is 0 (a
 *   revoked partition). */
void dw_engine_drain_dirty(dw_engine *eng,
                           void (*fn)(const char *dossier_id, const void *blob, size_t len, int open, void *opaque),
                           void *opaque);
int dw_engine_restore(dw_engine *eng, const void *blob, size_t len, int64_t as_of, char *errstr, size_t errstr_size);
int dw_engine_blob_is_tombstone(const void *blob, size_t len);
/* What a long run without intermediate saves (replay) needs to keep its
 * memory bounded, without changing what dw_engine_drain_dirty would give:
 * - dw_engine_drain_gone: fn for every dossier that left memory since the
 *   last drain and is not back (the ids drain_dirty would give as
 *   tombstones, each once), then forgets them; the caller makes their rows
 *   later with dw_engine_tombstone. One may come back later still.
 * - dw_engine_tombstone: the tombstone blob drain_dirty gives for
 *   dossier_id at the current clock (its length, DW_ENGINE_TOMBSTONE_LEN).
 * - dw_engine_holds: whether the dossier is in memory (one that left it
 *   raises or changes no alert any more). */
#define DW_ENGINE_TOMBSTONE_LEN 18
void dw_engine_drain_gone(dw_engine *eng, void (*fn)(const char *dossier_id, void *opaque), void *opaque);
size_t dw_engine_tombstone(const dw_engine *eng, const char *dossier_id, uint8_t out[DW_ENGINE_TOMBSTONE_LEN]);
int dw_engine_holds(const dw_engine *eng, const char *dossier_id);
/* How long (ms of wall time since it was written) a stored tombstone must
 * be kept: twice the grace period, after which no late event can matter. */
int64_t dw_engine_tombstone_retention_ms(const dw_config *cfg);
void dw_engine_forget(dw_engine *eng, int (*keep)(const char *dossier_id, void *opaque), void *opaque);

#endif
