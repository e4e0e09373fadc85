/* dw_sim_prng: xoshiro256** + splitmix64 and the error-diffusion quota
 * (see dw_sim_prng.h). */
#include "dw_sim_prng.h"

#include <math.h>

uint64_t dw_sim_splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void dw_sim_rng_seed(dw_sim_rng *r, uint64_t seed) {
  uint64_t st = seed;
  for (int i = 0; i < 4; i++) r->s[i] = dw_sim_splitmix64(&st);
  /* splitmix64 output is never all-zero for four consecutive values, but
   * keep the invariant explicit: xoshiro must not start from zero. */
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

void dw_sim_rng_derive(dw_sim_rng *r, uint64_t seed, uint64_t stream) {
  uint64_t st = seed ^ 0xD1B54A32D192ED03ULL;
  uint64_t a = dw_sim_splitmix64(&st);
  st = stream * 0x9E3779B97F4A7C15ULL + a;
  dw_sim_rng_seed(r, dw_sim_splitmix64(&st) ^ seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dw_sim_rng_next(dw_sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double dw_sim_rng_double(dw_sim_rng *r) {
  return (double)(dw_sim_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t dw_sim_rng_below(dw_sim_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  /* rejection of the short top range keeps every value equally likely */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do x = dw_sim_rng_next(r);
  while (x >= limit);
  return x % n;
}

int64_t dw_sim_rng_range(dw_sim_rng *r, int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return lo + (int64_t)dw_sim_rng_below(r, (uint64_t)(hi - lo) + 1);
}

bool dw_sim_rng_chance(dw_sim_rng *r, double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return dw_sim_rng_double(r) < p;
}

uint32_t dw_sim_rng_poisson(dw_sim_rng *r, double mean) {
  if (!(mean > 0)) return 0;
  if (mean < 30) {
    /* Knuth: multiply uniforms until below e^-mean */
    double limit = exp(-mean), prod = dw_sim_rng_double(r);
    uint32_t k = 0;
    while (prod > limit) {
      k++;
      prod *= dw_sim_rng_double(r);
    }
    return k;
  }
  /* large means: normal approximation (Box-Muller), clamped at 0 */
  double u1 = dw_sim_rng_double(r), u2 = dw_sim_rng_double(r);
  if (u1 < 1e-300) u1 = 1e-300;
  double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
  double v = floor(mean + z * sqrt(mean) + 0.5);
  return v < 0 ? 0 : (uint32_t)v;
}

int dw_sim_rng_pick(dw_sim_rng *r, const double *w, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) sum += w[i] > 0 ? w[i] : 0;
  if (!(sum > 0)) return 0;
  double x = dw_sim_rng_double(r) * sum;
  int last = 0;
  for (int i = 0; i < n; i++) {
    if (!(w[i] > 0)) continue;
    last = i;
    if (x < w[i]) return i;
    x -= w[i];
  }
  return last;
}

void dw_sim_quota_init(dw_sim_quota *q, double p) {
  q->p = p < 0 ? 0 : p > 1 ? 1 : p;
  q->draws = q->yes = 0;
}

bool dw_sim_quota_draw(dw_sim_quota *q) {
  q->draws++;
  /* an integer target instead of a running float accumulator: no drift
   * over millions of draws */
  uint64_t target = (uint64_t)floor((double)q->draws * q->p + 0.5);
  if (target > q->yes) {
    q->yes++;
    return true;
  }
  return false;
}
