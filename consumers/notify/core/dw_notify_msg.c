/* dw_notify_msg: rendering emails (MIME, Vietnamese or English) and
 * Alertmanager v4 webhook bodies (see dw_notify_msg.h). */
#include "dw_notify_msg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_hash.h"
#include "dw_time.h"

/* ---- words ---- */

typedef struct words {
  const char *open_alerts, *resolved_alerts, *unit, *commune, *agency, *procedure, *province, *at, *by_rule,
      *first_dossiers, *more, *due, *late, *left, *no_due, *resolved_head, *escalated, *day, *days, *hour, *hours,
      *minutes, *footer, *digest_title, *digest_open, *digest_rates, *score, *on_time, *intake, *result, *online,
      *rating, *no_data, *digest_none, *local_time, *dossier, *rule, *severity, *critical, *warning, *link;
  char decimal;
} words;

static const words VI = {
  "cảnh báo đang mở", "cảnh báo đã xử lý", "Đơn vị", "Xã", "Cơ quan", "Thủ tục", "toàn tỉnh", "Thời điểm",
  "Theo quy tắc", "hồ sơ đầu tiên (theo hạn trả kết quả)", "và %zu hồ sơ khác", "hạn", "trễ", "còn",
  "không rõ hạn", "Đã xử lý", "[Chuyển cấp] ", "ngày", "ngày", "giờ", "giờ", "phút", "Gửi từ dossierwatch",
  "Báo cáo ngày", "Cảnh báo đang mở", "Chỉ số tháng %s so với toàn tỉnh (thấp nhất trước)", "điểm", "đúng hạn",
  "số hóa hồ sơ tiếp nhận", "số hóa kết quả", "trực tuyến", "hài lòng (trên 5)", "chưa có số liệu",
  "Không có cảnh báo đang mở.", "giờ Việt Nam", "Hồ sơ", "Quy tắc", "Mức độ", "nghiêm trọng", "cảnh báo",
  "Xem hồ sơ", ','};
static const words EN = {
  "open alerts", "resolved alerts", "Unit", "Commune", "Agency", "Procedure", "the province", "At", "By rule",
  "first dossiers (by due time)", "and %zu more dossiers", "due", "late by", "left", "no due time", "Resolved",
  "[Escalated] ", "day", "days", "hour", "hours", "min", "Sent by dossierwatch", "Daily report", "Open alerts",
  "Rates of %s against the province (worst first)", "score", "on time", "intake digitized", "result digitized",
  "online", "rating (of 5)", "no data yet", "No open alerts.", "Vietnam time", "Dossier", "Rule", "Severity",
  "critical", "warning", "Open the dossier", '.'};

static const words *W(const char *lang) { return lang && strcmp(lang, "en") == 0 ? &EN : &VI; }

const char *dw_notify_rule_title(dw_rule r, const char *lang) {
  static const char *const vi[] = {"Sắp đến hạn", "Quá hạn", "Quá hạn chưa có phiếu xin lỗi",
                                   "Quá thời gian đã hẹn lại", "Hồ sơ tiếp nhận chưa số hóa", "Kết quả chưa số hóa",
                                   "Yêu cầu giấy tờ đã có trong kho dữ liệu"};
  static const char *const en[] = {"Due soon", "Overdue", "Overdue without an apology letter", "Promised time missed",
                                   "Intake not digitized", "Result not digitized",
                                   "Paper requested that is in the warehouse"};
  if ((unsigned)r >= sizeof vi / sizeof vi[0]) return dw_rule_name(r);
  return lang && strcmp(lang, "en") == 0 ? en[r] : vi[r];
}

/* ---- encodings ---- */

void dw_notify_base64(const void *p, size_t n, size_t line, dw_buf *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *s = p;
  size_t col = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
    char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
    dw_buf_put(out, q, 4);
    col += 4;
    if (line && col >= line && i + 3 < n) {
      dw_buf_puts(out, "\r\n");
      col = 0;
    }
  }
}

void dw_notify_rfc2047(const char *s, dw_buf *out) {
  bool ascii = true;
  for (const char *c = s; *c && ascii; c++) ascii = (unsigned char)*c >= 32 && (unsigned char)*c < 127;
  if (ascii && strlen(s) < 900) {
    dw_buf_puts(out, s);
    return;
  }
  /* encoded-words of at most 75 characters: 45 bytes of text each, never
   * splitting a UTF-8 character (RFC 2047 §5) */
  size_t n = strlen(s), i = 0;
  bool first = true;
  while (i < n) {
    size_t take = n - i < 45 ? n - i : 45;
    while (take < n - i && take > 0 && ((unsigned char)s[i + take] & 0xC0) == 0x80) take--;
    if (!first) dw_buf_puts(out, "\r\n ");
    first = false;
    dw_buf_puts(out, "=?UTF-8?B?");
    dw_notify_base64(s + i, take, 0, out);
    dw_buf_puts(out, "?=");
    i += take;
  }
}

