// The active slice on the GPU: fp32 gradients, master weights (bf16 build
// only: the fp32 build's weights are the master) and AdamW moments of the
// tensors that are trainable this period, one buffer each in "slice
// layout". Everything else of the optimizer lives on the host: the host
// GPT2's fp32 weights are the parked master weights and the state store
// (omgd/state_store.h) holds the parked moments, both in pinned memory.
//
// Block units (omgd, lisa, none): the slice is the always-active group
// followed by slots of one block each; a block keeps its slot while it stays
// active. At a period switch the leaving blocks' state is copied to the host
// and the arriving blocks' state to their slots on a copy stream, while the
// step's forward and backward passes run (they need neither); the update
// kernel waits for the copies (device_slice_wait). Tensor units
// (omgd_tensor, tensors of many sizes): the slice is repacked and copied
// synchronously at each switch.
//
// In a data-parallel job (comm size N > 1) each rank holds the gradients of
// the whole slice (its backward pass writes them) but the master weights and
// moments of its own chunk of every active group only (the state store's
// chunks, state_store.h): the "owned layout" is the slice layout with every
// group cut to this rank's chunk, and gshard holds the summed gradient of
// those chunks (the reduce-scatter's output). With one rank the owned
// layout is the slice layout and gshard is grads.
#ifndef OMGD_DEVICE_SLICE_CUH
#define OMGD_DEVICE_SLICE_CUH
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"
#include "omgd/omgd_update.cuh"
extern "C" {
#include "omgd/adamw.h"
#include "omgd/omgd.h"
}

#define NOT_ON_DEVICE ((size_t)-1)

// The GPU ordering tests' test builds (scripts/gpu_check.sh, -DOMGD_TEST_SPIN_MS=N):
// a kernel that spins N ms on a stream, so that work after it is late;
// without a GPU (the engine's CPU build) the streams' stand-ins are late
// on their own and this does nothing.
#if defined(OMGD_TEST_SPIN_MS) && !defined(ENGINE_ON_CPU)
__global__ void ordering_spin_kernel(long long cycles) {
    long long t0 = clock64();
    while (clock64() - t0 < cycles) {
    }
}
static inline void ordering_spin(cudaStream_t st) {
    int khz = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
    ordering_spin_kernel<<<1, 1, 0, st>>>((long long)khz * OMGD_TEST_SPIN_MS);
    CUDA_CHECK_LAUNCH();
}
#else
static inline void ordering_spin(cudaStream_t) {}
#endif

typedef struct {
    GPT2 *host;              // host weights: the parked fp32 master weights
    Omgd *omgd;              // mask, trainable tensors, state store (parked moments)
    floatX *params;          // device weights of the whole model
    size_t *off;             // per tensor: its offset in the slice, NOT_ON_DEVICE when frozen
    size_t floats;           // slice capacity
    float *grads, *master, *m, *v;  // grads: slice layout; master, m, v: owned layout
    // sharding (one rank: the owned layout is the slice layout)
    int sharded;             // more than one rank (or NCCL on one): gshard is a buffer of its own
    size_t *own;             // per tensor: offset of its owned part in the owned layout, NOT_ON_DEVICE when
                             // frozen or when this rank owns none of it
    size_t *pos;             // per tensor: where its owned part starts in its group's chunk
    size_t *group_own;       // per group (Omgd's groups): its chunk's offset in the owned layout, or NOT_ON_DEVICE
    size_t own_floats;       // owned layout capacity
    size_t unit_own, always_own;
    float *gshard;           // summed gradient of the owned parts (owned layout); grads itself with one rank
    int slots_mode;          // block units: fixed slots
    int nslots, *unit_slot;  // slots allocated; per unit its slot or -1
    size_t unit_size, always_size;
    cudaStream_t compute, copy;
    cudaEvent_t compute_done, ready;
    int pending;             // copies issued that the update has not waited for
} DeviceSlice;

