#include "common/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/error.h"

void checkpoint_model_path(char *buf, size_t cap, const char *dir, long step) {
    snprintf(buf, cap, "%s/model_%08ld.bin", dir, step);
}

void checkpoint_state_path(char *buf, size_t cap, const char *dir, long step) {
    snprintf(buf, cap, "%s/state_%08ld.bin", dir, step);
}

static int parse_model_name(const char *name, long *step) {
    char tail[8];
    return sscanf(name, "model_%8ld%7s", step, tail) == 2 && strcmp(tail, ".bin") == 0 &&
           strlen(name) == strlen("model_00000000.bin");
}

// Sorted list of complete checkpoint steps in dir; returns the count.
static int list_checkpoints(const char *dir, long **steps_out) {
    DIR *d = opendir(dir);
    *steps_out = NULL;
    if (!d) return 0;
    int n = 0, cap = 0;
    long *steps = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step;
        if (!parse_model_name(e->d_name, &step)) continue;
        char state[4096];
        checkpoint_state_path(state, sizeof state, dir, step);
        if (access(state, R_OK) != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long *grown = realloc(steps, (size_t)cap * sizeof(long));
            if (!grown) fail("out of memory listing checkpoints in %s", dir);
            steps = grown;
        }
        steps[n++] = step;
    }
    closedir(d);
    for (int i = 1; i < n; i++)  // insertion sort: a few hundred entries at most
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            long t = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = t;
        }
    *steps_out = steps;
    return n;
}

long checkpoint_find_latest(const char *dir) {
    long *steps;
    int n = list_checkpoints(dir, &steps);
    long latest = n > 0 ? steps[n - 1] : -1;
    free(steps);
    return latest;
}

long checkpoint_step_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    long step;
    if (!parse_model_name(base, &step))
        fail("%s: not a checkpoint name (expected model_SSSSSSSS.bin)", path);
    return step;
}

typedef struct {
    uint32_t magic, version;
    int64_t step, num_params, loader_state_bytes;
} StateHeader;

void train_state_save(const char *path, const TrainState *s) {
    StateHeader h = {STATE_FILE_MAGIC, STATE_FILE_VERSION, s->step, s->num_params,
                     (int64_t)s->loader_state_bytes};
    AtomicFile a;
    atomic_open(&a, path);
    atomic_write(&a, &h, sizeof h, 1);
    atomic_write(&a, s->m, sizeof(float), (size_t)s->num_params);
    atomic_write(&a, s->v, sizeof(float), (size_t)s->num_params);
    atomic_write(&a, s->loader_state, 1, s->loader_state_bytes);
    atomic_commit(&a);
}

void train_state_load(const char *path, TrainState *s) {
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    StateHeader h;
    if (size < (long long)sizeof h) fail("%s: truncated state file (%lld bytes)", path, size);
    xfread(&h, sizeof h, 1, f, path);
    if (h.magic != STATE_FILE_MAGIC) fail("%s: not a training state file (bad magic)", path);
    if (h.version != STATE_FILE_VERSION)
        fail("%s: state file version %u, expected %d", path, h.version, STATE_FILE_VERSION);
    if (h.num_params != s->num_params)
        fail("%s: holds optimizer state for %lld parameters, the model has %lld", path,
             (long long)h.num_params, (long long)s->num_params);
    if (h.loader_state_bytes != (int64_t)s->loader_state_bytes)
        fail("%s: data-loader state of %lld bytes, expected %zu", path,
             (long long)h.loader_state_bytes, s->loader_state_bytes);
    long long expected = (long long)sizeof h + 8LL * h.num_params + h.loader_state_bytes;
    if (size != expected)
        fail("%s: file is %lld bytes, expected %lld (truncated?)", path, size, expected);
    if (h.step < 0) fail("%s: negative step %lld", path, (long long)h.step);
    s->step = h.step;
    xfread(s->m, sizeof(float), (size_t)h.num_params, f, path);
    xfread(s->v, sizeof(float), (size_t)h.num_params, f, path);
    xfread(s->loader_state, 1, s->loader_state_bytes, f, path);
    fclose(f);
}

void checkpoint_prune(const char *dir, int keep_last) {
    if (keep_last <= 0) return;
    long *steps;
    int n = list_checkpoints(dir, &steps);
    for (int i = 0; i < n - keep_last; i++) {
        char path[4096];
        // state first: without it the checkpoint no longer counts as complete
        checkpoint_state_path(path, sizeof path, dir, steps[i]);
        if (remove(path) != 0) fprintf(stderr, "warning: cannot remove %s (%s)\n", path, strerror(errno));
        checkpoint_model_path(path, sizeof path, dir, steps[i]);
        if (remove(path) != 0) fprintf(stderr, "warning: cannot remove %s (%s)\n", path, strerror(errno));
    }
    free(steps);
}