void dw_notify_dossier_link(const char *base, const char *id, dw_buf *out) {
  dw_buf_puts(out, base && *base ? base : "");
  dw_buf_puts(out, "/#dossier=");
  for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
    if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("-._~", *c))
      dw_buf_putc(out, (char)*c);
    else
      dw_buf_printf(out, "%%%02X", *c);
  }
}

static void html_esc(dw_buf *b, const char *s) {
  for (; s && *s; s++) switch (*s) {
    case '<': dw_buf_puts(b, "&lt;"); break;
    case '>': dw_buf_puts(b, "&gt;"); break;
    case '&': dw_buf_puts(b, "&amp;"); break;
    case '"': dw_buf_puts(b, "&quot;"); break;
    default: dw_buf_putc(b, *s);
    }
}

/* "06/03/2026 16:55" in local time */
static void local_time(int64_t t, int off, char *buf, size_t n) {
  int64_t l = t + (int64_t)off * DW_MS_PER_MIN;
  int64_t day = dw_local_day(t, off);
  int64_t rem = l - day * DW_MS_PER_DAY;
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  snprintf(buf, n, "%02d/%02d/%04d %02d:%02d", d, m, y, (int)(rem / 3600000), (int)(rem / 60000 % 60));
}

/* "trễ 3 ngày 4 giờ" / "còn 5 giờ 10 phút" / "không rõ hạn" */
static void lateness(const words *w, int64_t due, int64_t now, dw_buf *b) {
  if (due == DW_TIME_NONE) {
    dw_buf_puts(b, w->no_due);
    return;
  }
  int64_t d = now - due;
  dw_buf_puts(b, d >= 0 ? w->late : w->left);
  if (d < 0) d = -d;
  int64_t days = d / DW_MS_PER_DAY, hours = d % DW_MS_PER_DAY / 3600000, mins = d % 3600000 / 60000;
  if (days) dw_buf_printf(b, " %lld %s", (long long)days, days == 1 ? w->day : w->days);
  if (hours || (days && !mins)) dw_buf_printf(b, " %lld %s", (long long)hours, hours == 1 ? w->hour : w->hours);
  if (!days && (mins || !hours)) dw_buf_printf(b, " %lld %s", (long long)mins, w->minutes);
}

/* The labels every alert of the message shares (firing and resolved). */
static void common_labels(const dw_notify_req *q, const char *out[DW_NL__COUNT]) {
  for (int l = 0; l < DW_NL__COUNT; l++) {
    out[l] = NULL;
    size_t n = q->nfiring + q->nresolved;
    if (!n) continue;
    const dw_alert *a0 = q->nfiring ? q->firing[0] : q->resolved[0];
    const char *v = dw_notify_label_value(a0, (dw_notify_label)l);
    bool same = true;
    for (size_t i = 0; i < q->nfiring && same; i++) same = strcmp(dw_notify_label_value(q->firing[i], (dw_notify_label)l), v) == 0;
    for (size_t i = 0; i < q->nresolved && same; i++)
      same = strcmp(dw_notify_label_value(q->resolved[i], (dw_notify_label)l), v) == 0;
    if (same) out[l] = v;
  }
}

/* "Xã Long Hiệp (30412), UBND-30412" from the labels shared */
static void unit_text(const dw_notify_config *cfg, const words *w, const char *labels[DW_NL__COUNT], dw_buf *b) {
  size_t before = b->len;
  if (labels[DW_NL_COMMUNE]) {
    const char *name = dw_notify_unit_name(cfg, labels[DW_NL_COMMUNE]);
    if (name)
      dw_buf_printf(b, "%s (%s)", name, labels[DW_NL_COMMUNE]);
    else
      dw_buf_printf(b, "%s %s", w->commune, labels[DW_NL_COMMUNE]);
  }
  if (labels[DW_NL_AGENCY]) {
    const char *name = dw_notify_unit_name(cfg, labels[DW_NL_AGENCY]);
    dw_buf_printf(b, "%s%s", b->len > before ? ", " : "", name ? name : labels[DW_NL_AGENCY]);
  }
  if (labels[DW_NL_PROCEDURE]) dw_buf_printf(b, "%s%s %s", b->len > before ? ", " : "", w->procedure, labels[DW_NL_PROCEDURE]);
  if (b->len == before) dw_buf_puts(b, w->province);
}

