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
