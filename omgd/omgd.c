#include "omgd/omgd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "omgd/omgd_update.h"

static int parallel(const Omgd *o) { return o->comm && o->comm->size > 1; }

void omgd_init(Omgd *o, const OmgdSettings *settings, const ParamTable *t) { omgd_init_parallel(o, settings, t, NULL); }

void omgd_init_parallel(Omgd *o, const OmgdSettings *settings, const ParamTable *t, Comm *comm) {
    memset(o, 0, sizeof *o);
    o->settings = *settings;
    o->table = t;
    o->comm = comm;
    o->tensor_units = settings->mask.mode == MASK_OMGD_TENSOR;
    int nu = o->settings.mask.num_units = o->tensor_units ? t->num_tensors : t->config.num_layers;
    mask_init(&o->schedule, &o->settings.mask);
    if (settings->replay[0]) mask_load_replay(&o->schedule, settings->replay);
    state_store_init_sharded(&o->store, t, o->tensor_units, settings->state, comm ? comm->rank : 0,
                             comm ? comm->size : 1);
    o->unit_active = xcalloc((size_t)nu, 1, "mask");
    o->trainable = xcalloc((size_t)t->num_tensors, 1, "mask");
    // where each group lies in the parameter buffer (the block-by-block layout
    // makes every group one contiguous range)
    o->num_groups = nu + 1;
    o->group_start = xcalloc((size_t)o->num_groups, sizeof(size_t), "parameter groups");
    o->group_floats = xcalloc((size_t)o->num_groups, sizeof(size_t), "parameter groups");
    o->group_first = xmalloc((size_t)o->num_groups * sizeof(int), "parameter groups");
    for (int g = 0; g < o->num_groups; g++) o->group_first[g] = -1;
    for (int i = 0; i < t->num_tensors; i++) {
        int g = o->store.unit_of_tensor[i] + 1;
        const ParamTensor *p = &t->tensors[i];
        if (o->group_first[g] < 0) {
            o->group_first[g] = i;
            o->group_start[g] = p->offset;
        } else if (o->group_start[g] + o->group_floats[g] != p->offset) {
            fail("internal: parameter group %d is not contiguous at tensor %s", g - 1, p->name);
        }
        o->group_floats[g] += p->numel;
    }
    o->shard_of = xcalloc((size_t)t->num_tensors, sizeof(float *), "gradient shards");
}

void omgd_free(Omgd *o) {
    mask_free(&o->schedule);
    state_store_free(&o->store);
    free(o->unit_active);
    free(o->trainable);
    free(o->group_start);
    free(o->group_floats);
    free(o->group_first);
    free(o->grad_shard);
    free(o->shard_of);
}

static int group_active(const Omgd *o, int g) { return g == 0 || o->unit_active[g - 1]; }

// Lays out grad_shard: this rank's chunk of each active group, in group order.
static void place_shards(Omgd *o) {
    const ParamTable *t = o->table;
    size_t total = 0;
    for (int g = 0; g < o->num_groups; g++)
        if (group_active(o, g) && o->group_floats[g]) total += g == 0 ? o->store.always_own : o->store.unit_own[g - 1];
    if (total != o->grad_shard_floats || !o->grad_shard) {
        free(o->grad_shard);
        o->grad_shard = xmalloc((total ? total : 1) * sizeof(float), "gradient shard");
        o->grad_shard_floats = total;
    }
    size_t off = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        int ok = o->trainable[i] && o->store.own_n[i] > 0;
        o->shard_of[i] = ok ? o->grad_shard + off : NULL;
        if (o->trainable[i]) off += o->store.own_n[i];
    }
}

// Fails on every rank if the ranks' masks differ (different omgd settings).
static void check_mask_agrees(Omgd *o, int64_t step) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)step;
    for (int u = 0; u < o->settings.mask.num_units; u++) h = (h ^ o->unit_active[u]) * 1099511628211ull;
    char what[96];
    snprintf(what, sizeof what, "the mask at step %lld", (long long)step);
    comm_check_agree(o->comm, h, what, "start every rank with the same omgd.* settings, seed and replay file");
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
    if (parallel(o)) place_shards(o);
}

int omgd_begin_step(Omgd *o, GPT2 *model, int64_t step, int64_t epoch) {
    int first = model->grad_of == NULL;
    int switched = mask_update(&o->schedule, step, epoch);
    if (switched || first) {
        apply_mask(o, model);
        if (parallel(o)) check_mask_agrees(o, step);
    }
    return switched;
}

float omgd_grad_norm(const GPT2 *model) { return grad_global_norm(model->grads, model->grad_floats); }

float omgd_reduce_gradients(Omgd *o, const GPT2 *model) {
    if (!parallel(o)) return omgd_grad_norm(model);
    size_t off = 0;
    for (int g = 0; g < o->num_groups; g++) {
        if (!group_active(o, g) || !o->group_floats[g]) continue;
        // the group's gradients are one contiguous run of the packed buffer
        const float *send = model->grad_of[o->group_first[g]];
        comm_reduce_scatter(o->comm, send, o->grad_shard + off, o->group_floats[g]);
        off += g == 0 ? o->store.always_own : o->store.unit_own[g - 1];
    }
    double ss = grad_sum_squares(o->grad_shard, o->grad_shard_floats);
    comm_allreduce_sum_host(o->comm, &ss, 1);
    return (float)sqrt(ss);
}

void omgd_apply_update(Omgd *o, GPT2 *model, const AdamWHyper *h, float grad_clip, float norm) {
    float clip = grad_clip_factor(norm, grad_clip);
    float scale = (float)mask_grad_scale(&o->schedule);
    int par = parallel(o);
    omgd_adamw_update(model->params, o->trainable, par ? o->shard_of : model->grad_of, &o->store, h, clip, scale);
    if (!par) return;
    for (int g = 0; g < o->num_groups; g++)  // frozen groups did not change: no traffic
        if (group_active(o, g) && o->group_floats[g])
            comm_allgather(o->comm, model->params + o->group_start[g], o->group_floats[g]);
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

void omgd_load_resharded(Omgd *o, GPT2 *model, StateReader *readers, int old_ranks) {
    state_read_section(&readers[0], "mask.state", &o->schedule.st, sizeof o->schedule.st);
    state_store_load_resharded(&o->store, readers, old_ranks);
    apply_mask(o, model);
}

OmgdMemory omgd_memory(const Omgd *o, const GPT2 *model) {
    OmgdMemory m = {model->table.num_params * sizeof(float), model->grad_floats * sizeof(float),
                    state_store_working_bytes(&o->store), state_store_parked_bytes(&o->store)};
    return m;
}
