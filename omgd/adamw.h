// AdamW with decoupled weight decay (2-D tensors only) and global-norm
// gradient clipping, the formulas of torch.optim.AdamW and
// torch.nn.utils.clip_grad_norm_.
#ifndef OMGD_ADAMW_H
#define OMGD_ADAMW_H

#include <stddef.h>
#include "model/gpt2.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamWHyper;

// L2 norm of n gradients, accumulated in double.
float grad_global_norm(const float *grads, size_t n);
// The factor clip_grad_norm_ multiplies gradients by: min(1, max_norm / (norm + 1e-6)).
// max_norm <= 0 means no clipping (returns 1).
float grad_clip_factor(float norm, float max_norm);
// One AdamW step over every tensor of table t. step is 1-based (bias
// correction). Each gradient is multiplied by grad_scale before use (the
// clipping factor). m and v have num_params entries.
void adamw_step(float *params, const float *grads, float *m, float *v, const ParamTable *t,
                const AdamWHyper *h, long long step, float grad_scale);

#endif
