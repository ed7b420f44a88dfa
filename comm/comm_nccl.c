// NCCL back end of comm.h for the GPU trainer: float collectives on device
// buffers over NCCL (one GPU per rank, chosen by the node-local rank),
// MPI (mpi_host.c) to start the job, exchange NCCL's unique id and
// reduce host scalars.
// Built only where CUDA, NCCL and MPI are all present (see Makefile's
// comm_nccl target).
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/mpi_host.h"
#include "common/error.h"

typedef struct {
    ncclComm_t nccl;
    cudaStream_t stream;
} NcclState;

static void nccl_check(ncclResult_t rc, const char *what) {
    if (rc != ncclSuccess) fail("NCCL %s failed: %s", what, ncclGetErrorString(rc));
}

static void cuda_check(cudaError_t rc, const char *what) {
    if (rc != cudaSuccess) fail("CUDA %s failed: %s", what, cudaGetErrorString(rc));
}

void comm_init(Comm *c, int *argc, char ***argv) {
    mpi_start(c, argc, argv);
    if (c->size == 1) {  // one process, one GPU: no NCCL needed
        cuda_check(cudaSetDevice(0), "cudaSetDevice");
        return;
    }
    // one GPU per rank: the rank's index among the ranks on its node
    MPI_Comm node;
    int local_rank = 0, devices = 0;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    mpi_check(MPI_Comm_rank(node, &local_rank), "MPI_Comm_rank");
    MPI_Comm_free(&node);
    cuda_check(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    if (local_rank >= devices)
        fail("node-local rank %d has no GPU of its own (%d on this node): start at most %d ranks per node",
             local_rank, devices, devices);
    cuda_check(cudaSetDevice(local_rank), "cudaSetDevice");

    NcclState *s = xcalloc(1, sizeof *s, "NCCL state");
    ncclUniqueId id;
    if (c->rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    mpi_check(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    nccl_check(ncclCommInitRank(&s->nccl, c->size, id, c->rank), "ncclCommInitRank");
    cuda_check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    c->impl = s;
}

void comm_finalize(Comm *c) {
    NcclState *s = c->impl;
    if (s) {
        nccl_check(ncclCommDestroy(s->nccl), "ncclCommDestroy");
        cuda_check(cudaStreamDestroy(s->stream), "cudaStreamDestroy");
        free(s);
        c->impl = NULL;
    }
    mpi_stop(c);
}

const char *comm_backend(void) { return "NCCL"; }

// NCCL's reduce-scatter and all-gather want equal chunks; ours differ by at
// most one element, so each is a group of rooted reduces / broadcasts, one
// per rank's chunk (NCCL runs a group as one fused launch).
void comm_reduce_scatter(Comm *c, const float *send, float *recv, size_t n) {
    if (c->size == 1) {
        if (recv != send) cuda_check(cudaMemcpy(recv, send, n * sizeof(float), cudaMemcpyDeviceToDevice), "cudaMemcpy");
        return;
    }
    NcclState *s = c->impl;
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < c->size; r++) {
        size_t lo = comm_chunk_start(n, r, c->size), hi = comm_chunk_start(n, r + 1, c->size);
        nccl_check(ncclReduce(send + lo, r == c->rank ? recv : NULL, hi - lo, ncclFloat, ncclSum, r, s->nccl,
                              s->stream), "ncclReduce");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    cuda_check(cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
}

void comm_allgather(Comm *c, float *buf, size_t n) {
    if (c->size == 1) return;
    NcclState *s = c->impl;
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < c->size; r++) {
        size_t lo = comm_chunk_start(n, r, c->size), hi = comm_chunk_start(n, r + 1, c->size);
        nccl_check(ncclBroadcast(buf + lo, buf + lo, hi - lo, ncclFloat, r, s->nccl, s->stream), "ncclBroadcast");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    cuda_check(cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
}
