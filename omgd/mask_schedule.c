#include "omgd/mask_schedule.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

const char *mask_mode_name(MaskMode mode) {
    switch (mode) {
        case MASK_NONE: return "none";
        case MASK_LISA: return "lisa";
        case MASK_OMGD: return "omgd";
        case MASK_OMGD_TENSOR: return "omgd_tensor";
    }
    return "?";
}

void mask_init(MaskSchedule *m, const MaskSettings *s) {
    memset(m, 0, sizeof *m);
    m->s = *s;
    if (s->num_units <= 0 || s->num_units > MASK_MAX_UNITS)
        fail("omgd: %d parameter groups, expected 1..%d", s->num_units, MASK_MAX_UNITS);
    if (s->mode != MASK_NONE && (s->gamma < 1 || s->gamma > s->num_units))
        fail("omgd.active_layers: expected 1..%d (%s for this model), got %d", s->num_units,
             s->mode == MASK_OMGD_TENSOR ? "the number of tensors" : "the number of blocks",
             s->gamma);
    if (s->switch_interval < 0) fail("omgd.switch_interval: expected >= 0, got %d", s->switch_interval);
    if (s->warmup_steps < 0) fail("omgd.warmup_steps: expected >= 0, got %d", s->warmup_steps);
    rng_seed(&m->st.rng, s->seed);
    m->st.period = -1;
    m->st.clock = -1;
    m->st.num_active = s->num_units;
    memset(m->st.active, 1, (size_t)s->num_units);
}

void mask_free(MaskSchedule *m) {
    free(m->replay_offsets);
    free(m->replay_units);
    m->replay_offsets = NULL;
    m->replay_units = NULL;
    m->replay_periods = 0;
}

void mask_load_replay(MaskSchedule *m, const char *path) {
    FILE *f = xfopen(path, "r");
    snprintf(m->replay_path, sizeof m->replay_path, "%s", path);
    int cap_p = 64, cap_u = 256, np = 0, nu = 0;
    int32_t *offs = xmalloc((size_t)(cap_p + 1) * sizeof(int32_t), "replay schedule");
    int32_t *units = xmalloc((size_t)cap_u * sizeof(int32_t), "replay schedule");
    uint8_t seen[MASK_MAX_UNITS];
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    offs[0] = 0;
    while (getline(&line, &lcap, f) > 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || *p == '\0') continue;  // comments and blank lines
        memset(seen, 0, sizeof seen);
        int count = 0;
        for (;;) {
            while (*p == ' ' || *p == '\t' || *p == ',') p++;
            if (*p == '\n' || *p == '\0' || *p == '\r' || *p == '#') break;  // end of line or a trailing comment
            char *end;
            errno = 0;
            long u = strtol(p, &end, 10);
            if (end == p || errno)
                fail("%s:%ld: expected unit indices separated by spaces, got \"%.*s\"", path,
                     lineno, (int)(strcspn(p, "\r\n") < 20 ? strcspn(p, "\r\n") : 20), p);
            if (u < 0 || u >= m->s.num_units)
                fail("%s:%ld: index %ld out of range, expected 0..%d", path, lineno, u,
                     m->s.num_units - 1);
            if (seen[u]) fail("%s:%ld: index %ld repeated in one period", path, lineno, u);
            seen[u] = 1;
            if (nu == cap_u) {
                cap_u *= 2;
                units = realloc(units, (size_t)cap_u * sizeof(int32_t));
                if (!units) fail("out of memory reading %s", path);
            }
            units[nu++] = (int32_t)u;
            count++;
            p = end;
        }
        if (count == 0) fail("%s:%ld: empty period", path, lineno);
        if (np == cap_p) {
            cap_p *= 2;
            offs = realloc(offs, (size_t)(cap_p + 1) * sizeof(int32_t));
            if (!offs) fail("out of memory reading %s", path);
        }
        offs[++np] = nu;
    }
    free(line);
    fclose(f);
    if (np == 0) fail("%s: no periods in the replay file", path);
    m->replay_periods = np;
    m->replay_offsets = offs;
    m->replay_units = units;
}

// k distinct units drawn uniformly from candidates[0..n) (partial Fisher-Yates).
static void draw_from(Rng *rng, uint32_t *cand, int n, int k, uint8_t *active) {
    for (int i = 0; i < k; i++) {
        int j = i + (int)rng_below(rng, (uint64_t)(n - i));
        uint32_t t = cand[i];
        cand[i] = cand[j];
        cand[j] = t;
        active[cand[i]] = 1;
    }
}

