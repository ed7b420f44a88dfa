// What a job launcher (mpirun, mpiexec, srun) tells a process through its
// environment. One place that knows the variables, for the MPI back end
// (start MPI only under a launcher) and the build without MPI (refuse to
// run as one of several ranks).
#ifndef COMM_LAUNCHER_H
#define COMM_LAUNCHER_H

#include <stdlib.h>

// Whether a launcher started this process.
static inline int launcher_started_us(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return getenv("SLURM_STEP_ID") != NULL && getenv("SLURM_NTASKS") != NULL;  // inside srun
}

// The number of ranks the launcher started, 1 when none says more; *var
// gets the variable that said so.
static inline int launcher_ranks(const char **var) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) {
            *var = vars[i];
            return atoi(v);
        }
    }
    return 1;
}

#endif