typedef struct rule_count {
  dw_rule rule;
  size_t n;
} rule_count;

static size_t count_rules(const dw_alert *const *a, size_t n, rule_count out[DW_RULE__COUNT]) {
  size_t k = 0;
  for (int r = 0; r < DW_RULE__COUNT; r++) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += a[i]->rule == (dw_rule)r;
    if (c) out[k++] = (rule_count){(dw_rule)r, c};
  }
  /* most first */
  for (size_t i = 1; i < k; i++)
    for (size_t j = i; j > 0 && out[j].n > out[j - 1].n; j--) {
      rule_count t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return k;
}

/* ---- the email's parts ---- */

typedef struct parts {
  dw_buf subject, text, html;
} parts;

static void alert_line(const dw_notify_config *cfg, const words *w, const char *lang, const dw_alert *a, int64_t now,
                       int off, size_t no, bool resolved, parts *p) {
  char due[32] = "-";
  if (a->due_at != DW_TIME_NONE) local_time(a->due_at, off, due, sizeof due);
  dw_buf late = DW_BUF_INIT, link = DW_BUF_INIT;
  if (!resolved) lateness(w, a->due_at, now, &late);
  dw_notify_dossier_link(cfg->external_url, a->dossier_id, &link);
  dw_buf_printf(&p->text, "  %zu. %s - %s - %s %s%s%s\r\n     %s\r\n", no, a->dossier_id,
                dw_notify_rule_title(a->rule, lang), w->due, due, late.len ? " - " : "", late.len ? late.data : "",
                link.data ? link.data : "");
  dw_buf_puts(&p->html, "<tr><td><a href=\"");
  html_esc(&p->html, link.data);
  dw_buf_puts(&p->html, "\">");
  html_esc(&p->html, a->dossier_id);
  dw_buf_puts(&p->html, "</a></td><td>");
  html_esc(&p->html, dw_notify_rule_title(a->rule, lang));
  dw_buf_printf(&p->html, "</td><td>%s</td><td>%s</td><td>", a->severity == DW_SEV_CRITICAL ? w->critical : w->warning,
                due);
  html_esc(&p->html, late.data);
  dw_buf_puts(&p->html, "</td></tr>\r\n");
  dw_buf_free(&late);
  dw_buf_free(&link);
}

static void table_head(const words *w, dw_buf *h) {
  dw_buf_printf(h, "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\r\n<tr><th>%s</th><th>%s</th><th>%s</th>"
                   "<th>%s</th><th></th></tr>\r\n",
                w->dossier, w->rule, w->severity, w->due);
}

