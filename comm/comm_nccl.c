// NCCL back end of comm.h for the GPU trainer: one GPU per rank (the
// node-local rank's), float collectives on device buffers queued on a stream
// of the back end's own (comm_stream), host collectives staged through a
// small device buffer, so that a job needs no MPI once NCCL is up.
//
// comm_init reads rank, world size and local rank from the launcher's
// environment (comm/launcher.h: Open MPI's or Slurm's); comm_connect starts
// NCCL as comm.init says:
//   mpi      MPI_Init, rank 0's NCCL id broadcast over MPI (built with mpicc:
//            USE_MPI; "auto" means mpi in such a build)
//   fs, tcp  the rendezvous of comm/rendezvous.h, no MPI at all
// Failures: a failing rank aborts the job through MPI (mpi), or aborts its
// NCCL communicator and, with fs, leaves its message in comm.dir/failed.R;
// every wait for NCCL polls its asynchronous errors (and that file), so the
// other ranks stop with a message instead of hanging.
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef USE_MPI
#include <mpi.h>
#endif

#include "comm/comm.h"
#include "comm/launcher.h"
#include "comm/rendezvous.h"
#include "common/error.h"

typedef struct {
    ncclComm_t nccl;
    cudaStream_t stream;
    void *stage;             // device staging for the host collectives
    size_t stage_bytes;
    int via_mpi;             // MPI_Init was called
    char fail_dir[CONFIG_STR];  // fs: where a failing rank leaves its message ("" otherwise)
} NcclState;

static Comm *the_comm;  // for the failure hook

static void nccl_check(ncclResult_t rc, const char *what) {
    if (rc != ncclSuccess) fail("NCCL %s failed: %s", what, ncclGetErrorString(rc));
}

static void cuda_check(cudaError_t rc, const char *what) {
    if (rc != cudaSuccess) fail("CUDA %s failed: %s", what, cudaGetErrorString(rc));
}

// fail()'s hook once NCCL is up: the other ranks must not wait for this one.
static void abort_job(void) {
    NcclState *s = the_comm ? the_comm->impl : NULL;
    fflush(stdout);
    fflush(stderr);
    if (!s) return;
    if (s->fail_dir[0]) {  // the message for the other ranks (comm_wait reads it)
        char path[CONFIG_STR + 32];
        snprintf(path, sizeof path, "%s/failed.%d", s->fail_dir, the_comm->rank);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(fail_line ? fail_line : "error: (no message)\n", f);
            fclose(f);
        }
    }
#ifdef USE_MPI
    if (s->via_mpi) MPI_Abort(MPI_COMM_WORLD, EXIT_USER_ERROR);
#endif
    fail_hook = NULL;
    ncclCommAbort(s->nccl);
}

void comm_init(Comm *c, int *argc, char ***argv) {
    (void)argc, (void)argv;
    memset(c, 0, sizeof *c);
    c->size = 1;
    LauncherRanks lr;
    char why[256];
    if (launcher_ranks_from_env(&lr, why, sizeof why) < 0) fail("the launcher's environment: %s", why);
    c->rank = lr.rank, c->size = lr.world, c->local_rank = lr.local_rank;
    if (c->size > 1) {
        snprintf(fail_prefix, sizeof fail_prefix, "rank %d of %d: ", c->rank, c->size);
        if (c->rank > 0) fail_defer_ms = 2000;  // an error every rank meets: rank 0 says it
    }
}

// Another rank's message in comm.dir (fs), if it left one: this rank stops with it.
static void check_failed_ranks(const Comm *c, const NcclState *s) {
    if (!s->fail_dir[0]) return;
    for (int r = 0; r < c->size; r++) {
        if (r == c->rank) continue;
        char path[CONFIG_STR + 32], line[1024] = "";
        snprintf(path, sizeof path, "%s/failed.%d", s->fail_dir, r);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(line, sizeof line, f)) line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        const char *msg = strncmp(line, "error: ", 7) == 0 ? line + 7 : line;
        fail_hook = NULL;
        ncclCommAbort(s->nccl);
        fail("stopping: another rank failed: %s", msg);
    }
}

