/* dw_notify_msg: the messages notify sends, rendered from a request of the
 * state machine (dw_notify_req) and, for digests, the compliance rates the
 * caller read. Pure (the instant is the request's).
 *
 * Email: Vietnamese by default (receiver language: vi or en), UTF-8, an RFC
 * 2047 subject, multipart/alternative with a plain-text and an HTML part
 * (base64), CRLF line ends, ready for SMTP. It names the unit, counts the
 * alerts by rule, lists the first N dossiers (global.dossiers_per_message)
 * with their due time and how late they are, each linked to the dashboard
 * (EXTERNAL_URL/#dossier=ID, the link `serve`'s page understands).
 * Webhook: Alertmanager's webhook body, version 4. */
#ifndef DW_NOTIFY_MSG_H
#define DW_NOTIFY_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "dw_agg_row.h"
#include "dw_buf.h"
#include "dw_notify_config.h"
#include "dw_notify_state.h"

/* One unit's rates for the current month (digests). */
typedef struct dw_notify_unit_rates {
  char unit[96];
  dw_agg_rates r;
  int64_t received;
} dw_notify_unit_rates;

typedef struct dw_notify_digest_data {
  char month[16]; /* "2026-03" */
  dw_notify_unit_rates province;
  bool has_province;
  dw_notify_unit_rates *units; /* the digest's units; the renderer orders them worst first */
  size_t nunits;
  const dw_alert *const *open; /* its units' open alerts */
  size_t nopen;
} dw_notify_digest_data;

typedef struct dw_notify_message {
  char *subject; /* UTF-8 */
  char *text;    /* the plain-text part (what the log shows people) */
  char *body;    /* on the wire: the whole MIME message, or the JSON body */
} dw_notify_message;

void dw_notify_message_free(dw_notify_message *m);

/* Renders q (digest: with d). utc_offset_min: local time in messages.
 * 0, or -1 (out of memory) with errstr. */
int dw_notify_render(const dw_notify_config *cfg, const dw_notify_req *q, const dw_notify_digest_data *d,
                     int utc_offset_min, dw_notify_message *out, char *errstr, size_t errstr_size);

/* The pieces, for tests and for `serve`: */
/* RFC 2047 encoded-words (B, UTF-8) of s, folded: "=?UTF-8?B?...?=". */
void dw_notify_rfc2047(const char *s, dw_buf *out);
void dw_notify_base64(const void *p, size_t n, size_t line, dw_buf *out);
/* The dashboard link of a dossier: EXTERNAL_URL/#dossier=ID (URL-encoded). */
void dw_notify_dossier_link(const char *external_url, const char *dossier_id, dw_buf *out);
/* The rule's name for people in a language ("vi", "en"). */
const char *dw_notify_rule_title(dw_rule r, const char *lang);

#endif
