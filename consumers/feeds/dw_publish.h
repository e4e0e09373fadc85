/* dw_publish: watch's Kafka outputs, alerts (topic.alerts, key = agency) and
 * aggregate rows (topic.aggregates, key = "unit_type|unit|period"), both
 * Avro. They are AT-LEAST-ONCE: PostgreSQL is the outbox. Every alert or
 * aggregate row written by a batch gets version = version + 1; the
 * publisher reads rows with version > published_version (after the batch
 * committed), produces them, waits for every delivery report, and only then
 * sets published_version. A crash between produce and mark re-publishes on
 * the next run (duplicates possible, loss not). Rows carry their full current
 * state (alert with cleared_at; aggregate totals from PostgreSQL, so several
 * watch processes or a restart still publish totals, not partial sums).
 * Also the shared producer (idempotent, acks=all) with per-caller delivery
 * tracking, used by dw_dlq too, and dw_publisher: the two background
 * threads through which watch publishes, so that neither its batch
 * transactions nor alerts ever wait behind the other outputs. */
#ifndef DW_PUBLISH_H
#define DW_PUBLISH_H

#include <librdkafka/rdkafka.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_aggregates.h"
#include "dw_codec.h"
#include "dw_config.h"
#include "dw_producer.h"

/* Delivery bookkeeping of one caller: every message produced with it as
 * opaque decrements pending when its report arrives. */
typedef struct dw_publish dw_publish;

dw_publish *dw_publish_new(dw_producer *rk, dw_avro *av, const dw_config *cfg);
void dw_publish_destroy(dw_publish *p);

/* Publishes alerts not yet published. Returns how many, or -1. */
long dw_publish_alerts(dw_publish *p, PGconn *pg, char *errstr, size_t errstr_size);

/* Publishes aggregate rows not yet published; `agg` gives rates and score
 * (its config), `now` decides which periods are current (their rows carry
 * the open_overdue gauge counted from open OVERDUE alerts). Returns how
 * many, or -1. */
long dw_publish_aggregates(dw_publish *p, PGconn *pg, const dw_aggregates *agg, int64_t now, char *errstr,
                           size_t errstr_size);

/* ---- dw_publisher: the outbox published in the background ----
 * Two threads, each with its own PostgreSQL connection, producer and Avro
 * encoder (nothing shared with the caller, so no locking around libpq or
 * librdkafka): the ALERTS thread publishes as soon as it is kicked after a
 * commit (and sweeps the outbox every second for leftovers of a failed
 * round or a previous run); the AGGREGATES thread publishes every
 * aggregates.publish_interval_ms. Alerts therefore never wait behind an
 * aggregate publish, and the caller's next batch runs while the outbox is
 * published. Delivery stays at-least-once: a row is marked published only
 * after its delivery report, by dw_publish_alerts/dw_publish_aggregates.
 * Marks are bookkeeping (a lost mark re-publishes, never loses), so these
 * sessions commit with synchronous_commit = off. */
typedef struct dw_publisher dw_publisher;

/* Creates the producers and starts the threads (they connect to
 * PostgreSQL themselves, retrying with backoff). NULL on failure. */
dw_publisher *dw_publisher_start(const dw_config *cfg, const char *conninfo, char *errstr, size_t errstr_size);

/* A commit wrote alert rows: publish them now. Cheap; never blocks on I/O. */
void dw_publisher_kick_alerts(dw_publisher *p);

/* The instant that decides which aggregate periods are current (watch's
 * clock); until set, the wall clock. */
void dw_publisher_set_now(dw_publisher *p, int64_t now_ms);

/* Milliseconds the threads spent publishing since the last call. */
int64_t dw_publisher_take_busy_ms(dw_publisher *p);

/* One last round of each thread (everything committed so far), then stops
 * them and frees everything. NULL is fine. */
void dw_publisher_stop(dw_publisher *p);

#endif
