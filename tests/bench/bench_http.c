/* bench_http: API latency under concurrency for tests/bench/run.sh (not a
 * test). CLIENTS threads, each with its own libcurl handle (one kept-alive
 * connection, as a dashboard's browser keeps one), send REQUESTS GETs each
 * to URL with the bearer TOKEN; every response must be 200 or 304. Prints
 * key=value lines: n, errors, p50_ms, p99_ms, max_ms, rps.
 * Usage: bench_http URL TOKEN CLIENTS REQUESTS */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct client {
  const char *url, *token;
  int n;
  double *lat; /* ms, n of them */
  int errors;
} client;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t discard(char *p, size_t size, size_t n, void *opaque) {
  (void)p;
  (void)opaque;
  return size * n;
}

static void *run(void *arg) {
  client *c = arg;
  CURL *h = curl_easy_init();
  char auth[256];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
  struct curl_slist *hdr = curl_slist_append(NULL, auth);
  curl_easy_setopt(h, CURLOPT_URL, c->url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* gzip, as a browser asks */
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
  for (int i = 0; i < c->n; i++) {
    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    c->lat[i] = now_ms() - t0;
    if (rc != CURLE_OK || (code != 200 && code != 304)) c->errors++;
  }
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bench_http URL TOKEN CLIENTS REQUESTS\n");
    return 2;
  }
  int nc = atoi(argv[3]), nr = atoi(argv[4]);
  if (nc < 1 || nc > 256 || nr < 1 || nr > 100000) return 2;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  client *cs = calloc((size_t)nc, sizeof *cs);
  pthread_t *t = calloc((size_t)nc, sizeof *t);
  double *all = calloc((size_t)nc * (size_t)nr, sizeof *all);
  if (!cs || !t || !all) return 1;
  double t0 = now_ms();
  for (int i = 0; i < nc; i++) {
    cs[i] = (client){argv[1], argv[2], nr, all + (size_t)i * (size_t)nr, 0};
    pthread_create(&t[i], NULL, run, &cs[i]);
  }
  int errors = 0;
  for (int i = 0; i < nc; i++) {
    pthread_join(t[i], NULL);
    errors += cs[i].errors;
  }
  double wall = now_ms() - t0;
  size_t n = (size_t)nc * (size_t)nr;
  qsort(all, n, sizeof *all, cmp);
  printf("n=%zu\nerrors=%d\np50_ms=%.1f\np99_ms=%.1f\nmax_ms=%.1f\nrps=%.0f\n", n, errors, all[n / 2],
         all[(size_t)((double)n * 0.99) < n ? (size_t)((double)n * 0.99) : n - 1], all[n - 1], (double)n / (wall / 1e3));
  free(all);
  free(t);
  free(cs);
  curl_global_cleanup();
  return errors ? 1 : 0;
}
