// The bookkeeping of omgd/device_slice.cuh (slots, offsets, which state
// goes down and comes up at a period switch) on the CPU, without a GPU: the
// CUDA runtime calls it makes are replaced by host stand-ins
// (test/host/cuda_on_host.cuh: memory is host memory; the copy stream's
// writes land only when waited for, so device_slice_wait must be called
// before the device state is read; the compute stream here is the legacy
// stream 0, which runs at once). Every offset and every transfer is
// checked; the engine's ordering, test/test_gpu_ordering_on_cpu.sh.
//
// Two copies of a small model and its OMGD state follow the same schedule:
// the reference trains on the host (each trainable tensor's weights and
// moments get a step- and element-dependent increment, its step count
// advances); the other does the same increments through the device slice.
// After every period switch and at the end, the device side is synced to the
// host and must equal the reference bit for bit. Built in bf16 and fp32
// layouts (-DENABLE_FP32: the device weights are the master weights).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/common.cuh"

#include "test/host/cuda_on_host.cuh"  // the CUDA calls of device_slice.cuh, on the host
#include "omgd/device_slice.cuh"
extern "C" {
#include "omgd/adamw.h"
}

static int failures = 0;
static void check(int cond, const char *name, const char *why) {
    if (cond) printf("ok - %s (%s)\n", name, PRECISION_NAME);
    else printf("not ok - %s (%s): %s\n", name, PRECISION_NAME, why), failures++;
}

// The increment one step makes to element j of tensor i (exact in fp32).
static float bump(int step, int i, size_t j) { return (float)((step * 7 + i * 3 + (int)(j % 5)) % 11) * 0.125f; }

typedef struct {
    GPT2 model;
    Omgd omgd;
} Side;

static void side_init(Side *s, const OmgdSettings *os) {
    GPT2Config c = {16, 50, 64, 6, 2, 8};  // maxT, V, Vp, L, NH, C
    gpt2_build(&s->model, &c);
    gpt2_init_random(&s->model, 1);
    omgd_init(&s->omgd, os, &s->model.table);
}

static void side_free(Side *s) {
    omgd_free(&s->omgd);
    gpt2_free(&s->model);
}

// One step of increments on the trainable tensors: where their weights and
// moments live is d's (through the device slice) or, d NULL, the host's
// (the reference).
static void take_step(Side *s, DeviceSlice *d, int step) {
    const ParamTable *t = &s->model.table;
    OptStateStore *st = &s->omgd.store;
    for (int i = 0; i < t->num_tensors; i++) {
        if (!s->omgd.trainable[i]) continue;
        st->tensor_step[i]++;
        const ParamTensor *p = &t->tensors[i];
        float *w = d ? device_slice_master(d, i) : s->model.params + p->offset;
        float *m = d ? d->m + d->off[i] : st->m_of[i], *v = d ? d->v + d->off[i] : st->v_of[i];
        for (size_t j = 0; j < p->numel; j++) {
            w[j] += bump(step, i, j);
            m[j] += bump(step + 1, i, j);
            v[j] += bump(step + 2, i, j);
        }
    }
}

static int same_state(const Side *a, const Side *b) {
    const ParamTable *t = &a->model.table;
    if (memcmp(a->model.params, b->model.params, t->num_params * sizeof(float)) != 0) return 0;
    for (int i = 0; i < t->num_tensors; i++) {
        const OptStateStore *x = &a->omgd.store, *y = &b->omgd.store;
        if (x->tensor_step[i] != y->tensor_step[i]) return 0;
        if ((x->m_of[i] == NULL) != (y->m_of[i] == NULL)) return 0;
        size_t n = t->tensors[i].numel * sizeof(float);
        if (x->m_of[i] && (memcmp(x->m_of[i], y->m_of[i], n) != 0 || memcmp(x->v_of[i], y->v_of[i], n) != 0)) return 0;
    }
    return 1;
}

