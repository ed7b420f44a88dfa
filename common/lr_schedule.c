#include "common/lr_schedule.h"

#include <math.h>
#include <string.h>

#include "common/error.h"

double lr_at_step(const char *schedule, double lr, double min_lr, int warmup_steps, int steps,
                  int step) {
    if (step < warmup_steps) return lr * (double)(step + 1) / (double)warmup_steps;
    if (strcmp(schedule, "constant") == 0) return lr;
    double span = (double)(steps - warmup_steps);
    double p = span > 0 ? (double)(step - warmup_steps) / span : 1.0;
    if (p > 1.0) p = 1.0;
    if (strcmp(schedule, "cosine") == 0) return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(M_PI * p));
    if (strcmp(schedule, "linear") == 0) return lr - (lr - min_lr) * p;
    fail("optimizer.schedule: unknown schedule \"%s\" (expected cosine, linear or constant)",
         schedule);
}
