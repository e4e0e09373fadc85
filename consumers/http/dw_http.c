/* dw_http: the server on libmicrohttpd (see dw_http.h): the access
 * handler's stages (set up and match, receive the body, dispatch), the
 * response (ETag, gzip, headers), the listening socket and the lifecycle. */
#include "dw_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dw_log.h"
#include "dw_time.h"

/* A gzip'd copy of a static body (embedded files), made once. */
typedef struct gz_cache {
  const char *src;
  char *gz;
  size_t len;
  struct gz_cache *next;
} gz_cache;

struct dw_http_server {
  dw_http_options opt;
  struct MHD_Daemon *mhd;
  int fd;
  char address[128];
  pthread_mutex_t gz_mu;
  gz_cache *gz;
  dw_metric *m_requests, *m_duration;
};

/* Per-connection state across the access handler's calls. */
typedef struct req_state {
  dw_http_req req;
  int route; /* index, or -404/-405 */
  char allow[64];
  char *scratch; /* the path, cut into captures */
  dw_buf body;
  bool too_large, dispatched;
  int64_t t0;
  char remote[64];
} req_state;

static const char JSON_TYPE[] = "application/json; charset=utf-8";

/* ---------------------------------------------------------------- helpers -- */

int dw_http_error(dw_http_resp *resp, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  resp->status = status;
  resp->content_type = JSON_TYPE;
  resp->static_body = NULL;
  resp->etag = false;
  resp->etag_value[0] = '\0';
  dw_buf_free(&resp->gz);
  dw_buf_reset(&resp->body);
  dw_buf_puts(&resp->body, "{\"error\":");
  dw_buf_json_string(&resp->body, msg);
  dw_buf_puts(&resp->body, "}");
  return 0;
}

void dw_http_header(dw_http_resp *resp, const char *name, const char *value) {
  size_t used = strlen(resp->headers);
  snprintf(resp->headers + used, sizeof resp->headers - used, "%s: %s\r\n", name, value);
}

const char *dw_http_reason(int s) {
  switch (s) {
  case 200: return "OK";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Payload Too Large";
  case 415: return "Unsupported Media Type";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "";
  }
}

/* ----------------------------------------------------------------- stages -- */

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  dw_http_req *r = cls;
  if (r->nquery == DW_HTTP_MAX_QUERY) {
    r->query_overflow = true;
    return MHD_NO;
  }
  r->query[r->nquery++] = (dw_http_kv){key ? key : "", value ? value : ""};
  return MHD_YES;
}

static const char *header(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* 1. set up: the state, the route, early refusals (404, 405, 413). */
static req_state *stage_setup(dw_http_server *s, struct MHD_Connection *c, const char *url, const char *method) {
  req_state *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->t0 = dw_now_ms();
  st->scratch = strdup(url);
  if (!st->scratch) {
    free(st);
    return NULL;
  }
  dw_http_req *r = &st->req;
  r->method = strcmp(method, "HEAD") == 0 ? "GET" : method;
  r->path = url;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(st->remote, sizeof st->remote, "?");
  if (ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, st->remote, sizeof st->remote);
    else if (sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, st->remote, sizeof st->remote);
  }
  r->remote = st->remote;
  st->route = dw_http_match(s->opt.routes, s->opt.nroutes, r->method, url, st->scratch, r->captures, &r->ncaptures,
                            st->allow, sizeof st->allow);
  if (st->route >= 0) r->route = &s->opt.routes[st->route];
  return st;
}

/* 2. receive: the body, for routes that read one, up to max_body. */
static void stage_receive(dw_http_server *s, req_state *st, const char *data, size_t len) {
  if (!st->req.route || !(st->req.route->flags & DW_HTTP_BODY) || st->too_large) return;
  if (st->body.len + len > s->opt.max_body) {
    st->too_large = true;
    dw_buf_free(&st->body);
    return;
  }
  dw_buf_put(&st->body, data, len);
}

