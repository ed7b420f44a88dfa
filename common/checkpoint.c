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
    uint64_t count;
} StateHeader;

typedef struct {
    char name[STATE_SECTION_NAME];
    uint64_t size;
} SectionHeader;

void state_writer_open(StateWriter *w, const char *path) {
    snprintf(w->path, sizeof w->path, "%s", path);
    atomic_open(&w->file, path);
    w->count = 0;
    StateHeader h = {STATE_FILE_MAGIC, STATE_FILE_VERSION, 0};
    atomic_write(&w->file, &h, sizeof h, 1);
}

static void write_section_header(StateWriter *w, const char *name, uint64_t bytes) {
    SectionHeader sh;
    memset(&sh, 0, sizeof sh);
    if (strlen(name) >= STATE_SECTION_NAME) fail("state section name too long: %s", name);
    strcpy(sh.name, name);
    sh.size = bytes;
    atomic_write(&w->file, &sh, sizeof sh, 1);
    w->count++;
}

void state_write_section(StateWriter *w, const char *name, const void *data, uint64_t bytes) {
    write_section_header(w, name, bytes);
    atomic_write(&w->file, data, 1, (size_t)bytes);
}

void state_write_zeros(StateWriter *w, const char *name, uint64_t bytes) {
    static const char zeros[1 << 16];
    write_section_header(w, name, bytes);
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n = bytes - done < sizeof zeros ? bytes - done : sizeof zeros;
        atomic_write(&w->file, zeros, 1, (size_t)n);
        done += n;
    }
}

void state_writer_commit(StateWriter *w) {
    StateHeader h = {STATE_FILE_MAGIC, STATE_FILE_VERSION, w->count};
    if (fflush(w->file.f) != 0 || fseek(w->file.f, 0, SEEK_SET) != 0 ||
        fwrite(&h, sizeof h, 1, w->file.f) != 1)
        fail("%s: write failed (%s)", w->path, strerror(errno));
    atomic_commit(&w->file);
}

void state_reader_open(StateReader *r, const char *path) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->f = xfopen(path, "rb");
    long long size = xfilesize(r->f, path);
    StateHeader h;
    if (size < (long long)sizeof h) fail("%s: truncated state file (%lld bytes)", path, size);
    xfread(&h, sizeof h, 1, r->f, path);
    if (h.magic != STATE_FILE_MAGIC) fail("%s: not a training state file (bad magic)", path);
    if (h.version != STATE_FILE_VERSION)
        fail("%s: state file version %u, expected %d", path, h.version, STATE_FILE_VERSION);
    if (h.count > 1000000) fail("%s: implausible section count %llu", path, (unsigned long long)h.count);
    r->count = h.count;
    r->names = xcalloc(h.count, STATE_SECTION_NAME, "state sections");
    r->sizes = xcalloc(h.count, sizeof(uint64_t), "state sections");
    r->offsets = xcalloc(h.count, sizeof(uint64_t), "state sections");
    uint64_t pos = sizeof h;
    for (uint64_t i = 0; i < h.count; i++) {
        SectionHeader sh;
        if (pos + sizeof sh > (uint64_t)size)
            fail("%s: truncated state file (section %llu of %llu missing)", path,
                 (unsigned long long)i + 1, (unsigned long long)h.count);
        if (fseek(r->f, (long)pos, SEEK_SET) != 0) fail("%s: cannot seek", path);
        xfread(&sh, sizeof sh, 1, r->f, path);
        if (memchr(sh.name, '\0', STATE_SECTION_NAME) == NULL)
            fail("%s: corrupt section header %llu", path, (unsigned long long)i);
        pos += sizeof sh;
        if (sh.size > (uint64_t)size - pos)
            fail("%s: truncated state file (section \"%s\" needs %llu bytes, %llu left)", path,
                 sh.name, (unsigned long long)sh.size, (unsigned long long)((uint64_t)size - pos));
        memcpy(r->names[i], sh.name, STATE_SECTION_NAME);
        r->sizes[i] = sh.size;
        r->offsets[i] = pos;
        pos += sh.size;
    }
    if (pos != (uint64_t)size)
        fail("%s: %lld bytes after the last section (corrupt file?)", path, size - (long long)pos);
}

static long find_section(const StateReader *r, const char *name) {
    for (uint64_t i = 0; i < r->count; i++)
        if (strncmp(r->names[i], name, STATE_SECTION_NAME) == 0) return (long)i;
    return -1;
}

int state_has_section(const StateReader *r, const char *name) { return find_section(r, name) >= 0; }

void state_read_section(StateReader *r, const char *name, void *dst, uint64_t bytes) {
    long i = find_section(r, name);
    if (i < 0) fail("%s: state file has no \"%s\" section (written by another mode or version?)", r->path, name);
    if (r->sizes[i] != bytes)
        fail("%s: section \"%s\" holds %llu bytes, expected %llu (a different model or setting?)",
             r->path, name, (unsigned long long)r->sizes[i], (unsigned long long)bytes);
    if (!dst) return;
    if (fseek(r->f, (long)r->offsets[i], SEEK_SET) != 0) fail("%s: cannot seek", r->path);
    xfread(dst, 1, (size_t)bytes, r->f, r->path);
}

void state_reader_close(StateReader *r) {
    if (r->f) fclose(r->f);
    free(r->names);
    free(r->sizes);
    free(r->offsets);
    memset(r, 0, sizeof *r);
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
