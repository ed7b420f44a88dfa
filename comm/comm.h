// The communication layer: what data parallelism needs from the ranks of a
// job, behind one small interface with three back ends:
//   comm_mpi.c    MPI on host buffers (the CPU trainer under mpirun/srun)
//   comm_nccl.c   NCCL on device buffers, MPI to start and for host scalars
//                 (the GPU trainer)
//   comm_local.c  one process, no MPI (builds without an MPI library)
// Collectives on floats take buffers where the back end's data lives (host
// for MPI, device for NCCL); the *_host calls always take host memory.
// Every call is collective: all ranks make it, in the same order. Any
// failure ends the whole job (fail() with the rank named, then abort).
#ifndef COMM_COMM_H
#define COMM_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

typedef struct {
    int rank, size;      // this process's rank and the number of ranks
    int local_rank;      // its index among the ranks on its node (picks the GPU)
    uint64_t bytes_sent; // bytes this rank has sent in collectives so far (ring algorithms' volume)
    uint64_t bytes_collective;  // bytes of the buffers of those collectives (the same for any number of ranks)
    void *impl;          // back-end state
} Comm;

// Starts the job's communication (MPI_Init under mpirun; a lone process is
// rank 0 of 1). With several ranks, installs fail()'s rank prefix and abort.
// The NCCL back end only reads rank, world size and local rank from the
// launcher's environment here: its communicator starts in comm_connect.
void comm_init(Comm *c, int *argc, char ***argv);
// After the config is read: starts what comm.init asks for (the NCCL back
// end: through MPI, or the fs or tcp rendezvous); the MPI and one-process
// back ends refuse fs and tcp in a job of several ranks.
void comm_connect(Comm *c, const CommConfig *cfg);
void comm_finalize(Comm *c);
const char *comm_backend(void);

// Chunk r of a range of n elements cut into c->size near-equal pieces:
// [comm_chunk_start(n, r, size), comm_chunk_start(n, r + 1, size)).
static inline size_t comm_chunk_start(size_t n, int r, int size) {
    return (size_t)(((unsigned __int128)n * (unsigned)r) / (unsigned)size);
}

// send holds n floats on every rank; rank r receives chunk r of their sum
// (comm_chunk_start) into recv.
void comm_reduce_scatter(Comm *c, const float *send, float *recv, size_t n);
// buf holds n floats of which this rank has filled its chunk; afterwards
// every rank holds every rank's chunk (in place).
void comm_allgather(Comm *c, float *buf, size_t n);

// The same as comm_allgather for n elements of elem_bytes each (the GPU
// trainer's bf16 weights), chunked by elements.
void comm_allgather_bytes(Comm *c, void *buf, size_t n, size_t elem_bytes);
// The NCCL back end queues comm_reduce_scatter and comm_allgather on a
// stream of its own and returns at once: comm_stream gives that stream
// (a cudaStream_t; NULL for the back ends whose collectives return done),
// comm_wait waits for everything queued on it, watching for another rank's
// failure instead of hanging.
void *comm_stream(Comm *c);
void comm_wait(Comm *c);

// Sums x[0..n) over the ranks; every rank gets rank 0's bits of the result.
void comm_allreduce_sum_host(Comm *c, double *x, int n);
// Takes the maximum of x over the ranks.
int comm_allreduce_max_int_host(Comm *c, int x);
void comm_broadcast_host(Comm *c, void *buf, size_t bytes, int root);
// all[r * bytes ...] = rank r's mine.
void comm_allgather_host(Comm *c, const void *mine, void *all, size_t bytes);
void comm_barrier(Comm *c);
// Stops the job on every rank with one line when the ranks' values differ:
// "ranks disagree on WHAT (rank R has ..., rank 0 has ...): HINT".
void comm_check_agree(Comm *c, uint64_t value, const char *what, const char *hint);

#endif
