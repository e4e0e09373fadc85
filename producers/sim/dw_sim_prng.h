/* dw_sim_prng: the simulator's own pseudo-random numbers (xoshiro256**
 * seeded through splitmix64) and the error-diffusion quota used to hit
 * configured rates exactly. Never rand(): the output of `simulate` must be a
 * pure function of its seed on every platform and libc. */
#ifndef DW_SIM_PRNG_H
#define DW_SIM_PRNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dw_sim_rng {
  uint64_t s[4];
} dw_sim_rng;

/* One splitmix64 step: advances *state and returns the next value. Used to
 * expand a 64-bit seed and to derive independent streams from labels. */
uint64_t dw_sim_splitmix64(uint64_t *state);

/* Seeds the generator (any seed, 0 included, gives a valid state). */
void dw_sim_rng_seed(dw_sim_rng *r, uint64_t seed);
/* A generator for a sub-stream: same seed and stream id -> same numbers,
 * independent of how much any other stream was used. */
void dw_sim_rng_derive(dw_sim_rng *r, uint64_t seed, uint64_t stream);

uint64_t dw_sim_rng_next(dw_sim_rng *r);
/* Uniform in [0, 1) with 53 bits. */
double dw_sim_rng_double(dw_sim_rng *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t dw_sim_rng_below(dw_sim_rng *r, uint64_t n);
/* Uniform integer in [lo, hi]. */
int64_t dw_sim_rng_range(dw_sim_rng *r, int64_t lo, int64_t hi);
/* true with probability p (p <= 0 never, p >= 1 always). */
bool dw_sim_rng_chance(dw_sim_rng *r, double p);
/* Poisson-distributed count with the given mean (>= 0). */
uint32_t dw_sim_rng_poisson(dw_sim_rng *r, double mean);
/* Index drawn from non-negative weights (n > 0, sum > 0). */
int dw_sim_rng_pick(dw_sim_rng *r, const double *weights, int n);

/* Error-diffusion quota: draw n says yes exactly when that keeps the number
 * of yes equal to round(n*p), so after any n draws the realised rate is
 * within 0.5/n of p (coin flips drift by ~1/sqrt(n)). Which draws say yes is
 * fixed by the order of the draws. */
typedef struct dw_sim_quota {
  double p;
  uint64_t draws, yes;
} dw_sim_quota;

void dw_sim_quota_init(dw_sim_quota *q, double p);
bool dw_sim_quota_draw(dw_sim_quota *q);

#endif