static void run_case(const char *name, MaskMode mode, int gamma, int warmup, StatePolicy policy) {
    OmgdSettings os;
    memset(&os, 0, sizeof os);
    os.mask.mode = mode;
    os.mask.gamma = gamma;
    os.mask.switch_interval = 3;
    os.mask.warmup_steps = warmup;
    os.mask.seed = 99;
    os.state = policy;
    Side ref, dev;
    side_init(&ref, &os);
    side_init(&dev, &os);
    size_t P = dev.model.table.num_params;
    floatX *params = (floatX *)xcalloc(P, sizeof(floatX), "device weights");
#ifdef ENABLE_FP32
    memcpy(params, dev.model.params, P * sizeof(float));  // the device weights are the master weights
#endif
    DeviceSlice d;
    device_slice_init(&d, &dev.model, &dev.omgd, params, (cudaStream_t)0, 0);
    int equal_at_switches = 1, only_trainable = 1, capacity_ok = 1, switches = 0;
    const int steps = 20;
    for (int step = 0; step < steps; step++) {
        omgd_begin_step(&ref.omgd, &ref.model, step, 0);
        int switched = omgd_begin_step(&dev.omgd, &dev.model, step, 0);
        device_slice_follow(&d);
        device_slice_wait(&d);
        for (int i = 0; i < dev.model.table.num_tensors; i++)
            if ((d.off[i] != NOT_ON_DEVICE) != (dev.omgd.trainable[i] != 0)) only_trainable = 0;
        if (d.slots_mode && mask_is_masking(&dev.omgd.schedule) && d.floats != d.always_size + (size_t)gamma * d.unit_size)
            capacity_ok = 0;
        take_step(&ref, NULL, step);
        take_step(&dev, &d, step);
        if (switched) {
            switches++;
            device_slice_to_host(&d);
            if (!same_state(&ref, &dev)) equal_at_switches = 0;
        }
    }
    device_slice_to_host(&d);
    char what[160];
    snprintf(what, sizeof what, "%s: host state equals the host-only reference after %d steps", name, steps);
    check(same_state(&ref, &dev), what, "weights, moments or step counts differ");
    if (switches > 0) {
        snprintf(what, sizeof what, "%s: equal after each of %d period switches", name, switches);
        check(equal_at_switches, what, "differs after a switch");
    }
    snprintf(what, sizeof what, "%s: exactly the trainable tensors are on the device", name);
    check(only_trainable, what, "a frozen tensor on the device or a trainable one missing");
    if (d.slots_mode && mode != MASK_NONE) {
        snprintf(what, sizeof what, "%s: while masking the device holds the always-active group + gamma blocks", name);
        check(capacity_ok, what, "slice capacity differs");
    }
    device_slice_free(&d);
    free(params);
    side_free(&ref);
    side_free(&dev);
}

