/* dw_out_json: JSON lines and text tables of alerts and aggregate rows for
 * audit (CONTRACT §8); see dw_out_json.h for why the JSON is built by hand. */
#include "dw_out_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dw_time.h"

/* ---- buffer ---- */


/* ---- alerts ---- */

static void put_time(dw_buf *b, int64_t t, int off) {
  if (t == DW_TIME_NONE) {
    dw_buf_printf(b, "null");
    return;
  }
  char buf[40];
  dw_time_format(t, off, buf, sizeof buf);
  dw_buf_json_string(b, buf);
}

char *dw_out_json_alert(const dw_alert *a, int off) {
  dw_buf b = {0};
  dw_buf_printf(&b, "{\"kind\":\"alert\",\"rule\":");
  dw_buf_json_string(&b, dw_rule_name(a->rule));
  dw_buf_printf(&b, ",\"dossier_id\":");
  dw_buf_json_string(&b, a->dossier_id);
  dw_buf_printf(&b, ",\"commune\":");
  dw_buf_json_string(&b, a->commune);
  dw_buf_printf(&b, ",\"agency\":");
  dw_buf_json_string(&b, a->agency);
  dw_buf_printf(&b, ",\"procedure\":");
  dw_buf_json_string(&b, a->procedure);
  dw_buf_printf(&b, ",\"severity\":");
  dw_buf_json_string(&b, dw_severity_name(a->severity));
  dw_buf_printf(&b, ",\"raised_at\":");
  put_time(&b, a->raised_at, off);
  dw_buf_printf(&b, ",\"due_at\":");
  put_time(&b, a->due_at, off);
  dw_buf_printf(&b, ",\"cleared_at\":");
  put_time(&b, a->cleared_at, off);
  dw_buf_printf(&b, ",\"alert_id\":");
  dw_buf_json_string(&b, a->alert_id);
  dw_buf_printf(&b, ",\"detail\":");
  dw_buf_json_string(&b, a->detail);
  dw_buf_printf(&b, "}");
  return dw_buf_take(&b);
}

/* ---- aggregate rows ---- */

/* Rates and scores are already rounded to hundredths; %.2f of the nearest
 * double prints the decimal exactly. */
static void put_2dp(dw_buf *b, double v) {
  if (isnan(v) || isinf(v))
    dw_buf_printf(b, "null");
  else
    dw_buf_printf(b, "%.2f", v == 0 ? 0.0 : v); /* no "-0.00" */
}

char *dw_out_json_aggregate(const dw_aggregates *agg, const dw_agg_row *row) {
  dw_agg_rates r;
  dw_aggregates_rates(agg, row, &r);
  dw_buf b = {0};
  dw_buf_printf(&b, "{\"kind\":\"aggregate\",\"unit_type\":");
  dw_buf_json_string(&b, dw_unit_type_name(row->unit_type));
  dw_buf_printf(&b, ",\"unit\":");
  dw_buf_json_string(&b, row->unit);
  dw_buf_printf(&b, ",\"period_kind\":");
  dw_buf_json_string(&b, dw_period_kind_name(row->period_kind));
  dw_buf_printf(&b, ",\"period\":");
  dw_buf_json_string(&b, row->period);
  for (int c = 0; c < DW_C__COUNT; c++)
    dw_buf_printf(&b, ",\"%s\":%" PRId64, dw_counter_name((dw_counter)c), row->counters[c]);
  dw_buf_printf(&b, ",\"open_overdue\":%" PRId64, row->open_overdue);
  static const char *const names[] = {"on_time_rate", "intake_digitized_rate", "result_digitized_rate",
                                      "online_rate",  "rating_avg",            "reuse_rate",
                                      "paid_online_rate", "score",             "score_100"};
  const double vals[] = {r.on_time_rate, r.intake_digitized_rate, r.result_digitized_rate,
                         r.online_rate,  r.rating_avg,            r.reuse_rate,
                         r.paid_online_rate, r.score,             r.score_100};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    dw_buf_printf(&b, ",\"%s\":", names[i]);
    put_2dp(&b, vals[i]);
  }
  dw_buf_printf(&b, "}");
  return dw_buf_take(&b);
}

/* ---- tables ---- */

static void fmt_time(char *buf, size_t n, int64_t t, int off) {
  if (t == DW_TIME_NONE)
    snprintf(buf, n, "-");
  else
    dw_time_format(t, off, buf, n);
}

void dw_out_table_alert_header(FILE *out) {
  fprintf(out, "%-30s %-8s %-20s %-8s %-16s %-10s %-25s %-25s %-25s\n", "rule", "severity", "dossier_id",
          "commune", "agency", "procedure", "raised_at", "due_at", "cleared_at");
}

void dw_out_table_alert(FILE *out, const dw_alert *a, int off) {
  char raised[40], due[40], cleared[40];
  fmt_time(raised, sizeof raised, a->raised_at, off);
  fmt_time(due, sizeof due, a->due_at, off);
  fmt_time(cleared, sizeof cleared, a->cleared_at, off);
  fprintf(out, "%-30s %-8s %-20s %-8s %-16s %-10s %-25s %-25s %-25s\n", dw_rule_name(a->rule),
          dw_severity_name(a->severity), a->dossier_id, a->commune, a->agency, a->procedure, raised, due,
          cleared);
}

/* Short column titles, in dw_counter order. */
static const char *const counter_short[DW_C__COUNT] = {
  "recv", "online", "onl_full", "in_dig", "reused", "w_reuse", "paper_wh", "results",
  "res_dig", "on_time", "late", "apology", "paid", "paid_onl", "ratings", "r_sum",
};

void dw_out_table_aggregate_header(FILE *out) {
  fprintf(out, "%-9s %-16s %-9s %-10s", "unit_type", "unit", "period_k", "period");
  for (int c = 0; c < DW_C__COUNT; c++) fprintf(out, " %8s", counter_short[c]);
  fprintf(out, " %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "overdue", "on_time%", "intake%", "result%",
          "online%", "rating", "reuse%", "paidonl%", "score", "score100");
}

static void table_2dp(FILE *out, double v) {
  if (isnan(v) || isinf(v))
    fprintf(out, " %8s", "-");
  else
    fprintf(out, " %8.2f", v == 0 ? 0.0 : v);
}

void dw_out_table_aggregate(FILE *out, const dw_aggregates *agg, const dw_agg_row *row) {
  dw_agg_rates r;
  dw_aggregates_rates(agg, row, &r);
  fprintf(out, "%-9s %-16s %-9s %-10s", dw_unit_type_name(row->unit_type), row->unit,
          dw_period_kind_name(row->period_kind), row->period);
  for (int c = 0; c < DW_C__COUNT; c++) fprintf(out, " %8" PRId64, row->counters[c]);
  fprintf(out, " %8" PRId64, row->open_overdue);
  table_2dp(out, r.on_time_rate);
  table_2dp(out, r.intake_digitized_rate);
  table_2dp(out, r.result_digitized_rate);
  table_2dp(out, r.online_rate);
  table_2dp(out, r.rating_avg);
  table_2dp(out, r.reuse_rate);
  table_2dp(out, r.paid_online_rate);
  table_2dp(out, r.score);
  table_2dp(out, r.score_100);
  fputc('\n', out);
}
