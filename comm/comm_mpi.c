// MPI back end of comm.h: float collectives on host buffers over
// MPI_COMM_WORLD (the host-value calls are in mpi_host.c).
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "comm/mpi_host.h"
#include "common/error.h"

void comm_init(Comm *c, int *argc, char ***argv) { mpi_start(c, argc, argv); }

void comm_connect(Comm *c, const CommConfig *cfg) {
    if (c->size > 1 && (strcmp(cfg->init, "fs") == 0 || strcmp(cfg->init, "tcp") == 0))
        fail("comm.init %s: this trainer's ranks start through MPI (mpirun or srun); the fs and tcp rendezvous are "
             "the GPU trainer's (NCCL): use comm.init auto or mpi",
             cfg->init);
}

void comm_finalize(Comm *c) { mpi_stop(c); }

const char *comm_backend(void) { return "MPI"; }

// Counts and displacements of the chunks of n elements, as MPI's ints.
static void chunk_layout(const Comm *c, size_t n, int *counts, int *displs) {
    if (n > INT_MAX) fail("a range of %zu elements is too large for one MPI call", n);
    for (int r = 0; r < c->size; r++) {
        displs[r] = (int)comm_chunk_start(n, r, c->size);
        counts[r] = (int)(comm_chunk_start(n, r + 1, c->size) - comm_chunk_start(n, r, c->size));
    }
}

void comm_reduce_scatter(Comm *c, const float *send, float *recv, size_t n) {
    if (c->size == 1) {
        if (recv != send) memmove(recv, send, n * sizeof(float));
        return;
    }
    int *counts = xmalloc(2 * (size_t)c->size * sizeof(int), "MPI chunk layout");
    chunk_layout(c, n, counts, counts + c->size);
    mpi_check(MPI_Reduce_scatter(send, recv, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Reduce_scatter");
    c->bytes_sent += (uint64_t)(n - (size_t)counts[c->rank]) * sizeof(float);
    c->bytes_collective += (uint64_t)n * sizeof(float);
    free(counts);
}

void comm_allgather_bytes(Comm *c, void *buf, size_t n, size_t elem_bytes) {
    if (c->size == 1) return;
    // chunks of elements, moved as bytes
    int *counts = xmalloc(2 * (size_t)c->size * sizeof(int), "MPI chunk layout");
    chunk_layout(c, n * elem_bytes, counts, counts + c->size);
    for (int r = 0; r < c->size; r++) {
        counts[c->size + r] = (int)(comm_chunk_start(n, r, c->size) * elem_bytes);
        counts[r] = (int)((comm_chunk_start(n, r + 1, c->size) - comm_chunk_start(n, r, c->size)) * elem_bytes);
    }
    mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, counts + c->size, MPI_BYTE,
                             MPI_COMM_WORLD), "MPI_Allgatherv");
    c->bytes_sent += (uint64_t)counts[c->rank] * (uint64_t)(c->size - 1);  // ring: the own chunk to every other rank
    c->bytes_collective += (uint64_t)n * elem_bytes;
    free(counts);
}

void comm_allgather(Comm *c, float *buf, size_t n) { comm_allgather_bytes(c, buf, n, sizeof(float)); }

void *comm_stream(Comm *c) { return NULL; }  // MPI returns when the collective is done

void comm_wait(Comm *c) {}
