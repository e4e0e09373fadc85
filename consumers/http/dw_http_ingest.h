/* dw_http_ingest: the hook of serve's POST /api/dvcqg/DongBoHoSoMC (the
 * national public-service portal's "sync dossier" call, format in
 * common/formats/dvcqg). serve does what every request needs (bearer token
 * with scope `ingest`, body at most http.ingest_max_bytes, Content-Type
 * application/json, a body that parses as JSON, else a 4xx naming what is
 * wrong) and hands the body to this function; turning it into events and
 * producing them (dw_producer) is the function's.
 *
 * dw_http_ingest.c implements it over the dvcqg format's mapper
 * (dw_dvcqg.h) and the one producer (dw_producer); without
 * http.dvcqg_units (the portal's unit keys) the route answers 501. */
#ifndef DW_HTTP_INGEST_H
#define DW_HTTP_INGEST_H

#include <stddef.h>

#include "dw_buf.h"
#include "dw_config.h"

typedef struct dw_http_ingest dw_http_ingest;

/* At serve's start (cfg: kafka.*, topic.events, ...). NULL with the reason:
 * serve then does not start. */
dw_http_ingest *dw_http_ingest_new(const dw_config *cfg, char *errstr, size_t errstr_size);
void dw_http_ingest_destroy(dw_http_ingest *ing);

/* One request: body (len bytes, valid JSON, NUL-terminated), the token's
 * name (for the log and provenance). Writes the JSON reply into reply and
 * returns its HTTP status (200/202 accepted, 400 with {"error": ...} naming
 * the field, 503 when Kafka does not confirm). Called from many threads at
 * once. */
int dw_http_ingest_dvcqg(dw_http_ingest *ing, const char *body, size_t len, const char *token_name, dw_buf *reply);

#endif