/* gzip'd static body, from the cache or made now. */
static const char *static_gz(dw_http_server *s, const char *src, size_t len, size_t *gzlen) {
  pthread_mutex_lock(&s->gz_mu);
  for (gz_cache *g = s->gz; g; g = g->next)
    if (g->src == src) {
      *gzlen = g->len;
      pthread_mutex_unlock(&s->gz_mu);
      return g->gz;
    }
  const char *out = NULL;
  dw_buf b = DW_BUF_INIT;
  gz_cache *g = malloc(sizeof *g);
  if (g && dw_http_gzip(src, len, &b) == 0 && b.len < len) {
    g->src = src;
    g->len = b.len;
    g->gz = dw_buf_take(&b);
    g->next = s->gz;
    s->gz = g;
    out = g->gz;
    *gzlen = g->len;
  } else {
    free(g);
    dw_buf_free(&b);
  }
  pthread_mutex_unlock(&s->gz_mu);
  return out;
}

/* Adds "Name: value\r\n" lines to an MHD response. */
static void add_extra_headers(struct MHD_Response *mr, char *lines) {
  for (char *line = lines; line && *line;) {
    char *end = strstr(line, "\r\n");
    if (!end) break;
    *end = 0;
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = 0;
      const char *v = colon + 1;
      while (*v == ' ') v++;
      MHD_add_response_header(mr, line, v);
    }
    line = end + 2;
  }
}

/* 4. respond: ETag (304), gzip, headers; queues the response. */
static enum MHD_Result stage_respond(dw_http_server *s, struct MHD_Connection *c, req_state *st, dw_http_resp *resp) {
  const dw_http_req *r = &st->req;
  const char *body = resp->static_body ? resp->static_body : resp->body.data ? resp->body.data : "";
  size_t len = resp->static_body ? resp->static_len : resp->body.len;
  if (resp->body.oom) {
    dw_http_error(resp, 503, "out of memory");
    body = resp->body.data ? resp->body.data : "";
    len = resp->body.len;
  }
  char etag[24] = "";
  bool not_modified = false;
  if (resp->etag && resp->status == 200) {
    if (resp->etag_value[0])
      memcpy(etag, resp->etag_value, sizeof etag);
    else
      dw_http_etag(body, len, etag);
    not_modified = dw_http_etag_matches(r->if_none_match, etag);
  }
  struct MHD_Response *mr = NULL;
  bool gz = false;
  if (not_modified) {
    mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  } else {
    bool want_gz = len >= 512 && dw_http_accepts_gzip(r->accept_encoding);
    if (want_gz && resp->static_body) {
      size_t gl;
      const char *g = static_gz(s, resp->static_body, resp->static_len, &gl);
      if (g) {
        mr = MHD_create_response_from_buffer(gl, (void *)g, MHD_RESPMEM_PERSISTENT);
        gz = true;
      }
    } else if (want_gz && resp->gz.len && !resp->gz.oom) {
      size_t gl = resp->gz.len;
      char *g = dw_buf_take(&resp->gz);
      mr = MHD_create_response_from_buffer(gl, g, MHD_RESPMEM_MUST_FREE);
      if (!mr) free(g);
      gz = mr != NULL;
    } else if (want_gz) {
      dw_buf out = DW_BUF_INIT;
      if (dw_http_gzip(body, len, &out) == 0 && !out.oom && out.len < len) {
        size_t ol = out.len;
        mr = MHD_create_response_from_buffer(ol, dw_buf_take(&out), MHD_RESPMEM_MUST_FREE);
        gz = true;
      } else {
        dw_buf_free(&out);
      }
    }
    if (!mr) {
      if (resp->static_body) {
        mr = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
      } else {
        size_t bl = resp->body.len;
        char *own = bl ? dw_buf_take(&resp->body) : NULL;
        mr = own ? MHD_create_response_from_buffer(bl, own, MHD_RESPMEM_MUST_FREE)
                 : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (own && !mr) free(own);
      }
    }
  }
  if (!mr) return MHD_NO;
  MHD_add_response_header(mr, "Content-Type", resp->content_type ? resp->content_type : JSON_TYPE);
  MHD_add_response_header(mr, "Cache-Control",
                          resp->cache_control ? resp->cache_control : resp->etag ? "private, no-cache" : "no-store");
  MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
  if (etag[0]) MHD_add_response_header(mr, "ETag", etag);
  if (gz) MHD_add_response_header(mr, "Content-Encoding", "gzip");
  if (r->route && (r->route->flags & DW_HTTP_AUTH))
    MHD_add_response_header(mr, "Vary", "Accept-Encoding, Authorization");
  else
    MHD_add_response_header(mr, "Vary", "Accept-Encoding");
  add_extra_headers(mr, resp->headers);
  int status = not_modified ? 304 : resp->status;
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, mr);
  MHD_destroy_response(mr);

  const char *label = r->route ? r->route->pattern : "unmatched";
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  dw_metric_inc_l(s->m_requests, DW_LABELS(label, code));
  dw_metric_observe_l(s->m_duration, DW_LABELS(label), (double)(dw_now_ms() - st->t0) / 1000.0);
  if (status >= 500)
    DW_LOG_WARNING("%s %s %s -> %d", r->remote, r->method, r->path, status);
  else
    DW_LOG_DBG("%s %s %s -> %d (%lld ms)", r->remote, r->method, r->path, status,
               (long long)(dw_now_ms() - st->t0));
  return ok;
}

