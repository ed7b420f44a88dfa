// The GPU trainer: GPT-2 forward and backward in CUDA kernels (kernels/)
// and cuBLASLt, the fused OMGD-AdamW update (omgd/omgd_update.cuh), with
// bf16 weights and activations and fp32 master weights, moments and
// reductions (fp32 everywhere in the -DENABLE_FP32 build).
//
// main() is train_gpt2.c's: the same config, data, log, checkpoints and
// OMGD schedule as the CPU trainer. This file is the engine it drives
// (model/engine.h). The host GPT2 and the Omgd state store stay the
// checkpointed truth; the device holds:
//   - the bf16 weights of the whole model (the fp32 build: fp32 weights,
//     which then serve as master weights too);
//   - for the active slice only (the tensors that have a gradient this
//     period): fp32 gradients, master weights and AdamW moments, packed in
//     table order ("slice layout");
//   - the activations of one micro-batch.
// At a new period the leaving blocks' master weights and moments go to
// pinned host memory and the arriving blocks' come up, on a copy stream
// that overlaps the step's forward and backward passes
// (omgd/device_slice.cuh). The backward pass launches no weight- or
// bias-gradient work for frozen tensors.
//
// Data parallel (mpirun -np N, srun, or the fs/tcp rendezvous: comm/comm.h's
// NCCL back end), one GPU per rank, picked by the node-local rank: each rank
// runs 1/N of the micro-batches; each active group's gradient (a block, or
// the embeddings and final LayerNorm) is reduce-scattered in fp32 on the
// communication stream as soon as the backward pass is past it, so that it
// overlaps the rest of the backward pass; each rank updates its own chunk
// (master weights and moments of 1/N of the slice) with the fused kernel,
// and the updated weights are all-gathered. Frozen blocks send nothing.
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ENGINE_ON_CPU
// A test build (test/test_gpu_engine_on_cpu.sh): the kernel launchers and
// the CUDA runtime calls run on the CPU, so this file's wiring can be
// checked against the CPU trainer without a GPU.
#include "test/host/engine_on_cpu.cuh"
#else
#include "kernels/attention.cuh"
#include "kernels/classifier.cuh"
#include "kernels/encoder.cuh"
#include "kernels/gelu.cuh"
#include "kernels/grad_norm.cuh"
#include "kernels/layernorm.cuh"
#include "kernels/matmul.cuh"
#endif
#include "omgd/device_slice.cuh"
#include "omgd/omgd_update.cuh"
extern "C" {
#include "comm/launcher.h"
#include "common/rng.h"
#include "common/sysmem.h"
#include "model/cpu_layers.h"
#include "model/engine.h"
#include "model/mfu.h"
}

#ifdef ENGINE_ON_CPU
// The CPU build stands in MPI for NCCL: its collectives return done, so the
// engine queues each one on its communication stand-in stream, where it
// runs in the stream's order (after the waits before it).
#define ON_COMM_STREAM(st, call) emu_launch(st, [=] { call; })
#else
// NCCL queues the collective on the communication stream itself.
#define ON_COMM_STREAM(st, call) call
#endif

// Activations of one forward pass for (B, T), and the backward pass's
// scratch; floatX unless marked fp32. Per-layer arrays hold L slices, except
// what train.recompute recomputes in the backward pass instead: with 1 the
// GELU output, with 2 also the LayerNorm outputs, hold one layer (reused).
typedef struct {
    floatX *encoded, *ln1, *qkv, *atty, *residual2, *ln2, *fch, *fch_gelu, *residual3;
    floatX *proj, *lnf, *logits;                     // proj: attention / MLP projection before the residual add
    floatX *dresidual, *dln, *dqkv, *datty, *dfch;   // backward scratch (one layer at a time)
    float *ln1_mean, *ln1_rstd, *ln2_mean, *ln2_rstd, *lse, *lnf_mean, *lnf_rstd, *losses, *attn_D;  // fp32
} DeviceActs;

struct Engine {
    GPT2 *model;
    Omgd *omgd;
    const Config *cfg;
    int max_tokens;             // B * T of the training micro-batch
    cudaStream_t stream;
    MatmulContext mm;
    floatX *params;             // every parameter, the table's layout
    DeviceSlice slice;          // gradients, master weights and moments of the active slice
    OmgdSegment *seg_host, *seg_dev;
    // activations
    DeviceActs a;
    floatX *act_x;
    float *act_f;
    int *inputs, *targets;      // device copies of the batch
    int *in_stage[2], *tg_stage[2];  // pinned staging of the batch (two: the host fills one while the other's copy waits)
    cudaEvent_t stage_read[2];  // its last copy to the device has run
    int stage_next;
    double *loss_acc, *loss_acc_host;  // the step's loss sum: device, pinned host
    float *losses_host;         // pinned
    floatX *logit_row_host;     // pinned, one row of logits (sampling)
    float *norm_partial, *norm_out, *ln_scratch;
    int B, T, has_targets;      // the last forward's batch
    int recompute;              // train.recompute
    size_t peak_bytes;
    int params_pinned;
    // data parallelism (one rank: comm_st unused)
    Comm *comm;
    int sharded;                // more than one rank
    cudaStream_t comm_st;       // the collectives' stream (NCCL's own)
    cudaEvent_t ev_compute, ev_comm;
    int accum_local, micro;     // micro-batches per step on this rank; backward passes so far this step
    uint8_t *launched;          // per group: its reduce-scatter is queued this step
    char describe[320];
    double peak_flops;          // dense bf16 peak for MFU (0: unknown)
    char peak_what[320];
};

// Pinning that failed: the period switch's copies from and to that memory
// are pageable, so they block the host and lose their overlap. Said once,
// and only once a device is known to exist (without one the trainer stops
// in engine_plan with its own message).
static int pin_warned, engine_exists;
static const char *pin_failed_what;
static cudaError_t pin_failed_err;
static void pinning_failed(const char *what, cudaError_t err) {
    (void)cudaGetLastError();
    if (pin_warned) return;
    if (!pin_failed_what) pin_failed_what = what, pin_failed_err = err;
    if (!engine_exists) return;
    fprintf(stderr, "warning: could not pin %s in host memory (%s: %s); the period switch's copies are pageable: "
                    "they block the host and do not overlap the step (training goes on, slower)\n",
            pin_failed_what, cudaGetErrorName(pin_failed_err), cudaGetErrorString(pin_failed_err));
    pin_warned = 1;
}

