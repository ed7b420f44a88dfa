// The fused OMGD-AdamW update: one pass over the active slice (every tensor
// that has a gradient this step) doing, per element, the grad scale, the
// moment update, bias correction with the tensor's own step count,
// decoupled weight decay (2-D tensors only) and the parameter update.
// Frozen tensors are not read or written.
#ifndef OMGD_OMGD_UPDATE_H
#define OMGD_OMGD_UPDATE_H

#include "model/gpt2.h"
#include "omgd/adamw.h"
#include "omgd/state_store.h"

// grad_of: per tensor gradient (NULL = frozen). Gradients of tensors in a
// mask unit are multiplied by clip * pool_scale, those of the always-active
// group by clip alone (the reference scales after clipping, pool only).
void omgd_adamw_update(float *params, float *const *grad_of, OptStateStore *store,
                       const AdamWHyper *h, float clip, float pool_scale);

#endif
