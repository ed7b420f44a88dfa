#include "omgd/omgd_update.h"

#include <math.h>

#include "common/error.h"

void omgd_adamw_update(float *params, const uint8_t *trainable, float *const *grad_of, OptStateStore *store,
                       const AdamWHyper *h, float clip, float pool_scale) {
    const ParamTable *t = store->table;
    for (int i = 0; i < t->num_tensors; i++) {
        if (!trainable[i]) continue;
        int64_t step = ++store->tensor_step[i];  // on every rank, owner or not
        size_t n = store->own_n[i];
        if (n == 0) continue;
        const float *g = grad_of[i];
        float *m = store->m_of[i], *v = store->v_of[i];
        if (!m || !g) fail("internal: tensor %s is active but has no gradient or optimizer state", t->tensors[i].name);
        const ParamTensor *p = &t->tensors[i];
        AdamWScalars k = adamw_scalars(h, step, p->decay,
                                       store->unit_of_tensor[i] >= 0 ? clip * pool_scale : clip);
        float *w = params + p->offset + store->own_off[i];
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < n; j++) adamw_element(&w[j], g[j], &m[j], &v[j], &k);
    }
}
