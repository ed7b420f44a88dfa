// Properties of the OMGD mask schedule over many seeds and shapes, checked
// against the rules of ../shared/docs/omgd.md rather than recorded output.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "omgd/mask_schedule.h"
#include "test/check.h"

static MaskSettings settings(MaskMode mode, int n, int gamma, int k, int warmup, PoolReset r,
                             uint64_t seed) {
    MaskSettings s = {.mode = mode, .num_units = n, .gamma = gamma, .switch_interval = k,
                      .warmup_steps = warmup, .pool_reset = r, .grad_scale = 0, .seed = seed};
    return s;
}

static int count_active(const MaskSchedule *m) {
    int c = 0;
    for (int u = 0; u < m->s.num_units; u++) c += mask_unit_active(m, u);
    return c;
}

// omgd: walks periods and checks the cycle structure for one setting.
static int check_omgd_cycles(int n, int gamma, PoolReset reset, uint64_t seed, char *why) {
    MaskSchedule m;
    MaskSettings s = settings(MASK_OMGD, n, gamma, 1, 0, reset, seed);
    mask_init(&m, &s);
    int used[MASK_MAX_UNITS] = {0}, in_cycle = 0;
    int64_t cycle = 0;
    for (int64_t step = 0; step < 40 * n; step++) {
        if (!mask_update(&m, step, 0)) {
            sprintf(why, "no new period at step %lld with K=1", (long long)step);
            return 0;
        }
        int left = n - in_cycle;
        int reset_now = reset == POOL_RESET_EMPTY ? left == 0 : left < gamma;
        if (step > 0 && reset_now) {
            // the previous cycle is over: every block used exactly once, or,
            // for below_gamma, all but fewer than gamma
            if (reset == POOL_RESET_EMPTY && in_cycle != n) {
                sprintf(why, "cycle %lld used %d of %d blocks", (long long)cycle, in_cycle, n);
                return 0;
            }
            if (m.st.cycle != cycle + 1) {
                sprintf(why, "cycle counter %lld, expected %lld", (long long)m.st.cycle, (long long)cycle + 1);
                return 0;
            }
            cycle++;
            memset(used, 0, sizeof used);
            in_cycle = 0;
            left = n;
        }
        int expect = gamma < left ? gamma : left;
        int got = count_active(&m);
        if (got != expect) {
            sprintf(why, "period %lld has %d active, expected %d", (long long)m.st.period, got, expect);
            return 0;
        }
        for (int u = 0; u < n; u++) {
            if (!mask_unit_active(&m, u)) continue;
            if (used[u]) {
                sprintf(why, "block %d repeated inside cycle %lld", u, (long long)cycle);
                return 0;
            }
            used[u] = 1;
            in_cycle++;
        }
    }
    mask_free(&m);
    return 1;
}

// Sequence of masks of `periods` periods as a string of 0/1.
static void trace(const MaskSettings *s, int periods, char *out) {
    MaskSchedule m;
    mask_init(&m, s);
    int64_t step = s->warmup_steps;
    for (int p = 0; p < periods; p++, step += s->switch_interval) {
        mask_update(&m, step, 0);
        for (int u = 0; u < s->num_units; u++) *out++ = (char)('0' + mask_unit_active(&m, u));
    }
    *out = '\0';
    mask_free(&m);
}

static const char *replay_path;
static MaskSchedule *replay_m;
static void replay_child(void *arg) { mask_load_replay(replay_m, replay_path); }

