// OMGD as the trainer sees it: the mask schedule, the optimizer state store
// and the fused update bundled behind a few calls, so that main() reads
//   omgd_begin_step -> forward/backward -> omgd_apply_update
// Shared by the CPU and the GPU trainer.
#ifndef OMGD_OMGD_H
#define OMGD_OMGD_H

#include <stddef.h>
#include <stdint.h>

#include "comm/comm.h"
#include "common/checkpoint.h"
#include "model/gpt2.h"
#include "omgd/adamw.h"
#include "omgd/mask_schedule.h"
#include "omgd/state_store.h"

typedef struct {
    MaskSettings mask;
    StatePolicy state;
    char replay[512];  // "" = draw masks from the seed
} OmgdSettings;

typedef struct {
    OmgdSettings settings;
    const ParamTable *table;
    MaskSchedule schedule;
    OptStateStore store;
    uint8_t *unit_active;   // per unit, the mask in force
    uint8_t *trainable;     // per tensor, derived from the mask
    int tensor_units;       // units are tensors (omgd_tensor) rather than blocks
    // data parallelism (comm NULL or one rank: none)
    Comm *comm;
    int num_groups;         // units + the always-active group; group g = unit g - 1, group 0 = always
    size_t *group_start;    // per group: first parameter (its elements are contiguous)
    size_t *group_floats;   // per group: parameters
    int *group_first;       // per group: its first tensor in the table
    float *grad_shard;      // the reduced gradient of this rank's chunks of the active slice
    size_t grad_shard_floats;
    float **shard_of;       // per tensor: its owned part in grad_shard, NULL if none
} Omgd;

// num_units in settings->mask is filled from the table.
void omgd_init(Omgd *o, const OmgdSettings *settings, const ParamTable *t);
// The same for one rank of a data-parallel job: the optimizer state is
// sharded (state_store.h), gradients are reduce-scattered, and updated
// parameters all-gathered, for the active slice only.
void omgd_init_parallel(Omgd *o, const OmgdSettings *settings, const ParamTable *t, Comm *comm);
void omgd_free(Omgd *o);
// Updates the mask for this step; when it changed, makes the model's
// gradients and the store's working set follow it. Returns 1 on a new period.
int omgd_begin_step(Omgd *o, GPT2 *model, int64_t step, int64_t epoch);
// Global norm of the gradients that exist this step (the active slice).
float omgd_grad_norm(const GPT2 *model);
// In a data-parallel job: sums the active slice's gradients over the ranks
// (reduce-scatter: each rank gets its chunks) and returns the norm of the
// full summed gradient. In one process the same as omgd_grad_norm.
float omgd_reduce_gradients(Omgd *o, const GPT2 *model);
// Clipping by that norm, then the fused update of the active slice (of its
// owned chunks, followed by an all-gather of the updated parameters).
void omgd_apply_update(Omgd *o, GPT2 *model, const AdamWHyper *h, float grad_clip, float norm);
// "[0,3,7]": the active blocks (all blocks outside masking) as JSON.
void omgd_active_json(const Omgd *o, char *buf, size_t cap);
// Checkpoint sections: the schedule state and the optimizer state store.
void omgd_save(const Omgd *o, StateWriter *w);
// Restores them; the model's trainable set follows the restored mask.
void omgd_load(Omgd *o, GPT2 *model, StateReader *r);
// Restores what a job of old_ranks ranks saved (readers[q] = rank q's file)
// in a job with another number of ranks.
void omgd_load_resharded(Omgd *o, GPT2 *model, StateReader *readers, int old_ranks);

// Bytes held, for the log and the memory lines.
typedef struct {
    size_t params, grads, state_working, state_parked;
} OmgdMemory;
OmgdMemory omgd_memory(const Omgd *o, const GPT2 *model);

#endif