// Optimizer state in pinned (page-locked) host memory, so that the parked
// moments move between host and device at full DMA speed. Installed in the
// state store before main() runs (a static initializer). Where pinning
// fails the heap serves (pinning_failed says so); a header records which.
#define PIN_HEADER 64
static float *pinned_moments_alloc(size_t bytes) {
    char *p = NULL;
    cudaError_t err = cudaMallocHost((void **)&p, bytes + PIN_HEADER);
    int pinned = err == cudaSuccess;
    if (!pinned) {
        pinning_failed("the parked AdamW moments", err);
        p = (char *)malloc(bytes + PIN_HEADER);
        if (!p) fail("out of memory allocating %zu bytes of AdamW moments", bytes);
    }
    memset(p + PIN_HEADER, 0, bytes);
    *(int *)p = pinned;
    return (float *)(p + PIN_HEADER);
}
static void pinned_moments_free(float *f) {
    char *p = (char *)f - PIN_HEADER;
    if (*(int *)p) CUDA_CHECK(cudaFreeHost(p));
    else free(p);
}
static struct InstallPinnedMoments {
    InstallPinnedMoments() { state_store_set_allocator(pinned_moments_alloc, pinned_moments_free); }
} install_pinned_moments;

static double gib(size_t bytes) { return bytes / 1073741824.0; }
static double mib_(size_t bytes) { return bytes / 1048576.0; }

// Lays out the activations of (B, T) from the two bases (NULL: only
// counts). Returns floatX elements; *nf gets fp32 elements.
static size_t layout_acts(DeviceActs *a, floatX *xb, float *fb, const GPT2Config *c, size_t B, size_t T, int recompute,
                          size_t *nf) {
    size_t L = c->num_layers, C = c->channels, NH = c->num_heads, Vp = c->padded_vocab_size, BT = B * T;
    size_t L_gelu = recompute >= 1 ? 1 : L, L_ln = recompute >= 2 ? 1 : L;
    struct { floatX **p; size_t n; } xs[] = {
        {&a->encoded, BT * C}, {&a->ln1, L_ln * BT * C}, {&a->qkv, L * BT * 3 * C}, {&a->atty, L * BT * C},
        {&a->residual2, L * BT * C}, {&a->ln2, L_ln * BT * C}, {&a->fch, L * BT * 4 * C}, {&a->fch_gelu, L_gelu * BT * 4 * C},
        {&a->residual3, L * BT * C}, {&a->proj, BT * C}, {&a->lnf, BT * C}, {&a->logits, BT * Vp},
        {&a->dresidual, BT * C}, {&a->dln, BT * C}, {&a->dqkv, BT * 3 * C}, {&a->datty, BT * C}, {&a->dfch, BT * 4 * C}};
    struct { float **p; size_t n; } fs[] = {
        {&a->ln1_mean, L * BT}, {&a->ln1_rstd, L * BT}, {&a->ln2_mean, L * BT}, {&a->ln2_rstd, L * BT},
        {&a->lse, L * B * NH * T}, {&a->lnf_mean, BT}, {&a->lnf_rstd, BT}, {&a->losses, BT},
        {&a->attn_D, attention_backward_scratch_floats(B, T, C, NH)}};
    size_t nx = 0;
    *nf = 0;
    // every part starts on a 16-element boundary (cuBLASLt and vector loads like aligned rows)
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        if (xb) *xs[i].p = xb + nx;
        nx += (xs[i].n + 15) / 16 * 16;
    }
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        if (fb) *fs[i].p = fb + *nf;
        *nf += (fs[i].n + 15) / 16 * 16;
    }
    return nx;
}

static size_t activation_bytes(const GPT2Config *c, size_t B, size_t T, int recompute) {
    DeviceActs a;
    size_t nf, nx = layout_acts(&a, NULL, NULL, c, B, T, recompute, &nf);
    return nx * sizeof(floatX) + nf * sizeof(float);
}

static void update_peak(Engine *e) {
    size_t free_b, total_b;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    if (total_b - free_b > e->peak_bytes) e->peak_bytes = total_b - free_b;
}

static void upload_params(Engine *e) {
    size_t n = e->model->table.num_params;
    floatX *stage = (floatX *)xmalloc(n * sizeof(floatX), "weights staging");
    for (size_t i = 0; i < n; i++) stage[i] = (floatX)e->model->params[i];  // bf16: round to nearest
    CUDA_CHECK(cudaMemcpy(e->params, stage, n * sizeof(floatX), cudaMemcpyHostToDevice));
    free(stage);
}

// One GPU per rank: the node-local rank's (the launcher's numbering); more
// ranks on a node than GPUs are refused.
static void pick_device(const Omgd *omgd) {
    int devices = 0;
    cudaError_t err = cudaGetDeviceCount(&devices);
    if (err == cudaErrorNoDevice) devices = 0;
    else if (err != cudaSuccess)  // the runtime's own words: a driver too old for this toolkit is not "no GPU"
        fail("no usable CUDA device: cudaGetDeviceCount failed with %s (%s); train_gpt2cu needs a GPU and a driver "
             "for this CUDA toolkit (the CPU trainer is ./train_gpt2)",
             cudaGetErrorName(err), cudaGetErrorString(err));
    if (devices == 0) fail("no CUDA device found: train_gpt2cu needs a GPU (the CPU trainer is ./train_gpt2)");
    int local = omgd->comm ? omgd->comm->local_rank : 0, gpu = launcher_gpu(local, devices);
    if (gpu < 0)
        fail("node-local rank %d has no GPU of its own: this node has %d GPU%s; start at most %d rank%s per node "
             "(one per GPU)",
             local, devices, devices == 1 ? "" : "s", devices, devices == 1 ? "" : "s");
    CUDA_CHECK(cudaSetDevice(gpu));
}

