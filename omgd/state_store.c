#include "omgd/state_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "common/error.h"
#include "common/loss_guard.h"

// Where moments live: the heap, unless an engine installs its own memory
// (the GPU trainer: pinned host memory, so parked state moves fast).
static StateAllocFn moments_alloc_fn;
static StateFreeFn moments_free_fn;

void state_store_set_allocator(StateAllocFn alloc, StateFreeFn release) {
    moments_alloc_fn = alloc;
    moments_free_fn = release;
}

// n floats, zeroed.
static float *moments_alloc(size_t n) {
    if (moments_alloc_fn) return moments_alloc_fn(n * sizeof(float));
    return xcalloc(n, sizeof(float), "AdamW moments");
}

static void moments_free(float *p) {
    if (!p) return;
    if (moments_free_fn) moments_free_fn(p);
    else free(p);
}

static size_t own_floats(const OptStateStore *s, int u) { return u < 0 ? s->always_own : s->unit_own[u]; }

// Points m_of/v_of of the tensors of unit u (or of the always-active group,
// u = -1) into mem = [m | v] of the owned elements, or at NULL.
static void bind(OptStateStore *s, int u, float *mem) {
    const ParamTable *t = s->table;
    size_t own = own_floats(s, u), off = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        if (s->unit_of_tensor[i] != u) continue;
        int has = mem && s->own_n[i] > 0;
        s->m_of[i] = has ? mem + off : NULL;
        s->v_of[i] = has ? mem + own + off : NULL;
        off += s->own_n[i];
    }
}

void state_store_chunk(const OptStateStore *s, int u, int rank, size_t *lo, size_t *hi) {
    size_t n = u < 0 ? s->always_floats : s->unit_floats[u];
    *lo = comm_chunk_start(n, rank, s->num_ranks);
    *hi = comm_chunk_start(n, rank + 1, s->num_ranks);
}

// Owned part of every tensor: the intersection of its range in its unit
// with this rank's chunk of the unit.
static void find_owned(OptStateStore *s) {
    const ParamTable *t = s->table;
    int nt = t->num_tensors;
    s->unit_own = xcalloc((size_t)s->num_units, sizeof(size_t), "optimizer state");
    s->own_off = xcalloc((size_t)nt, sizeof(size_t), "optimizer state");
    s->own_n = xcalloc((size_t)nt, sizeof(size_t), "optimizer state");
    size_t *pos = xcalloc((size_t)s->num_units + 1, sizeof(size_t), "optimizer state");  // [0] = always
    for (int i = 0; i < nt; i++) {
        int u = s->unit_of_tensor[i];
        size_t lo, hi, t0 = pos[u + 1], t1 = t0 + t->tensors[i].numel;
        state_store_chunk(s, u, s->rank, &lo, &hi);
        size_t a = lo > t0 ? lo : t0, b = hi < t1 ? hi : t1;
        s->own_off[i] = a < b ? a - t0 : 0;
        s->own_n[i] = a < b ? b - a : 0;
        if (u < 0) s->always_own += s->own_n[i];
        else s->unit_own[u] += s->own_n[i];
        pos[u + 1] = t1;
    }
    free(pos);
}

void state_store_init(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy) {
    state_store_init_sharded(s, t, tensor_units, policy, 0, 1);
}

void state_store_init_sharded(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy,
                              int rank, int num_ranks) {
    memset(s, 0, sizeof *s);
    s->table = t;
    s->policy = policy;
    s->rank = rank;
    s->num_ranks = num_ranks;
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
    find_owned(s);
    s->unit_mem = xcalloc((size_t)s->num_units, sizeof(float *), "optimizer state");
    s->m_of = xcalloc((size_t)nt, sizeof(float *), "optimizer state");
    s->v_of = xcalloc((size_t)nt, sizeof(float *), "optimizer state");
    s->resident = xcalloc((size_t)s->num_units, 1, "optimizer state");
    s->tensor_step = xcalloc((size_t)nt, sizeof(int64_t), "optimizer state");
    if (s->always_floats) {
        s->always_mem = moments_alloc(2 * s->always_own + 1);
        bind(s, -1, s->always_mem);
    }
}

