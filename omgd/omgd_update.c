#include "omgd/omgd_update.h"

#include <math.h>

#include "common/error.h"

void omgd_adamw_update(float *params, float *const *grad_of, OptStateStore *store,
                       const AdamWHyper *h, float clip, float pool_scale) {
    const ParamTable *t = store->table;
    for (int i = 0; i < t->num_tensors; i++) {
        const float *g = grad_of[i];
        if (!g) continue;
        float *m = store->m_of[i], *v = store->v_of[i];
        if (!m) fail("internal: tensor %s has a gradient but no optimizer state", t->tensors[i].name);
        const ParamTensor *p = &t->tensors[i];
        int64_t step = ++store->tensor_step[i];
        AdamWScalars k = adamw_scalars(h, step, p->decay,
                                       store->unit_of_tensor[i] >= 0 ? clip * pool_scale : clip);
        float *w = params + p->offset;
        size_t n = p->numel;
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < n; j++) adamw_element(&w[j], g[j], &m[j], &v[j], &k);
    }
}