// The fused update through the slice (segments from device_slice_segments,
// the kernel's element function run on the host) against the CPU trainer's
// omgd_apply_update, over 12 steps and 3 periods with gradient clipping.
static void update_case(const char *name, MaskMode mode, StatePolicy policy) {
    OmgdSettings os;
    memset(&os, 0, sizeof os);
    os.mask.mode = mode;
    os.mask.gamma = 2;
    os.mask.switch_interval = 4;
    os.mask.seed = 5;
    os.state = policy;
    Side ref, dev;
    side_init(&ref, &os);
    side_init(&dev, &os);
    const ParamTable *t = &dev.model.table;
    size_t P = t->num_params;
    floatX *params = (floatX *)xmalloc(P * sizeof(floatX), "device weights");
    for (size_t j = 0; j < P; j++) params[j] = (floatX)dev.model.params[j];
    OmgdSegment *seg = (OmgdSegment *)xmalloc((size_t)t->num_tensors * sizeof(OmgdSegment), "segments");
    DeviceSlice d;
    device_slice_init(&d, &dev.model, &dev.omgd, params, (cudaStream_t)0, 0);
    AdamWHyper h = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f};
    int copy_ok = 1;
    for (int step = 0; step < 12; step++) {
        omgd_begin_step(&ref.omgd, &ref.model, step, 0);
        omgd_begin_step(&dev.omgd, &dev.model, step, 0);
        device_slice_follow(&d);
        for (int i = 0; i < t->num_tensors; i++) {
            if (!ref.omgd.trainable[i]) continue;
            for (size_t j = 0; j < t->tensors[i].numel; j++) {
                float g = (bump(step, i, j) - 0.6f) * (i % 3 == 0 ? 0.01f : 1.0f);
                ref.model.grad_of[i][j] = g;
                d.grads[d.off[i] + j] = g;
            }
        }
        float norm = omgd_grad_norm(&ref.model);
        omgd_apply_update(&ref.omgd, &ref.model, &h, 1.0f, norm);  // clips: the norm is well above 1
        float clip = grad_clip_factor(norm, 1.0f), pool = (float)mask_grad_scale(&dev.omgd.schedule);
        long long total;
        int nseg = device_slice_segments(&d, &h, clip, pool, seg, &total);
        device_slice_wait(&d);
        float *master = device_slice_master_base(&d);
        for (long long idx = 0; idx < total; idx++)
            omgd_adamw_element(idx, master, params, d.grads, d.m, d.v, seg, nseg, h.lr, h.beta1, h.beta2, h.eps, 77);
        for (int i = 0; i < t->num_tensors; i++) {  // the model's copy follows the master weight
            if (!dev.omgd.trainable[i]) continue;
            const float *w = device_slice_master(&d, i);
            for (size_t j = 0; j < t->tensors[i].numel; j++) {
                float c = (float)params[t->tensors[i].offset + j];
                if (fabsf(c - w[j]) > fabsf(w[j]) * (1.0f / 128.0f)) copy_ok = 0;  // bf16: within one unit of 8 bits
            }
        }
    }
    device_slice_to_host(&d);
    double worst = 0.0;
    for (size_t j = 0; j < P; j++) {
        double e = fabs((double)dev.model.params[j] - ref.model.params[j]) / (fabs(ref.model.params[j]) + 1e-3);
        if (!(e <= worst)) worst = e;
    }
    int moments_ok = 1;
    for (int i = 0; i < t->num_tensors; i++) {
        const OptStateStore *x = &dev.omgd.store, *y = &ref.omgd.store;
        if (x->tensor_step[i] != y->tensor_step[i] || (x->m_of[i] == NULL) != (y->m_of[i] == NULL)) moments_ok = 0;
        for (size_t j = 0; x->m_of[i] && y->m_of[i] && j < t->tensors[i].numel; j++)
            if (fabsf(x->m_of[i][j] - y->m_of[i][j]) > 1e-6f * fabsf(y->m_of[i][j]) + 1e-12f ||
                fabsf(x->v_of[i][j] - y->v_of[i][j]) > 1e-6f * fabsf(y->v_of[i][j]) + 1e-12f)
                moments_ok = 0;
    }
    char what[200], why[96];
    snprintf(what, sizeof what, "%s: fused update through the slice = the CPU update (weights, 12 steps)", name);
    snprintf(why, sizeof why, "max relative difference %.3g > 1e-6", worst);
    check(worst <= 1e-6, what, why);
    snprintf(what, sizeof what, "%s: moments and step counts = the CPU update's", name);
    check(moments_ok, what, "differ");
    snprintf(what, sizeof what, "%s: the model's copy of every updated weight follows its master", name);
    check(copy_ok, what, "a copy further than 2^-7 from its master");
    device_slice_free(&d);
    free(seg);
    free(params);
    side_free(&ref);
    side_free(&dev);
}

int main(void) {
    run_case("omgd keep", MASK_OMGD, 2, 0, STATE_KEEP);
    run_case("omgd reset", MASK_OMGD, 2, 0, STATE_RESET);
    run_case("omgd gamma 4 of 6 (a short last draw)", MASK_OMGD, 4, 0, STATE_KEEP);
    run_case("lisa", MASK_LISA, 3, 0, STATE_KEEP);
    run_case("omgd after 4 warmup steps", MASK_OMGD, 2, 4, STATE_KEEP);
    run_case("full AdamW", MASK_NONE, 1, 0, STATE_KEEP);
    run_case("omgd_tensor (repacked)", MASK_OMGD_TENSOR, 3, 0, STATE_KEEP);
    update_case("omgd keep", MASK_OMGD, STATE_KEEP);
    update_case("omgd reset", MASK_OMGD, STATE_RESET);
    update_case("full AdamW", MASK_NONE, STATE_KEEP);
    update_case("omgd_tensor", MASK_OMGD_TENSOR, STATE_KEEP);
    return failures ? 1 : 0;
}
