// The optimizer state store: AdamW moments and per-tensor step counts,
// organised by mask unit (a transformer block, or a single tensor in
// omgd_tensor mode) plus the always-active group.
//
// Only the active units are in the working set. When a unit is frozen its
// state is parked (policy keep: moments and step counts are kept and come
// back with the unit, the authors' reference behaviour) or dropped (policy
// reset: LISA's behaviour, the unit restarts from zero moments and step 0).
// On the CPU parking leaves the memory where it is; the GPU build keeps the
// working set on the device and parked state in pinned host memory behind
// the same interface.
#ifndef OMGD_STATE_STORE_H
#define OMGD_STATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/checkpoint.h"
#include "model/gpt2.h"

typedef enum { STATE_KEEP, STATE_RESET } StatePolicy;

typedef struct {
    const ParamTable *table;
    StatePolicy policy;
    int num_units;
    int *unit_of_tensor;    // num_tensors: mask unit, or -1 for the always-active group
    size_t *unit_floats;    // per unit: parameters it holds
    size_t always_floats;   // parameters of the always-active group
    float **unit_mem;       // per unit: [m | v] of its tensors, NULL when it has no state
    float *always_mem;      // [m | v] of the always-active tensors
    float **m_of, **v_of;   // per tensor: its moments, NULL when it has none
    uint8_t *resident;      // per unit: in the working set
    int64_t *tensor_step;   // per tensor: AdamW steps taken (bias correction)
} OptStateStore;

// tensor_units: 0 = units are the transformer blocks (the embeddings and the
// final LayerNorm are always active), 1 = every tensor is a unit.
void state_store_init(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy);
void state_store_free(OptStateStore *s);
// Makes the active units' state resident (restoring parked state, or
// starting from zero) and parks or drops the others' (by the policy).
void state_store_set_active(OptStateStore *s, const uint8_t *unit_active);
// Bytes of moments in the working set and parked.
size_t state_store_working_bytes(const OptStateStore *s);
size_t state_store_parked_bytes(const OptStateStore *s);
// Checkpoint sections "opt.*": step counts, which units hold state, moments.
void state_store_save(const OptStateStore *s, StateWriter *w);
// Restores what save wrote; every unit that had state comes back parked
// (call set_active afterwards).
void state_store_load(OptStateStore *s, StateReader *r);

#endif