// sharded: the summed gradient of the owned chunks in a buffer of its own
// (gshard, the reduce-scatters' output); else gshard is grads.
static inline void device_slice_init(DeviceSlice *s, GPT2 *host, Omgd *omgd, floatX *params, cudaStream_t compute,
                                     int sharded) {
    memset(s, 0, sizeof *s);
    s->host = host;
    s->omgd = omgd;
    s->params = params;
    s->compute = compute;
    const ParamTable *t = &host->table;
    s->off = (size_t *)xmalloc((size_t)t->num_tensors * sizeof(size_t), "slice layout");
    s->own = (size_t *)xmalloc((size_t)t->num_tensors * sizeof(size_t), "slice layout");
    s->pos = (size_t *)xmalloc((size_t)t->num_tensors * sizeof(size_t), "slice layout");
    s->group_own = (size_t *)xmalloc((size_t)omgd->num_groups * sizeof(size_t), "slice layout");
    for (int i = 0; i < t->num_tensors; i++) s->off[i] = s->own[i] = NOT_ON_DEVICE;
    for (int g = 0; g < omgd->num_groups; g++) s->group_own[g] = NOT_ON_DEVICE;
    const OptStateStore *st = &omgd->store;
    s->sharded = sharded || st->num_ranks > 1;
    for (int i = 0; i < t->num_tensors; i++) {  // the owned part of tensor i within its group's chunk
        int u = st->unit_of_tensor[i];
        size_t lo, hi;
        state_store_chunk(st, u, st->rank, &lo, &hi);
        s->pos[i] = t->tensors[i].offset - omgd->group_start[u + 1] + st->own_off[i] - lo;
    }
    s->always_own = st->always_own;
    s->unit_own = st->num_units > 0 ? st->unit_own[0] : 0;
    s->slots_mode = !omgd->tensor_units;
    s->unit_slot = (int *)xmalloc((size_t)st->num_units * sizeof(int), "slice slots");
    for (int u = 0; u < st->num_units; u++) s->unit_slot[u] = -1;
    s->always_size = st->always_floats;
    s->unit_size = st->num_units > 0 ? st->unit_floats[0] : 0;
    for (int u = 0; u < st->num_units; u++)  // GPT-2 blocks are all alike; anything else repacks
        if (st->unit_floats[u] != s->unit_size) s->slots_mode = 0;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking));
    CUDA_CHECK(cudaEventCreateWithFlags(&s->compute_done, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&s->ready, cudaEventDisableTiming));
}

static inline void device_slice_release_buffers(DeviceSlice *s) {
    CUDA_CHECK(cudaFree(s->grads));
    CUDA_CHECK(cudaFree(s->master));
    CUDA_CHECK(cudaFree(s->m));
    CUDA_CHECK(cudaFree(s->v));
    if (s->sharded) CUDA_CHECK(cudaFree(s->gshard));
    s->grads = s->master = s->m = s->v = s->gshard = NULL;
    s->floats = s->own_floats = 0;
}

// floats: the slice; own: its owned layout (= floats with one rank).
static inline void device_slice_alloc(DeviceSlice *s, size_t floats, size_t own) {
    device_slice_release_buffers(s);
    size_t bytes = (floats ? floats : 1) * sizeof(float), own_bytes = (own ? own : 1) * sizeof(float);
    CUDA_CHECK(cudaMalloc((void **)&s->grads, bytes));
    CUDA_CHECK(cudaMalloc((void **)&s->m, own_bytes));
    CUDA_CHECK(cudaMalloc((void **)&s->v, own_bytes));
#ifndef ENABLE_FP32
    CUDA_CHECK(cudaMalloc((void **)&s->master, own_bytes));
#endif
    if (s->sharded) CUDA_CHECK(cudaMalloc((void **)&s->gshard, own_bytes));
    else s->gshard = s->grads;
    s->floats = floats;
    s->own_floats = own;
}

