/* dw_progress: a one-line progress display for long commands (replay,
 * export): items done, rate, and an ETA when the total is known. It draws
 * only when stderr is a terminal (a log file or a pipe gets no carriage-return
 * noise) and at most a few times a second, so calling dw_progress_update()
 * for every item is cheap. The summary at the end is the caller's, printed
 * always; dw_progress_elapsed() gives the time for it. */
#ifndef DW_PROGRESS_H
#define DW_PROGRESS_H

#include <stdint.h>

typedef struct dw_progress dw_progress;

/* what: the noun counted ("events"); total: 0 when unknown. NULL on OOM
 * (every function accepts NULL and does nothing). */
dw_progress *dw_progress_new(const char *cmd, const char *what, uint64_t total);
void dw_progress_set_total(dw_progress *p, uint64_t total);
/* A short phase label shown before the counts ("reading", "writing"). */
void dw_progress_phase(dw_progress *p, const char *phase);
void dw_progress_update(dw_progress *p, uint64_t done);
/* Erases the line (if one was drawn); the object stays usable. */
void dw_progress_clear(dw_progress *p);
/* Seconds since dw_progress_new (monotonic clock). */
double dw_progress_elapsed(const dw_progress *p);
void dw_progress_destroy(dw_progress *p);

#endif