void comm_wait(Comm *c) {
    NcclState *s = c->impl;
    if (!s) return;
    for (long spins = 0;; spins++) {
        cudaError_t q = cudaStreamQuery(s->stream);
        if (q == cudaSuccess) return;
        if (q != cudaErrorNotReady) cuda_check(q, "waiting for a collective");
        ncclResult_t async = ncclSuccess;
        nccl_check(ncclCommGetAsyncError(s->nccl, &async), "ncclCommGetAsyncError");
        if (async != ncclSuccess && async != ncclInProgress)  // abort_job aborts NCCL and tells the others
            fail("NCCL reports \"%s\" while this rank waits for a collective: another rank failed or died (its "
                 "message is in its output)",
                 ncclGetErrorString(async));
        if (spins % 1000 == 999) check_failed_ranks(c, s);  // every ~0.1 s
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

static void start_nccl(Comm *c, const CommConfig *cfg, const char *method) {
    NcclState *s = xcalloc(1, sizeof *s, "NCCL state");
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    if (strcmp(method, "mpi") == 0) {
#ifdef USE_MPI
        if (MPI_Init(NULL, NULL) != MPI_SUCCESS) fail("comm.init mpi: MPI_Init failed");
        s->via_mpi = 1;
        int r = -1, n = -1;
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        MPI_Comm_size(MPI_COMM_WORLD, &n);
        if (r != c->rank || n != c->size)
            fail("comm.init mpi: MPI says rank %d of %d, the launcher's environment rank %d of %d: start the job with "
                 "this MPI's mpirun, or use comm.init fs or tcp",
                 r, n, c->rank, c->size);
        if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            fail("comm.init mpi: MPI_Bcast of NCCL's id failed");
#else
        fail("comm.init mpi: this train_gpt2cu was built without MPI; start the ranks with comm.init fs (comm.dir on "
             "a shared file system) or tcp (comm.host, comm.port), or build with Open MPI's mpicc present");
#endif
    } else {
        rendezvous_exchange(cfg, c->rank, c->size, &id, sizeof id);
        if (strcmp(method, "fs") == 0) snprintf(s->fail_dir, sizeof s->fail_dir, "%s", cfg->dir);
    }
    c->impl = s;
    the_comm = c;
    fail_hook = abort_job;
    nccl_check(ncclCommInitRank(&s->nccl, c->size, id, c->rank), "ncclCommInitRank");
    cuda_check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

void comm_connect(Comm *c, const CommConfig *cfg) {
    // one GPU: no NCCL, unless comm.init asks for it (the GPU check runs NCCL on one rank)
    if (c->size == 1 && strcmp(cfg->init, "auto") == 0) return;
    int devices = 0;
    cudaError_t err = cudaGetDeviceCount(&devices);
    if (err != cudaSuccess && err != cudaErrorNoDevice)
        fail("no usable CUDA device: cudaGetDeviceCount failed with %s (%s); train_gpt2cu needs a GPU per rank",
             cudaGetErrorName(err), cudaGetErrorString(err));
    if (err == cudaErrorNoDevice || devices == 0)
        fail("no CUDA device found: train_gpt2cu needs a GPU per rank (the CPU trainer is ./train_gpt2)");
    int gpu = launcher_gpu(c->local_rank, devices);
    if (gpu < 0)
        fail("node-local rank %d has no GPU of its own: this node has %d GPU%s; start at most %d rank%s per node "
             "(one per GPU)",
             c->local_rank, devices, devices == 1 ? "" : "s", devices, devices == 1 ? "" : "s");
    cuda_check(cudaSetDevice(gpu), "cudaSetDevice");
    const char *method = cfg->init;
    if (strcmp(method, "auto") == 0) {
#ifdef USE_MPI
        method = "mpi";
#else
        fail("comm.init auto: this train_gpt2cu was built without MPI, so a job of %d ranks needs comm.init fs "
             "(comm.dir on a shared file system) or tcp (comm.host, comm.port)",
             c->size);
#endif
    }
    start_nccl(c, cfg, method);
}

void comm_finalize(Comm *c) {
    NcclState *s = c->impl;
    if (!s) return;
    comm_wait(c);
    fail_hook = NULL;
    nccl_check(ncclCommDestroy(s->nccl), "ncclCommDestroy");
    cuda_check(cudaStreamDestroy(s->stream), "cudaStreamDestroy");
    if (s->stage) cuda_check(cudaFree(s->stage), "cudaFree");
#ifdef USE_MPI
    if (s->via_mpi) MPI_Finalize();
#endif
    free(s);
    c->impl = NULL;
}

const char *comm_backend(void) { return "NCCL"; }

void *comm_stream(Comm *c) { return c->impl ? (void *)((NcclState *)c->impl)->stream : NULL; }

// ---- device collectives, queued on the back end's stream

// Whether n elements cut into size chunks gives equal chunks (NCCL's own
// reduce-scatter and all-gather then fit comm_chunk_start's cut).
static int equal_chunks(size_t n, int size) { return n % (size_t)size == 0; }

void comm_reduce_scatter(Comm *c, const float *send, float *recv, size_t n) {
    NcclState *s = c->impl;
    if (!s) {
        if (recv != send) cuda_check(cudaMemcpy(recv, send, n * sizeof(float), cudaMemcpyDeviceToDevice), "cudaMemcpy");
        return;
    }
    size_t mine = comm_chunk_start(n, c->rank + 1, c->size) - comm_chunk_start(n, c->rank, c->size);
    if (equal_chunks(n, c->size)) {
        nccl_check(ncclReduceScatter(send, recv, n / (size_t)c->size, ncclFloat, ncclSum, s->nccl, s->stream),
                   "ncclReduceScatter");
    } else {  // chunks one element apart: one rooted reduce per chunk, as one group
        nccl_check(ncclGroupStart(), "ncclGroupStart");
        for (int r = 0; r < c->size; r++) {
            size_t lo = comm_chunk_start(n, r, c->size), hi = comm_chunk_start(n, r + 1, c->size);
            nccl_check(ncclReduce(send + lo, r == c->rank ? recv : NULL, hi - lo, ncclFloat, ncclSum, r, s->nccl,
                                  s->stream), "ncclReduce");
        }
        nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    }
    c->bytes_sent += (uint64_t)(n - mine) * sizeof(float);
    c->bytes_collective += (uint64_t)n * sizeof(float);
}

void comm_allgather_bytes(Comm *c, void *buf, size_t n, size_t elem_bytes) {
    NcclState *s = c->impl;
    if (!s) return;
    char *b = buf;
    size_t mine = comm_chunk_start(n, c->rank + 1, c->size) - comm_chunk_start(n, c->rank, c->size);
    if (equal_chunks(n, c->size)) {
        size_t chunk = n / (size_t)c->size * elem_bytes;
        nccl_check(ncclAllGather(b + (size_t)c->rank * chunk, b, chunk, ncclUint8, s->nccl, s->stream),
                   "ncclAllGather");
    } else {
        nccl_check(ncclGroupStart(), "ncclGroupStart");
        for (int r = 0; r < c->size; r++) {
            size_t lo = comm_chunk_start(n, r, c->size), hi = comm_chunk_start(n, r + 1, c->size);
            nccl_check(ncclBroadcast(b + lo * elem_bytes, b + lo * elem_bytes, (hi - lo) * elem_bytes, ncclUint8, r,
                                     s->nccl, s->stream), "ncclBroadcast");
        }
        nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    }
    c->bytes_sent += (uint64_t)mine * elem_bytes * (uint64_t)(c->size - 1);
    c->bytes_collective += (uint64_t)n * elem_bytes;
}

void comm_allgather(Comm *c, float *buf, size_t n) { comm_allgather_bytes(c, buf, n, sizeof(float)); }

// ---- host collectives: through the staging buffer, waited for

static void *stage(NcclState *s, size_t bytes) {
    if (bytes > s->stage_bytes) {
        if (s->stage) cuda_check(cudaFree(s->stage), "cudaFree");
        cuda_check(cudaMalloc(&s->stage, bytes), "cudaMalloc (host collectives' staging)");
        s->stage_bytes = bytes;
    }
    return s->stage;
}

static void to_stage(NcclState *s, void *dev, const void *host, size_t bytes) {
    cuda_check(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, s->stream), "cudaMemcpyAsync");
}

static void from_stage(Comm *c, void *host, const void *dev, size_t bytes) {
    NcclState *s = c->impl;
    cuda_check(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, s->stream), "cudaMemcpyAsync");
    comm_wait(c);
}

void comm_allreduce_sum_host(Comm *c, double *x, int n) {
    NcclState *s = c->impl;
    if (!s || n <= 0) return;
    double *d = stage(s, (size_t)n * sizeof(double));
    to_stage(s, d, x, (size_t)n * sizeof(double));
    nccl_check(ncclAllReduce(d, d, (size_t)n, ncclDouble, ncclSum, s->nccl, s->stream), "ncclAllReduce");
    // every rank takes rank 0's bits
    nccl_check(ncclBroadcast(d, d, (size_t)n, ncclDouble, 0, s->nccl, s->stream), "ncclBroadcast");
    from_stage(c, x, d, (size_t)n * sizeof(double));
}

int comm_allreduce_max_int_host(Comm *c, int x) {
    NcclState *s = c->impl;
    if (!s) return x;
    int *d = stage(s, sizeof(int));
    to_stage(s, d, &x, sizeof x);
    nccl_check(ncclAllReduce(d, d, 1, ncclInt32, ncclMax, s->nccl, s->stream), "ncclAllReduce");
    from_stage(c, &x, d, sizeof x);
    return x;
}

void comm_broadcast_host(Comm *c, void *buf, size_t bytes, int root) {
    NcclState *s = c->impl;
    if (!s || bytes == 0) return;
    void *d = stage(s, bytes);
    to_stage(s, d, buf, bytes);
    nccl_check(ncclBroadcast(d, d, bytes, ncclUint8, root, s->nccl, s->stream), "ncclBroadcast");
    from_stage(c, buf, d, bytes);
}

void comm_allgather_host(Comm *c, const void *mine, void *all, size_t bytes) {
    NcclState *s = c->impl;
    if (!s) {
        if (all != mine) memmove(all, mine, bytes);
        return;
    }
    char *d = stage(s, bytes * (size_t)c->size);
    to_stage(s, d + (size_t)c->rank * bytes, mine, bytes);
    nccl_check(ncclAllGather(d + (size_t)c->rank * bytes, d, bytes, ncclUint8, s->nccl, s->stream), "ncclAllGather");
    from_stage(c, all, d, bytes * (size_t)c->size);
}

void comm_barrier(Comm *c) { (void)comm_allreduce_max_int_host(c, 0); }

void comm_check_agree(Comm *c, uint64_t value, const char *what, const char *hint) {
    if (!c->impl) return;
    uint64_t *all = xmalloc((size_t)c->size * sizeof(uint64_t), "agreement check");
    comm_allgather_host(c, &value, all, sizeof value);
    int odd = -1;
    for (int r = 0; r < c->size && odd < 0; r++)
        if (all[r] != all[0]) odd = r;
    uint64_t theirs = all[odd < 0 ? 0 : odd], root = all[0];
    free(all);
    if (odd < 0) return;
    // every rank knows: rank 0 reports, the others leave quietly
    fail_hook = NULL;
    ncclCommAbort(((NcclState *)c->impl)->nccl);
    if (c->rank == 0) {
        fflush(stdout);
        fprintf(stderr, "error: ranks disagree on %s (rank %d has %016llx, rank 0 has %016llx): %s\n", what, odd,
                (unsigned long long)theirs, (unsigned long long)root, hint);
        fflush(stderr);
    }
    exit(EXIT_USER_ERROR);
}