// Prints the memory plan and fails with one line if the device (or, for
// the parked state, the host) cannot hold it.
void engine_plan(const GPT2 *model, const Omgd *omgd, int B, int T, const Config *cfg) {
    pick_device(omgd);
    int ranks = omgd->comm ? omgd->comm->size : 1;
    const GPT2Config *c = &model->config;
    if (!attention_head_size_supported(c->channels / c->num_heads))
        fail("%s: model.channels / model.heads = %d / %d = %d: the GPU attention kernels take head sizes 16, 32 and 64",
             cfg->source, c->channels, c->num_heads, c->channels / c->num_heads);
    if ((long long)B * c->num_heads > CUDA_MAX_GRID_Y)  // the attention kernels' grid: (T tiles, B x heads)
        fail("%s: train.batch_size x model.heads = %d x %d = %lld is more than the attention kernels' grid takes "
             "(%d); use train.batch_size %d or less (train.total_batch_tokens keeps the batch by accumulation)",
             cfg->source, B, c->num_heads, (long long)B * c->num_heads, CUDA_MAX_GRID_Y, CUDA_MAX_GRID_Y / c->num_heads);
    const ParamTable *t = &model->table;
    size_t slice_max = device_slice_max_floats(omgd);
    // this rank's chunks: 1/N of each group, one element more at most
    size_t own_max = ranks > 1 ? slice_max / (size_t)ranks + (size_t)omgd->num_groups : slice_max;
    size_t P = t->num_params, C = c->channels;
    size_t weights = P * sizeof(floatX);
    size_t master = own_max * sizeof(float);
#ifdef ENABLE_FP32
    master = 0;  // the fp32 weights are the master weights
#endif
    // gradients: the whole slice (the backward pass) and, sharded, the summed chunks
    size_t moments = 2 * own_max * sizeof(float), grads = (slice_max + (ranks > 1 ? own_max : 0)) * sizeof(float);
    size_t acts = activation_bytes(c, (size_t)B, (size_t)T, cfg->train.recompute);
    size_t work = matmul_context_bytes(4 * (int)C) + layernorm_scratch_floats((int)C) * sizeof(float) +
                  (GRAD_NORM_BLOCKS + 16) * sizeof(float) + (size_t)t->num_tensors * sizeof(OmgdSegment) +
                  2 * (size_t)B * T * sizeof(int);
    if (ranks > 1) {  // a checkpoint gathers one group's master weights at a time
        size_t largest = 0;
        for (int g = 0; g < omgd->num_groups; g++)
            if (omgd->group_floats[g] > largest) largest = omgd->group_floats[g];
        work += largest * sizeof(float);
    }
    size_t need = weights + master + moments + grads + acts + work;
    size_t full = weights + (master ? P * sizeof(float) : 0) + 3 * P * sizeof(float) + acts + work;
    // host: the fp32 weights (the parked master weights) and, over a run,
    // the moments of every unit that has been active (state keep)
    size_t host = P * sizeof(float) + (omgd->settings.state == STATE_KEEP ? 2 * P : 2 * slice_max) * sizeof(float);
    if (ranks > 1) printf("memory plan of one rank (of %d; each holds 1/%d of the master weights and moments):\n", ranks, ranks);
    printf("memory plan (GPU, %s, omgd.mode %s): weights %.1f MiB | master %.1f MiB | moments %.1f MiB | "
           "gradients %.1f MiB | activations %.1f MiB | workspace %.1f MiB | total %.1f MiB "
           "(full AdamW: %.1f MiB); host (pinned) up to %.1f MiB\n",
           PRECISION_NAME, cfg->omgd.mode, mib_(weights), mib_(master), mib_(moments), mib_(grads), mib_(acts),
           mib_(work), mib_(need), mib_(full), mib_(host));
    size_t free_b, total_b;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    size_t margin = 256u << 20;  // the CUDA context's own allocations and fragmentation
    if (need + margin > free_b) {
        size_t fixed = need - acts, per_row = activation_bytes(c, 1, (size_t)T, cfg->train.recompute);
        long long fit = free_b > fixed + margin ? (long long)((free_b - fixed - margin) / per_row) : 0;
        fail("%s: this run needs about %.2f GiB of GPU memory (weights %.2f, master %.2f, moments %.2f, gradients %.2f, "
             "activations %.2f, workspace %.2f) but %.2f GiB is free; train.batch_size %lld or less would fit%s",
             cfg->source, gib(need), gib(weights), gib(master), gib(moments), gib(grads), gib(acts), gib(work),
             gib(free_b), fit, fit == 0 ? " (none: use omgd.mode omgd with fewer omgd.active_layers, or a smaller model)" : "");
    }
    size_t host_avail = sysmem_available_bytes();
    if (host_avail > 0 && host > host_avail)
        fail("%s: the parked weights and optimizer state need up to %.2f GiB of host memory but %.2f GiB is available; "
             "omgd.state reset keeps only the active blocks' moments",
             cfg->source, gib(host), gib(host_avail));
}

