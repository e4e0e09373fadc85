/* dw_metrics: the metrics registry any long-running command (watch, serve)
 * exposes on GET /metrics in the Prometheus text exposition format 0.0.4.
 * A registry holds metric families (counter, gauge, histogram), each with a
 * fixed list of label names; a family holds one series per distinct tuple
 * of label values, created on first use. Every operation is thread-safe (one
 * mutex per registry: updates are a few per batch or request, never per
 * event), and every update accepts a NULL family as a no-op, so a caller
 * may look a family up by name (dw_metrics_find) and update it without
 * caring whether the process registered it.
 *
 * Names follow Prometheus conventions (dossierwatch_*, counters end in
 * _total, units in the name: _seconds, _rows). Label values are escaped on
 * output (backslash, double quote, newline); a family keeps at most
 * DW_METRICS_MAX_SERIES series (past that, updates of new tuples are
 * dropped and counted in dossierwatch_metrics_series_dropped_total), so a
 * bad label value (an unbounded id) cannot exhaust memory. */
#ifndef DW_METRICS_H
#define DW_METRICS_H

#include <stddef.h>

#include "dw_buf.h"

#define DW_METRICS_MAX_LABELS 4
#define DW_METRICS_MAX_SERIES 4096

typedef struct dw_metrics dw_metrics;
typedef struct dw_metric dw_metric;

typedef enum dw_metric_type { DW_METRIC_COUNTER = 0, DW_METRIC_GAUGE, DW_METRIC_HISTOGRAM } dw_metric_type;

/* Label values of one update, in the family's label order:
 * dw_metric_inc_l(m, DW_LABELS("OVERDUE", "critical")). */
#define DW_LABELS(...) ((const char *const[]){__VA_ARGS__})

dw_metrics *dw_metrics_new(void);
void dw_metrics_destroy(dw_metrics *reg);

/* The process's registry (created on first use, never destroyed): the one
 * a command exposes, and where a lower layer (e.g. the outbox publisher)
 * finds a family by name. */
dw_metrics *dw_metrics_process(void);

/* Registers a family; labels is a comma-separated list of label names
 * ("rule,severity") or NULL. Registering an existing name again returns the
 * same family when type and labels match, else NULL. NULL also for an
 * invalid name or label, or out of memory. */
dw_metric *dw_metrics_counter(dw_metrics *reg, const char *name, const char *help, const char *labels);
dw_metric *dw_metrics_gauge(dw_metrics *reg, const char *name, const char *help, const char *labels);
/* bounds: the upper bounds of the buckets, increasing (+Inf is implied). */
dw_metric *dw_metrics_histogram(dw_metrics *reg, const char *name, const char *help, const char *labels,
                                const double *bounds, size_t nbounds);
/* The family registered under name, or NULL. */
dw_metric *dw_metrics_find(dw_metrics *reg, const char *name);

/* Updates. Counters only go up (a negative add is ignored); gauges are set
 * or added to; histograms observe. The _l forms take the label values (as
 * many as the family has label names); the plain forms are for families
 * without labels. */
void dw_metric_add_l(dw_metric *m, const char *const *labels, double v);
void dw_metric_set_l(dw_metric *m, const char *const *labels, double v);
void dw_metric_observe_l(dw_metric *m, const char *const *labels, double v);
static inline void dw_metric_inc_l(dw_metric *m, const char *const *labels) { dw_metric_add_l(m, labels, 1); }
static inline void dw_metric_add(dw_metric *m, double v) { dw_metric_add_l(m, NULL, v); }
static inline void dw_metric_inc(dw_metric *m) { dw_metric_add_l(m, NULL, 1); }
static inline void dw_metric_set(dw_metric *m, double v) { dw_metric_set_l(m, NULL, v); }
static inline void dw_metric_observe(dw_metric *m, double v) { dw_metric_observe_l(m, NULL, v); }
/* Drops every series of a gauge family (before setting the current set of,
 * e.g., per-partition lags, so revoked partitions disappear). */
void dw_metric_clear(dw_metric *m);

/* The value of one series (counter or gauge; a histogram's count), 0 when
 * it does not exist. For tests and readiness checks. */
double dw_metric_value_l(dw_metric *m, const char *const *labels);

/* Appends every family in registration order, as the text format:
 *   # HELP name help
 *   # TYPE name counter|gauge|histogram
 *   name{label="value",...} value
 * (histograms: name_bucket{...,le="..."}, name_sum, name_count). A family
 * with no series yet is written with its HELP and TYPE lines only, or, when
 * it has no labels, with the value 0. */
void dw_metrics_render(dw_metrics *reg, dw_buf *out);

/* The content type of that output. */
#define DW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
