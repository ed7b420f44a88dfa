// Temperature / top-k / top-p sampling and the generation loop (see sampler.h).
#include "model/sampler.h"

#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/signals.h"

void sampler_check(const SamplerSettings *s) {
    if (!(s->temperature >= 0.0f) || !isfinite(s->temperature))
        fail("temperature %g: expected a number >= 0 (0 = greedy)", (double)s->temperature);
    if (s->top_k < 0) fail("top-k %d: expected a number >= 0 (0 = off)", s->top_k);
    if (!(s->top_p > 0.0f && s->top_p <= 1.0f)) fail("top-p %g: expected a number in (0, 1] (1 = off)", (double)s->top_p);
}

void sampler_init(Sampler *sm, const SamplerSettings *s, int V) {
    sampler_check(s);
    if (V <= 0) fail("sampler: vocabulary size %d", V);
    sm->s = *s;
    sm->V = V;
    sm->weight = xmalloc((size_t)V * sizeof(float), "sampler weights");
    sm->sorted = xmalloc((size_t)V * sizeof(SamplerEntry), "sampler order");
}

void sampler_free(Sampler *sm) {
    free(sm->weight);
    free(sm->sorted);
    sm->weight = NULL;
    sm->sorted = NULL;
}

static int argmax(const float *p, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (p[v] > p[best]) best = v;
    return best;
}

// Descending weight, then ascending id: a total order, so the kept set
// does not depend on qsort's algorithm.
static int by_weight_desc(const void *a, const void *b) {
    const SamplerEntry *x = a, *y = b;
    if (x->weight != y->weight) return x->weight > y->weight ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

// The k best entries of w (by_weight_desc order, unsorted) into out[0..k),
// through a min-heap whose root is the worst of the best k so far.
static int top_entries(const float *w, int V, int k, SamplerEntry *out) {
    int n = 0;
    for (int v = 0; v < V; v++) {
        SamplerEntry e = {w[v], v};
        if (n < k) {  // sift up
            int i = n++;
            while (i > 0 && by_weight_desc(&out[(i - 1) / 2], &e) < 0) out[i] = out[(i - 1) / 2], i = (i - 1) / 2;
            out[i] = e;
        } else if (by_weight_desc(&e, &out[0]) < 0) {  // better than the worst kept: replace it, sift down
            int i = 0;
            for (;;) {
                int c = 2 * i + 1;
                if (c >= n) break;
                if (c + 1 < n && by_weight_desc(&out[c + 1], &out[c]) > 0) c++;
                if (by_weight_desc(&out[c], &e) <= 0) break;
                out[i] = out[c];
                i = c;
            }
            out[i] = e;
        }
    }
    return n;
}

// One draw from the weights w (not necessarily normalised).
static int draw(const float *w, int V, Rng *rng) {
    double total = 0.0;
    for (int v = 0; v < V; v++) total += w[v];
    double coin = rng_uniform(rng) * total, cdf = 0.0;
    int last = -1;
    for (int v = 0; v < V; v++) {
        if (w[v] <= 0.0f) continue;
        cdf += w[v];
        last = v;
        if (coin < cdf) return v;
    }
    return last >= 0 ? last : V - 1;  // rounding at the very top of the cdf
}

int sampler_pick(Sampler *sm, const float *probs, Rng *rng) {
    const SamplerSettings *s = &sm->s;
    int V = sm->V;
    if (s->temperature == 0.0f) return argmax(probs, V);
    if (s->temperature == 1.0f && s->top_k == 0 && s->top_p >= 1.0f) {
        // the draw over p as given (the loop the training samples always used)
        float coin = rng_uniform(rng), cdf = 0.0f;
        for (int v = 0; v < V; v++) {
            cdf += probs[v];
            if (coin < cdf) return v;
        }
        return V - 1;
    }
    float *w = sm->weight;
    // p^(1/t) relative to the largest p, in the log domain (no underflow of p^(1/t) for small t)
    float pmax = probs[argmax(probs, V)];
    double lmax = log((double)pmax), inv_t = 1.0 / s->temperature;
    for (int v = 0; v < V; v++)
        w[v] = probs[v] > 0.0f ? (float)exp((log((double)probs[v]) - lmax) * inv_t) : 0.0f;
    int keep = V;
    if (s->top_k > 0 || s->top_p < 1.0f) {
        // candidates: the top_k best (a selection, O(V log k)) or every token
        int n = s->top_k > 0 && s->top_k < V ? top_entries(w, V, s->top_k, sm->sorted) : V;
        if (n == V)
            for (int v = 0; v < V; v++) sm->sorted[v] = (SamplerEntry){w[v], v};
        qsort(sm->sorted, (size_t)n, sizeof(SamplerEntry), by_weight_desc);
        keep = n;
        if (s->top_p < 1.0f) {
            double total = 0.0, mass = 0.0;
            for (int i = 0; i < keep; i++) total += sm->sorted[i].weight;
            int n = 0;
            while (n < keep) {
                mass += sm->sorted[n++].weight;
                if (mass >= s->top_p * total) break;
            }
            keep = n;
        }
        if (n == V) {
            for (int i = keep; i < V; i++) w[sm->sorted[i].id] = 0.0f;
        } else {  // only the kept entries survive
            for (int v = 0; v < V; v++) w[v] = 0.0f;
            for (int i = 0; i < keep; i++) w[sm->sorted[i].id] = sm->sorted[i].weight;
        }
    }
    return draw(w, V, rng);
}

int sampler_generate(Sampler *sm, Rng *rng, NextProbsFn next, void *next_ctx, int *tokens, int prompt_len, int n,
                     int context, TokenFn on_token, void *token_ctx) {
    if (prompt_len < 1) fail("sampling needs at least one token to start from");
    float *probs = xmalloc((size_t)sm->V * sizeof(float), "sample probabilities");
    int made = 0;
    for (; made < n; made++) {
        if (signals_stop_requested()) break;
        int len = prompt_len + made, start = len > context ? len - context : 0;
        next(next_ctx, tokens + start, len - start, probs);
        int t = sampler_pick(sm, probs, rng);
        tokens[len] = t;
        if (on_token) on_token(token_ctx, t, made);
    }
    free(probs);
    return made;
}
