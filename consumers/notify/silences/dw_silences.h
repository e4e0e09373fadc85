/* dw_silences: the silences API. One small interface for the three places
 * that deal with silences: the `dossierwatch silence` command, notify
 * (which loads those in force every round and leaves matching alerts out of
 * notifications) and serve's GET/POST/DELETE /api/v1/silences (which
 * converts them from and to JSON with the functions below).
 *
 * A silence (Alertmanager's): matchers on alert labels (rule, severity,
 * dossier_id, commune, agency, procedure; =, !=, =~, !~), from starts_at
 * until ends_at, who (created_by) and why (comment). Stored in PostgreSQL
 * (migration 009: silences, silence_matchers; v_alerts_silenced tells which
 * alerts a silence in force covers now). Expiring one sets its ends_at to
 * now; nothing is deleted (the history of who silenced what stays).
 *
 * Serve wiring (a few lines each):
 *   GET    /api/v1/silences        dw_silence_list(pg, false, ...) then
 *                                  dw_silence_to_json for each, in a JSON array
 *   GET    /api/v1/silences/{id}   dw_silence_get + dw_silence_to_json
 *   POST   /api/v1/silences        dw_silence_from_json(body) ->
 *                                  dw_silence_within_scope(token's matchers) ->
 *                                  dw_silence_create -> {"silenceID": id}
 *   DELETE /api/v1/silences/{id}   dw_silence_get, scope check, dw_silence_expire */
#ifndef DW_SILENCES_H
#define DW_SILENCES_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dw_buf.h"
#include "dw_notify_config.h"
#include "dw_notify_state.h"

#define DW_SILENCE_MAX_MATCHERS 16

typedef struct dw_silence {
  dw_notify_silence s; /* id, matchers (owned), starts_at, ends_at */
  dw_notify_matcher m[DW_SILENCE_MAX_MATCHERS];
  char created_by[128];
  char comment[1024];
  int64_t created_at, updated_at;
} dw_silence;

/* A silence with no matchers yet; frees with dw_silence_free. */
void dw_silence_init(dw_silence *s);
void dw_silence_free(dw_silence *s);
void dw_silences_free(dw_silence *v, size_t n);

/* Adds a matcher in Alertmanager's syntax ("agency=UBND-30412"). 0 or -1. */
int dw_silence_add_matcher(dw_silence *s, const char *text, char *errstr, size_t errstr_size);

/* "active", "pending" (starts later) or "expired", at now. */
const char *dw_silence_state(const dw_silence *s, int64_t now);

/* Checks and stores a new silence (at least one matcher, ends after starts
 * and after now, created_by and comment given); fills s->s.id. 0 stored,
 * 1 not a valid silence (errstr names the field: a 400 for serve), -1 a
 * database error. */
int dw_silence_create(PGconn *pg, dw_silence *s, int64_t now, char *errstr, size_t errstr_size);
/* Silences, newest first; expired ones too with all. *out freed with
 * dw_silences_free. 0 or -1. */
int dw_silence_list(PGconn *pg, bool all, int64_t now, dw_silence **out, size_t *n, char *errstr, size_t errstr_size);
/* Silences not ended at now (in force or pending): what notify loads. */
int dw_silence_load_current(PGconn *pg, int64_t now, dw_silence **out, size_t *n, char *errstr, size_t errstr_size);
/* One silence: 0 found, 1 no such id, -1 error. */
int dw_silence_get(PGconn *pg, const char *id, dw_silence *out, char *errstr, size_t errstr_size);
/* Ends it now: 0 done, 1 no such id or already expired, -1 error. */
int dw_silence_expire(PGconn *pg, const char *id, int64_t now, char *errstr, size_t errstr_size);

/* Alertmanager API v2's silence object: {"id","matchers":[{"name","value",
 * "isRegex","isEqual"}],"startsAt","endsAt","createdBy","comment",
 * "updatedAt","status":{"state"}}. */
void dw_silence_to_json(const dw_silence *s, int64_t now, int utc_offset_min, dw_buf *out);
/* The body of a POST: Alertmanager's shape (matchers as objects) or ours
 * (matchers as strings); startsAt defaults to now; endsAt, or "duration"
 * ("8h"). 0, or -1 naming the field and the reason. */
int dw_silence_from_json(const char *body, size_t len, int64_t now, dw_silence *out, char *errstr,
                         size_t errstr_size);

/* May a holder of scope (a token's matchers, e.g. agency="UBND-30412")
 * create or expire s? Yes when, for each scope matcher, s has an equality
 * matcher on the same label whose value the scope matcher accepts: the
 * silence can then only cover alerts inside the scope. */
bool dw_silence_within_scope(const dw_silence *s, const dw_notify_matcher *scope, size_t nscope);

#endif