static void render_alerts(const dw_notify_config *cfg, const dw_notify_req *q, int off, parts *p) {
  const char *lang = q->receiver->language;
  const words *w = W(lang);
  const char *common[DW_NL__COUNT];
  common_labels(q, common);
  /* the unit: what the group is grouped by; else the commune (or agency)
   * every alert of it shares */
  const char *unit_labels[DW_NL__COUNT] = {0};
  for (int l = 0; l < DW_NL__COUNT; l++) unit_labels[l] = q->labels[l];
  if (!unit_labels[DW_NL_COMMUNE] && !unit_labels[DW_NL_AGENCY] && !unit_labels[DW_NL_PROCEDURE]) {
    unit_labels[DW_NL_COMMUNE] = common[DW_NL_COMMUNE];
    if (!common[DW_NL_COMMUNE]) unit_labels[DW_NL_AGENCY] = common[DW_NL_AGENCY];
  }
  dw_buf unit = DW_BUF_INIT;
  unit_text(cfg, w, unit_labels, &unit);
  rule_count rc[DW_RULE__COUNT], rr[DW_RULE__COUNT];
  size_t nrc = count_rules(q->firing, q->nfiring, rc), nrr = count_rules(q->resolved, q->nresolved, rr);
  /* subject */
  dw_buf_puts(&p->subject, "[dossierwatch] ");
  if (q->route && q->route->escalation) dw_buf_puts(&p->subject, w->escalated);
  if (q->nfiring) {
    dw_buf_printf(&p->subject, "%zu %s - %s: ", q->nfiring, w->open_alerts, unit.data);
    for (size_t i = 0; i < nrc && i < 3; i++)
      dw_buf_printf(&p->subject, "%s%s %zu", i ? ", " : "", dw_notify_rule_title(rc[i].rule, lang), rc[i].n);
    if (nrc > 3) dw_buf_puts(&p->subject, ", ...");
    if (q->nresolved) dw_buf_printf(&p->subject, "; %zu %s", q->nresolved, w->resolved_alerts);
  } else {
    dw_buf_printf(&p->subject, "%zu %s - %s", q->nresolved, w->resolved_alerts, unit.data);
  }
  /* heading */
  char at[32];
  local_time(q->at, off, at, sizeof at);
  dw_buf_printf(&p->text, "%s: %s\r\n%s: %s (%s)\r\n\r\n", w->unit, unit.data, w->at, at, w->local_time);
  dw_buf_puts(&p->html, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body>\r\n<h2>");
  html_esc(&p->html, q->route && q->route->escalation ? w->escalated : "");
  html_esc(&p->html, unit.data);
  dw_buf_printf(&p->html, "</h2>\r\n<p>%s: %s (%s)</p>\r\n", w->at, at, w->local_time);
  /* counts by rule */
  dw_buf_printf(&p->text, "%zu %s\r\n", q->nfiring, w->open_alerts);
  dw_buf_printf(&p->html, "<p><b>%zu %s</b></p>\r\n<ul>\r\n", q->nfiring, w->open_alerts);
  for (size_t i = 0; i < nrc; i++) {
    dw_buf_printf(&p->text, "  %s (%s): %zu\r\n", dw_notify_rule_title(rc[i].rule, lang), dw_rule_name(rc[i].rule), rc[i].n);
    dw_buf_printf(&p->html, "<li>%s (%s): %zu</li>\r\n", dw_notify_rule_title(rc[i].rule, lang), dw_rule_name(rc[i].rule),
                  rc[i].n);
  }
  dw_buf_puts(&p->html, "</ul>\r\n");
  if (q->nresolved) {
    dw_buf_printf(&p->text, "%zu %s\r\n", q->nresolved, w->resolved_alerts);
    dw_buf_printf(&p->html, "<p><b>%zu %s</b></p>\r\n<ul>\r\n", q->nresolved, w->resolved_alerts);
    for (size_t i = 0; i < nrr; i++) {
      dw_buf_printf(&p->text, "  %s (%s): %zu\r\n", dw_notify_rule_title(rr[i].rule, lang), dw_rule_name(rr[i].rule),
                    rr[i].n);
      dw_buf_printf(&p->html, "<li>%s (%s): %zu</li>\r\n", dw_notify_rule_title(rr[i].rule, lang),
                    dw_rule_name(rr[i].rule), rr[i].n);
    }
    dw_buf_puts(&p->html, "</ul>\r\n");
  }
  /* the first N dossiers */
  size_t max = (size_t)cfg->dossiers_per_message;
  if (q->nfiring) {
    size_t shown = q->nfiring < max ? q->nfiring : max;
    dw_buf_printf(&p->text, "\r\n%zu %s:\r\n", shown, w->first_dossiers);
    dw_buf_printf(&p->html, "<p>%zu %s:</p>\r\n", shown, w->first_dossiers);
    table_head(w, &p->html);
    for (size_t i = 0; i < shown; i++) alert_line(cfg, w, lang, q->firing[i], q->at, off, i + 1, false, p);
    dw_buf_puts(&p->html, "</table>\r\n");
    if (q->nfiring > shown) {
      dw_buf_puts(&p->text, "  ");
      dw_buf_printf(&p->text, w->more, q->nfiring - shown);
      dw_buf_puts(&p->text, ".\r\n");
      dw_buf_puts(&p->html, "<p>");
      dw_buf_printf(&p->html, w->more, q->nfiring - shown);
      dw_buf_puts(&p->html, ".</p>\r\n");
    }
  }
  if (q->nresolved) {
    size_t shown = q->nresolved < max ? q->nresolved : max;
    dw_buf_printf(&p->text, "\r\n%s:\r\n", w->resolved_head);
    dw_buf_printf(&p->html, "<p>%s:</p>\r\n", w->resolved_head);
    table_head(w, &p->html);
    for (size_t i = 0; i < shown; i++) alert_line(cfg, w, lang, q->resolved[i], q->at, off, i + 1, true, p);
    dw_buf_puts(&p->html, "</table>\r\n");
    if (q->nresolved > shown) {
      dw_buf_puts(&p->text, "  ");
      dw_buf_printf(&p->text, w->more, q->nresolved - shown);
      dw_buf_puts(&p->text, ".\r\n");
    }
  }
  dw_buf_printf(&p->text, "\r\n-- \r\n%s (%s)\r\n", w->footer, q->group_key);
  dw_buf_printf(&p->html, "<hr><p><small>%s</small></p></body></html>\r\n", w->footer);
  dw_buf_free(&unit);
}

/* ---- digests ---- */

static void put_num(dw_buf *b, double v, char dec) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.2f", v);
  char *dot = strchr(tmp, '.');
  if (dot) *dot = dec;
  dw_buf_puts(b, tmp);
}