void state_store_free(OptStateStore *s) {
    for (int u = 0; u < s->num_units; u++) moments_free(s->unit_mem[u]);
    free(s->unit_mem);
    moments_free(s->always_mem);
    free(s->unit_of_tensor);
    free(s->unit_floats);
    free(s->unit_own);
    free(s->own_off);
    free(s->own_n);
    free(s->m_of);
    free(s->v_of);
    free(s->resident);
    free(s->tensor_step);
    memset(s, 0, sizeof *s);
}

static void drop_unit(OptStateStore *s, int u) {
    moments_free(s->unit_mem[u]);
    s->unit_mem[u] = NULL;
    bind(s, u, NULL);
    for (int i = 0; i < s->table->num_tensors; i++)
        if (s->unit_of_tensor[i] == u) s->tensor_step[i] = 0;
}

void state_store_set_active(OptStateStore *s, const uint8_t *unit_active) {
    for (int u = 0; u < s->num_units; u++) {
        if (unit_active[u]) {
            if (!s->unit_mem[u]) {  // first time, or dropped by the reset policy
                s->unit_mem[u] = moments_alloc(2 * s->unit_own[u] + 1);
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
    size_t n = 2 * s->always_own;
    for (int u = 0; u < s->num_units; u++)
        if (s->resident[u]) n += 2 * s->unit_own[u];
    return n * sizeof(float);
}

size_t state_store_parked_bytes(const OptStateStore *s) {
    size_t n = 0;
    for (int u = 0; u < s->num_units; u++)
        if (!s->resident[u] && s->unit_mem[u]) n += 2 * s->unit_own[u];
    return n * sizeof(float);
}

// Which moment element i of [m | v] of n owned elements is.
static void name_moment(char *what, size_t cap, const char *whose, size_t i, size_t n, float x) {
    snprintf(what, cap, "AdamW %s of %s, element %zu = %g", i < n ? "first moment" : "second moment", whose,
             i < n ? i : i - n, (double)x);
}

int state_store_finite(const OptStateStore *s, char *what, size_t cap) {
    size_t n = 2 * s->always_own, j = first_nonfinite(s->always_mem, n);
    if (j < n) {
        name_moment(what, cap, "the embeddings and final LayerNorm", j, s->always_own, s->always_mem[j]);
        return 0;
    }
    for (int u = 0; u < s->num_units; u++) {
        if (!s->unit_mem[u]) continue;
        n = 2 * s->unit_own[u];
        j = first_nonfinite(s->unit_mem[u], n);
        if (j < n) {
            char whose[64];
            snprintf(whose, sizeof whose, "mask unit %d", u);
            name_moment(what, cap, whose, j, s->unit_own[u], s->unit_mem[u][j]);
            return 0;
        }
    }
    return 1;
}

void state_store_save(const OptStateStore *s, StateWriter *w) {
    int nt = s->table->num_tensors;
    uint8_t *has = xmalloc((size_t)s->num_units, "optimizer state");
    for (int u = 0; u < s->num_units; u++) has[u] = s->unit_mem[u] != NULL;
    if (s->num_ranks > 1) {  // a shard: which one (a single process writes no such section)
        int32_t who[2] = {s->rank, s->num_ranks};
        state_write_section(w, "opt.shard", who, sizeof who);
    }
    state_write_section(w, "opt.tensor_step", s->tensor_step, (uint64_t)nt * sizeof(int64_t));
    state_write_section(w, "opt.has_state", has, (uint64_t)s->num_units);
    state_write_section(w, "opt.always", s->always_mem, 2 * s->always_own * sizeof(float));
    for (int u = 0; u < s->num_units; u++) {
        char name[STATE_SECTION_NAME];
        snprintf(name, sizeof name, "opt.unit%d", u);
        uint64_t bytes = 2 * s->unit_own[u] * sizeof(float);
        if (has[u]) state_write_section(w, name, s->unit_mem[u], bytes);
        else state_write_zeros(w, name, bytes);
    }
    free(has);
}

void state_store_load(OptStateStore *s, StateReader *r) {
    int nt = s->table->num_tensors;
    int32_t who[2] = {0, 1};
    if (state_has_section(r, "opt.shard")) state_read_section(r, "opt.shard", who, sizeof who);
    if (who[1] != s->num_ranks)
        fail("%s: optimizer state of a job of %d rank%s; this job has %d: resume it with mpirun -np %d", r->path,
             who[1], who[1] == 1 ? "" : "s", s->num_ranks, who[1]);
    if (who[0] != s->rank) fail("%s: holds rank %d's optimizer state, expected rank %d's", r->path, who[0], s->rank);
    uint8_t *has = xmalloc((size_t)s->num_units, "optimizer state");
    state_read_section(r, "opt.tensor_step", s->tensor_step, (uint64_t)nt * sizeof(int64_t));
    state_read_section(r, "opt.has_state", has, (uint64_t)s->num_units);
    state_read_section(r, "opt.always", s->always_mem, 2 * s->always_own * sizeof(float));
    for (int u = 0; u < s->num_units; u++) {
        char name[STATE_SECTION_NAME];
        snprintf(name, sizeof name, "opt.unit%d", u);
        uint64_t bytes = 2 * s->unit_own[u] * sizeof(float);
        if (has[u]) {
            if (!s->unit_mem[u]) {
                s->unit_mem[u] = moments_alloc(2 * s->unit_own[u] + 1);
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

// Copies this rank's chunk of one group out of the sections of every old
// rank's file that overlap it. mem = [m | v] of `own` owned elements.
static void gather_chunk(const OptStateStore *s, int u, const char *name, float *mem, StateReader *readers,
                         int old_ranks) {
    size_t n = u < 0 ? s->always_floats : s->unit_floats[u], lo, hi;
    state_store_chunk(s, u, s->rank, &lo, &hi);
    size_t own = hi - lo;
    for (int q = 0; q < old_ranks; q++) {
        size_t qlo = comm_chunk_start(n, q, old_ranks), qhi = comm_chunk_start(n, q + 1, old_ranks);
        size_t a = lo > qlo ? lo : qlo, b = hi < qhi ? hi : qhi;
        if (a >= b) continue;
        size_t qn = qhi - qlo;
        float *tmp = xmalloc(2 * qn * sizeof(float) + 1, "optimizer state");
        state_read_section(&readers[q], name, tmp, 2 * qn * sizeof(float));
        memcpy(mem + (a - lo), tmp + (a - qlo), (b - a) * sizeof(float));              // m
        memcpy(mem + own + (a - lo), tmp + qn + (a - qlo), (b - a) * sizeof(float));   // v
        free(tmp);
    }
}

void state_store_load_resharded(OptStateStore *s, StateReader *readers, int old_ranks) {
    int nt = s->table->num_tensors;
    for (int q = 0; q < old_ranks; q++) {
        int32_t who[2] = {0, 1};
        if (state_has_section(&readers[q], "opt.shard")) state_read_section(&readers[q], "opt.shard", who, sizeof who);
        if (who[0] != q || who[1] != old_ranks)
            fail("%s: holds rank %d of %d's optimizer state, expected rank %d of %d's", readers[q].path, who[0], who[1],
                 q, old_ranks);
    }
    uint8_t *has = xmalloc((size_t)s->num_units, "optimizer state");
    state_read_section(&readers[0], "opt.tensor_step", s->tensor_step, (uint64_t)nt * sizeof(int64_t));
    state_read_section(&readers[0], "opt.has_state", has, (uint64_t)s->num_units);
    for (int i = 0; i < nt; i++)
        if (s->tensor_step[i] < 0) fail("%s: negative AdamW step count for tensor %d", readers[0].path, i);
    if (s->always_floats) gather_chunk(s, -1, "opt.always", s->always_mem, readers, old_ranks);
    for (int u = 0; u < s->num_units; u++) {
        char name[STATE_SECTION_NAME];
        snprintf(name, sizeof name, "opt.unit%d", u);
        if (has[u]) {
            if (!s->unit_mem[u]) {
                s->unit_mem[u] = moments_alloc(2 * s->unit_own[u] + 1);
                bind(s, u, s->unit_mem[u]);
            }
            gather_chunk(s, u, name, s->unit_mem[u], readers, old_ranks);
        } else if (s->unit_mem[u]) {
            drop_unit(s, u);
        }
        s->resident[u] = 0;
    }
    free(has);
}
