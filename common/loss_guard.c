#include "common/loss_guard.h"

#include <math.h>
#include <string.h>

void loss_guard_init(LossGuard *g) { memset(g, 0, sizeof *g); }

GuardVerdict loss_guard_check(LossGuard *g, const TrainConfig *c, float loss, float grad_norm) {
    GuardVerdict v = {GUARD_APPLY, 0, 0, 0.0};
    if (!isfinite(loss) || !isfinite(grad_norm)) {
        v.nonfinite = 1;
        g->nonfinite_total++;
        g->nonfinite_in_a_row++;
        int give_up = strcmp(c->on_nonfinite, "stop") == 0 || g->nonfinite_in_a_row >= MAX_NONFINITE_IN_A_ROW;
        v.action = give_up ? GUARD_STOP : GUARD_SKIP;
        if (v.action == GUARD_SKIP) g->skipped_total++;
        return v;
    }
    g->nonfinite_in_a_row = 0;
    if (c->spike_zscore > 0 && g->count >= 32) {  // enough history for a meaningful spread
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < g->count; i++) mean += g->window[i];
        mean /= g->count;
        for (int i = 0; i < g->count; i++) var += (g->window[i] - mean) * (g->window[i] - mean);
        double sd = sqrt(var / g->count);
        v.zscore = sd > 0 ? (loss - mean) / sd : 0.0;
        if (v.zscore > c->spike_zscore) {
            v.spike = 1;
            g->spikes_total++;
            if (c->skip_spikes) {
                v.action = GUARD_SKIP;
                g->skipped_total++;
                return v;  // a skipped spike stays out of the window
            }
        }
    }
    g->window[g->next] = loss;
    g->next = (g->next + 1) % LOSS_WINDOW;
    if (g->count < LOSS_WINDOW) g->count++;
    return v;
}

size_t first_nonfinite(const float *x, size_t n) {
    // blocks of 4096 without a branch per element: one NaN or inf makes the sum non-finite
    for (size_t b = 0; b < n; b += 4096) {
        size_t e = b + 4096 < n ? b + 4096 : n;
        float acc = 0.0f;
        for (size_t i = b; i < e; i++) acc += x[i] * 0.0f;
        if (acc != 0.0f || acc != acc)
            for (size_t i = b; i < e; i++)
                if (!isfinite(x[i])) return i;
    }
    return n;
}
