/* dw_out_json: how audit (and anything else that prints for people or
 * scripts) renders alerts and aggregate rows: the CONTRACT §8 JSON lines and
 * an aligned text table. Numbers of rates and scores are written with
 * exactly two decimals ("54.56", "12.50"), null when undefined; the JSON is
 * built by hand for that reason (jansson would print 54.560000000000002 or
 * 12.5), strings are escaped per RFC 8259. */
#ifndef DW_OUT_JSON_H
#define DW_OUT_JSON_H

#include <stdio.h>

#include "dw_aggregates.h"
#include "dw_alert.h"
#include "dw_buf.h"

/* One JSON object without the trailing newline, malloc'd (NULL on OOM):
 * {"kind":"alert","rule","dossier_id","commune","agency","procedure",
 *  "severity","raised_at","due_at","cleared_at","alert_id","detail"}
 * Times are RFC 3339 at utc_offset_min; due_at null if unknown, cleared_at
 * null while open. */
char *dw_out_json_alert(const dw_alert *a, int utc_offset_min);

/* {"kind":"aggregate","unit_type","unit","period_kind","period", every
 *  counter by its contract name, "open_overdue", every rate, "score",
 *  "score_100"}; rates and score from dw_aggregates_rates(agg, row). */
char *dw_out_json_aggregate(const dw_aggregates *agg, const dw_agg_row *row);

/* Table format: a header line, then one aligned line per item. */
void dw_out_table_alert_header(FILE *out);
void dw_out_table_alert(FILE *out, const dw_alert *a, int utc_offset_min);
void dw_out_table_aggregate_header(FILE *out);
void dw_out_table_aggregate(FILE *out, const dw_aggregates *agg, const dw_agg_row *row);

#endif
