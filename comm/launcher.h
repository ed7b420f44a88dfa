// What a job launcher (mpirun, mpiexec, srun) tells a process through its
// environment. One place that knows the variables, for the MPI back end
// (start MPI only under a launcher) and the build without MPI (refuse to
// run as one of several ranks).
#ifndef COMM_LAUNCHER_H
#define COMM_LAUNCHER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

// One launcher's three variables: rank, world size, node-local rank.
typedef struct {
    const char *rank, *world, *local;
} LauncherVars;

// Where the ranks are, as a launcher said: rank of world, and the rank's
// index among the ranks of its node (picks its GPU).
typedef struct {
    int rank, world, local_rank;
    const char *launcher;  // "Open MPI", "Slurm", or NULL (none: rank 0 of 1)
} LauncherRanks;

// The GPU (index among those this process sees) for the rank with this
// node-local rank: its own index, or, where the launcher gave each rank one
// GPU of its own (CUDA_VISIBLE_DEVICES naming a single device, as srun
// --gpus-per-task=1 does), that one. -1 when the node has too few GPUs.
static inline int launcher_gpu(int local_rank, int devices) {
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    if (devices == 1 && vis && *vis && !strchr(vis, ',')) return 0;
    return local_rank < devices ? local_rank : -1;
}

// A variable that must hold an integer in [lo, hi]; 0 and a reason in why
// when it does not.
static inline int launcher_int(const char *var, int lo, int hi, int *out, char *why, size_t cap) {
    const char *v = getenv(var);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        snprintf(why, cap, "%s=%s is not an integer in [%d, %d]", var, v ? v : "(unset)", lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

// Reads rank, world size and local rank from Open MPI's variables, else
// Slurm's (srun). Returns 1 with *r filled, 0 when neither launcher set its
// variables (*r: rank 0 of 1), -1 with a one-line reason in why when the
// variables are there but inconsistent.
static inline int launcher_ranks_from_env(LauncherRanks *r, char *why, size_t cap) {
    static const LauncherVars sets[] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
        {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
    };
    static const char *names[] = {"Open MPI", "Slurm"};
    r->rank = 0, r->world = 1, r->local_rank = 0, r->launcher = NULL;
    for (int i = 0; i < 2; i++) {
        const LauncherVars *s = &sets[i];
        if (!getenv(s->rank) && !getenv(s->world)) continue;
        r->launcher = names[i];
        if (!launcher_int(s->world, 1, 1 << 20, &r->world, why, cap)) return -1;
        if (!launcher_int(s->rank, 0, r->world - 1, &r->rank, why, cap)) return -1;
        if (getenv(s->local)) {
            if (!launcher_int(s->local, 0, r->world - 1, &r->local_rank, why, cap)) return -1;
        } else {
            r->local_rank = 0;  // no node-local rank: one rank per node
        }
        return 1;
    }
    return 0;
}

#endif
