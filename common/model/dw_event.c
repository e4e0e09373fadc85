/* dw_event: names, parsing and contract validation of the event struct. */
#include "dw_event.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[DW_EV__COUNT] = {
  "RECEIVED", "DIGITIZED", "DOC_REUSED", "PAPER_REQUESTED", "TRANSFERRED",
  "SUPPLEMENT_REQUESTED", "SUPPLEMENT_RECEIVED", "APOLOGY_ISSUED",
  "RESULT_ISSUED", "RESULT_DIGITIZED", "RETURNED", "REJECTED", "WITHDRAWN",
  "PAYMENT", "RATED",
};

static const char *const channel_names[DW_CH__COUNT] = {
  "IN_PERSON", "POSTAL", "ONLINE_PARTIAL", "ONLINE_FULL",
};

void dw_event_init(dw_event *ev) {
  memset(ev, 0, sizeof *ev);
  ev->type = DW_EV_RECEIVED;
  ev->occurred_at = DW_TIME_NONE;
  ev->channel = DW_CH_NONE;
  ev->due_at = DW_TIME_NONE;
  ev->processing_days = -1;
  ev->new_due_at = DW_TIME_NONE;
}

const char *dw_event_type_name(dw_event_type t) {
  return (t >= 0 && t < DW_EV__COUNT) ? type_names[t] : "?";
}

const char *dw_channel_name(dw_channel c) {
  return (c >= 0 && c < DW_CH__COUNT) ? channel_names[c] : "?";
}

int dw_event_type_parse(const char *name, dw_event_type *out) {
  for (int i = 0; i < DW_EV__COUNT; i++)
    if (strcmp(name, type_names[i]) == 0) {
      *out = (dw_event_type)i;
      return 0;
    }
  return -1;
}

int dw_channel_parse(const char *name, dw_channel *out) {
  for (int i = 0; i < DW_CH__COUNT; i++)
    if (strcmp(name, channel_names[i]) == 0) {
      *out = (dw_channel)i;
      return 0;
    }
  return -1;
}

static int missing(char *errstr, size_t n, const char *field) {
  snprintf(errstr, n, "field '%s': required", field);
  return -1;
}

int dw_event_validate(const dw_event *ev, char *errstr, size_t n) {
  if (!ev->event_id[0]) return missing(errstr, n, "event_id");
  if (!ev->dossier_id[0]) return missing(errstr, n, "dossier_id");
  if (ev->type < 0 || ev->type >= DW_EV__COUNT) {
    snprintf(errstr, n, "field 'type': unknown event type");
    return -1;
  }
  if (ev->occurred_at == DW_TIME_NONE) return missing(errstr, n, "occurred_at");
  if (!ev->commune[0]) return missing(errstr, n, "commune");
  if (!ev->agency[0]) return missing(errstr, n, "agency");
  if (!ev->procedure[0]) return missing(errstr, n, "procedure");
  switch (ev->type) {
  case DW_EV_RECEIVED:
    if (ev->channel < 0 || ev->channel >= DW_CH__COUNT) return missing(errstr, n, "channel");
    if (ev->due_at == DW_TIME_NONE && ev->processing_days < 0) {
      snprintf(errstr, n, "field 'due_at': RECEIVED needs 'due_at' or 'processing_days'");
      return -1;
    }
    break;
  case DW_EV_DOC_REUSED:
  case DW_EV_PAPER_REQUESTED:
    if (!ev->document[0]) return missing(errstr, n, "document");
    break;
  case DW_EV_TRANSFERRED:
    if (!ev->to_agency[0]) return missing(errstr, n, "to_agency");
    break;
  case DW_EV_SUPPLEMENT_REQUESTED:
  case DW_EV_REJECTED:
    if (!ev->reason[0]) return missing(errstr, n, "reason");
    break;
  case DW_EV_APOLOGY_ISSUED:
    if (ev->new_due_at == DW_TIME_NONE) return missing(errstr, n, "new_due_at");
    break;
  case DW_EV_RATED:
    if (ev->score < 1 || ev->score > 5) {
      snprintf(errstr, n, "field 'score': %d is outside 1..5", (int)ev->score);
      return -1;
    }
    break;
  default:
    break;
  }
  return 0;
}

/* ---- packed events ----
 * Layout: the fixed fields (packed_head, memcpy'd), then the strings
 * dossier_id, event_id, commune, agency, procedure, document, to_agency,
 * reason, each NUL-terminated (dossier_id first: the prefetch reads it). */
typedef struct packed_head {
  int64_t occurred_at, due_at, new_due_at;
  int32_t processing_days, score, type, channel;
  uint8_t in_warehouse, digitized, online, pad;
} packed_head;

#define PACKED_STRINGS 8
static void packed_strings(const dw_event *ev, const char *out[PACKED_STRINGS]) {
  out[0] = ev->dossier_id, out[1] = ev->event_id, out[2] = ev->commune, out[3] = ev->agency;
  out[4] = ev->procedure, out[5] = ev->document, out[6] = ev->to_agency, out[7] = ev->reason;
}

int dw_event_pack(dw_buf *buf, const dw_event *ev) {
  packed_head h = {ev->occurred_at, ev->due_at, ev->new_due_at, ev->processing_days, ev->score, (int32_t)ev->type,
                   (int32_t)ev->channel, ev->in_warehouse, ev->digitized, ev->online, 0};
  dw_buf_put(buf, &h, sizeof h);
  const char *strs[PACKED_STRINGS];
  packed_strings(ev, strs);
  for (int i = 0; i < PACKED_STRINGS; i++) dw_buf_put(buf, strs[i], strlen(strs[i]) + 1);
  return buf->oom ? -1 : 0;
}

static void copy_str(char *dst, size_t cap, const char **p) {
  size_t n = strlen(*p);
  if (n >= cap) n = cap - 1; /* cannot happen: it was one of these buffers */
  memcpy(dst, *p, n);
  dst[n] = '\0';
  *p += strlen(*p) + 1;
}

void dw_event_unpack(const char *packed, dw_event *ev) {
  packed_head h;
  memcpy(&h, packed, sizeof h);
  dw_event_init(ev);
  ev->occurred_at = h.occurred_at, ev->due_at = h.due_at, ev->new_due_at = h.new_due_at;
  ev->processing_days = h.processing_days, ev->score = h.score;
  ev->type = (dw_event_type)h.type, ev->channel = (dw_channel)h.channel;
  ev->in_warehouse = h.in_warehouse, ev->digitized = h.digitized, ev->online = h.online;
  const char *p = packed + sizeof h;
  copy_str(ev->dossier_id, sizeof ev->dossier_id, &p);
  copy_str(ev->event_id, sizeof ev->event_id, &p);
  copy_str(ev->commune, sizeof ev->commune, &p);
  copy_str(ev->agency, sizeof ev->agency, &p);
  copy_str(ev->procedure, sizeof ev->procedure, &p);
  copy_str(ev->document, sizeof ev->document, &p);
  copy_str(ev->to_agency, sizeof ev->to_agency, &p);
  copy_str(ev->reason, sizeof ev->reason, &p);
}

const char *dw_event_packed_dossier(const char *packed) { return packed + sizeof(packed_head); }