// Draws the mask of the next period into st.
static void draw_period(const MaskSchedule *m, MaskState *st) {
    int N = m->s.num_units, gamma = m->s.gamma;
    st->period++;
    memset(st->active, 0, (size_t)N);
    uint32_t cand[MASK_MAX_UNITS];
    if (m->replay_periods > 0) {
        if (st->period >= m->replay_periods)
            fail("%s: the run needs period %lld but the replay file has %d periods",
                 m->replay_path, (long long)st->period + 1, m->replay_periods);
        for (int i = m->replay_offsets[st->period]; i < m->replay_offsets[st->period + 1]; i++)
            st->active[m->replay_units[i]] = 1;
    } else if (m->s.mode == MASK_LISA) {
        for (int u = 0; u < N; u++) cand[u] = (uint32_t)u;
        draw_from(&st->rng, cand, N, gamma, st->active);
    } else if (m->s.mode == MASK_OMGD) {
        int left = 0;
        for (int u = 0; u < N; u++) left += !st->used[u];
        int reset = m->s.pool_reset == POOL_RESET_EMPTY ? left == 0 : left < gamma;
        if (reset || st->period == 0) {
            if (st->period > 0) st->cycle++;
            memset(st->used, 0, (size_t)N);
        }
        int n = 0;
        for (int u = 0; u < N; u++)
            if (!st->used[u]) cand[n++] = (uint32_t)u;
        draw_from(&st->rng, cand, n, gamma < n ? gamma : n, st->active);
        for (int u = 0; u < N; u++)
            if (st->active[u]) st->used[u] = 1;
    } else if (m->s.mode == MASK_OMGD_TENSOR) {
        if (st->group == 0) {
            if (st->period > 0) st->cycle++;
            for (int u = 0; u < N; u++) st->perm[u] = (uint32_t)u;
            rng_shuffle_u32(&st->rng, st->perm, (uint64_t)N);
        }
        // group j of M holds perm[j*N/M .. (j+1)*N/M): sizes differ by at most one
        int64_t lo = (int64_t)st->group * N / gamma, hi = (int64_t)(st->group + 1) * N / gamma;
        for (int64_t i = lo; i < hi; i++) st->active[st->perm[i]] = 1;
        st->group = (st->group + 1) % gamma;
    } else {
        memset(st->active, 1, (size_t)N);
    }
    st->num_active = 0;
    for (int u = 0; u < N; u++) st->num_active += st->active[u];
}

int mask_update(MaskSchedule *m, int64_t step, int64_t epoch) {
    if (m->s.mode == MASK_NONE || step < m->s.warmup_steps) return 0;
    int64_t clock = m->s.switch_interval > 0 ? (step - m->s.warmup_steps) / m->s.switch_interval
                                             : epoch;
    if (m->st.masking && clock == m->st.clock) return 0;
    draw_period(m, &m->st);
    m->st.clock = clock;
    m->st.masking = 1;
    return 1;
}

int mask_is_masking(const MaskSchedule *m) { return m->s.mode != MASK_NONE && m->st.masking; }

int mask_unit_active(const MaskSchedule *m, int u) {
    return !mask_is_masking(m) || m->st.active[u];
}

double mask_grad_scale(const MaskSchedule *m) {
    if (!mask_is_masking(m)) return 1.0;
    if (m->s.grad_scale > 0) return m->s.grad_scale;
    switch (m->s.mode) {
        case MASK_OMGD: return (double)m->s.num_units / m->s.gamma;
        case MASK_OMGD_TENSOR: return (double)m->s.gamma;
        default: return 1.0;
    }
}

void mask_peek_next(const MaskSchedule *m, uint8_t *next) {
    MaskState st = m->st;  // a copy: drawing advances only the copy's RNG
    if (m->s.mode == MASK_NONE) {
        memset(next, 1, (size_t)m->s.num_units);
        return;
    }
    if (m->replay_periods > 0 && st.period + 1 >= m->replay_periods) {
        memset(next, 1, (size_t)m->s.num_units);  // nothing to prefetch past the file's end
        return;
    }
    draw_period(m, &st);
    memcpy(next, st.active, (size_t)m->s.num_units);
}
