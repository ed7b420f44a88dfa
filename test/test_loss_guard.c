// The bad-number guard (common/loss_guard.c): NaN/inf policies and the
// loss-spike detector, against hand-computed z-scores.
#include <math.h>
#include <string.h>

#include "common/loss_guard.h"
#include "test/check.h"

static TrainConfig settings(const char *on_nonfinite, double zscore, int skip_spikes) {
    TrainConfig c;
    memset(&c, 0, sizeof c);
    snprintf(c.on_nonfinite, sizeof c.on_nonfinite, "%s", on_nonfinite);
    c.spike_zscore = zscore;
    c.skip_spikes = skip_spikes;
    return c;
}

// 64 losses alternating 3.0 and 3.2: mean 3.1, standard deviation 0.1.
static void feed_history(LossGuard *g, const TrainConfig *c) {
    for (int i = 0; i < 64; i++) loss_guard_check(g, c, i % 2 ? 3.2f : 3.0f, 1.0f);
}

int main(void) {
    LossGuard g;
    TrainConfig skip = settings("skip", 5.0, 0), stop = settings("stop", 5.0, 0);

    loss_guard_init(&g);
    GuardVerdict v = loss_guard_check(&g, &skip, NAN, 1.0f);
    CHECK(v.nonfinite && v.action == GUARD_SKIP, "NaN loss, policy skip: skipped", "action %d", v.action);
    v = loss_guard_check(&g, &skip, 2.0f, INFINITY);
    CHECK(v.nonfinite && v.action == GUARD_SKIP, "infinite gradient norm, policy skip: skipped", "action %d", v.action);
    v = loss_guard_check(&g, &skip, 2.0f, 1.0f);
    CHECK(!v.nonfinite && v.action == GUARD_APPLY && g.nonfinite_in_a_row == 0, "a finite step after them is applied",
          "action %d, in a row %d", v.action, g.nonfinite_in_a_row);
    loss_guard_init(&g);
    int stopped_at = -1;
    for (int i = 1; i <= 30 && stopped_at < 0; i++)
        if (loss_guard_check(&g, &skip, NAN, NAN).action == GUARD_STOP) stopped_at = i;
    CHECK(stopped_at == MAX_NONFINITE_IN_A_ROW, "policy skip gives up after 20 non-finite steps in a row",
          "stopped at %d", stopped_at);
    loss_guard_init(&g);
    v = loss_guard_check(&g, &stop, NAN, 1.0f);
    CHECK(v.action == GUARD_STOP, "policy stop: the first NaN stops", "action %d", v.action);

    loss_guard_init(&g);
    for (int i = 0; i < 31; i++) loss_guard_check(&g, &skip, 3.0f + 0.01f * (i % 2), 1.0f);
    v = loss_guard_check(&g, &skip, 100.0f, 1.0f);
    CHECK(!v.spike, "no spike verdict before 32 steps of history", "zscore %f", v.zscore);

    loss_guard_init(&g);
    feed_history(&g, &skip);
    v = loss_guard_check(&g, &skip, 3.5f, 1.0f);  // z = (3.5 - 3.1) / 0.1 = 4
    CHECK(!v.spike && fabs(v.zscore - 4.0) < 1e-4 && v.action == GUARD_APPLY, "z-score 4 is below 5: no spike",
          "spike %d zscore %f", v.spike, v.zscore);
    loss_guard_init(&g);
    feed_history(&g, &skip);
    v = loss_guard_check(&g, &skip, 3.7f, 1.0f);  // z = 6
    CHECK(v.spike && fabs(v.zscore - 6.0) < 1e-4 && v.action == GUARD_APPLY, "z-score 6: a spike, logged and applied",
          "spike %d zscore %f action %d", v.spike, v.zscore, v.action);
    TrainConfig skipping = settings("skip", 5.0, 1);
    loss_guard_init(&g);
    feed_history(&g, &skipping);
    v = loss_guard_check(&g, &skipping, 3.7f, 1.0f);
    CHECK(v.spike && v.action == GUARD_SKIP, "train.skip_spikes: the spike's update is skipped", "action %d", v.action);
    v = loss_guard_check(&g, &skipping, 3.7f, 1.0f);
    CHECK(v.spike && fabs(v.zscore - 6.0) < 1e-4, "a skipped spike stays out of the history", "zscore %f", v.zscore);
    TrainConfig off = settings("skip", 0.0, 1);
    loss_guard_init(&g);
    feed_history(&g, &off);
    v = loss_guard_check(&g, &off, 1000.0f, 1.0f);
    CHECK(!v.spike && v.action == GUARD_APPLY, "spike_zscore 0 turns the detector off", "spike %d", v.spike);
    CHECK_EXIT();
}