Engine *engine_create(GPT2 *model, Omgd *omgd, int B, int T, const Config *cfg) {
    const GPT2Config *c = &model->config;
    Engine *e = (Engine *)xcalloc(1, sizeof *e, "engine");
    e->model = model;
    e->omgd = omgd;
    e->cfg = cfg;
    e->max_tokens = B * T;
    const ParamTable *t = &model->table;
    pick_device(omgd);
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    e->comm = omgd->comm;
    // several ranks, or NCCL on one (comm.init given explicitly: the GPU check's one-rank NCCL run)
    e->sharded = e->comm && (e->comm->size > 1 || comm_stream(e->comm) != NULL);
    char rank_s[64] = "";
    if (e->sharded) snprintf(rank_s, sizeof rank_s, ", rank %d of %d on GPU %d", e->comm->rank, e->comm->size, dev);
    snprintf(e->describe, sizeof e->describe, "CUDA %s on %s (sm_%d%d, %.1f GiB)%s", PRECISION_NAME, prop.name,
             prop.major, prop.minor, gib(prop.totalGlobalMem), rank_s);
    long long tokens_per_step = cfg->train.total_batch_tokens ? cfg->train.total_batch_tokens : (long long)B * T;
    e->accum_local = (int)(tokens_per_step / ((long long)B * T) / (e->comm ? e->comm->size : 1));
    if (e->sharded) {
        e->comm_st = (cudaStream_t)comm_stream(e->comm);
#ifdef ENGINE_ON_CPU
        // the stand-in for NCCL's stream (MPI has none), in one of two
        // schedules a GPU may pick, each exposing one missing wait: eager
        // (a collective runs as soon as its waits allow: one that does not
        // wait for the backward pass reads unfinished gradients) or, with
        // OMGD_EMU_COMM_LAZY=1, late (it runs only when waited for: a reader
        // that does not wait for it reads stale sums)
        CUDA_CHECK(emu_stream_create_kind(&e->comm_st, getenv("OMGD_EMU_COMM_LAZY") ? EMU_IN_ORDER : EMU_EAGER));
#endif
        if (!e->comm_st) fail("internal: the communication back end (%s) has no stream for the GPU trainer", comm_backend());
        CUDA_CHECK(cudaEventCreateWithFlags(&e->ev_compute, cudaEventDisableTiming));
        CUDA_CHECK(cudaEventCreateWithFlags(&e->ev_comm, cudaEventDisableTiming));
        e->launched = (uint8_t *)xcalloc((size_t)omgd->num_groups, 1, "reduce-scatter flags");
    }
    e->peak_flops = peak_bf16_flops(prop.name, getenv("OMGD_PEAK_TFLOPS"), e->peak_what, sizeof e->peak_what);

    CUDA_CHECK(cudaStreamCreate(&e->stream));
    matmul_context_init(&e->mm, 4 * c->channels);
    CUDA_CHECK(cudaMalloc((void **)&e->params, t->num_params * sizeof(floatX)));
    upload_params(e);
    // the host weights are the parked master weights: pinned, for fast transfers
    engine_exists = 1;
    cudaError_t pin = cudaHostRegister(model->params, t->num_params * sizeof(float), cudaHostRegisterDefault);
    e->params_pinned = pin == cudaSuccess;
    if (!e->params_pinned) pinning_failed("the parked master weights", pin);  // pageable transfers still work
    else if (pin_failed_what) pinning_failed(pin_failed_what, pin_failed_err);  // the moments' earlier failure
    device_slice_init(&e->slice, model, omgd, e->params, e->stream, e->sharded);
    e->seg_host = (OmgdSegment *)xmalloc((size_t)t->num_tensors * sizeof(OmgdSegment), "update segments");
    CUDA_CHECK(cudaMalloc((void **)&e->seg_dev, (size_t)t->num_tensors * sizeof(OmgdSegment)));
    e->recompute = cfg->train.recompute;
    size_t nf, nx = layout_acts(&e->a, NULL, NULL, c, (size_t)B, (size_t)T, e->recompute, &nf);
    CUDA_CHECK(cudaMalloc((void **)&e->act_x, nx * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc((void **)&e->act_f, nf * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&e->inputs, (size_t)B * T * sizeof(int)));
    CUDA_CHECK(cudaMalloc((void **)&e->targets, (size_t)B * T * sizeof(int)));
    CUDA_CHECK(cudaMallocHost((void **)&e->losses_host, (size_t)B * T * sizeof(float)));
    for (int k = 0; k < 2; k++) {
        CUDA_CHECK(cudaMallocHost((void **)&e->in_stage[k], (size_t)B * T * sizeof(int)));
        CUDA_CHECK(cudaMallocHost((void **)&e->tg_stage[k], (size_t)B * T * sizeof(int)));
        CUDA_CHECK(cudaEventCreateWithFlags(&e->stage_read[k], cudaEventDisableTiming));
    }
    CUDA_CHECK(cudaMalloc((void **)&e->loss_acc, sizeof(double)));
    CUDA_CHECK(cudaMallocHost((void **)&e->loss_acc_host, sizeof(double)));
    CUDA_CHECK(cudaMallocHost((void **)&e->logit_row_host, (size_t)c->padded_vocab_size * sizeof(floatX)));
    CUDA_CHECK(cudaMalloc((void **)&e->norm_partial, GRAD_NORM_BLOCKS * sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&e->norm_out, sizeof(float)));
    CUDA_CHECK(cudaMalloc((void **)&e->ln_scratch, layernorm_scratch_floats(c->channels) * sizeof(float)));
    update_peak(e);
    return e;
}

void engine_free(Engine *e) {
    if (!e) return;
    CUDA_CHECK(cudaStreamSynchronize(e->stream));
    device_slice_free(&e->slice);  // waits for the copy stream, whose copies may still use the pinned weights
    if (e->params_pinned) CUDA_CHECK(cudaHostUnregister(e->model->params));
    CUDA_CHECK(cudaFree(e->params));
    CUDA_CHECK(cudaFree(e->seg_dev));
    CUDA_CHECK(cudaFree(e->act_x));
    CUDA_CHECK(cudaFree(e->act_f));
    CUDA_CHECK(cudaFree(e->inputs));
    CUDA_CHECK(cudaFree(e->targets));
    CUDA_CHECK(cudaFreeHost(e->losses_host));
    for (int k = 0; k < 2; k++) {
        CUDA_CHECK(cudaFreeHost(e->in_stage[k]));
        CUDA_CHECK(cudaFreeHost(e->tg_stage[k]));
        CUDA_CHECK(cudaEventDestroy(e->stage_read[k]));
    }
    CUDA_CHECK(cudaFree(e->loss_acc));
    CUDA_CHECK(cudaFreeHost(e->loss_acc_host));
    CUDA_CHECK(cudaFreeHost(e->logit_row_host));
    CUDA_CHECK(cudaFree(e->norm_partial));
    CUDA_CHECK(cudaFree(e->norm_out));
    CUDA_CHECK(cudaFree(e->ln_scratch));
    matmul_context_free(&e->mm);
    CUDA_CHECK(cudaStreamDestroy(e->stream));
    if (e->sharded) {
        comm_wait(e->comm);
        CUDA_CHECK(cudaEventDestroy(e->ev_compute));
        CUDA_CHECK(cudaEventDestroy(e->ev_comm));
#ifdef ENGINE_ON_CPU
        CUDA_CHECK(cudaStreamDestroy(e->comm_st));
#endif
        free(e->launched);
    }
    free(e->seg_host);
    free(e);
}

const char *engine_describe(const Engine *e) { return e->describe; }

int engine_begin_step(Engine *e, int64_t step, int64_t epoch) {
    device_slice_settle(&e->slice);  // omgd_begin_step may free host moments that unwaited copies use
    int switched = omgd_begin_step(e->omgd, e->model, step, epoch);
    device_slice_follow(&e->slice);  // a new period, the first step, or a resumed mask
    update_peak(e);                  // device memory is allocated only at start-up and here
    return switched;
}

void engine_zero_grad(Engine *e) {
    CUDA_CHECK(cudaMemsetAsync(e->slice.grads, 0, (e->slice.floats ? e->slice.floats : 1) * sizeof(float), e->stream));
    CUDA_CHECK(cudaMemsetAsync(e->loss_acc, 0, sizeof(double), e->stream));
    if (!e->sharded) return;
    // chunks of empty slots count in the norm: zero (the reduce-scatters fill the rest)
    CUDA_CHECK(cudaMemsetAsync(e->slice.gshard, 0, (e->slice.own_floats ? e->slice.own_floats : 1) * sizeof(float),
                               e->stream));
    e->micro = 0;
    memset(e->launched, 0, (size_t)e->omgd->num_groups);
}

static int group_on(const Engine *e, int g) {
    const Omgd *o = e->omgd;
    return o->group_floats[g] && o->trainable[o->group_first[g]];
}

// Queues group g's reduce-scatter on the communication stream, after the
// gradient work queued so far on the compute stream: each rank gets the sum
// of its chunk, in the owned layout.
static void reduce_group(Engine *e, int g) {
    const Omgd *o = e->omgd;
    DeviceSlice *s = &e->slice;
    const float *send = s->grads + s->off[o->group_first[g]];
    float *recv = s->gshard + s->group_own[g];
    size_t n = o->group_floats[g];
    Comm *c = e->comm;
    e->launched[g] = 1;
    CUDA_CHECK(cudaEventRecord(e->ev_compute, e->stream));
    CUDA_CHECK(cudaStreamWaitEvent(e->comm_st, e->ev_compute, 0));
    ON_COMM_STREAM(e->comm_st, comm_reduce_scatter(c, send, recv, n));
}

// The reduce-scatters of the active groups whose gradients are complete
// once block l's backward pass is done (l < 0: every one not yet queued).
static void reduce_after_block(Engine *e, int l) {
    const Omgd *o = e->omgd;
    for (int g = 0; g < o->num_groups; g++)
        if (group_on(e, g) && !e->launched[g] && (l < 0 || e->model->table.tensors[o->group_first[g]].group == l))
            reduce_group(e, g);
}

// Layer l's LayerNorm output: its own slice, or with train.recompute 2 the
// one shared buffer (recomputed in the backward pass).
static floatX *recomputed_ln(const Engine *e, floatX *base, int l, size_t btc) {
    return e->recompute >= 2 ? base : base + (size_t)l * btc;
}

// Weight of tensor `kind` of block l on the device; its gradient (NULL when frozen).
static floatX *W(const Engine *e, int kind, int l) {
    return e->params + e->model->table.tensors[param_index(&e->model->table, kind, l)].offset;
}
static float *G(const Engine *e, int kind, int l) {
    size_t off = e->slice.off[param_index(&e->model->table, kind, l)];
    return off == NOT_ON_DEVICE ? NULL : e->slice.grads + off;
}

// The forward pass; with targets, the classifier's losses, and with dloss
// >= 0 also the logit gradient dloss * d(sum of losses)/d(logits) written
// over the logits in the same pass (training: the backward pass then skips
// the classifier). The host does not wait.
static void forward_pass(Engine *e, const int *inputs, const int *targets, int B, int T, float dloss) {
    const GPT2Config *c = &e->model->config;
    if (B <= 0 || T <= 0 || T > c->max_seq_len || (long long)B * T > e->max_tokens)
        fail("forward: batch %d x %d does not fit the model (context %d) or the GPU buffers (%d tokens)", B, T,
             c->max_seq_len, e->max_tokens);
    int L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size, Vp = c->padded_vocab_size, BT = B * T;
    for (int i = 0; i < BT; i++)
        if (inputs[i] < 0 || inputs[i] >= V || (targets && (targets[i] < 0 || targets[i] >= V)))
            fail("forward: token id out of range [0, %d) at position %d", V, i);
    size_t nf;
    layout_acts(&e->a, e->act_x, e->act_f, c, (size_t)B, (size_t)T, e->recompute, &nf);
    e->B = B;
    e->T = T;
    e->has_targets = targets != NULL;
    cudaStream_t s = e->stream;
    DeviceActs *a = &e->a;
    // through pinned staging (asynchronous copies); a slot is refilled only
    // once its previous copy has run
    int k = e->stage_next;
    e->stage_next ^= 1;
    CUDA_CHECK(cudaEventSynchronize(e->stage_read[k]));
    memcpy(e->in_stage[k], inputs, (size_t)BT * sizeof(int));
    CUDA_CHECK(cudaMemcpyAsync(e->inputs, e->in_stage[k], (size_t)BT * sizeof(int), cudaMemcpyHostToDevice, s));
    if (targets) {
        memcpy(e->tg_stage[k], targets, (size_t)BT * sizeof(int));
        CUDA_CHECK(cudaMemcpyAsync(e->targets, e->tg_stage[k], (size_t)BT * sizeof(int), cudaMemcpyHostToDevice, s));
    }
    CUDA_CHECK(cudaEventRecord(e->stage_read[k], s));
    encoder_forward_gpu(a->encoded, e->inputs, W(e, T_WTE, 0), W(e, T_WPE, 0), B, T, C, s);
    size_t btc = (size_t)BT * C;
    for (int l = 0; l < L; l++) {
        floatX *residual = l == 0 ? a->encoded : a->residual3 + (l - 1) * btc;
        floatX *ln1 = recomputed_ln(e, a->ln1, l, btc), *qkv = a->qkv + 3 * l * btc, *atty = a->atty + l * btc;
        floatX *residual2 = a->residual2 + l * btc, *ln2 = recomputed_ln(e, a->ln2, l, btc);
        floatX *residual3 = a->residual3 + l * btc;
        floatX *fch = a->fch + 4 * l * btc, *fch_gelu = e->recompute >= 1 ? a->fch_gelu : a->fch_gelu + 4 * l * btc;
        size_t lo = (size_t)l * BT;
        if (l == 0)  // later blocks' ln1 comes with the previous block's residual add
            layernorm_forward_gpu(ln1, a->ln1_mean + lo, a->ln1_rstd + lo, residual, W(e, T_LN1W, l), W(e, T_LN1B, l),
                                  BT, C, s);
        matmul_forward_gpu(&e->mm, qkv, ln1, W(e, T_QKVW, l), W(e, T_QKVB, l), BT, C, 3 * C, s);
        attention_forward_gpu(atty, a->lse + lo * NH, qkv, B, T, C, NH, s);
        matmul_forward_gpu(&e->mm, a->proj, atty, W(e, T_ATTPROJW, l), W(e, T_ATTPROJB, l), BT, C, C, s);
        residual_layernorm_forward_gpu(residual2, ln2, a->ln2_mean + lo, a->ln2_rstd + lo, residual, a->proj,
                                       W(e, T_LN2W, l), W(e, T_LN2B, l), BT, C, s);
        if (e->recompute == 0) {  // GELU in the matmul's epilogue (bf16), pre-GELU values kept in fch
            matmul_forward_gelu_gpu(&e->mm, fch_gelu, fch, ln2, W(e, T_FCW, l), W(e, T_FCB, l), BT, C, 4 * C, s);
        } else {  // the same GELU kernel as the backward pass's recomputation: the same values
            matmul_forward_gpu(&e->mm, fch, ln2, W(e, T_FCW, l), W(e, T_FCB, l), BT, C, 4 * C, s);
            gelu_forward_gpu(fch_gelu, fch, 4LL * (long long)btc, s);
        }
        matmul_forward_gpu(&e->mm, a->proj, fch_gelu, W(e, T_FCPROJW, l), W(e, T_FCPROJB, l), BT, 4 * C, C, s);
        // residual3, and the LayerNorm that reads it: the next block's ln1, or after the last block lnf
        if (l + 1 < L)
            residual_layernorm_forward_gpu(residual3, recomputed_ln(e, a->ln1, l + 1, btc), a->ln1_mean + lo + BT,
                                           a->ln1_rstd + lo + BT, residual2, a->proj, W(e, T_LN1W, l + 1),
                                           W(e, T_LN1B, l + 1), BT, C, s);
        else
            residual_layernorm_forward_gpu(residual3, a->lnf, a->lnf_mean, a->lnf_rstd, residual2, a->proj,
                                           W(e, T_LNFW, 0), W(e, T_LNFB, 0), BT, C, s);
    }
    matmul_forward_gpu(&e->mm, a->logits, a->lnf, W(e, T_WTE, 0), NULL, BT, C, Vp, s);  // LM head tied to wte
    if (!targets) return;
    fused_classifier_gpu(a->logits, a->losses, e->targets, dloss >= 0.0f ? dloss : 0.0f, BT, V, Vp, dloss >= 0.0f, s);
}

float engine_forward(Engine *e, const int *inputs, const int *targets, int B, int T) {
    forward_pass(e, inputs, targets, B, T, -1.0f);
    if (!targets) return -1.0f;
    int BT = B * T;
    cudaStream_t s = e->stream;
    CUDA_CHECK(cudaMemcpyAsync(e->losses_host, e->a.losses, (size_t)BT * sizeof(float), cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
    double sum = 0.0;
    for (int i = 0; i < BT; i++) sum += e->losses_host[i];
    return (float)(sum / BT);
}

const float *engine_position_losses(const Engine *e) { return e->losses_host; }  // engine_forward copied them

// The backward pass; with_classifier: the classifier again, now writing the
// logit gradient (engine_backward), else its forward pass wrote it.
static void backward_pass(Engine *e, float loss_scale, int with_classifier) {
    if (!e->has_targets) fail("backward: the last forward pass had no targets");
    const GPT2Config *c = &e->model->config;
    int B = e->B, T = e->T, L = c->num_layers, C = c->channels, NH = c->num_heads, V = c->vocab_size;
    int Vp = c->padded_vocab_size, BT = B * T;
    cudaStream_t s = e->stream;
    DeviceActs *a = &e->a;
    size_t btc = (size_t)BT * C;
    // the step's last backward pass starts each block's reduce-scatter as
    // soon as the block is done (one micro-batch per rank per step only: a
    // stop request may end a longer step between micro-batches, on one rank
    // sooner than on another; those steps reduce in engine_reduce_gradients)
    int overlap = e->sharded && e->accum_local == 1 && ++e->micro == e->accum_local;
    // the classifier again, now writing d(loss_scale * mean loss)/d(logits) over the logits
    if (with_classifier) fused_classifier_gpu(a->logits, a->losses, e->targets, loss_scale / (float)BT, BT, V, Vp, 1, s);
    matmul_backward_gpu(&e->mm, a->dln, G(e, T_WTE, 0), NULL, a->logits, a->lnf, W(e, T_WTE, 0), BT, C, Vp, s);
    CUDA_CHECK(cudaMemsetAsync(a->dresidual, 0, btc * sizeof(floatX), s));
    layernorm_backward_gpu(a->dresidual, G(e, T_LNFW, 0), G(e, T_LNFB, 0), a->dln, a->residual3 + (L - 1) * btc,
                           W(e, T_LNFW, 0), a->lnf_mean, a->lnf_rstd, e->ln_scratch, BT, C, s);
    for (int l = L - 1; l >= 0; l--) {
        floatX *residual = l == 0 ? a->encoded : a->residual3 + (l - 1) * btc;
        floatX *ln1 = recomputed_ln(e, a->ln1, l, btc), *qkv = a->qkv + 3 * l * btc, *atty = a->atty + l * btc;
        floatX *residual2 = a->residual2 + l * btc, *ln2 = recomputed_ln(e, a->ln2, l, btc);
        floatX *fch = a->fch + 4 * l * btc, *fch_gelu = e->recompute >= 1 ? a->fch_gelu : a->fch_gelu + 4 * l * btc;
        size_t lo = (size_t)l * BT;
        // recomputed outputs are needed only as inputs of weight gradients: none for frozen blocks
        if (e->recompute >= 1 && G(e, T_FCPROJW, l)) gelu_forward_gpu(fch_gelu, fch, 4LL * (long long)btc, s);
        // residual3 = residual2 + fcproj: dresidual serves both
        // and through the GELU (its derivative in the matmul's epilogue, bf16)
        matmul_backward_dgelu_gpu(&e->mm, a->dfch, G(e, T_FCPROJW, l), G(e, T_FCPROJB, l), a->dresidual, fch_gelu,
                                  W(e, T_FCPROJW, l), fch, BT, 4 * C, C, s);
        if (e->recompute >= 2 && G(e, T_FCW, l))  // the same kernel as the forward pass: the same values
            layernorm_forward_gpu(ln2, a->ln2_mean + lo, a->ln2_rstd + lo, residual2, W(e, T_LN2W, l), W(e, T_LN2B, l),
                                  BT, C, s);
        matmul_backward_gpu(&e->mm, a->dln, G(e, T_FCW, l), G(e, T_FCB, l), a->dfch, ln2, W(e, T_FCW, l), BT, C, 4 * C, s);
        layernorm_backward_gpu(a->dresidual, G(e, T_LN2W, l), G(e, T_LN2B, l), a->dln, residual2, W(e, T_LN2W, l),
                               a->ln2_mean + lo, a->ln2_rstd + lo, e->ln_scratch, BT, C, s);
        // residual2 = residual + attproj
        matmul_backward_gpu(&e->mm, a->datty, G(e, T_ATTPROJW, l), G(e, T_ATTPROJB, l), a->dresidual, atty,
                            W(e, T_ATTPROJW, l), BT, C, C, s);
        attention_backward_gpu(a->dqkv, a->attn_D, a->datty, qkv, atty, a->lse + lo * NH, B, T, C, NH, s);
        if (e->recompute >= 2 && G(e, T_QKVW, l))
            layernorm_forward_gpu(ln1, a->ln1_mean + lo, a->ln1_rstd + lo, residual, W(e, T_LN1W, l), W(e, T_LN1B, l),
                                  BT, C, s);
        matmul_backward_gpu(&e->mm, a->dln, G(e, T_QKVW, l), G(e, T_QKVB, l), a->dqkv, ln1, W(e, T_QKVW, l), BT, C,
                            3 * C, s);
        layernorm_backward_gpu(a->dresidual, G(e, T_LN1W, l), G(e, T_LN1B, l), a->dln, residual, W(e, T_LN1W, l),
                               a->ln1_mean + lo, a->ln1_rstd + lo, e->ln_scratch, BT, C, s);
        if (overlap) reduce_after_block(e, l);
    }
    encoder_backward_gpu(G(e, T_WTE, 0), G(e, T_WPE, 0), a->dresidual, e->inputs, B, T, C, s);
}

void engine_backward(Engine *e, float loss_scale) { backward_pass(e, loss_scale, 1); }

// One pass over the logits for the loss and its gradient; the loss added on
// the device; no host wait.
void engine_train_micro_batch(Engine *e, const int *inputs, const int *targets, int B, int T, float loss_scale) {
    forward_pass(e, inputs, targets, B, T, loss_scale / (float)(B * T));
    loss_accumulate_gpu(e->loss_acc, e->a.losses, B * T, e->stream);
    backward_pass(e, loss_scale, 0);
}

double engine_loss_sum(Engine *e) {
    CUDA_CHECK(cudaMemcpyAsync(e->loss_acc_host, e->loss_acc, sizeof(double), cudaMemcpyDeviceToHost, e->stream));
    CUDA_CHECK(cudaStreamSynchronize(e->stream));
    return *e->loss_acc_host;
}

// Sharded: the reduce-scatters not started during the backward pass, then
// the norm of the full summed gradient from every rank's chunks.
static float reduce_sharded(Engine *e) {
    reduce_after_block(e, -1);
    CUDA_CHECK(cudaEventRecord(e->ev_comm, e->comm_st));
    comm_wait(e->comm);  // NCCL: until the reduce-scatters are done, watching for a failed rank
    CUDA_CHECK(cudaStreamWaitEvent(e->stream, e->ev_comm, 0));
    float ss = 0.0f;
    if (e->slice.own_floats) {
        sum_squares_gpu(e->norm_out, e->norm_partial, e->slice.gshard, (long long)e->slice.own_floats, e->stream);
        CUDA_CHECK(cudaMemcpyAsync(&ss, e->norm_out, sizeof(float), cudaMemcpyDeviceToHost, e->stream));
    }
    CUDA_CHECK(cudaStreamSynchronize(e->stream));
    double total = ss;
    comm_allreduce_sum_host(e->comm, &total, 1);
    return (float)sqrt(total);
}

float engine_reduce_gradients(Engine *e) {
    if (e->sharded) return reduce_sharded(e);
    float ss = 0.0f;
    if (e->slice.floats) {
        sum_squares_gpu(e->norm_out, e->norm_partial, e->slice.grads, (long long)e->slice.floats, e->stream);
        CUDA_CHECK(cudaMemcpyAsync(&ss, e->norm_out, sizeof(float), cudaMemcpyDeviceToHost, e->stream));
        CUDA_CHECK(cudaStreamSynchronize(e->stream));
    }
    return sqrtf(ss);
}

// The CPU's omgd_adamw_update (omgd/omgd_update.c) as one launch over the
// slice (segments: omgd/device_slice.cuh).
static void update_chunks(Engine *e, const AdamWHyper *h, int nseg, long long total, int step);
static void allgather_weights(Engine *e);
void engine_apply_update(Engine *e, const AdamWHyper *h, float grad_clip, float norm, int step) {
    float clip = grad_clip_factor(norm, grad_clip);
    float pool = (float)mask_grad_scale(&e->omgd->schedule);
    long long total;
    int nseg = device_slice_segments(&e->slice, h, clip, pool, e->seg_host, &total);
    if (nseg > 0) update_chunks(e, h, nseg, total, step);
    if (e->sharded) allgather_weights(e);  // every rank, whether or not it owns a part of the slice
}

// The fused update of this rank's segments.
static void update_chunks(Engine *e, const AdamWHyper *h, int nseg, long long total, int step) {
    device_slice_wait(&e->slice);  // the period switch's copies into the slice
    CUDA_CHECK(cudaMemcpyAsync(e->seg_dev, e->seg_host, (size_t)nseg * sizeof(OmgdSegment), cudaMemcpyHostToDevice,
                               e->stream));
    uint64_t seed = rng_derive(e->cfg->model.seed, 0xB16B00B5ull + (uint64_t)step);  // stochastic rounding
    ordering_spin(e->stream);  // the ordering tests' late update (nothing in a normal build)
    omgd_adamw_update_gpu(device_slice_master_base(&e->slice), e->params, e->slice.gshard, e->slice.m, e->slice.v,
                          e->seg_dev, nseg, total, h->lr, h->beta1, h->beta2, h->eps, seed, e->stream);
    // No host wait: the host goes on to the next step while the update runs
    // (seg_host is pageable, so its copy was staged at the call). The next
    // period switch's copies wait for the update on the device
    // (device_slice.cuh); a host read waits for the stream.
}

// After the update: every rank's updated chunks of the active groups to
// every rank (the weights the forward pass reads, bf16 in the bf16 build).
// The compute stream's next work waits for them; the host does not.
static void allgather_weights(Engine *e) {
    const Omgd *o = e->omgd;
    Comm *c = e->comm;
    CUDA_CHECK(cudaEventRecord(e->ev_compute, e->stream));
    CUDA_CHECK(cudaStreamWaitEvent(e->comm_st, e->ev_compute, 0));
    for (int g = 0; g < o->num_groups; g++) {
        if (!group_on(e, g)) continue;  // frozen groups did not change: no traffic
        floatX *w = e->params + o->group_start[g];
        size_t n = o->group_floats[g];
        ON_COMM_STREAM(e->comm_st, comm_allgather_bytes(c, w, n, sizeof(floatX)));
    }
    CUDA_CHECK(cudaEventRecord(e->ev_comm, e->comm_st));
    CUDA_CHECK(cudaStreamWaitEvent(e->stream, e->ev_comm, 0));
#ifdef ENGINE_ON_CPU
    // MPI stands in for NCCL on the host: its collectives must meet the
    // other ranks' in program order (a rank-0-only forward pass must not
    // run it late), so the stand-in stream runs now, after its waits
    CUDA_CHECK(cudaStreamSynchronize(e->comm_st));
#endif
}

// Sharded: each rank's host copy holds current master weights only in its
// own chunks (the bf16 build parks only those). Before a checkpoint every
// group's chunks go to every rank: up to the device, all-gathered, down.
static void gather_master_weights(Engine *e) {
    const Omgd *o = e->omgd;
    const OptStateStore *st = &o->store;
    Comm *c = e->comm;
    size_t largest = 0;
    for (int g = 0; g < o->num_groups; g++)
        if (o->group_floats[g] > largest) largest = o->group_floats[g];
    float *tmp = NULL;
    CUDA_CHECK(cudaMalloc((void **)&tmp, (largest ? largest : 1) * sizeof(float)));
    for (int g = 0; g < o->num_groups; g++) {
        size_t n = o->group_floats[g], lo, hi;
        if (!n) continue;
        state_store_chunk(st, g - 1, st->rank, &lo, &hi);
        float *host = e->model->params + o->group_start[g];
        CUDA_CHECK(cudaMemcpyAsync(tmp + lo, host + lo, (hi - lo) * sizeof(float), cudaMemcpyHostToDevice, e->stream));
        CUDA_CHECK(cudaEventRecord(e->ev_compute, e->stream));
        CUDA_CHECK(cudaStreamWaitEvent(e->comm_st, e->ev_compute, 0));
        ON_COMM_STREAM(e->comm_st, comm_allgather(c, tmp, n));
        CUDA_CHECK(cudaEventRecord(e->ev_comm, e->comm_st));
        comm_wait(c);
        CUDA_CHECK(cudaStreamWaitEvent(e->stream, e->ev_comm, 0));
        CUDA_CHECK(cudaMemcpyAsync(host, tmp, n * sizeof(float), cudaMemcpyDeviceToHost, e->stream));
        CUDA_CHECK(cudaStreamSynchronize(e->stream));
    }
    CUDA_CHECK(cudaFree(tmp));
}

void engine_sync_host(Engine *e) {
    device_slice_to_host(&e->slice);
    if (e->sharded) gather_master_weights(e);
}

void engine_next_token_probs(Engine *e, const int *tokens, int len, float *probs) {
    const GPT2Config *c = &e->model->config;
    int V = c->vocab_size, Vp = c->padded_vocab_size;
    engine_forward(e, tokens, NULL, 1, len);
    CUDA_CHECK(cudaMemcpyAsync(e->logit_row_host, e->a.logits + (size_t)(len - 1) * Vp, (size_t)Vp * sizeof(floatX),
                               cudaMemcpyDeviceToHost, e->stream));
    CUDA_CHECK(cudaStreamSynchronize(e->stream));
    float *row = (float *)xmalloc((size_t)Vp * 2 * sizeof(float), "sample logits");
    for (int i = 0; i < Vp; i++) row[i] = (float)e->logit_row_host[i];
    softmax_crossentropy_forward(row + Vp, NULL, row, NULL, 1, V, Vp);  // the CPU's softmax
    memcpy(probs, row + Vp, (size_t)V * sizeof(float));
    free(row);
}

OmgdMemory engine_memory(const Engine *e) {
    size_t P = e->model->table.num_params, S = e->slice.floats, own = e->slice.own_floats;
    OmgdMemory m;
    m.params = P * sizeof(floatX);
    m.grads = (S + (e->sharded ? own : 0)) * sizeof(float);  // sharded: the slice's and the summed chunks'
#ifdef ENABLE_FP32
    m.state_working = 2 * own * sizeof(float);
    m.state_parked = state_store_parked_bytes(&e->omgd->store);
#else
    m.state_working = 3 * own * sizeof(float);  // master + moments (this rank's chunks)
    m.state_parked = state_store_parked_bytes(&e->omgd->store) + (P - S) * sizeof(float);
#endif
    return m;
}

size_t engine_peak_device_bytes(const Engine *e) { return e->peak_bytes; }

double engine_peak_flops(const Engine *e, char *what, size_t cap) {
    snprintf(what, cap, "%s", e->peak_what);
    return e->peak_flops;
}
