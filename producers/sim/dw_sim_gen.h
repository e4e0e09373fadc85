/* dw_sim_gen: the event generator behind `simulate`. For each working day
 * and commune it draws the day's receipts (Poisson around the commune's
 * mean, at random working instants), plans each dossier's whole lifecycle on
 * the working calendar (intake digitization, reuse, paper requests,
 * supplement pause, transfer, apology, result/refusal/withdrawal, return,
 * payment, rating), and emits every event in global non-decreasing
 * occurred_at order through a min-heap. Events at or after the end of the
 * window are not emitted, so those dossiers stay open. Output is a pure
 * function of (profile, calendar, seed, start, days). */
#ifndef DW_SIM_GEN_H
#define DW_SIM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "dw_calendar.h"
#include "dw_event.h"
#include "dw_sim_profile.h"

typedef struct dw_sim_gen dw_sim_gen;

/* Called for every event in order; a non-zero return stops the run. */
typedef int (*dw_sim_emit_fn)(const dw_event *ev, void *opaque);

typedef struct dw_sim_commune_stats {
  uint64_t received;
  uint64_t results_issued;
  uint64_t results_digitized; /* RESULT_ISSUED digitized=true or a RESULT_DIGITIZED */
} dw_sim_commune_stats;

typedef struct dw_sim_stats {
  uint64_t events;
  uint64_t dossiers;
  uint64_t closed; /* dossiers whose RESULT_ISSUED/REJECTED/WITHDRAWN was emitted */
  uint64_t by_type[DW_EV__COUNT];
  int n_communes;
  dw_sim_commune_stats *communes; /* in profile order */
} dw_sim_stats;

/* start_day: local day number (days since epoch in local time) of the first
 * simulated day; days >= 1. The profile and calendar must outlive the
 * generator. NULL on error (e.g. the calendar does not cover the window). */
dw_sim_gen *dw_sim_gen_new(const dw_sim_profile *prof, const dw_calendar *cal, uint64_t seed,
                           int64_t start_day, int days, char *errstr, size_t errstr_size);
/* Runs to the end of the window. Returns 0, or -1 when emit failed
 * (errstr names the event) or on OOM. */
int dw_sim_gen_run(dw_sim_gen *g, dw_sim_emit_fn emit, void *opaque, char *errstr, size_t errstr_size);
const dw_sim_stats *dw_sim_gen_stats(const dw_sim_gen *g);
/* The window [start, end) in ms. */
int64_t dw_sim_gen_start(const dw_sim_gen *g);
int64_t dw_sim_gen_end(const dw_sim_gen *g);
void dw_sim_gen_destroy(dw_sim_gen *g);

#endif