typedef struct rate_of {
  const char *name;
  double v, prov;
  bool pct;
} rate_of;

static size_t unit_rates(const words *w, const dw_notify_unit_rates *u, const dw_notify_unit_rates *prov,
                         bool has_prov, rate_of out[6]) {
  const double pv[6] = {has_prov ? prov->r.score_100 : NAN, has_prov ? prov->r.on_time_rate : NAN,
                        has_prov ? prov->r.intake_digitized_rate : NAN, has_prov ? prov->r.result_digitized_rate : NAN,
                        has_prov ? prov->r.online_rate : NAN, has_prov ? prov->r.rating_avg : NAN};
  const double uv[6] = {u->r.score_100, u->r.on_time_rate, u->r.intake_digitized_rate, u->r.result_digitized_rate,
                        u->r.online_rate, u->r.rating_avg};
  const char *names[6] = {w->score, w->on_time, w->intake, w->result, w->online, w->rating};
  size_t k = 0;
  for (int i = 0; i < 6; i++) out[k++] = (rate_of){names[i], uv[i], pv[i], i >= 1 && i <= 4};
  /* the score first, then the rates worst against the province first */
  for (size_t i = 2; i < k; i++)
    for (size_t j = i; j > 1; j--) {
      double a = isnan(out[j].v) || isnan(out[j].prov) ? 1e9 : (out[j].v - out[j].prov) / (out[j].pct ? 1 : 20.0);
      double b = isnan(out[j - 1].v) || isnan(out[j - 1].prov) ? 1e9
                                                                 : (out[j - 1].v - out[j - 1].prov) / (out[j - 1].pct ? 1 : 20.0);
      if (a < b) {
        rate_of t = out[j];
        out[j] = out[j - 1];
        out[j - 1] = t;
      }
    }
  return k;
}

static int cmp_unit_score(const void *x, const void *y) {
  const dw_notify_unit_rates *a = x, *b = y;
  double sa = a->r.score_100, sb = b->r.score_100;
  if (isnan(sa) != isnan(sb)) return isnan(sa) ? 1 : -1;
  if (!isnan(sa) && sa != sb) return sa < sb ? -1 : 1;
  return strcmp(a->unit, b->unit);
}

