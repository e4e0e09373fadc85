/* dw_http_params: query-parameter parsing for handlers. Every helper
 * either gives the value or fills the response with a 400 that names the
 * parameter and the reason ({"error": "parameter 'limit': must be an
 * integer in 1..1000"}) and returns -1, so a handler reads:
 *
 *   if (dw_http_params_only(req, resp, allowed) ||
 *       dw_http_param_int(req, resp, "limit", 1, 1000, 100, &limit)) return 0;
 *
 * Strictness is the point: an unknown parameter, a repeated one that is
 * not repeatable, an empty value, a value outside its syntax are refused,
 * never ignored, so a crafted query string cannot mean something other
 * than what it says. Codes (units, agencies, dossier ids) are limited to
 * printable ASCII without spaces, quotes or backslashes. */
#ifndef DW_HTTP_PARAMS_H
#define DW_HTTP_PARAMS_H

#include <stdint.h>

#include "dw_http.h"

#define DW_HTTP_MAX_VALUES 64 /* values of one repeatable parameter */

/* 400 for any parameter not in allowed (NULL-terminated). */
int dw_http_params_only(const dw_http_req *req, dw_http_resp *resp, const char *const *allowed);
/* The value of a parameter given at most once (NULL: absent). */
int dw_http_param_str(const dw_http_req *req, dw_http_resp *resp, const char *name, const char **out);
/* One of "a|b|c"; def when absent (def NULL: the parameter is required). */
int dw_http_param_choice(const dw_http_req *req, dw_http_resp *resp, const char *name, const char *choices,
                         const char *def, const char **out);
/* An integer in min..max; def when absent. */
int dw_http_param_int(const dw_http_req *req, dw_http_resp *resp, const char *name, int64_t min, int64_t max,
                      int64_t def, int64_t *out);
/* Every value of a repeatable parameter, each also split at commas
 * ("unit=a&unit=b" or "unit=a,b"), each a code (see above). */
int dw_http_param_codes(const dw_http_req *req, dw_http_resp *resp, const char *name, char out[][64], int max,
                        int *n);
/* Is s a code: 1..63 printable ASCII characters, none of space " ' \ < > , ? */
int dw_http_is_code(const char *s);

#endif
