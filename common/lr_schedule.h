// Learning rate at an optimizer step (0-based): linear warmup over
// warmup_steps from lr/warmup_steps to lr, then
//   cosine:   min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * p))
//   linear:   lr - (lr - min_lr) * p
//   constant: lr
// where p = (step - warmup_steps) / (steps - warmup_steps) in [0, 1].
#ifndef COMMON_LR_SCHEDULE_H
#define COMMON_LR_SCHEDULE_H

double lr_at_step(const char *schedule, double lr, double min_lr, int warmup_steps, int steps,
                  int step);

#endif
