// MPI helpers shared by comm_mpi.c and comm_nccl.c (see mpi_host.c).
#ifndef COMM_MPI_HOST_H
#define COMM_MPI_HOST_H

#include <mpi.h>

#include "comm/comm.h"

// Fails naming the call when rc is not MPI_SUCCESS.
void mpi_check(int rc, const char *what);
// MPI_Init, rank and size; with several ranks, fail() names the rank and
// aborts the whole job.
// A process not started by an MPI launcher is rank 0 of 1 and leaves MPI
// uninitialised.
void mpi_start(Comm *c, int *argc, char ***argv);
// MPI_Finalize if MPI was initialised.
void mpi_stop(Comm *c);

#endif
