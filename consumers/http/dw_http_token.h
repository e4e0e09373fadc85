/* dw_http_token: API tokens and their scopes (`dossierwatch token`, serve's
 * bearer authentication).
 *
 * A token is "dwt_" + 12 hex digits (its id, not secret: it names the
 * token's row) + "_" + 64 hex digits (32 random bytes from the kernel's
 * getrandom: the secret). It is printed once by `token add`; PostgreSQL
 * keeps the id, the SHA-256 of the secret and the scope (table
 * api_tokens), never the token. serve finds the row by id and compares the
 * SHA-256 of the presented secret with the stored one in constant time
 * (Nettle's memeql_sec), so neither the stored hash nor the timing of a refusal
 * tells anything about a valid secret.
 *
 * A scope is what the token's holder may read:
 *   province            everything
 *   agency:A[,B...]     alerts, dossiers and aggregate rows of those agencies
 *   commune:C[,D...]    alerts, dossiers and aggregate rows of those communes
 *   ingest              nothing to read; may POST to the dvcqg ingest route
 * It is carried to PostgreSQL per request as two transaction-local
 * settings (dw.scope_kind, dw.scope_units) that the row-level security
 * policies of migration 008 read. */
#ifndef DW_HTTP_TOKEN_H
#define DW_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DW_TOKEN_ID_LEN 12
#define DW_TOKEN_LEN (4 + DW_TOKEN_ID_LEN + 1 + 64) /* without the NUL */
#define DW_SCOPE_MAX_UNITS 64

typedef enum dw_scope_kind { DW_SCOPE_NONE = 0, DW_SCOPE_PROVINCE, DW_SCOPE_AGENCY, DW_SCOPE_COMMUNE, DW_SCOPE_INGEST } dw_scope_kind;

typedef struct dw_scope {
  dw_scope_kind kind;
  int n;
  char units[DW_SCOPE_MAX_UNITS][64];
} dw_scope;

/* A new token (token: DW_TOKEN_LEN+1 bytes) with its id and the SHA-256 of
 * its secret. 0, or -1 when the random generator failed. */
int dw_token_generate(char *token, char id[DW_TOKEN_ID_LEN + 1], uint8_t hash[32]);
/* The id and secret of "Bearer dwt_..." (an Authorization header value).
 * 0, or -1 when the header is absent or not of that form (no detail: the
 * reply is the same 401 whatever is wrong). */
int dw_token_parse_bearer(const char *header, char id[DW_TOKEN_ID_LEN + 1], const char **secret);
/* SHA-256 of the secret's text. */
void dw_token_hash(const char *secret, uint8_t out[32]);
/* Constant-time equality of two hashes. */
bool dw_token_equal(const uint8_t a[32], const uint8_t b[32]);
/* 64 hex digits <-> 32 bytes. */
void dw_token_hex(const uint8_t in[32], char out[65]);
int dw_token_unhex(const char *hex, uint8_t out[32]);

/* Parses "province", "ingest", "agency:A,B", "commune:C". 0, or -1 with
 * the reason (naming the code that is wrong). */
int dw_scope_parse(const char *s, dw_scope *out, char *errstr, size_t errstr_size);
/* The canonical text (as stored), and the two settings' values. */
void dw_scope_format(const dw_scope *sc, char *out, size_t n);
const char *dw_scope_kind_name(dw_scope_kind k); /* "province", "agency", ... */
void dw_scope_units_csv(const dw_scope *sc, char *out, size_t n); /* "A,B" */
/* Does the scope cover unit (of unit type "agency"/"commune"/...)? The
 * same rule as the policies on aggregates (province: all; agency: those
 * agencies' rows; commune: those communes' rows), for the one list that is
 * not in PostgreSQL (the units file). */
bool dw_scope_covers(const dw_scope *sc, const char *unit_type, const char *unit);

#endif
