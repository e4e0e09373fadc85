/* dw_progress: terminal progress line (see dw_progress.h). */
#include "dw_progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dw_progress {
  char cmd[32], what[32], phase[32];
  uint64_t total, done;
  double start, last_draw;
  bool tty, drawn;
};

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

dw_progress *dw_progress_new(const char *cmd, const char *what, uint64_t total) {
  dw_progress *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  snprintf(p->cmd, sizeof p->cmd, "%s", cmd ? cmd : "");
  snprintf(p->what, sizeof p->what, "%s", what ? what : "items");
  p->total = total;
  p->start = mono_s();
  p->tty = isatty(STDERR_FILENO) == 1;
  return p;
}

void dw_progress_set_total(dw_progress *p, uint64_t total) {
  if (p) p->total = total;
}

void dw_progress_phase(dw_progress *p, const char *phase) {
  if (!p) return;
  snprintf(p->phase, sizeof p->phase, "%s", phase ? phase : "");
  p->last_draw = 0; /* show the new phase at the next update */
}

static void fmt_duration(double s, char *buf, size_t n) {
  if (s < 0) s = 0;
  if (s > 359999) s = 359999; /* 99h59m: an ETA that far is noise anyway */
  int t = (int)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%dh%02dm", t / 3600 % 100, t / 60 % 60);
  else
    snprintf(buf, n, "%dm%02ds", t / 60 % 60, t % 60);
}

static void draw(dw_progress *p, double now) {
  double el = now - p->start;
  double rate = el > 0 ? (double)p->done / el : 0;
  char line[256], eta[48] = "";
  int len;
  if (p->total > 0) {
    double pct = 100.0 * (double)p->done / (double)p->total;
    if (pct > 100) pct = 100;
    if (rate > 0 && p->done < p->total) {
      char d[16];
      fmt_duration((double)(p->total - p->done) / rate, d, sizeof d);
      snprintf(eta, sizeof eta, ", ETA %s", d);
    }
    len = snprintf(line, sizeof line, "%s: %s%s%llu/%llu %s (%.1f%%), %.0f/s%s", p->cmd, p->phase,
                   p->phase[0] ? " " : "", (unsigned long long)p->done, (unsigned long long)p->total, p->what,
                   pct, rate, eta);
  } else {
    len = snprintf(line, sizeof line, "%s: %s%s%llu %s, %.0f/s", p->cmd, p->phase, p->phase[0] ? " " : "",
                   (unsigned long long)p->done, p->what, rate);
  }
  (void)len;
  /* \r + clear to end of line: the previous line may have been longer */
  fprintf(stderr, "\r%s\033[K", line);
  fflush(stderr);
  p->drawn = true;
  p->last_draw = now;
}

void dw_progress_update(dw_progress *p, uint64_t done) {
  if (!p) return;
  p->done = done;
  if (!p->tty) return;
  /* the clock is read only every 256 calls: updates are per item */
  if ((done & 255) != 0 && p->last_draw != 0) return;
  double now = mono_s();
  if (now - p->last_draw < 0.2) return;
  draw(p, now);
}

void dw_progress_clear(dw_progress *p) {
  if (!p || !p->drawn) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  p->drawn = false;
}

double dw_progress_elapsed(const dw_progress *p) { return p ? mono_s() - p->start : 0; }

void dw_progress_destroy(dw_progress *p) {
  if (!p) return;
  dw_progress_clear(p);
  free(p);
}
