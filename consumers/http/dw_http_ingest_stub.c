/* dw_http_ingest_stub: the ingest hook until the dvcqg format is connected
 * (see dw_http_ingest.h): serve's route, authentication, size limit,
 * content-type and JSON checks all work; the events are not produced, and
 * the client is told so with 501. */
#include <stdlib.h>

#include "dw_http_ingest.h"

struct dw_http_ingest {
  int unused;
};

dw_http_ingest *dw_http_ingest_new(const dw_config *cfg, char *errstr, size_t errstr_size) {
  (void)cfg;
  (void)errstr;
  (void)errstr_size;
  return calloc(1, sizeof(dw_http_ingest));
}

void dw_http_ingest_destroy(dw_http_ingest *ing) { free(ing); }

int dw_http_ingest_dvcqg(dw_http_ingest *ing, const char *body, size_t len, const char *token_name, dw_buf *reply) {
  (void)ing;
  (void)body;
  (void)len;
  (void)token_name;
  dw_buf_puts(reply, "{\"error\":\"dvcqg ingest is not connected in this build (the request was valid JSON "
                     "from an ingest token; nothing was produced)\"}");
  return 501;
}