static void render_digest(const dw_notify_config *cfg, const dw_notify_req *q, const dw_notify_digest_data *d, int off,
                          parts *p) {
  const char *lang = q->receiver->language;
  const words *w = W(lang);
  int y, m, dd;
  dw_civil_from_days(q->local_day, &y, &m, &dd);
  char day[16];
  snprintf(day, sizeof day, "%02d/%02d/%04d", dd, m, y);
  /* the receiver's units from the digest's equality matchers */
  const char *labels[DW_NL__COUNT] = {0};
  for (size_t i = 0; i < q->digest->nmatchers; i++)
    if (q->digest->matchers[i].op == DW_NOP_EQ) labels[q->digest->matchers[i].label] = q->digest->matchers[i].value;
  labels[DW_NL_RULE] = labels[DW_NL_SEVERITY] = labels[DW_NL_DOSSIER_ID] = NULL;
  dw_buf unit = DW_BUF_INIT;
  unit_text(cfg, w, labels, &unit);
  dw_buf_printf(&p->subject, "[dossierwatch] %s %s - %s: %zu %s", w->digest_title, day, unit.data, d ? d->nopen : 0,
                w->open_alerts);
  dw_buf_printf(&p->text, "%s %s - %s\r\n\r\n", w->digest_title, day, unit.data);
  dw_buf_puts(&p->html, "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body>\r\n<h2>");
  dw_buf_printf(&p->html, "%s %s - ", w->digest_title, day);
  html_esc(&p->html, unit.data);
  dw_buf_puts(&p->html, "</h2>\r\n");
  dw_buf_free(&unit);
  size_t nopen = d ? d->nopen : 0;
  dw_buf_printf(&p->text, "%s: %zu\r\n", w->digest_open, nopen);
  dw_buf_printf(&p->html, "<p><b>%s: %zu</b></p>\r\n<ul>\r\n", w->digest_open, nopen);
  if (!nopen) {
    dw_buf_printf(&p->text, "  %s\r\n", w->digest_none);
  } else {
    rule_count rc[DW_RULE__COUNT];
    size_t nrc = count_rules(d->open, nopen, rc);
    for (size_t i = 0; i < nrc; i++) {
      dw_buf_printf(&p->text, "  %s (%s): %zu\r\n", dw_notify_rule_title(rc[i].rule, lang), dw_rule_name(rc[i].rule),
                    rc[i].n);
      dw_buf_printf(&p->html, "<li>%s (%s): %zu</li>\r\n", dw_notify_rule_title(rc[i].rule, lang),
                    dw_rule_name(rc[i].rule), rc[i].n);
    }
  }
  dw_buf_puts(&p->html, "</ul>\r\n");
  if (d && d->nunits) {
    qsort(d->units, d->nunits, sizeof *d->units, cmp_unit_score);
    dw_buf_puts(&p->text, "\r\n");
    dw_buf_printf(&p->text, w->digest_rates, d->month);
    dw_buf_puts(&p->text, ":\r\n");
    dw_buf_puts(&p->html, "<p>");
    dw_buf_printf(&p->html, w->digest_rates, d->month);
    dw_buf_puts(&p->html, ":</p>\r\n<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\r\n");
    size_t top = (size_t)q->digest->top;
    for (size_t i = 0; i < d->nunits && i < top; i++) {
      const dw_notify_unit_rates *u = &d->units[i];
      const char *name = dw_notify_unit_name(cfg, u->unit);
      dw_buf ul = DW_BUF_INIT;
      if (name)
        dw_buf_printf(&ul, "%s (%s)", name, u->unit);
      else
        dw_buf_puts(&ul, u->unit);
      dw_buf_printf(&p->text, "  %zu. %s:", i + 1, ul.data);
      dw_buf_puts(&p->html, "<tr><td>");
      html_esc(&p->html, ul.data);
      dw_buf_puts(&p->html, "</td><td>");
      dw_buf_free(&ul);
      rate_of r[6];
      size_t nr = unit_rates(w, u, &d->province, d->has_province, r);
      for (size_t k = 0; k < nr; k++) {
        dw_buf *bs[2] = {&p->text, &p->html};
        for (int b = 0; b < 2; b++) {
          dw_buf_printf(bs[b], "%s %s ", k ? (b ? "<br>" : ";") : "", r[k].name);
          if (isnan(r[k].v))
            dw_buf_puts(bs[b], w->no_data);
          else {
            put_num(bs[b], r[k].v, w->decimal);
            dw_buf_puts(bs[b], r[k].pct ? " %" : (k == 0 ? "/100" : ""));
          }
          if (!isnan(r[k].prov)) {
            dw_buf_printf(bs[b], " (%s ", w->province);
            put_num(bs[b], r[k].prov, w->decimal);
            dw_buf_puts(bs[b], r[k].pct ? " %)" : ")");
          }
        }
      }
      dw_buf_puts(&p->text, "\r\n");
      dw_buf_puts(&p->html, "</td></tr>\r\n");
    }
    dw_buf_puts(&p->html, "</table>\r\n");
  }
  /* the most urgent dossiers */
  size_t max = (size_t)cfg->dossiers_per_message, shown = nopen < max ? nopen : max;
  if (shown) {
    dw_buf_printf(&p->text, "\r\n%zu %s:\r\n", shown, w->first_dossiers);
    dw_buf_printf(&p->html, "<p>%zu %s:</p>\r\n", shown, w->first_dossiers);
    table_head(w, &p->html);
    for (size_t i = 0; i < shown; i++) alert_line(cfg, w, lang, d->open[i], q->at, off, i + 1, false, p);
    dw_buf_puts(&p->html, "</table>\r\n");
    if (nopen > shown) {
      dw_buf_puts(&p->text, "  ");
      dw_buf_printf(&p->text, w->more, nopen - shown);
      dw_buf_puts(&p->text, ".\r\n");
    }
  }
  dw_buf_printf(&p->text, "\r\n-- \r\n%s (%s)\r\n", w->footer, q->group_key);
  dw_buf_printf(&p->html, "<hr><p><small>%s</small></p></body></html>\r\n", w->footer);
}

