// AdamW with decoupled weight decay (2-D tensors only) and global-norm
// gradient clipping, the formulas of torch.optim.AdamW and
// torch.nn.utils.clip_grad_norm_.
#ifndef OMGD_ADAMW_H
#define OMGD_ADAMW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gpt2.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamWHyper;

// Per-tensor constants of one update.
typedef struct {
    float lr, beta1, beta2, eps, wd, bc1, bc2, grad_scale;
} AdamWScalars;

// step: this tensor's 1-based AdamW step (bias correction); decay: whether
// weight decay applies; grad_scale multiplies the gradient first.
static inline AdamWScalars adamw_scalars(const AdamWHyper *h, int64_t step, int decay,
                                         float grad_scale) {
    AdamWScalars k = {h->lr, h->beta1, h->beta2, h->eps, decay ? h->weight_decay : 0.0f,
                      1.0f - powf(h->beta1, (float)step), 1.0f - powf(h->beta2, (float)step),
                      grad_scale};
    return k;
}

// The update of one parameter: the single definition used by every CPU
// path (the GPU kernel mirrors it).
static inline void adamw_element(float *w, float grad, float *m, float *v, const AdamWScalars *k) {
    float g = grad * k->grad_scale;
    float mi = k->beta1 * *m + (1.0f - k->beta1) * g;
    float vi = k->beta2 * *v + (1.0f - k->beta2) * g * g;
    *m = mi;
    *v = vi;
    float mhat = mi / k->bc1, vhat = vi / k->bc2;
    *w -= k->lr * (mhat / (sqrtf(vhat) + k->eps) + k->wd * *w);
}

// L2 norm of n gradients, accumulated in double in a fixed order.
float grad_global_norm(const float *grads, size_t n);
// Its square, in double (for summing over the ranks' shards).
double grad_sum_squares(const float *grads, size_t n);
// The factor clip_grad_norm_ multiplies gradients by: min(1, max_norm / (norm + 1e-6)).
// max_norm <= 0 means no clipping (returns 1).
float grad_clip_factor(float norm, float max_norm);
// One plain AdamW step over every tensor of table t with one global step
// count (1-based). Each gradient is multiplied by grad_scale (the clipping
// factor). m and v have num_params entries, grads the parameter layout.
void adamw_step(float *params, const float *grads, float *m, float *v, const ParamTable *t,
                const AdamWHyper *h, long long step, float grad_scale);

#endif