/* 3. dispatch: the refusals the route table decides, then the
 * application's hook and the handler. */
static enum MHD_Result stage_dispatch(dw_http_server *s, struct MHD_Connection *c, req_state *st) {
  dw_http_req *r = &st->req;
  dw_http_resp resp = {.status = 200, .content_type = JSON_TYPE, .body = DW_BUF_INIT, .gz = DW_BUF_INIT};
  r->authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
  r->accept_encoding = header(c, MHD_HTTP_HEADER_ACCEPT_ENCODING);
  r->if_none_match = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
  r->content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, r);
  if (st->route == -404) {
    dw_http_error(&resp, 404, "no such resource: %s", r->path);
  } else if (st->route == -405) {
    dw_http_error(&resp, 405, "method %s not allowed here (allowed: %s)", r->method, st->allow);
    dw_http_header(&resp, "Allow", st->allow);
  } else if (st->too_large) {
    dw_http_error(&resp, 413, "request body larger than %zu bytes", s->opt.max_body);
  } else if (r->query_overflow) {
    dw_http_error(&resp, 400, "more than %d query parameters", DW_HTTP_MAX_QUERY);
  } else {
    if (r->route->flags & DW_HTTP_BODY) {
      dw_buf_put(&st->body, "", 0);
      r->body = st->body.data ? st->body.data : "";
      r->body_len = st->body.len;
    }
    bool need_hook = (r->route->flags & (DW_HTTP_AUTH | DW_HTTP_INGEST)) && s->opt.before;
    if (!need_hook || s->opt.before(s->opt.app, r, &resp) == 0) {
      r->route->handler(r, &resp, s->opt.app);
      if (need_hook && s->opt.after) s->opt.after(s->opt.app, r, &resp);
    }
  }
  enum MHD_Result rc = stage_respond(s, c, st, &resp);
  dw_buf_free(&resp.body);
  dw_buf_free(&resp.gz);
  return rc;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                      const char *version, const char *upload_data, size_t *upload_data_size,
                                      void **con_cls) {
  (void)version;
  dw_http_server *s = cls;
  req_state *st = *con_cls;
  if (!st) {
    if (!(st = stage_setup(s, c, url, method))) return MHD_NO;
    *con_cls = st;
    /* an early answer for what cannot succeed, before any body is read */
    const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    bool body_route = st->req.route && (st->req.route->flags & DW_HTTP_BODY);
    if (body_route && cl && strtoull(cl, NULL, 10) > s->opt.max_body) st->too_large = true;
    if (st->route < 0 || st->too_large) {
      st->dispatched = true;
      return stage_dispatch(s, c, st);
    }
    return MHD_YES;
  }
  if (*upload_data_size) {
    stage_receive(s, st, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (st->dispatched) return MHD_YES;
  st->dispatched = true;
  return stage_dispatch(s, c, st);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  req_state *st = *con_cls;
  if (!st) return;
  dw_buf_free(&st->body);
  free(st->scratch);
  free(st);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  msg[strcspn(msg, "\n")] = 0;
  DW_LOG_WARNING("http: %s", msg);
}

/* -------------------------------------------------------------- lifecycle -- */

static int listen_socket(const char *listen_addr, char *bound, size_t bound_size, int *family, char *err, size_t n) {
  char host[256], port_s[16];
  int port;
  if (dw_http_parse_listen(listen_addr, host, sizeof host, &port, err, n)) return -1;
  snprintf(port_s, sizeof port_s, "%d", port);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(host[0] ? host : NULL, port_s, &hints, &res);
  if (gai) {
    snprintf(err, n, "listen address '%s': %s", listen_addr, gai_strerror(gai));
    return -1;
  }
  int fd = -1;
  char why[256] = "no address";
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      snprintf(why, sizeof why, "socket: %s", strerror(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
      snprintf(why, sizeof why, "%s", strerror(errno));
      close(fd);
      fd = -1;
      continue;
    }
    *family = ai->ai_family;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, n, "cannot listen on %s: %s", listen_addr, why);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char a[INET6_ADDRSTRLEN] = "?";
  int p = 0;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET) {
      inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
      p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      snprintf(bound, bound_size, "%s:%d", a, p);
    } else {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
      p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(bound, bound_size, "[%s]:%d", a, p);
    }
  }
  return fd;
}

