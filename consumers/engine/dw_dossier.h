/* dw_dossier: the state the engine keeps for one dossier: order-independent
 * facts (earliest/latest instants, sorted pause and apology lists), the
 * 64-bit hashes of the event ids seen (duplicate detection) and the last
 * alert emitted per rule (so the engine can diff what it told the sink
 * against what the rules derive). Kept small: strings are interned by the
 * engine into uint32 ids, and all variable-length parts share one buffer.
 * Also the versioned binary blob used for persistence. */
#ifndef DW_DOSSIER_H
#define DW_DOSSIER_H

#include <stddef.h>
#include <stdint.h>

#include "dw_alert.h"
#include "dw_buf.h"
#include "dw_event.h"
#include "dw_hash.h"
#include "dw_slab.h"

#define DW_PAUSE_REQ (INT64_MIN + 1) /* dw_pause_ev.due of a SUPPLEMENT_REQUESTED */
#define DW_BLOB_VERSION 1

typedef struct dw_pause_ev {
  int64_t at;
  int64_t due; /* DW_PAUSE_REQ: request; else a receipt with its new due_at or DW_TIME_NONE */
} dw_pause_ev;

typedef struct dw_apology {
  int64_t at, promised;
} dw_apology;

/* The last alert emitted for one rule (open or already cleared). */
typedef struct dw_alert_rec {
  int64_t raised_at, due_at;
  uint32_t agency; /* interned; the agency the alert was raised with (kept for UPDATED/CLEARED and the gauge) */
  uint8_t rule, sev, open, pad;
} dw_alert_rec;

enum {
  DW_DF_ISSUED_DIGITIZED = 1, /* the earliest RESULT_ISSUED had digitized=true */
  DW_DF_END_REJECTED = 2,     /* the earliest REJECTED/WITHDRAWN is a REJECTED */
  DW_DF_DIRTY = 4,            /* changed since the last drain */
  DW_DF_FROM_RECEIVED = 8,    /* commune/procedure come from RECEIVED */
  DW_DF_VAR_INLINE = 16,      /* the var buffer (<= 8 bytes) lives in `v` itself, not in a malloc'd block */
};

typedef struct dw_dossier {
  int64_t received_at;  /* earliest RECEIVED */
  int64_t base_due;     /* its due_at, or processing_days working days after it */
  int64_t digitized_at; /* earliest DIGITIZED */
  int64_t reuse_at;     /* earliest DOC_REUSED */
  int64_t issued_at;    /* earliest RESULT_ISSUED */
  int64_t resdig_at;    /* earliest RESULT_DIGITIZED */
  int64_t returned_at;  /* earliest RETURNED */
  int64_t end_at;       /* earliest REJECTED or WITHDRAWN */
  int64_t paper_at;     /* earliest PAPER_REQUESTED with in_warehouse */
  int64_t last_at;      /* latest occurred_at of any event (sets the current agency) */
  /* The var buffer: [dw_pause_ev × n_pause][dw_apology × n_apol][dw_alert_rec × n_rec][uint64 seen × n_seen]
   * (seen last: every event adds one, and its sorted insert then moves only
   * the seen after it),
   * malloc'd (v.ptr), or while it fits in 8 bytes (one event seen, the
   * common open dossier) stored in place (v.inl, DW_DF_VAR_INLINE): a
   * separate block of 8 bytes would cost 32. Read it through dw_dossier_var.
   * (v sits here so that no padding precedes id) */
  union {
    uint8_t *ptr;
    uint64_t inl;
  } v;
  uint32_t commune, procedure, agency; /* interned; agency = current */
  uint32_t recv_agency, dig_agency, reuse_agency, issued_agency, resdig_agency, end_agency;
  uint32_t hash, heap_idx; /* heap_idx: slot in the engine's timer heap (its deadline lives there) */
  uint16_t n_seen;
  uint8_t n_pause, n_apol, n_rec;
  int8_t channel;
  uint8_t flags, id_len;
  char id[];
} dw_dossier;