// Owned-layout offsets of the tensors from each active group's base
// (group_own, set by the caller).
static inline void set_own_offsets(DeviceSlice *s) {
    const ParamTable *t = &s->host->table;
    const OptStateStore *st = &s->omgd->store;
    for (int i = 0; i < t->num_tensors; i++) {
        size_t base = s->group_own[st->unit_of_tensor[i] + 1];
        s->own[i] = s->off[i] == NOT_ON_DEVICE || base == NOT_ON_DEVICE || st->own_n[i] == 0 ? NOT_ON_DEVICE
                                                                                              : base + s->pos[i];
    }
}

// The fp32 master weight of tensor i on the device (its slice copy; the
// fp32 build: the weights themselves).
// The fp32 master weight of tensor i's owned part on the device (one rank:
// the whole tensor; the fp32 build: the weights themselves).
static inline float *device_slice_master(const DeviceSlice *s, int i) {
#ifdef ENABLE_FP32
    return (float *)s->params + s->host->table.tensors[i].offset + s->omgd->store.own_off[i];
#else
    return s->master + s->own[i];
#endif
}

// Enqueues tensor i's master weight and moments device -> host (moments
// only where the host still keeps them: the reset policy drops a leaving
// unit's). The fp32 build's weights are the master weights, whole on every
// rank (all-gathered): the whole tensor goes; the bf16 build's master
// weights and every build's moments: this rank's owned part.
static inline void tensor_to_host(DeviceSlice *s, int i, cudaStream_t st) {
    const ParamTensor *p = &s->host->table.tensors[i];
    const OptStateStore *store = &s->omgd->store;
#ifdef ENABLE_FP32
    CUDA_CHECK(cudaMemcpyAsync(s->host->params + p->offset, (float *)s->params + p->offset, p->numel * sizeof(float),
                               cudaMemcpyDeviceToHost, st));
#endif
    if (s->own[i] == NOT_ON_DEVICE) return;  // none of it is this rank's
    size_t bytes = store->own_n[i] * sizeof(float);
#ifndef ENABLE_FP32
    CUDA_CHECK(cudaMemcpyAsync(s->host->params + p->offset + store->own_off[i], s->master + s->own[i], bytes,
                               cudaMemcpyDeviceToHost, st));
#endif
    if (store->m_of[i]) {
        CUDA_CHECK(cudaMemcpyAsync(store->m_of[i], s->m + s->own[i], bytes, cudaMemcpyDeviceToHost, st));
        CUDA_CHECK(cudaMemcpyAsync(store->v_of[i], s->v + s->own[i], bytes, cudaMemcpyDeviceToHost, st));
    }
}

// Enqueues tensor i's owned master weight (bf16 build) and moments host -> device.
static inline void tensor_to_device(DeviceSlice *s, int i, cudaStream_t st) {
    const ParamTensor *p = &s->host->table.tensors[i];
    const OptStateStore *store = &s->omgd->store;
    if (s->own[i] == NOT_ON_DEVICE) return;
    size_t bytes = store->own_n[i] * sizeof(float);
    if (!store->m_of[i]) fail("internal: tensor %s is active but has no optimizer state", p->name);
#ifndef ENABLE_FP32
    CUDA_CHECK(cudaMemcpyAsync(s->master + s->own[i], s->host->params + p->offset + store->own_off[i], bytes,
                               cudaMemcpyHostToDevice, st));
#endif
    CUDA_CHECK(cudaMemcpyAsync(s->m + s->own[i], store->m_of[i], bytes, cudaMemcpyHostToDevice, st));
    CUDA_CHECK(cudaMemcpyAsync(s->v + s->own[i], store->v_of[i], bytes, cudaMemcpyHostToDevice, st));
}