/* ---- MIME ---- */

static void rfc5322_date(int64_t t, int off, dw_buf *b) {
  static const char *const wd[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t day = dw_local_day(t, off);
  int64_t rem = t + (int64_t)off * DW_MS_PER_MIN - day * DW_MS_PER_DAY;
  int y, m, d;
  dw_civil_from_days(day, &y, &m, &d);
  int ao = off < 0 ? -off : off;
  dw_buf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", wd[dw_weekday(day)], d, mo[m - 1], y,
                (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), off < 0 ? '-' : '+', ao / 60,
                ao % 60);
}

static void mime(const dw_notify_req *q, int off, const parts *p, dw_buf *out) {
  const dw_notify_integration *x = q->integ;
  char id[64];
  dw_buf seed = DW_BUF_INIT;
  dw_buf_printf(&seed, "%s|%s|%d|%lld", q->group_key, q->receiver->name, q->integ_index, (long long)q->at);
  snprintf(id, sizeof id, "%016llx", (unsigned long long)dw_hash_stable(seed.data ? seed.data : ""));
  dw_buf_free(&seed);
  dw_buf_printf(out, "From: %s\r\nTo: ", x->from);
  for (size_t i = 0; i < x->nto; i++) dw_buf_printf(out, "%s%s", i ? ", " : "", x->to[i]);
  dw_buf_puts(out, "\r\nSubject: ");
  dw_notify_rfc2047(p->subject.data ? p->subject.data : "", out);
  dw_buf_puts(out, "\r\nDate: ");
  rfc5322_date(q->at, off, out);
  dw_buf_printf(out, "\r\nMessage-ID: <%s.%lld@dossierwatch>\r\nMIME-Version: 1.0\r\n", id, (long long)q->at);
  bool ascii = true;
  for (const char *c = q->group_key; *c && ascii; c++) ascii = (unsigned char)*c >= 32 && (unsigned char)*c < 127;
  if (ascii && strlen(q->group_key) < 900) dw_buf_printf(out, "X-Dossierwatch-Group: %s\r\n", q->group_key);
  dw_buf_printf(out, "Content-Type: multipart/alternative; boundary=\"dw-%s\"\r\n\r\n", id);
  const dw_buf *bodies[2] = {&p->text, &p->html};
  const char *types[2] = {"text/plain", "text/html"};
  for (int i = 0; i < 2; i++) {
    dw_buf_printf(out, "--dw-%s\r\nContent-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n", id,
                  types[i]);
    dw_notify_base64(bodies[i]->data ? bodies[i]->data : "", bodies[i]->len, 76, out);
    dw_buf_puts(out, "\r\n");
  }
  dw_buf_printf(out, "--dw-%s--\r\n", id);
}

/* ---- webhook ---- */

static void labels_obj(dw_buf *b, const char *const labels[DW_NL__COUNT]) {
  dw_buf_putc(b, '{');
  int first = 1;
  for (int l = 0; l < DW_NL__COUNT; l++) {
    if (!labels[l]) continue;
    if (!first) dw_buf_putc(b, ',');
    first = 0;
    dw_buf_json_string(b, dw_notify_label_name((dw_notify_label)l));
    dw_buf_putc(b, ':');
    dw_buf_json_string(b, labels[l]);
  }
  dw_buf_putc(b, '}');
}

static void webhook_alert(const dw_notify_config *cfg, const dw_alert *a, bool resolved, int off, dw_buf *b) {
  const char *labels[DW_NL__COUNT];
  for (int l = 0; l < DW_NL__COUNT; l++) labels[l] = dw_notify_label_value(a, (dw_notify_label)l);
  char t[40];
  dw_buf_printf(b, "{\"status\":\"%s\",\"labels\":", resolved ? "resolved" : "firing");
  labels_obj(b, labels);
  dw_buf_puts(b, ",\"annotations\":{\"detail\":");
  dw_buf_json_string(b, a->detail);
  dw_buf_puts(b, ",\"due_at\":");
  if (a->due_at == DW_TIME_NONE)
    dw_buf_puts(b, "\"\"");
  else {
    dw_time_format(a->due_at, off, t, sizeof t);
    dw_buf_json_string(b, t);
  }
  dw_time_format(a->raised_at, off, t, sizeof t);
  dw_buf_printf(b, "},\"startsAt\":\"%s\",\"endsAt\":", t);
  if (resolved && a->cleared_at != DW_TIME_NONE) {
    dw_time_format(a->cleared_at, off, t, sizeof t);
    dw_buf_json_string(b, t);
  } else {
    dw_buf_puts(b, "\"0001-01-01T00:00:00Z\"");
  }
  dw_buf new_link = DW_BUF_INIT;
  dw_notify_dossier_link(cfg->external_url, a->dossier_id, &new_link);
  dw_buf_puts(b, ",\"generatorURL\":");
  dw_buf_json_string(b, new_link.data ? new_link.data : "");
  dw_buf_free(&new_link);
  dw_buf_printf(b, ",\"fingerprint\":\"%016llx\"}", (unsigned long long)dw_hash_stable(a->alert_id));
}

