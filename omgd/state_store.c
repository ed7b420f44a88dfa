#include "omgd/state_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

// Points m_of/v_of of the tensors of unit u (or of the always-active group,
// u = -1) into mem = [m | v], or at NULL.
static void bind(OptStateStore *s, int u, float *mem) {
    const ParamTable *t = s->table;
    size_t total = u < 0 ? s->always_floats : s->unit_floats[u], off = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        if (s->unit_of_tensor[i] != u) continue;
        s->m_of[i] = mem ? mem + off : NULL;
        s->v_of[i] = mem ? mem + total + off : NULL;
        off += t->tensors[i].numel;
    }
}

void state_store_init(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy) {
    memset(s, 0, sizeof *s);
    s->table = t;
    s->policy = policy;
    int nt = t->num_tensors;
    s->num_units = tensor_units ? nt : t->config.num_layers;
    s->unit_of_tensor = xmalloc((size_t)nt * sizeof(int), "optimizer state");
    s->unit_floats = xcalloc((size_t)s->num_units, sizeof(size_t), "optimizer state");
    for (int i = 0; i < nt; i++) {
        int u = tensor_units ? i : t->tensors[i].group;  // group is -1 for always-active
        s->unit_of_tensor[i] = u;
        if (u >= 0) s->unit_floats[u] += t->tensors[i].numel;
        else s->always_floats += t->tensors[i].numel;
    }
    s->unit_mem = xcalloc((size_t)s->num_units, sizeof(float *), "optimizer state");
    s->m_of = xcalloc((size_t)nt, sizeof(float *), "optimizer state");
    s->v_of = xcalloc((size_t)nt, sizeof(float *), "optimizer state");
    s->resident = xcalloc((size_t)s->num_units, 1, "optimizer state");
    s->tensor_step = xcalloc((size_t)nt, sizeof(int64_t), "optimizer state");
    if (s->always_floats) {
        s->always_mem = xcalloc(2 * s->always_floats, sizeof(float), "AdamW moments");
        bind(s, -1, s->always_mem);
    }
}

void state_store_free(OptStateStore *s) {
    for (int u = 0; u < s->num_units; u++) free(s->unit_mem[u]);
    free(s->unit_mem);
    free(s->always_mem);
    free(s->unit_of_tensor);
    free(s->unit_floats);
    free(s->m_of);
    free(s->v_of);
    free(s->resident);
    free(s->tensor_step);
    memset(s, 0, sizeof *s);
}

static void drop_unit(OptStateStore *s, int u) {
    free(s->unit_mem[u]);
    s->unit_mem[u] = NULL;
    bind(s, u, NULL);
    for (int i = 0; i < s->table->num_tensors; i++)
        if (s->unit_of_tensor[i] == u) s->tensor_step[i] = 0;
}

void state_store_set_active(OptStateStore *s, const uint8_t *unit_active) {
    for (int u = 0; u < s->num_units; u++) {
        if (unit_active[u]) {
            if (!s->unit_mem[u]) {  // first time, or dropped by the reset policy
                s->unit_mem[u] = xcalloc(2 * s->unit_floats[u], sizeof(float), "AdamW moments");
                bind(s, u, s->unit_mem[u]);
            }
            s->resident[u] = 1;
        } else {
            if (s->resident[u] && s->policy == STATE_RESET) drop_unit(s, u);
            s->resident[u] = 0;
        }
    }
}

size_t state_store_working_bytes(const OptStateStore *s) {
    size_t n = 2 * s->always_floats;
    for (int u = 0; u < s->num_units; u++)
        if (s->resident[u]) n += 2 * s->unit_floats[u];
    return n * sizeof(float);
}

size_t state_store_parked_bytes(const OptStateStore *s) {
    size_t n = 0;
    for (int u = 0; u < s->num_units; u++)
        if (!s->resident[u] && s->unit_mem[u]) n += 2 * s->unit_floats[u];
    return n * sizeof(float);
}

void state_store_save(const OptStateStore *s, StateWriter *w) {
    int nt = s->table->num_tensors;
    uint8_t *has = xmalloc((size_t)s->num_units, "optimizer state");
    for (int u = 0; u < s->num_units; u++) has[u] = s->unit_mem[u] != NULL;
    state_write_section(w, "opt.tensor_step", s->tensor_step, (uint64_t)nt * sizeof(int64_t));
    state_write_section(w, "opt.has_state", has, (uint64_t)s->num_units);
    state_write_section(w, "opt.always", s->always_mem, 2 * s->always_floats * sizeof(float));
    for (int u = 0; u < s->num_units; u++) {
        char name[STATE_SECTION_NAME];
        snprintf(name, sizeof name, "opt.unit%d", u);
        uint64_t bytes = 2 * s->unit_floats[u] * sizeof(float);
        if (has[u]) state_write_section(w, name, s->unit_mem[u], bytes);
        else state_write_zeros(w, name, bytes);
    }
    free(has);
}

void state_store_load(OptStateStore *s, StateReader *r) {
    int nt = s->table->num_tensors;
    uint8_t *has = xmalloc((size_t)s->num_units, "optimizer state");
    state_read_section(r, "opt.tensor_step", s->tensor_step, (uint64_t)nt * sizeof(int64_t));
    state_read_section(r, "opt.has_state", has, (uint64_t)s->num_units);
    state_read_section(r, "opt.always", s->always_mem, 2 * s->always_floats * sizeof(float));
    for (int u = 0; u < s->num_units; u++) {
        char name[STATE_SECTION_NAME];
        snprintf(name, sizeof name, "opt.unit%d", u);
        uint64_t bytes = 2 * s->unit_floats[u] * sizeof(float);
        if (has[u]) {
            if (!s->unit_mem[u]) {
                s->unit_mem[u] = xmalloc(bytes, "AdamW moments");
                bind(s, u, s->unit_mem[u]);
            }
            state_read_section(r, name, s->unit_mem[u], bytes);
        } else {
            state_read_section(r, name, NULL, bytes);
            if (s->unit_mem[u]) drop_unit(s, u);
        }
        s->resident[u] = 0;
    }
    for (int i = 0; i < nt; i++)
        if (s->tensor_step[i] < 0) fail("%s: negative AdamW step count for tensor %d", r->path, i);
    free(has);
}
