// The OMGD mask schedule: which parameter groups are active in each mask
// period (see ../shared/docs/omgd.md, Algorithms 1 and 2).
//
// Units are transformer blocks (modes lisa, omgd) or parameter tensors
// (mode omgd_tensor). The first warmup_steps steps train everything; after
// that, a new period starts every switch_interval steps (or, with
// switch_interval 0, at every data epoch), and the period's mask is drawn:
//   none         every unit active (plain AdamW)
//   lisa         gamma blocks drawn uniformly from all N_L, with replacement
//                across periods (the baseline)
//   omgd         gamma blocks drawn from the blocks not yet used in the
//                current cycle; when the pool is exhausted a new cycle starts
//                (pool_reset empty: reset when no block is left, so the last
//                draw of a cycle may hold fewer than gamma; below_gamma:
//                reset when fewer than gamma are left, Algorithm 2 as printed)
//   omgd_tensor  Algorithm 1 at tensor granularity: each cycle a random
//                permutation of the tensors is split into M = gamma groups of
//                nearly equal count, one group per period
// Deterministic from the seed; the whole state is plain data saved in
// checkpoints. A replay file (one line per period: active unit indices)
// overrides the draws so runs can be compared with other implementations.
#ifndef OMGD_MASK_SCHEDULE_H
#define OMGD_MASK_SCHEDULE_H

#include <stdint.h>

#include "common/rng.h"

#define MASK_MAX_UNITS 4096

typedef enum { MASK_NONE, MASK_LISA, MASK_OMGD, MASK_OMGD_TENSOR } MaskMode;
typedef enum { POOL_RESET_EMPTY, POOL_RESET_BELOW_GAMMA } PoolReset;

typedef struct {
    MaskMode mode;
    int num_units;        // N_L blocks, or the number of tensors for omgd_tensor
    int gamma;            // active blocks per period, or the number of groups M
    int switch_interval;  // K steps per period; 0 = one data epoch per period
    int warmup_steps;     // full-parameter steps before masking starts
    PoolReset pool_reset;
    double grad_scale;    // <= 0: auto (N_L/gamma for omgd, M for omgd_tensor, 1 for lisa)
    uint64_t seed;
} MaskSettings;

// Everything that evolves; saved verbatim in checkpoints.
typedef struct {
    int64_t period;               // index of the current period, -1 before the first draw
    int64_t cycle;                // index of the current cycle (omgd, omgd_tensor)
    int64_t clock;                // period clock value of the current period
    int32_t num_active;
    int32_t masking;              // 1 once the first masked period has started
    int32_t group;                // omgd_tensor: group index within the cycle
    uint8_t used[MASK_MAX_UNITS];    // omgd: used in the current cycle
    uint8_t active[MASK_MAX_UNITS];  // the current mask
    uint32_t perm[MASK_MAX_UNITS];   // omgd_tensor: this cycle's permutation
    Rng rng;
} MaskState;

typedef struct {
    MaskSettings s;
    MaskState st;
    // replay: periods[p] lists the active units of period p
    int replay_periods;
    int32_t *replay_offsets;  // replay_periods + 1
    int32_t *replay_units;
    char replay_path[512];
} MaskSchedule;

// Validates settings (fails with one line naming the omgd.* key).
void mask_init(MaskSchedule *m, const MaskSettings *s);
// Reads a replay file; fails naming the file and line on bad content.
void mask_load_replay(MaskSchedule *m, const char *path);
void mask_free(MaskSchedule *m);

// Updates the mask for optimizer step `step` (0-based); epoch is the data
// epoch the step reads from (used when switch_interval is 0). Returns 1
// when a new period started at this step.
int mask_update(MaskSchedule *m, int64_t step, int64_t epoch);
// Whether unit u is active now (all units during warmup and in mode none).
int mask_unit_active(const MaskSchedule *m, int u);
// Whether masking is in force (not warmup, not mode none).
int mask_is_masking(const MaskSchedule *m);
// The factor applied to pool gradients after clipping while masking.
double mask_grad_scale(const MaskSchedule *m);
// The mask of the period after the current one, without changing state
// (for prefetching parked state). Writes 0/1 per unit into next.
void mask_peek_next(const MaskSchedule *m, uint8_t *next);

const char *mask_mode_name(MaskMode mode);

#endif
