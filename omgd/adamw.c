#include "omgd/adamw.h"

#include <math.h>
#include <stdlib.h>

#include "common/error.h"

double grad_sum_squares(const float *grads, size_t n) {
    // fixed chunks summed in a fixed order: the same bits on every run
    enum { CHUNK = 1 << 16 };
    size_t nchunks = (n + CHUNK - 1) / CHUNK;
    double *partial = xcalloc(nchunks ? nchunks : 1, sizeof(double), "gradient norm");
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        size_t end = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        double s = 0.0;
        for (size_t i = c * CHUNK; i < end; i++) s += (double)grads[i] * grads[i];
        partial[c] = s;
    }
    double total = 0.0;
    for (size_t c = 0; c < nchunks; c++) total += partial[c];
    free(partial);
    return total;
}

float grad_global_norm(const float *grads, size_t n) { return (float)sqrt(grad_sum_squares(grads, n)); }

float grad_clip_factor(float norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    float f = max_norm / (norm + 1e-6f);
    return f < 1.0f ? f : 1.0f;
}

void adamw_step(float *params, const float *grads, float *m, float *v, const ParamTable *t,
                const AdamWHyper *h, long long step, float grad_scale) {
    for (int k = 0; k < t->num_tensors; k++) {
        const ParamTensor *p = &t->tensors[k];
        AdamWScalars sc = adamw_scalars(h, step, p->decay, grad_scale);
        size_t off = p->offset, n = p->numel;
#pragma omp parallel for schedule(static)
        for (size_t i = off; i < off + n; i++) adamw_element(&params[i], grads[i], &m[i], &v[i], &sc);
    }
}