/* Interned ids of an event's strings. */
typedef struct dw_dossier_ids {
  uint32_t commune, agency, procedure, to_agency;
} dw_dossier_ids;

/* Blocks come from slab (NULL: the C heap, for a few dossiers in tests);
 * free with the same slab. */
dw_dossier *dw_dossier_new(dw_slab *slab, const char *id, uint32_t hash);
void dw_dossier_free(dw_slab *slab, dw_dossier *d);
/* Bytes held (the block and the var buffer's capacity, as the slab sizes them). */
size_t dw_dossier_bytes(const dw_dossier *d);
/* The capacity of a var buffer holding n bytes (it grows in steps). */
size_t dw_dossier_var_cap(size_t n);
/* The part of it that can change after creation (the var buffer). */
static inline size_t dw_dossier_var_bytes(const dw_dossier *d) {
  if ((d->flags & DW_DF_VAR_INLINE) || !d->v.ptr) return 0;
  return dw_dossier_var_cap(8 * (size_t)d->n_seen + sizeof(dw_pause_ev) * d->n_pause +
                            sizeof(dw_apology) * d->n_apol + sizeof(dw_alert_rec) * d->n_rec);
}

static inline uint8_t *dw_dossier_var(const dw_dossier *d) {
  return (d->flags & DW_DF_VAR_INLINE) ? (uint8_t *)&d->v.inl : d->v.ptr;
}
static inline const dw_pause_ev *dw_dossier_pauses(const dw_dossier *d) {
  return (const dw_pause_ev *)dw_dossier_var(d);
}
static inline const dw_apology *dw_dossier_apologies(const dw_dossier *d) {
  return (const dw_apology *)(dw_dossier_var(d) + sizeof(dw_pause_ev) * d->n_pause);
}
static inline dw_alert_rec *dw_dossier_recs(dw_dossier *d) {
  return (dw_alert_rec *)(dw_dossier_var(d) + sizeof(dw_pause_ev) * d->n_pause + sizeof(dw_apology) * d->n_apol);
}
static inline const uint64_t *dw_dossier_seen(const dw_dossier *d) {
  return (const uint64_t *)(dw_dossier_var(d) + sizeof(dw_pause_ev) * d->n_pause + sizeof(dw_apology) * d->n_apol +
                            sizeof(dw_alert_rec) * d->n_rec);
}

int dw_dossier_has_seen(const dw_dossier *d, uint64_t h);

/* Merges one (non-duplicate, validated) event into the facts. base_due is the
 * RECEIVED's due time (ignored for other types); names[id] is the interned
 * string (for deterministic tie-breaks). Returns 0, or -1 when the dossier
 * cannot hold more (memory, or 65535 events / 255 pause events / 255
 * apologies). */
int dw_dossier_apply(dw_slab *slab, dw_dossier *d, const dw_event *ev, uint64_t h, const dw_dossier_ids *ids,
                     int64_t base_due, const char *const *names);

/* The emitted-alert record for a rule, or NULL. */
dw_alert_rec *dw_dossier_rec(dw_dossier *d, int rule);
/* Adds a record (rule not present). Returns the stored record or NULL. */
dw_alert_rec *dw_dossier_rec_add(dw_slab *slab, dw_dossier *d, const dw_alert_rec *r);

/* Blob: the dossier into out (replacing what it held). Returns 0 or -1. */
int dw_dossier_serialize(const dw_dossier *d, const char *const *names, dw_buf *out);
/* Parses a blob; intern(name) gives ids. NULL with a reason on error. */
dw_dossier *dw_dossier_deserialize(dw_slab *slab, const void *blob, size_t len,
                                   uint32_t (*intern)(void *opaque, const char *s), void *opaque, char *errstr,
                                   size_t errstr_size);

#endif
