/* dw_notify_send: SMTP and webhook delivery with libcurl (see
 * dw_notify_send.h). */
#include "dw_notify_send.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dw_buf.h"

struct dw_notify_sender {
  CURL *curl;
};

dw_notify_sender *dw_notify_sender_new(char *err, size_t n) {
  static int inited;
  if (!inited) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
      snprintf(err, n, "curl_global_init failed");
      return NULL;
    }
    inited = 1;
  }
  dw_notify_sender *s = calloc(1, sizeof *s);
  if (!s || !(s->curl = curl_easy_init())) {
    free(s);
    snprintf(err, n, "cannot start libcurl");
    return NULL;
  }
  return s;
}

void dw_notify_sender_destroy(dw_notify_sender *s) {
  if (!s) return;
  curl_easy_cleanup(s->curl);
  free(s);
}

typedef struct upload {
  const char *p;
  size_t left;
} upload;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *o) {
  upload *u = o;
  size_t n = size * nitems < u->left ? size * nitems : u->left;
  memcpy(buf, u->p, n);
  u->p += n;
  u->left -= n;
  return n;
}

static size_t discard_cb(char *p, size_t size, size_t n, void *o) {
  dw_buf *b = o;
  if (b->len < 512) dw_buf_put(b, p, size * n < 512 ? size * n : 512);
  return size * n;
}

static void tls_opts(CURL *c, const dw_notify_tls *t) {
  if (t->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, t->ca_file);
  if (t->cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, t->cert_file);
  if (t->key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, t->key_file);
  if (t->insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

static int send_email(CURL *c, const dw_notify_integration *x, const char *body, size_t len, char *err, size_t n) {
  /* smarthost host:port; 465 is SMTP over TLS, others STARTTLS or plain */
  const char *colon = strrchr(x->smarthost, ':');
  bool smtps = colon && strcmp(colon + 1, "465") == 0;
  char url[512];
  snprintf(url, sizeof url, "%s://%s/%s", smtps ? "smtps" : "smtp", x->smarthost, x->hello ? x->hello : "dossierwatch");
  curl_easy_setopt(c, CURLOPT_URL, url);
  /* the envelope sender is the address inside From ("Name <a@b>" or a@b) */
  char from[320];
  const char *lt = strchr(x->from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
  if (lt && gt)
    snprintf(from, sizeof from, "<%.*s>", (int)(gt - lt - 1), lt + 1);
  else
    snprintf(from, sizeof from, "<%s>", x->from);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
  struct curl_slist *rcpt = NULL;
  for (size_t i = 0; i < x->nto; i++) {
    char r[320];
    snprintf(r, sizeof r, "<%s>", x->to[i]);
    rcpt = curl_slist_append(rcpt, r);
  }
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_USE_SSL, x->require_tls || smtps ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
  if (x->auth_username) curl_easy_setopt(c, CURLOPT_USERNAME, x->auth_username);
  if (x->auth_password) curl_easy_setopt(c, CURLOPT_PASSWORD, x->auth_password);
  if (x->auth_identity) curl_easy_setopt(c, CURLOPT_SASL_AUTHZID, x->auth_identity);
  tls_opts(c, &x->tls);
  upload u = {body, len};
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(c, CURLOPT_READDATA, &u);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  if (rc != CURLE_OK) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code)
      snprintf(err, n, "smtp %s: %s (server reply %ld)", x->smarthost, cerr[0] ? cerr : curl_easy_strerror(rc), code);
    else
      snprintf(err, n, "smtp %s: %s", x->smarthost, cerr[0] ? cerr : curl_easy_strerror(rc));
    return -1;
  }
  return 0;
}

static int send_webhook(CURL *c, const dw_notify_integration *x, const char *body, size_t len, char *err, size_t n) {
  curl_easy_setopt(c, CURLOPT_URL, x->url);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  h = curl_slist_append(h, "User-Agent: dossierwatch-notify");
  char auth[1200];
  if (x->bearer_token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", x->bearer_token);
    h = curl_slist_append(h, auth);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  tls_opts(c, &x->tls);
  dw_buf reply = DW_BUF_INIT;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(h);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  int out = 0;
  if (rc != CURLE_OK) {
    snprintf(err, n, "webhook: %s", cerr[0] ? cerr : curl_easy_strerror(rc));
    out = -1;
  } else if (code < 200 || code > 299) {
    /* the reply's first line says why, for the log (never the token) */
    if (reply.data) reply.data[strcspn(reply.data, "\r\n")] = 0;
    snprintf(err, n, "webhook: HTTP %ld%s%.200s", code, reply.data && reply.data[0] ? ": " : "",
             reply.data ? reply.data : "");
    out = -1;
  }
  dw_buf_free(&reply);
  return out;
}

int dw_notify_send(dw_notify_sender *s, const dw_notify_integration *x, const char *body, size_t len, char *err,
                   size_t n) {
  CURL *c = s->curl;
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(x->timeout_ms > 0 ? x->timeout_ms : 30000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(x->timeout_ms > 0 && x->timeout_ms < 10000 ? x->timeout_ms : 10000));
  return x->kind == DW_NK_EMAIL ? send_email(c, x, body, len, err, n) : send_webhook(c, x, body, len, err, n);
}
