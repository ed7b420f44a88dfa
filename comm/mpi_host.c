// The MPI part shared by the MPI and NCCL back ends of comm.h: starting the
// job, and the collectives on host values (scalars, ids, agreement checks).
#include "comm/mpi_host.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/launcher.h"
#include "common/error.h"

void mpi_check(int rc, const char *what) {
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        fail("MPI %s failed: %s", what, msg);
    }
}

static void abort_job(void) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, EXIT_USER_ERROR);
}

void mpi_start(Comm *c, int *argc, char ***argv) {
    memset(c, 0, sizeof *c);
    c->size = 1;
    // A process started by hand stays a single process and never
    // initialises MPI: no launcher daemons, no shared-memory files.
    if (!launcher_started_us()) return;
    mpi_check(MPI_Init(argc, argv), "MPI_Init");
    // errors come back as codes and end in fail(), which names the rank
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank), "MPI_Comm_rank");
    mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &c->size), "MPI_Comm_size");
    // the node-local rank: the rank among those that share this node's memory
    MPI_Comm node;
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node),
              "MPI_Comm_split_type");
    mpi_check(MPI_Comm_rank(node, &c->local_rank), "MPI_Comm_rank");
    mpi_check(MPI_Comm_free(&node), "MPI_Comm_free");
    if (c->size > 1) {
        snprintf(fail_prefix, sizeof fail_prefix, "rank %d of %d: ", c->rank, c->size);
        fail_hook = abort_job;
        if (c->rank > 0) fail_defer_ms = 2000;
    }
}

void mpi_stop(Comm *c) {
    int on = 0;
    MPI_Initialized(&on);
    if (on) mpi_check(MPI_Finalize(), "MPI_Finalize");
}

// With one rank every collective below is the identity.
void comm_allreduce_sum_host(Comm *c, double *x, int n) {
    if (c->size == 1) return;
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    // the standard does not promise the same bits on every rank: take rank 0's
    mpi_check(MPI_Bcast(x, n, MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast");
}

int comm_allreduce_max_int_host(Comm *c, int x) {
    if (c->size == 1) return x;
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    return x;
}

void comm_broadcast_host(Comm *c, void *buf, size_t bytes, int root) {
    if (c->size == 1) return;
    if (bytes > INT_MAX) fail("a broadcast of %zu bytes is too large for one MPI call", bytes);
    mpi_check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void comm_allgather_host(Comm *c, const void *mine, void *all, size_t bytes) {
    if (c->size == 1) {
        if (all != mine) memmove(all, mine, bytes);
        return;
    }
    if (bytes > INT_MAX) fail("an all-gather of %zu bytes is too large for one MPI call", bytes);
    mpi_check(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Allgather");
}

void comm_barrier(Comm *c) {
    if (c->size > 1) mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void comm_check_agree(Comm *c, uint64_t value, const char *what, const char *hint) {
    uint64_t *all = xmalloc((size_t)c->size * sizeof(uint64_t), "agreement check");
    comm_allgather_host(c, &value, all, sizeof value);
    int odd = -1;
    for (int r = 0; r < c->size && odd < 0; r++)
        if (all[r] != all[0]) odd = r;
    uint64_t mine = all[odd < 0 ? 0 : odd], root = all[0];
    free(all);
    if (odd < 0) return;
    // every rank reaches this line; rank 0 reports, the others wait to be stopped
    if (c->rank == 0) {
        fail_hook = NULL;
        fflush(stdout);
        fprintf(stderr, "error: ranks disagree on %s (rank %d has %016llx, rank 0 has %016llx): %s\n", what, odd,
                (unsigned long long)mine, (unsigned long long)root, hint);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, EXIT_USER_ERROR);
    }
    MPI_Barrier(MPI_COMM_WORLD);  // rank 0's abort ends this rank
    exit(EXIT_USER_ERROR);
}
