#include "omgd/omgd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "omgd/omgd_update.h"

void omgd_init(Omgd *o, const OmgdSettings *settings, const ParamTable *t) {
    memset(o, 0, sizeof *o);
    o->settings = *settings;
    o->table = t;
    o->tensor_units = settings->mask.mode == MASK_OMGD_TENSOR;
    o->settings.mask.num_units = o->tensor_units ? t->num_tensors : t->config.num_layers;
    mask_init(&o->schedule, &o->settings.mask);
    if (settings->replay[0]) mask_load_replay(&o->schedule, settings->replay);
    state_store_init(&o->store, t, o->tensor_units, settings->state);
    o->unit_active = xcalloc((size_t)o->settings.mask.num_units, 1, "mask");
    o->trainable = xcalloc((size_t)t->num_tensors, 1, "mask");
}

void omgd_free(Omgd *o) {
    mask_free(&o->schedule);
    state_store_free(&o->store);
    free(o->unit_active);
    free(o->trainable);
}

// Makes gradients and the working set follow the schedule's current mask.
static void apply_mask(Omgd *o, GPT2 *model) {
    int nu = o->settings.mask.num_units;
    for (int u = 0; u < nu; u++) o->unit_active[u] = (uint8_t)mask_unit_active(&o->schedule, u);
    for (int i = 0; i < o->table->num_tensors; i++) {
        int u = o->store.unit_of_tensor[i];
        o->trainable[i] = u < 0 ? 1 : o->unit_active[u];
    }
    gpt2_set_trainable(model, o->trainable);
    state_store_set_active(&o->store, o->unit_active);
}

int omgd_begin_step(Omgd *o, GPT2 *model, int64_t step, int64_t epoch) {
    int first = model->grad_of == NULL;
    int switched = mask_update(&o->schedule, step, epoch);
    if (switched || first) apply_mask(o, model);
    return switched;
}

float omgd_grad_norm(const GPT2 *model) { return grad_global_norm(model->grads, model->grad_floats); }

void omgd_apply_update(Omgd *o, GPT2 *model, const AdamWHyper *h, float grad_clip, float norm) {
    float clip = grad_clip_factor(norm, grad_clip);
    float scale = (float)mask_grad_scale(&o->schedule);
    omgd_adamw_update(model->params, model->grad_of, &o->store, h, clip, scale);
}

void omgd_active_json(const Omgd *o, char *buf, size_t cap) {
    size_t len = 0;
    int nu = o->settings.mask.num_units, first = 1;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int u = 0; u < nu && len + 12 < cap; u++) {
        if (!mask_unit_active(&o->schedule, u)) continue;
        len += (size_t)snprintf(buf + len, cap - len, first ? "%d" : ",%d", u);
        first = 0;
    }
    snprintf(buf + len, cap - len, "]");
}

void omgd_save(const Omgd *o, StateWriter *w) {
    state_write_section(w, "mask.state", &o->schedule.st, sizeof o->schedule.st);
    state_store_save(&o->store, w);
}

void omgd_load(Omgd *o, GPT2 *model, StateReader *r) {
    state_read_section(r, "mask.state", &o->schedule.st, sizeof o->schedule.st);
    state_store_load(&o->store, r);
    apply_mask(o, model);
}

OmgdMemory omgd_memory(const Omgd *o, const GPT2 *model) {
    OmgdMemory m = {model->table.num_params * sizeof(float), model->grad_floats * sizeof(float),
                    state_store_working_bytes(&o->store), state_store_parked_bytes(&o->store)};
    return m;
}
