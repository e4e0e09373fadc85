/* dw_notify_metrics: rendering notify's counters (see dw_notify_metrics.h). */
#include "dw_notify_metrics.h"

#include <string.h>

void dw_notify_metrics_foreach(const dw_notify_metrics *m,
                               void (*fn)(const char *, const char *, const char *, const char *, const char *, double,
                                          void *),
                               void *o) {
  static const char *const kinds[2] = {"email", "webhook"};
  for (int k = 0; k < 2; k++)
    fn("dossierwatch_notify_sent_total", "counter", "Notifications delivered.", "integration", kinds[k],
       (double)m->sent[k], o);
  for (int k = 0; k < 2; k++)
    fn("dossierwatch_notify_failed_total", "counter", "Delivery attempts that failed (each is retried).",
       "integration", kinds[k], (double)m->failed[k], o);
  for (int k = 0; k < 2; k++)
    fn("dossierwatch_notify_retried_total", "counter", "Delivery attempts after a failure.", "integration", kinds[k],
       (double)m->retried[k], o);
  fn("dossierwatch_notify_suppressed_total", "counter",
     "Alerts left out of notifications (silence, inhibition) and flushes deferred (mute).", "reason", "silence",
     (double)m->suppressed_silence, o);
  fn("dossierwatch_notify_suppressed_total", "counter", NULL, "reason", "inhibition",
     (double)m->suppressed_inhibition, o);
  fn("dossierwatch_notify_suppressed_total", "counter", NULL, "reason", "mute", (double)m->suppressed_mute, o);
  fn("dossierwatch_notify_digests_total", "counter", "Digest messages queued.", NULL, NULL, (double)m->digests, o);
  fn("dossierwatch_notify_escalated_total", "counter", "Alerts that joined an escalation.", NULL, NULL,
     (double)m->escalated, o);
  fn("dossierwatch_notify_alerts_read_total", "counter", "Alert rows read from the outbox.", NULL, NULL,
     (double)m->alerts_read, o);
  fn("dossierwatch_notify_reloads_total", "counter", "Configuration reloads (SIGHUP).", "result", "ok",
     (double)m->reloads, o);
  fn("dossierwatch_notify_reloads_total", "counter", NULL, "result", "failed", (double)m->reload_failures, o);
  fn("dossierwatch_notify_tracked_alerts", "gauge", "Alerts notify keeps (open, or owed a resolved notice).", NULL,
     NULL, (double)m->tracked_alerts, o);
  fn("dossierwatch_notify_groups", "gauge", "Aggregation groups.", NULL, NULL, (double)m->groups, o);
  fn("dossierwatch_notify_pending_messages", "gauge", "Messages queued or being retried.", NULL, NULL,
     (double)m->pending_messages, o);
  fn("dossierwatch_notify_active", "gauge", "1 when this process holds its group's lock.", NULL, NULL,
     (double)m->active, o);
}

typedef struct render_ctx {
  dw_buf *out;
  const char *last;
} render_ctx;

static void render_one(const char *name, const char *type, const char *help, const char *label, const char *value,
                       double v, void *o) {
  render_ctx *c = o;
  if (!c->last || strcmp(c->last, name) != 0) {
    if (help) dw_buf_printf(c->out, "# HELP %s %s\n", name, help);
    dw_buf_printf(c->out, "# TYPE %s %s\n", name, type);
    c->last = name;
  }
  if (label)
    dw_buf_printf(c->out, "%s{%s=\"%s\"} %.0f\n", name, label, value, v);
  else
    dw_buf_printf(c->out, "%s %.0f\n", name, v);
}

void dw_notify_metrics_render(const dw_notify_metrics *m, dw_buf *out) {
  render_ctx c = {out, NULL};
  dw_notify_metrics_foreach(m, render_one, &c);
}
