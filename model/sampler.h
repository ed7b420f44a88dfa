// Choosing the next token from the model's probabilities: temperature,
// top-k and top-p (nucleus) sampling with the project's seeded RNG, and
// the generation loop shared by the sampling command (sample_gpt2.c) and
// the samples printed during training (train_gpt2.c).
//
// Rules, applied in this order to the probabilities p over the vocabulary:
//   temperature 0       greedy: the most probable token (the lowest id on a tie),
//                       no random number is drawn;
//   temperature t > 0   p_i^(1/t), renormalised (= softmax(logits / t));
//   top_k k > 0         only the k most probable tokens stay (ties: lower id first);
//   top_p q < 1         only the most probable tokens whose mass first
//                       reaches q stay (at least one);
// then one uniform draw u picks the token whose cumulative mass (over the
// kept tokens in id order) first exceeds u * (their total mass).
// With temperature 1, top_k 0 and top_p 1 the draw is over p as given.
#ifndef MODEL_SAMPLER_H
#define MODEL_SAMPLER_H

#include "common/rng.h"

typedef struct {
    float temperature;  // >= 0
    int top_k;          // 0 = off
    float top_p;        // (0, 1]; 1 = off
} SamplerSettings;

typedef struct {
    float weight;
    int id;
} SamplerEntry;

typedef struct {
    SamplerSettings s;
    int V;
    float *weight;         // V: the tempered weights (0 = removed)
    SamplerEntry *sorted;  // V: (weight, id) by weight, for top-k / top-p
} Sampler;

// Fails with one line naming the setting if it is out of range.
void sampler_check(const SamplerSettings *s);
// sampler_check, then the work buffers for a vocabulary of V.
void sampler_init(Sampler *sm, const SamplerSettings *s, int V);
void sampler_free(Sampler *sm);
// The next token id in [0, V) given probabilities (V floats).
int sampler_pick(Sampler *sm, const float *probs, Rng *rng);

// Probabilities of the token after tokens[0..len) (len >= 1), V floats.
typedef void (*NextProbsFn)(void *ctx, const int *tokens, int len, float *probs);
// Called with each new token as it is generated (index counts from 0).
typedef void (*TokenFn)(void *ctx, int token, int index);

// Appends n tokens to tokens[0..prompt_len) (tokens has room for
// prompt_len + n); the model sees at most the last `context` tokens.
// Checks the stop flag of common/signals.h before each token and returns
// early when it is set. Returns how many tokens it generated.
int sampler_generate(Sampler *sm, Rng *rng, NextProbsFn next, void *next_ctx, int *tokens, int prompt_len, int n,
                     int context, TokenFn on_token, void *token_ctx);

#endif
