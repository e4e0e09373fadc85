/* dw_notify_send: delivery of a rendered message to one integration, by
 * libcurl: email over SMTP (smtp:// with STARTTLS when require_tls, or
 * smtps:// for port 465; auth_username/auth_password; tls_config's CA,
 * client certificate and insecure_skip_verify), webhook as an HTTP POST of
 * the JSON body (bearer token, timeout; success is a 2xx status). One
 * attempt per call; retrying is the caller's (notify, with backoff). */
#ifndef DW_NOTIFY_SEND_H
#define DW_NOTIFY_SEND_H

#include <stddef.h>

#include "dw_notify_config.h"

typedef struct dw_notify_sender dw_notify_sender;

dw_notify_sender *dw_notify_sender_new(char *errstr, size_t errstr_size);
void dw_notify_sender_destroy(dw_notify_sender *s);

/* Sends body (the MIME message or the JSON) to x. 0 when accepted, else -1
 * with the reason (libcurl's, or the SMTP/HTTP status) in errstr. */
int dw_notify_send(dw_notify_sender *s, const dw_notify_integration *x, const char *body, size_t len, char *errstr,
                   size_t errstr_size);

#endif