static const double duration_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

dw_http_server *dw_http_start(const dw_http_options *opt, char *err, size_t n) {
  dw_http_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, n, "out of memory");
    return NULL;
  }
  s->opt = *opt;
  if (!s->opt.max_body) s->opt.max_body = 1 << 20;
  if (s->opt.max_connections <= 0) s->opt.max_connections = 256;
  if (s->opt.timeout_s <= 0) s->opt.timeout_s = 30;
  if (!s->opt.name) s->opt.name = "http";
  pthread_mutex_init(&s->gz_mu, NULL);
  if (opt->metrics) {
    s->m_requests = dw_metrics_counter(opt->metrics, "dossierwatch_http_requests_total",
                                       "HTTP requests answered, by route pattern and status code", "route,code");
    s->m_duration = dw_metrics_histogram(opt->metrics, "dossierwatch_http_request_duration_seconds",
                                         "Time from a request's headers to its response being queued, by route",
                                         "route", duration_bounds, sizeof duration_bounds / sizeof *duration_bounds);
  }
  int family = AF_INET;
  s->fd = listen_socket(opt->listen, s->address, sizeof s->address, &family, err, n);
  if (s->fd < 0) {
    pthread_mutex_destroy(&s->gz_mu);
    free(s);
    return NULL;
  }
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  if (family == AF_INET6) flags |= MHD_USE_IPv6;
  s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)s->opt.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)s->opt.timeout_s, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
  if (!s->mhd) {
    snprintf(err, n, "libmicrohttpd could not start on %s", s->address);
    close(s->fd);
    pthread_mutex_destroy(&s->gz_mu);
    free(s);
    return NULL;
  }
  DW_LOG_INF("listening on http://%s/", s->address);
  return s;
}

const char *dw_http_address(const dw_http_server *s) { return s ? s->address : ""; }

void dw_http_stop(dw_http_server *s) {
  if (!s) return;
  int fd = MHD_quiesce_daemon(s->mhd);
  MHD_stop_daemon(s->mhd);
  if (fd >= 0) close(fd);
  for (gz_cache *g = s->gz, *next; g; g = next) {
    next = g->next;
    free(g->gz);
    free(g);
  }
  pthread_mutex_destroy(&s->gz_mu);
  free(s);
}
