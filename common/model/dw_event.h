/* dw_event: the in-memory form of one dossier lifecycle event (CONTRACT §2).
 * Every codec (JSON Lines, Avro) converts to and from this struct, and the
 * engine consumes only this struct. Strings are bounded, NUL-terminated
 * buffers so that an event is one flat allocation; a codec rejects a value
 * that does not fit rather than truncating it. */
#ifndef DW_EVENT_H
#define DW_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_time.h" /* DW_TIME_NONE */


#define DW_ID_MAX 96       /* event_id, dossier_id, agency, to_agency */
#define DW_CODE_MAX 32     /* commune, procedure */
#define DW_TEXT_MAX 512    /* document, reason */

typedef enum dw_event_type {
  DW_EV_RECEIVED = 0,
  DW_EV_DIGITIZED,
  DW_EV_DOC_REUSED,
  DW_EV_PAPER_REQUESTED,
  DW_EV_TRANSFERRED,
  DW_EV_SUPPLEMENT_REQUESTED,
  DW_EV_SUPPLEMENT_RECEIVED,
  DW_EV_APOLOGY_ISSUED,
  DW_EV_RESULT_ISSUED,
  DW_EV_RESULT_DIGITIZED,
  DW_EV_RETURNED,
  DW_EV_REJECTED,
  DW_EV_WITHDRAWN,
  DW_EV_PAYMENT,
  DW_EV_RATED,
  DW_EV__COUNT
} dw_event_type;

typedef enum dw_channel {
  DW_CH_NONE = -1, /* not a RECEIVED event */
  DW_CH_IN_PERSON = 0,
  DW_CH_POSTAL,
  DW_CH_ONLINE_PARTIAL,
  DW_CH_ONLINE_FULL,
  DW_CH__COUNT
} dw_channel;

typedef struct dw_event {
  /* common fields */
  char event_id[DW_ID_MAX];
  char dossier_id[DW_ID_MAX];
  dw_event_type type;
  int64_t occurred_at; /* ms since the Unix epoch, UTC */
  char commune[DW_CODE_MAX];
  char agency[DW_ID_MAX];
  char procedure[DW_CODE_MAX];

  /* type-specific fields; meaningful only for the types named */
  dw_channel channel;       /* RECEIVED */
  int64_t due_at;           /* RECEIVED, SUPPLEMENT_RECEIVED (optional): DW_TIME_NONE if absent */
  int32_t processing_days;  /* RECEIVED (optional): -1 if absent */
  char document[DW_TEXT_MAX]; /* DOC_REUSED, PAPER_REQUESTED */
  bool in_warehouse;        /* PAPER_REQUESTED */
  char to_agency[DW_ID_MAX]; /* TRANSFERRED */
  char reason[DW_TEXT_MAX]; /* SUPPLEMENT_REQUESTED, REJECTED */
  int64_t new_due_at;       /* APOLOGY_ISSUED */
  bool digitized;           /* RESULT_ISSUED */
  bool online;              /* PAYMENT */
  int32_t score;            /* RATED, 1..5 */
} dw_event;

/* Resets every field to "absent" (empty strings, DW_TIME_NONE, -1, false). */
void dw_event_init(dw_event *ev);

/* Contract names, e.g. "RECEIVED", "ONLINE_FULL". */
const char *dw_event_type_name(dw_event_type t);
const char *dw_channel_name(dw_channel c);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int dw_event_type_parse(const char *name, dw_event_type *out);
int dw_channel_parse(const char *name, dw_channel *out);

/* A compact copy of an event for holding many in memory (a dw_event is
 * ~1.5 KB, mostly empty buffers; packed, an event takes its strings' bytes
 * plus ~50): dw_event_pack appends it to buf (a dw_buf; 0, or -1 when out
 * of memory) and dw_event_unpack reads one back from where it starts. The
 * packed dossier_id is at dw_event_packed_dossier (NUL-terminated). */
#include "dw_buf.h"
int dw_event_pack(dw_buf *buf, const dw_event *ev);
void dw_event_unpack(const char *packed, dw_event *ev);
const char *dw_event_packed_dossier(const char *packed);

/* Checks the contract's required fields and value ranges for ev->type.
 * Returns 0, or -1 with a reason naming the field in errstr. */
int dw_event_validate(const dw_event *ev, char *errstr, size_t errstr_size);

#endif
