// The sampler's rule (model/sampler.h) on random distributions, against
// an independent computation in this file (a full sort): after each
// sampler_pick, the tokens left with non-zero weight are exactly the
// expected kept set (top-k; top-p: the shortest prefix by probability
// holding the mass; both), their weights are p^(1/t) up to a common
// factor (1e-4 relative: float exp/log of values O(1)), and the picked
// token is one of them; temperature 0 picks the argmax without drawing.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "model/sampler.h"
#include "test/check.h"

typedef struct {
    double p;
    int id;
} Item;

static int desc(const void *a, const void *b) {
    const Item *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

// Expected kept set: keep[v] = 1 for kept tokens.
static void expected(const float *probs, int V, float t, int k, float top_p, uint8_t *keep) {
    Item *it = malloc((size_t)V * sizeof(Item));
    for (int v = 0; v < V; v++) it[v] = (Item){pow(probs[v], 1.0 / t), v};
    qsort(it, (size_t)V, sizeof(Item), desc);
    int n = k > 0 && k < V ? k : V;
    if (top_p < 1.0f) {
        double total = 0, mass = 0;
        for (int i = 0; i < n; i++) total += it[i].p;
        int m = 0;
        while (m < n) {
            mass += it[m++].p;
            if (mass >= top_p * total * (1 - 1e-6)) break;
        }
        n = m;
    }
    memset(keep, 0, (size_t)V);
    for (int i = 0; i < n; i++) keep[it[i].id] = 1;
    free(it);
}

int main(void) {
    const int V = 1000;
    float *probs = malloc(V * sizeof(float));
    uint8_t *keep = malloc(V);
    Rng gen, draw;
    rng_seed(&gen, 42);
    rng_seed(&draw, 7);
    struct { float t; int k; float p; const char *name; } cases[] = {
        {1.0f, 6, 1.0f, "top-k 6"}, {1.0f, 1, 1.0f, "top-k 1"}, {0.7f, 50, 1.0f, "temperature 0.7 + top-k 50"},
        {1.0f, 0, 0.5f, "top-p 0.5"}, {2.0f, 0, 0.9f, "temperature 2 + top-p 0.9"},
        {0.5f, 20, 0.3f, "temperature 0.5 + top-k 20 + top-p 0.3"}, {1.5f, 999, 1.0f, "top-k 999 of 1000"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        SamplerSettings s = {cases[c].t, cases[c].k, cases[c].p};
        Sampler sm;
        sampler_init(&sm, &s, V);
        int wrong_set = 0, wrong_weight = 0, wrong_pick = 0;
        for (int trial = 0; trial < 300; trial++) {
            double sum = 0;  // a random distribution with a long tail
            for (int v = 0; v < V; v++) sum += probs[v] = expf(3.0f * (float)rng_normal(&gen));
            for (int v = 0; v < V; v++) probs[v] = (float)(probs[v] / sum);
            int pick = sampler_pick(&sm, probs, &draw);
            expected(probs, V, s.temperature, s.top_k, s.top_p, keep);
            int best = 0;
            for (int v = 0; v < V; v++) if (probs[v] > probs[best]) best = v;
            for (int v = 0; v < V; v++) {
                if ((sm.weight[v] > 0) != keep[v]) wrong_set++;
                // weight relative to the best token's: (p / p_best)^(1/t)
                double want = pow((double)probs[v] / probs[best], 1.0 / s.temperature);
                if (keep[v] && want > 1e-30 && fabs(sm.weight[v] - want) > 1e-4 * want) wrong_weight++;
            }
            if (pick < 0 || pick >= V || !keep[pick]) wrong_pick++;
        }
        char name[160];
        snprintf(name, sizeof name, "%s: the kept set over 300 random distributions", cases[c].name);
        CHECK(wrong_set == 0, name, "%d tokens kept or removed wrongly", wrong_set);
        snprintf(name, sizeof name, "%s: kept weights are (p / p_max)^(1/t)", cases[c].name);
        CHECK(wrong_weight == 0, name, "%d weights off", wrong_weight);
        snprintf(name, sizeof name, "%s: the pick is a kept token", cases[c].name);
        CHECK(wrong_pick == 0, name, "%d picks outside", wrong_pick);
        sampler_free(&sm);
    }
    // temperature 0: the argmax, and the RNG untouched
    SamplerSettings g = {0.0f, 0, 1.0f};
    Sampler sm;
    sampler_init(&sm, &g, V);
    int wrong = 0;
    for (int trial = 0; trial < 100; trial++) {
        for (int v = 0; v < V; v++) probs[v] = rng_uniform(&gen);
        int best = 0;
        for (int v = 0; v < V; v++) if (probs[v] > probs[best]) best = v;
        Rng before = draw;
        wrong += sampler_pick(&sm, probs, &draw) != best || memcmp(&before, &draw, sizeof draw) != 0;
    }
    CHECK(wrong == 0, "temperature 0: the argmax, without drawing a random number", "%d wrong", wrong);
    sampler_free(&sm);
    free(probs);
    free(keep);
    CHECK_EXIT();
}