static void render_webhook(const dw_notify_config *cfg, const dw_notify_req *q, int off, dw_buf *b) {
  const char *common[DW_NL__COUNT];
  common_labels(q, common);
  size_t total = q->nfiring + q->nresolved, max = q->integ->max_alerts > 0 ? (size_t)q->integ->max_alerts : total;
  dw_buf_puts(b, "{\"version\":\"4\",\"groupKey\":");
  dw_buf_json_string(b, q->group_key);
  dw_buf_printf(b, ",\"truncatedAlerts\":%zu,\"status\":\"%s\",\"receiver\":", total > max ? total - max : 0,
                q->nfiring ? "firing" : "resolved");
  dw_buf_json_string(b, q->receiver->name);
  dw_buf_puts(b, ",\"groupLabels\":");
  labels_obj(b, q->labels);
  dw_buf_puts(b, ",\"commonLabels\":");
  labels_obj(b, common);
  /* annotations shared by every alert */
  dw_buf_puts(b, ",\"commonAnnotations\":{");
  if (total) {
    const dw_alert *a0 = q->nfiring ? q->firing[0] : q->resolved[0];
    bool same_detail = true, same_due = true;
    for (size_t i = 0; i < total; i++) {
      const dw_alert *a = i < q->nfiring ? q->firing[i] : q->resolved[i - q->nfiring];
      same_detail &= strcmp(a->detail, a0->detail) == 0;
      same_due &= a->due_at == a0->due_at;
    }
    if (same_detail) {
      dw_buf_puts(b, "\"detail\":");
      dw_buf_json_string(b, a0->detail);
    }
    if (same_due && a0->due_at != DW_TIME_NONE) {
      char t[40];
      dw_time_format(a0->due_at, off, t, sizeof t);
      dw_buf_printf(b, "%s\"due_at\":\"%s\"", same_detail ? "," : "", t);
    }
  }
  dw_buf_puts(b, "},\"externalURL\":");
  dw_buf_json_string(b, cfg->external_url ? cfg->external_url : "");
  dw_buf_puts(b, ",\"alerts\":[");
  for (size_t i = 0; i < total && i < max; i++) {
    if (i) dw_buf_putc(b, ',');
    bool res = i >= q->nfiring;
    webhook_alert(cfg, res ? q->resolved[i - q->nfiring] : q->firing[i], res, off, b);
  }
  dw_buf_puts(b, "]}");
}

void dw_notify_message_free(dw_notify_message *m) {
  free(m->subject);
  free(m->text);
  free(m->body);
  memset(m, 0, sizeof *m);
}

int dw_notify_render(const dw_notify_config *cfg, const dw_notify_req *q, const dw_notify_digest_data *d, int off,
                     dw_notify_message *out, char *err, size_t n) {
  memset(out, 0, sizeof *out);
  parts p = {DW_BUF_INIT, DW_BUF_INIT, DW_BUF_INIT};
  dw_buf body = DW_BUF_INIT;
  if (q->kind == DW_NREQ_DIGEST)
    render_digest(cfg, q, d, off, &p);
  else
    render_alerts(cfg, q, off, &p);
  if (q->integ->kind == DW_NK_EMAIL)
    mime(q, off, &p, &body);
  else
    render_webhook(cfg, q, off, &body);
  bool oom = p.subject.oom || p.text.oom || p.html.oom || body.oom;
  out->subject = dw_buf_take(&p.subject);
  out->text = dw_buf_take(&p.text);
  out->body = dw_buf_take(&body);
  dw_buf_free(&p.html);
  if (oom || !out->subject || !out->text || !out->body) {
    dw_notify_message_free(out);
    snprintf(err, n, "out of memory");
    return -1;
  }
  return 0;
}
