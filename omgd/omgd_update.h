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

// trainable: per tensor, whether it is in the active slice (its step count
// advances). grad_of: per tensor, the gradient of the elements this rank
// owns (store->own_off/own_n; the whole tensor in a single process), NULL
// where it owns none. Gradients of tensors in a mask unit are multiplied by
// clip * pool_scale, those of the always-active group by clip alone (the
// reference scales after clipping, pool only).
void omgd_adamw_update(float *params, const uint8_t *trainable, float *const *grad_of, OptStateStore *store,
                       const AdamWHyper *h, float clip, float pool_scale);

#endif
