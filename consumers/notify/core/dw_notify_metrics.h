/* dw_notify_metrics: what notify counts (sent, failed, retried, suppressed
 * by silence, inhibition or mute, ...), in one struct that the state
 * machine and the delivery edge add to, with a function that renders it in
 * the Prometheus text format (what an HTTP /metrics endpoint serves) and one
 * that lists every series (to copy them into a metrics registry). notify is
 * one thread: no locking here. */
#ifndef DW_NOTIFY_METRICS_H
#define DW_NOTIFY_METRICS_H

#include <stdint.h>

#include "dw_buf.h"

typedef struct dw_notify_metrics {
  /* by integration kind (DW_NK_EMAIL, DW_NK_WEBHOOK) */
  uint64_t sent[2];    /* messages delivered */
  uint64_t failed[2];  /* delivery attempts that failed (each is retried) */
  uint64_t retried[2]; /* attempts after a failure */
  /* alerts left out of a notification, counted once each time one becomes so */
  uint64_t suppressed_silence, suppressed_inhibition;
  uint64_t suppressed_mute; /* flushes deferred by a mute/active interval or office hours */
  uint64_t digests, escalated; /* digest messages queued; alerts that joined an escalation */
  uint64_t alerts_read;        /* outbox rows read */
  uint64_t reloads, reload_failures;
  /* gauges */
  int64_t tracked_alerts, groups, pending_messages;
  int active; /* holds the group's lock */
} dw_notify_metrics;

/* Appends the Prometheus text exposition (# HELP, # TYPE, samples) of m,
 * names dossierwatch_notify_*. */
void dw_notify_metrics_render(const dw_notify_metrics *m, dw_buf *out);

/* Calls fn for every series: name, "counter" or "gauge", help, one label
 * (name and value, or NULL) and the value. */
void dw_notify_metrics_foreach(const dw_notify_metrics *m,
                               void (*fn)(const char *name, const char *type, const char *help, const char *label,
                                          const char *label_value, double value, void *opaque),
                               void *opaque);

#endif