// Makes the host model and state store current: every tensor on the device
// goes to the host (synchronously).
static inline void device_slice_to_host(DeviceSlice *s) {
    CUDA_CHECK(cudaStreamSynchronize(s->copy));
    CUDA_CHECK(cudaStreamSynchronize(s->compute));
    const ParamTable *t = &s->host->table;
    for (int i = 0; i < t->num_tensors; i++)
        if (s->off[i] != NOT_ON_DEVICE) tensor_to_host(s, i, s->compute);
    CUDA_CHECK(cudaStreamSynchronize(s->compute));
}

// Whether the tensors on the device differ from the trainable ones.
static inline int device_slice_differs(const DeviceSlice *s) {
    const ParamTable *t = &s->host->table;
    for (int i = 0; i < t->num_tensors; i++)
        if ((s->off[i] != NOT_ON_DEVICE) != (s->omgd->trainable[i] != 0)) return 1;
    return 0;
}

// Slice offsets from the slot of each unit (slots mode).
static inline void set_slot_offsets(DeviceSlice *s) {
    const ParamTable *t = &s->host->table;
    const OptStateStore *st = &s->omgd->store;
    for (int i = 0; i < t->num_tensors; i++) {
        int u = st->unit_of_tensor[i];
        const ParamTensor *p = &t->tensors[i];
        if (u < 0) s->off[i] = p->offset;  // the always-active group is [0, always_size) in both layouts
        else if (s->unit_slot[u] < 0) s->off[i] = NOT_ON_DEVICE;
        else s->off[i] = s->always_size + (size_t)s->unit_slot[u] * s->unit_size + (p->offset - t->block_offset[u]);
    }
    // the owned layout: the always-active group's chunk, then one chunk per slot
    s->group_own[0] = 0;
    for (int u = 0; u < st->num_units; u++)
        s->group_own[u + 1] = s->unit_slot[u] < 0 ? NOT_ON_DEVICE : s->always_own + (size_t)s->unit_slot[u] * s->unit_own;
    set_own_offsets(s);
}

// Synchronous (re)placement: everything on the device goes to the host,
// buffers are sized for the new slice, the trainable tensors come up.
static inline void repack(DeviceSlice *s, int nslots) {
    const ParamTable *t = &s->host->table;
    const Omgd *o = s->omgd;
    device_slice_to_host(s);
    size_t floats, own = 0;
    if (s->slots_mode) {
        floats = s->always_size + (size_t)nslots * s->unit_size;
        own = s->always_own + (size_t)nslots * s->unit_own;
        int next = 0;
        for (int u = 0; u < o->settings.mask.num_units; u++) s->unit_slot[u] = o->unit_active[u] ? next++ : -1;
        s->nslots = nslots;
        set_slot_offsets(s);
    } else {
        floats = 0;
        for (int i = 0; i < t->num_tensors; i++) {
            s->off[i] = o->trainable[i] ? floats : NOT_ON_DEVICE;
            if (o->trainable[i]) floats += t->tensors[i].numel;
        }
        for (int g = 0; g < o->num_groups; g++) {  // active groups' chunks, in group order
            int active = o->group_floats[g] && o->trainable[o->group_first[g]];
            s->group_own[g] = active ? own : NOT_ON_DEVICE;
            if (active) own += g == 0 ? s->always_own : o->store.unit_own[g - 1];
        }
        set_own_offsets(s);
    }
    if (floats != s->floats || own != s->own_floats || !s->grads)
        device_slice_alloc(s, floats, own);  // only the active slice is held
    for (int i = 0; i < t->num_tensors; i++)
        if (s->off[i] != NOT_ON_DEVICE) tensor_to_device(s, i, s->compute);
    CUDA_CHECK(cudaStreamSynchronize(s->compute));
}

