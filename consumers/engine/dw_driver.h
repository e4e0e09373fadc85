/* dw_driver: the one clock discipline of dossierwatch (CONTRACT §4) and the
 * apply/advance loop that audit, watch and replay share. It owns the engine
 * and its aggregates, moves the clock, and collects what the engine changed
 * (alerts, dossier states, aggregate deltas) for the caller to write.
 *
 * The discipline: at one instant, events apply before timers fire. With the
 * event-time clock (audit, replay, watch --clock watermark) applying an
 * event first moves the clock to just before the event's instant (timers
 * due strictly earlier fire, those due at the instant do not), and the
 * caller moves the clock to an instant T only once every event at T has
 * been applied (dw_driver_advance), or to just before T while events at T
 * may still come (dw_driver_advance_before). A dossier closed, digitized or
 * resumed at T therefore gets no alert that T alone would raise, no alert is
 * ever raised and cleared at one instant, and the three commands give the
 * same alert history for the same events. With the wall clock (watch's
 * default) the events of a batch are applied first, then the clock moves to
 * the wall time.
 *
 * Collected: every alert change since the last dw_driver_clear_alerts, as
 * the latest version of each alert (an alert raised and updated within one
 * batch is one row); the dirty dossier states and the aggregate deltas are
 * drained on request. Each dossier carries a caller's tag (watch and
 * replay: its Kafka partition, -1 when unknown), kept for the states. */
#ifndef DW_DRIVER_H
#define DW_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "dw_aggregates.h"
#include "dw_alert.h"
#include "dw_calendar.h"
#include "dw_config.h"
#include "dw_engine.h"
#include "dw_event.h"

typedef enum dw_clock { DW_CLOCK_EVENT = 0, DW_CLOCK_WALL } dw_clock;

typedef struct dw_driver dw_driver;

/* cfg: rules.*, score.*, calendar.utc_offset_min; cal: borrowed. */
dw_driver *dw_driver_new(const dw_config *cfg, const dw_calendar *cal, dw_clock clock, char *errstr,
                         size_t errstr_size);
void dw_driver_destroy(dw_driver *d);

/* Applies one event (see the discipline above); tag: the dossier's tag
 * (-1: keep what it has). DW_APPLY_OK/SETTLED: applied; DUPLICATE; ERROR
 * with the reason in errstr (counted, the caller rejects the event). */
dw_apply_status dw_driver_apply(dw_driver *d, const dw_event *ev, int32_t tag, char *errstr, size_t errstr_size);
/* A hint for callers that hold events in an array: the event applied
 * DW_ENGINE_PREFETCH_AHEAD applies from now is for dossier_id. */
void dw_driver_prefetch(dw_driver *d, const char *dossier_id);

/* Moves the clock to t (never back): every event at or before t has been
 * applied; timers due at or before t fire. */
void dw_driver_advance(dw_driver *d, int64_t t);
/* Moves the clock to just before t: events at t may still come. */
void dw_driver_advance_before(dw_driver *d, int64_t t);
int64_t dw_driver_now(const dw_driver *d);
/* The earliest pending timer (DW_TIME_NONE: none): watch's wall clock
 * sleeps until it. */
int64_t dw_driver_next_deadline(const dw_driver *d);
dw_clock dw_driver_clock(const dw_driver *d);

/* Alerts changed since the last clear (latest version of each, in the
 * order they first changed). */
const dw_alert *dw_driver_alerts(const dw_driver *d, size_t *n);
/* Alert changes go to fn as they happen instead of being collected (replay
 * keeps its own compact collection, dw_replay_alerts); NULL: collected. */
void dw_driver_set_alert_sink(dw_driver *d, void (*fn)(const dw_alert *a, dw_alert_change change, void *opaque),
                              void *opaque);
/* For each of those alerts (same order), how many times it was raised and
 * cleared since the last clear (an alert may be cleared and hold again
 * within one batch). watch counts raised and cleared alerts from it after
 * each commit; raised - cleared summed over every alert is the change in
 * open alerts. */
typedef struct dw_alert_counts {
  uint16_t raised, cleared;
} dw_alert_counts;
const dw_alert_counts *dw_driver_alert_changes(const dw_driver *d);
void dw_driver_clear_alerts(dw_driver *d);

/* A dossier's state to store (see dw_engine_drain_dirty). */
typedef struct dw_state_row {
  const char *dossier_id;
  int32_t tag;
  const void *blob;
  size_t len;
  int open, tombstone;
} dw_state_row;
/* Calls fn for every dossier changed since the last drain; a dossier that
 * left memory comes as its tombstone, and its tag is forgotten after. */
void dw_driver_drain_states(dw_driver *d, void (*fn)(const dw_state_row *row, void *opaque), void *opaque);
/* For a run without intermediate saves (replay), whose memory must not grow
 * with every dossier seen: fn for every dossier that left memory since the
 * last drain, with its tag, then its tag is forgotten. Its row is the
 * tombstone dw_engine_tombstone makes; it does not come again from
 * dw_driver_drain_states (see dw_engine_drain_gone). */
void dw_driver_drain_gone(dw_driver *d, void (*fn)(const char *dossier_id, int32_t tag, void *opaque), void *opaque);
/* Calls fn for every stored aggregate row (day, month, quarter, year;
 * rolling30 is derived from day rows) changed since the last drain, with
 * its non-zero delta. */
void dw_driver_drain_aggregates(dw_driver *d, void (*fn)(const dw_agg_row *delta, void *opaque), void *opaque);

/* Loads a stored state (watch: a partition's dossiers on assignment),
 * saved at clock as_of (dw_engine_restore). */
int dw_driver_restore(dw_driver *d, const char *dossier_id, const void *blob, size_t len, int32_t tag, int64_t as_of,
                      char *errstr, size_t errstr_size);
/* Drops every dossier whose tag keep() refuses (a revoked partition). */
void dw_driver_forget(dw_driver *d, int (*keep)(int32_t tag, void *opaque), void *opaque);

typedef struct dw_driver_stats {
  uint64_t applied, duplicates, errors, settled;
  uint64_t dossiers; /* distinct dossiers with an applied event (audit's count) */
  uint64_t alert_changes;
} dw_driver_stats;
void dw_driver_stats_get(const dw_driver *d, dw_driver_stats *out);

dw_engine *dw_driver_engine(dw_driver *d);
dw_aggregates *dw_driver_aggregates(dw_driver *d);

#endif
