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
//
// Sharded across the ranks of a data-parallel job, each rank holds the
// state of its own chunk of every unit (comm_chunk_start: unit u's
// elements cut into near-equal pieces, rank r owns piece r), so a rank's
// optimizer memory is 1/N of one process's, and a unit's owner does not
// change when the mask does. m_of/v_of then cover only the owned elements
// of each tensor: [own_off[i], own_off[i] + own_n[i]).
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
    int rank, num_ranks;    // this rank's chunk of every unit (0 of 1: all of it)
    size_t *unit_own;       // per unit: elements this rank owns (its state size / 2)
    size_t always_own;
    size_t *own_off, *own_n;  // per tensor: owned elements, relative to the tensor
    float **unit_mem;       // per unit: [m | v] of its tensors, NULL when it has no state
    float *always_mem;      // [m | v] of the always-active tensors
    float **m_of, **v_of;   // per tensor: its moments, NULL when it has none
    uint8_t *resident;      // per unit: in the working set
    int64_t *tensor_step;   // per tensor: AdamW steps taken (bias correction)
} OptStateStore;

// Memory for moments: alloc returns `bytes` zeroed bytes or fails (fail()),
// release frees them. NULL, NULL (the default): the heap. Install before
// any store is created (the GPU trainer does, for pinned host memory).
typedef float *(*StateAllocFn)(size_t bytes);
typedef void (*StateFreeFn)(float *p);
void state_store_set_allocator(StateAllocFn alloc, StateFreeFn release);

// tensor_units: 0 = units are the transformer blocks (the embeddings and the
// final LayerNorm are always active), 1 = every tensor is a unit.
void state_store_init(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy);
// The same for rank `rank` of `num_ranks`, holding only its chunks.
void state_store_init_sharded(OptStateStore *s, const ParamTable *t, int tensor_units, StatePolicy policy,
                              int rank, int num_ranks);
// Element range [*lo, *hi) of unit u (-1: the always-active group) that
// `rank` owns, relative to the unit's first element.
void state_store_chunk(const OptStateStore *s, int u, int rank, size_t *lo, size_t *hi);
void state_store_free(OptStateStore *s);
// Makes the active units' state resident (restoring parked state, or
// starting from zero) and parks or drops the others' (by the policy).
void state_store_set_active(OptStateStore *s, const uint8_t *unit_active);
// Bytes of moments in the working set and parked.
size_t state_store_working_bytes(const OptStateStore *s);
size_t state_store_parked_bytes(const OptStateStore *s);
// Whether every moment held (working and parked) is finite; if not, names
// the first bad one in what and returns 0.
int state_store_finite(const OptStateStore *s, char *what, size_t cap);
// Checkpoint sections "opt.*": step counts, which units hold state, moments.
void state_store_save(const OptStateStore *s, StateWriter *w);
// Restores what save wrote; every unit that had state comes back parked
// (call set_active afterwards).
void state_store_load(OptStateStore *s, StateReader *r);
// Restores state that a job of old_ranks ranks saved (readers[q] = rank q's
// file) into this rank's chunks, whatever the number of ranks now.
void state_store_load_resharded(OptStateStore *s, StateReader *readers, int old_ranks);

#endif