int main(void) {
    char why[256] = "";
    // 1. every cycle uses every block exactly once, no repeats, over many shapes and seeds
    int shapes[][2] = {{12, 3}, {12, 5}, {12, 12}, {12, 1}, {7, 2}, {48, 7}, {5, 4}, {2, 1}};
    int ok_empty = 1, ok_below = 1;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && ok_empty; i++)
        for (uint64_t seed = 0; seed < 25 && ok_empty; seed++)
            ok_empty = check_omgd_cycles(shapes[i][0], shapes[i][1], POOL_RESET_EMPTY, seed, why);
    CHECK(ok_empty, "omgd pool_reset=empty: each cycle uses every block exactly once", "%s", why);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && ok_below; i++)
        for (uint64_t seed = 0; seed < 25 && ok_below; seed++)
            ok_below = check_omgd_cycles(shapes[i][0], shapes[i][1], POOL_RESET_BELOW_GAMMA, seed, why);
    CHECK(ok_below, "omgd pool_reset=below_gamma: full draws of gamma, no repeats in a cycle", "%s", why);

    // 2. reproducible from the seed, different across seeds
    static char a[100000], b[100000];
    MaskSettings s = settings(MASK_OMGD, 12, 3, 10, 5, POOL_RESET_EMPTY, 7);
    trace(&s, 200, a);
    trace(&s, 200, b);
    CHECK(strcmp(a, b) == 0, "omgd schedule reproducible from its seed", "traces differ");
    s.seed = 8;
    trace(&s, 200, b);
    CHECK(strcmp(a, b) != 0, "different seeds give different schedules", "identical traces");

    // 3. periods switch every K steps after warmup; all active during warmup
    {
        MaskSchedule m;
        MaskSettings w = settings(MASK_OMGD, 12, 3, 4, 6, POOL_RESET_EMPTY, 1);
        mask_init(&m, &w);
        int good = 1;
        for (int64_t step = 0; step < 30; step++) {
            int started = mask_update(&m, step, 0);
            int expect_start = step >= 6 && (step - 6) % 4 == 0;
            int expect_active = step < 6 ? 12 : 3;
            if (started != expect_start || count_active(&m) != expect_active) {
                sprintf(why, "step %lld: started %d active %d", (long long)step, started, count_active(&m));
                good = 0;
                break;
            }
        }
        CHECK(good, "warmup then a new period every K steps", "%s", why);
        mask_free(&m);
    }
    // epoch-driven periods (switch_interval 0)
    {
        MaskSchedule m;
        MaskSettings w = settings(MASK_OMGD, 6, 2, 0, 0, POOL_RESET_EMPTY, 1);
        mask_init(&m, &w);
        int starts = 0;
        for (int64_t step = 0; step < 30; step++) starts += mask_update(&m, step, step / 7);
        CHECK(starts == 5, "switch_interval 0: one period per data epoch", "%d periods in 5 epochs", starts);
        mask_free(&m);
    }

    // 4. a resumed schedule (state copied mid-run) continues the same traversal
    {
        MaskSchedule m1, m2;
        MaskSettings w = settings(MASK_OMGD, 12, 5, 3, 2, POOL_RESET_EMPTY, 99);
        mask_init(&m1, &w);
        for (int64_t step = 0; step < 40; step++) mask_update(&m1, step, 0);
        mask_init(&m2, &w);
        m2.st = m1.st;  // what a checkpoint saves and restores
        int same = 1;
        for (int64_t step = 40; step < 200 && same; step++) {
            mask_update(&m1, step, 0);
            mask_update(&m2, step, 0);
            same = memcmp(m1.st.active, m2.st.active, 12) == 0;
        }
        CHECK(same, "restored schedule state continues the same traversal", "masks diverged");
        // peek_next predicts the next period without changing state
        uint8_t next[MASK_MAX_UNITS];
        MaskState before = m1.st;
        mask_peek_next(&m1, next);
        int unchanged = memcmp(&before, &m1.st, sizeof before) == 0;
        int64_t step = 200;
        while (!mask_update(&m1, step, 0)) step++;
        CHECK(unchanged && memcmp(next, m1.st.active, 12) == 0, "peek_next predicts the next mask",
              "unchanged %d", unchanged);
        mask_free(&m1);
        mask_free(&m2);
    }

    // 5. lisa draws gamma distinct blocks per period, with replacement across periods
    {
        MaskSchedule m;
        MaskSettings w = settings(MASK_LISA, 12, 3, 1, 0, POOL_RESET_EMPTY, 3);
        mask_init(&m, &w);
        int sizes_ok = 1, repeat_within_4 = 0, counts[12] = {0};
        uint8_t prev[4][12];
        for (int64_t step = 0; step < 4000; step++) {
            mask_update(&m, step, 0);
            sizes_ok &= count_active(&m) == 3;
            for (int u = 0; u < 12; u++) counts[u] += mask_unit_active(&m, u);
            // omgd would never repeat a block within 4 consecutive periods of a 12/3 cycle
            // starting at a cycle boundary; lisa does, often
            if (step % 4 == 3) {
                for (int p = 0; p < 3; p++)
                    for (int u = 0; u < 12; u++) repeat_within_4 |= prev[p][u] && m.st.active[u];
            }
            memcpy(prev[step % 4], m.st.active, 12);
        }
        int balanced = 1;
        for (int u = 0; u < 12; u++) balanced &= counts[u] > 850 && counts[u] < 1150;  // mean 1000, sd ~27
        CHECK(sizes_ok && repeat_within_4 && balanced, "lisa: gamma distinct blocks, with replacement",
              "sizes %d repeats %d balanced %d", sizes_ok, repeat_within_4, balanced);
        CHECK(mask_grad_scale(&m) == 1.0, "lisa grad scale 1", "%g", mask_grad_scale(&m));
        mask_free(&m);
    }
    {
        MaskSchedule m;
        MaskSettings w = settings(MASK_OMGD, 12, 5, 1, 2, POOL_RESET_EMPTY, 3);
        mask_init(&m, &w);
        mask_update(&m, 0, 0);
        double warm = mask_grad_scale(&m);
        mask_update(&m, 2, 0);
        CHECK(warm == 1.0 && mask_grad_scale(&m) == 12.0 / 5.0, "omgd grad scale: 1 in warmup, N_L/gamma after",
              "%g %g", warm, mask_grad_scale(&m));
        // the constant factor also for a cycle's short last draw (12 = 5 + 5 + 2)
        mask_update(&m, 3, 0);
        mask_update(&m, 4, 0);
        CHECK(count_active(&m) == 2 && mask_grad_scale(&m) == 12.0 / 5.0,
              "short last draw keeps the constant scale", "%d active, scale %g", count_active(&m), mask_grad_scale(&m));
        mask_free(&m);
    }

    // 6. omgd_tensor: M disjoint groups covering all tensors each cycle, scale M
    {
        int good = 1;
        for (uint64_t seed = 0; seed < 20 && good; seed++) {
            MaskSchedule m;
            MaskSettings w = settings(MASK_OMGD_TENSOR, 28, 3, 1, 0, POOL_RESET_EMPTY, seed);
            mask_init(&m, &w);
            for (int cycle = 0; cycle < 5 && good; cycle++) {
                int cover[28] = {0};
                for (int g = 0; g < 3; g++) {
                    mask_update(&m, cycle * 3 + g, 0);
                    int c = count_active(&m);
                    good &= c == 9 || c == 10;
                    for (int u = 0; u < 28; u++) cover[u] += mask_unit_active(&m, u);
                }
                for (int u = 0; u < 28; u++) good &= cover[u] == 1;
            }
            good &= mask_grad_scale(&m) == 3.0;
            mask_free(&m);
        }
        CHECK(good, "omgd_tensor: each cycle's groups are disjoint and cover every tensor", "failed");
    }

    // 7. mode none keeps everything active
    {
        MaskSchedule m;
        MaskSettings w = settings(MASK_NONE, 12, 3, 1, 0, POOL_RESET_EMPTY, 3);
        mask_init(&m, &w);
        int all = 1;
        for (int64_t step = 0; step < 50; step++) {
            mask_update(&m, step, 0);
            all &= count_active(&m) == 12;
        }
        CHECK(all && mask_grad_scale(&m) == 1.0, "mode none: all blocks active, scale 1", "failed");
        mask_free(&m);
    }

    // 8. replay file
    {
        char dir[] = "/tmp/test_mask_XXXXXX";
        if (!mkdtemp(dir)) fail("mkdtemp");
        char path[256];
        snprintf(path, sizeof path, "%s/schedule.txt", dir);
        FILE *f = xfopen(path, "w");
        fprintf(f, "# period masks\n3 1 7\n\n0,2\n11\n");
        xfclose(f, path);
        MaskSchedule m;
        MaskSettings w = settings(MASK_OMGD, 12, 3, 2, 0, POOL_RESET_EMPTY, 3);
        mask_init(&m, &w);
        mask_load_replay(&m, path);
        mask_update(&m, 0, 0);
        int p0 = count_active(&m) == 3 && m.st.active[1] && m.st.active[3] && m.st.active[7];
        mask_update(&m, 2, 0);
        int p1 = count_active(&m) == 2 && m.st.active[0] && m.st.active[2];
        mask_update(&m, 4, 0);
        int p2 = count_active(&m) == 1 && m.st.active[11];
        CHECK(p0 && p1 && p2, "replay file sets each period's mask", "%d %d %d", p0, p1, p2);
        mask_free(&m);
        const char *bad[][2] = {{"5 12\n", "out of range"}, {"1 x\n", "expected"}, {"2 2\n", "repeated"},
                                {"# nothing\n", "no periods"}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char bpath[300], err[512], label[96];
            snprintf(bpath, sizeof bpath, "%s/bad%zu.txt", dir, i);
            f = xfopen(bpath, "w");
            fputs(bad[i][0], f);
            xfclose(f, bpath);
            mask_init(&m, &w);
            replay_m = &m;
            replay_path = bpath;
            int rc = run_in_child(replay_child, NULL, err, sizeof err);
            snprintf(label, sizeof label, "bad replay file rejected: %s", bad[i][1]);
            CHECK(rc == 1 && is_one_line_error(err, bpath) && strstr(err, bad[i][1]), label, "exit %d: %s", rc, err);
        }
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
    }
    CHECK_EXIT();
}
