/* dw_replay_jobs: replay's apply spread over cores. Dossiers are split by
 * a hash of dossier_id over N jobs, each a thread with its own driver
 * (dw_driver: the one clock discipline) and codec; the caller feeds events
 * in global (occurred_at, event_id) order and each job receives the events
 * of its dossiers in that same order. That gives each dossier exactly the
 * history a single driver gives it: a dossier's state, alerts and timers
 * depend on its own events and the clock only, and a job's clock is moved
 * before each of its events exactly as one driver's would be before the same
 * event (timers of its dossiers due before it fire first), then to --as-of
 * at the end. Aggregate deltas of the jobs add up (each counts its own
 * dossiers' events), states and alerts are disjoint. The caller's thread
 * reads (PostgreSQL, Kafka) and merges while the jobs decode and apply.
 *
 * Events are handed over as their bytes (single-object Avro, or JSON Lines
 * text for converted archive rows) and decoded in the job. */
#ifndef DW_REPLAY_JOBS_H
#define DW_REPLAY_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "dw_archive.h"
#include "dw_calendar.h"
#include "dw_config.h"
#include "dw_driver.h"

typedef struct dw_jobs dw_jobs;

/* njobs >= 1; filter: applied to the decoded events (NULL: none); cfg and
 * cal borrowed for the jobs' lifetime. max_reported: messages printed per
 * kind of problem over all jobs. */
dw_jobs *dw_jobs_new(const dw_config *cfg, const dw_calendar *cal, int njobs, const dw_replay_filter *filter,
                     int max_reported, char *errstr, size_t errstr_size);

/* One event, in global order; dossier_id routes it (and prefetches its
 * state ahead of the apply). 0, or -1 when out of memory. */
int dw_jobs_add(dw_jobs *j, const void *bytes, size_t len, int is_json, int32_t partition, const char *dossier_id,
                size_t dossier_id_len);

/* The end of the events: waits until every job has applied its events,
 * moves every clock to as_of (DW_TIME_NONE: the latest occurred_at applied
 * by any job, returned in *as_of_out). */
void dw_jobs_finish(dw_jobs *j, int64_t as_of, int64_t *as_of_out);

int dw_jobs_count(const dw_jobs *j);
dw_driver *dw_jobs_driver(dw_jobs *j, int i);

/* Every job's alerts, the latest version of each: fn for each, in alert_id
 * order (merged from what each job moved to its spill during the apply,
 * once it held replay.alerts_in_memory alerts, those of dossiers that left
 * memory, and what it holds; see dw_replay_alerts.h). dw_jobs_each_gone: fn
 * for each dossier it moved out because it left memory, with its tag (its
 * row: a tombstone made at the final clock, unless it is in memory again
 * then), in dossier_id order; one that left, came back and left again
 * comes once per time it was moved out (the same row); the others are
 * still in the job's driver. -1
 * with errstr when a temp file could not be written or read (what it holds
 * would be missing). */
int dw_jobs_each_alert(dw_jobs *j, void (*fn)(const dw_alert *a, void *opaque), void *opaque, char *errstr,
                       size_t errstr_size);
int dw_jobs_each_gone(dw_jobs *j, int i, void (*fn)(const char *dossier_id, int32_t tag, void *opaque), void *opaque,
                      char *errstr, size_t errstr_size);
/* Alert versions and dossiers moved out so far, over all jobs. */
void dw_jobs_spill_stats(const dw_jobs *j, uint64_t *alerts, uint64_t *gone);

typedef struct dw_jobs_stats {
  uint64_t events;      /* decoded and within the filter: given to a driver */
  uint64_t undecodable; /* bytes that do not decode */
  uint64_t filtered;    /* decoded, outside the filter */
  int64_t watermark;    /* the latest occurred_at applied (DW_TIME_NONE: none) */
} dw_jobs_stats;
void dw_jobs_stats_get(const dw_jobs *j, dw_jobs_stats *out);
/* Events handed to dw_jobs_add so far (the progress of the reading). */
uint64_t dw_jobs_added(const dw_jobs *j);

void dw_jobs_destroy(dw_jobs *j);

#endif
