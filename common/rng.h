// Small deterministic RNG shared by initialisation, data shuffling and
// sampling. splitmix64 seeding + xoshiro256** generator: fast, 256-bit state
// that is trivially saved in a checkpoint.
#ifndef COMMON_RNG_H
#define COMMON_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
// Uniform integer in [0, n), without modulo bias. n must be > 0.
uint64_t rng_below(Rng *r, uint64_t n);
// Uniform float in [0, 1).
float rng_uniform(Rng *r);
// Standard normal via Box-Muller (double precision internally).
double rng_normal(Rng *r);
// In-place Fisher-Yates shuffle of n indices.
void rng_shuffle_u32(Rng *r, uint32_t *a, uint64_t n);
// Derive an independent seed from a base seed and a stream id (e.g. epoch).
uint64_t rng_derive(uint64_t seed, uint64_t stream);

#endif