// Swaps blocks in their slots on the copy stream (slots mode, the number of
// slots unchanged): leaving blocks down, then arriving blocks up into the
// freed slots (one stream: in that order). A block that stays keeps its slot
// and its data; the always-active group never moves.
static inline void swap_slots(DeviceSlice *s) {
    const ParamTable *t = &s->host->table;
    const Omgd *o = s->omgd;
    const OptStateStore *st = &o->store;
    int nu = o->settings.mask.num_units;
    // the previous update has finished before its results are copied (the
    // host does not wait for the update: it may still be running)
    CUDA_CHECK(cudaEventRecord(s->compute_done, s->compute));
#ifndef OMGD_TEST_NO_COPY_WAIT  // a mutant for the ordering tests
    CUDA_CHECK(cudaStreamWaitEvent(s->copy, s->compute_done, 0));
#endif
    ordering_spin(s->copy);  // the ordering tests' late copies (nothing in a normal build)
    uint8_t *used = (uint8_t *)xcalloc((size_t)s->nslots, 1, "slice slots");
    uint8_t *arriving = (uint8_t *)xcalloc((size_t)nu, 1, "slice slots");
    for (int u = 0; u < nu; u++) {
        if (s->unit_slot[u] < 0) continue;
        if (o->unit_active[u]) {
            used[s->unit_slot[u]] = 1;
            continue;
        }
        for (int i = 0; i < t->num_tensors; i++)  // leaving: with the old offsets
            if (st->unit_of_tensor[i] == u) tensor_to_host(s, i, s->copy);
        s->unit_slot[u] = -1;
    }
    for (int u = 0; u < nu; u++) {
        if (!o->unit_active[u] || s->unit_slot[u] >= 0) continue;
        int slot = 0;
        while (slot < s->nslots && used[slot]) slot++;
        if (slot == s->nslots) fail("internal: more active blocks than slots (%d)", s->nslots);
        used[slot] = 1;
        s->unit_slot[u] = slot;
        arriving[u] = 1;
    }
    set_slot_offsets(s);
    for (int i = 0; i < t->num_tensors; i++) {
        int u = st->unit_of_tensor[i];
        if (u >= 0 && arriving[u]) tensor_to_device(s, i, s->copy);
    }
    CUDA_CHECK(cudaEventRecord(s->ready, s->copy));
    s->pending = 1;
    free(used);
    free(arriving);
}

// After omgd_begin_step: makes the device slice follow the mask (nothing
// to do unless the trainable tensors changed).
static inline void device_slice_follow(DeviceSlice *s) {
    if (!device_slice_differs(s)) return;
    const Omgd *o = s->omgd;
    if (!s->slots_mode) {
        repack(s, 0);
        return;
    }
    int nu = o->settings.mask.num_units, active = 0;
    for (int u = 0; u < nu; u++) active += o->unit_active[u] != 0;
    // gamma slots while masking; every block in warmup and mode none
    int target = mask_is_masking(&o->schedule) ? o->settings.mask.gamma : nu;
    if (target > nu) target = nu;
    if (target < active) target = active;
    if (!s->grads || target != s->nslots) repack(s, target);
    else swap_slots(s);
}

// The most floats the slice can hold in a run with these settings (the
// memory plan's figure, before any slice exists): everything while all
// parameters train (mode none, warmup); otherwise the always-active group
// plus gamma blocks (the slots device_slice_follow keeps), or for tensor
// units the largest group of tensors one period can activate.
static inline size_t device_slice_max_floats(const Omgd *o) {
    const MaskSettings *s = &o->settings.mask;
    const OptStateStore *st = &o->store;
    if (s->mode == MASK_NONE || s->warmup_steps > 0) return o->table->num_params;  // (one rank's: see the plan)
    int nu = st->num_units, take = s->gamma;
    if (s->mode == MASK_OMGD_TENSOR) take = (nu + s->gamma - 1) / s->gamma;  // one of M groups of tensors
    if (take > nu) take = nu;
    uint8_t *used = (uint8_t *)xcalloc((size_t)nu, 1, "slice plan");
    size_t total = st->always_floats;
    for (int k = 0; k < take; k++) {  // the `take` largest units
        int best = -1;
        for (int u = 0; u < nu; u++)
            if (!used[u] && (best < 0 || st->unit_floats[u] > st->unit_floats[best])) best = u;
        used[best] = 1;
        total += st->unit_floats[best];
    }
    free(used);
    return total;
}

