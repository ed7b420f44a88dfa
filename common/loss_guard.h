// Bad numbers, caught before the update is applied: a NaN or infinite loss
// or gradient norm (policy train.on_nonfinite: skip the update, giving up
// after MAX_NONFINITE_IN_A_ROW in a row, or stop), and loss spikes far above
// the recent losses (z-score over the last LOSS_WINDOW accepted steps, as
// llm.c's outlier detector; logged, and skipped with train.skip_spikes).
#ifndef COMMON_LOSS_GUARD_H
#define COMMON_LOSS_GUARD_H

#include <stddef.h>

#include "common/config.h"

#define LOSS_WINDOW 128
#define MAX_NONFINITE_IN_A_ROW 20

typedef enum { GUARD_APPLY, GUARD_SKIP, GUARD_STOP } GuardAction;

typedef struct {
    double window[LOSS_WINDOW];
    int count, next;
    int nonfinite_in_a_row;
    long long nonfinite_total, spikes_total, skipped_total;
} LossGuard;

typedef struct {
    GuardAction action;
    int nonfinite;  // the loss or the norm is NaN or infinite
    int spike;      // a finite loss with z-score above train.spike_zscore
    double zscore;
} GuardVerdict;

void loss_guard_init(LossGuard *g);
GuardVerdict loss_guard_check(LossGuard *g, const TrainConfig *c, float loss, float grad_norm);

// Index of the first NaN or infinite value of x[0..n), or n if there is none
// (what a checkpoint is checked with before it is written).
size_t first_nonfinite(const float *x, size_t n);

#endif
