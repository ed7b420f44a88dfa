// comm.h for a build without MPI: one process, rank 0 of 1.
#include "comm/comm.h"

#include <string.h>

#include "comm/launcher.h"
#include "common/error.h"

// Started as one of several ranks (mpirun, srun): each copy would train
// alone and write into the same output.dir. Refuse instead.
static void refuse_if_launched_as_ranks(void) {
    const char *var = NULL;
    int n = launcher_ranks(&var);
    if (n > 1)
        fail("started as one of %d ranks (%s), but this binary was built without MPI and trains in one process: "
             "every rank would write the same output.dir; run one process (the GPU trainer uses one GPU), "
             "or the CPU trainer built with MPI",
             n, var);
}

void comm_init(Comm *c, int *argc, char ***argv) {
    memset(c, 0, sizeof *c);
    c->size = 1;
    refuse_if_launched_as_ranks();
}
void comm_connect(Comm *c, const CommConfig *cfg) {}  // one process: nothing to start
void comm_finalize(Comm *c) {}
const char *comm_backend(void) { return "none (built without MPI)"; }
void comm_reduce_scatter(Comm *c, const float *send, float *recv, size_t n) {
    if (recv != send) memmove(recv, send, n * sizeof(float));
}
void comm_allgather(Comm *c, float *buf, size_t n) {}
void comm_allgather_bytes(Comm *c, void *buf, size_t n, size_t elem_bytes) {}
void *comm_stream(Comm *c) { return NULL; }
void comm_wait(Comm *c) {}
void comm_allreduce_sum_host(Comm *c, double *x, int n) {}
int comm_allreduce_max_int_host(Comm *c, int x) { return x; }
void comm_broadcast_host(Comm *c, void *buf, size_t bytes, int root) {}
void comm_allgather_host(Comm *c, const void *mine, void *all, size_t bytes) {
    if (all != mine) memmove(all, mine, bytes);
}
void comm_barrier(Comm *c) {}
void comm_check_agree(Comm *c, uint64_t value, const char *what, const char *hint) {}