// Before the update kernel: the compute stream waits for the switch's copies.
static inline void device_slice_wait(DeviceSlice *s) {
    if (!s->pending) return;
#ifndef OMGD_TEST_NO_UPDATE_WAIT  // a mutant for the ordering tests
    CUDA_CHECK(cudaStreamWaitEvent(s->compute, s->ready, 0));
#endif
    s->pending = 0;
}

// Before the host frees or rewrites what the switch's copies read or write
// (omgd_begin_step drops a leaving unit's moments under state reset): the
// host waits for copies that no update has waited for (the update after the
// switch was skipped). Nothing to wait for otherwise.
static inline void device_slice_settle(DeviceSlice *s) {
    if (!s->pending) return;
    CUDA_CHECK(cudaStreamSynchronize(s->copy));
    s->pending = 0;
}

// The segments of one fused update over the slice (omgd/omgd_update.cuh),
// with the per-tensor constants of the CPU's omgd_adamw_update
// (omgd/omgd_update.c): each active tensor's step count advances; mask
// units' gradients are scaled by clip * pool, the always-active group's by
// clip. seg: room for every tensor. Returns the number of segments.
static inline int device_slice_segments(DeviceSlice *s, const AdamWHyper *h, float clip, float pool, OmgdSegment *seg,
                                        long long *total) {
    const ParamTable *t = &s->host->table;
    OptStateStore *st = &s->omgd->store;
    int n = 0;
    *total = 0;
    for (int i = 0; i < t->num_tensors; i++) {
        if (!s->omgd->trainable[i]) continue;
        if (s->off[i] == NOT_ON_DEVICE) fail("internal: tensor %s is trainable but not on the device", t->tensors[i].name);
        int64_t step = ++st->tensor_step[i];  // on every rank, owner or not
        if (s->own[i] == NOT_ON_DEVICE) continue;  // another rank updates it
        const ParamTensor *p = &t->tensors[i];
        AdamWScalars k = adamw_scalars(h, step, p->decay, st->unit_of_tensor[i] >= 0 ? clip * pool : clip);
        OmgdSegment g;
        g.start = *total;
        g.count = (long long)st->own_n[i];
        g.param_offset = (long long)(p->offset + st->own_off[i]);
        g.grad_offset = (long long)s->own[i];  // gshard: the owned layout
        g.state_offset = (long long)s->own[i];
#ifdef ENABLE_FP32
        g.master_offset = g.param_offset;  // the fp32 weights are the master
#else
        g.master_offset = (long long)s->own[i];
#endif
        g.bc1 = k.bc1;
        g.bc2 = k.bc2;
        g.wd = k.wd;
        g.grad_scale = k.grad_scale;
        seg[n++] = g;
        *total += g.count;
    }
    return n;
}

// Where the update kernel finds the master weights.
static inline float *device_slice_master_base(const DeviceSlice *s) {
#ifdef ENABLE_FP32
    return (float *)s->params;
#else
    return s->master;
#endif
}

static inline void device_slice_free(DeviceSlice *s) {
    CUDA_CHECK(cudaStreamSynchronize(s->copy));
    CUDA_CHECK(cudaStreamSynchronize(s->compute));
    device_slice_release_buffers(s);
    CUDA_CHECK(cudaStreamDestroy(s->copy));
    CUDA_CHECK(cudaEventDestroy(s->compute_done));
    CUDA_CHECK(cudaEventDestroy(s->ready));
    free(s->off);
    free(s->own);
    free(s->pos);
    free(s->group_own);
    free(s->unit_slot);
}

#endif
