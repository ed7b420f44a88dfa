#include "common/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/crc32.h"
#include "common/error.h"

void checkpoint_model_path(char *buf, size_t cap, const char *dir, long step) {
    snprintf(buf, cap, "%s/model_%08ld.bin", dir, step);
}

void checkpoint_state_path(char *buf, size_t cap, const char *dir, long step) {
    snprintf(buf, cap, "%s/state_%08ld.bin", dir, step);
}

void checkpoint_shard_path(char *buf, size_t cap, const char *state_path, int rank) {
    size_t n = strlen(state_path);
    int stem = n > 4 && strcmp(state_path + n - 4, ".bin") == 0 ? (int)(n - 4) : (int)n;
    snprintf(buf, cap, "%.*s.rank%03d.bin", stem, state_path, rank);
}

// Whether the shard files a multi-rank checkpoint's state file lists are
// there and unchanged; if not, a reason goes to why.
static int verify_shards(const char *state_path, const FileDigest *want, int count, char *why, size_t cap) {
    for (int r = 1; r <= count; r++) {
        char path[4200], reason[512];
        checkpoint_shard_path(path, sizeof path, state_path, r);
        if (!state_file_check(path, reason, sizeof reason)) {
            snprintf(why, cap, "%s: %s", path, reason);
            return 0;
        }
        long long size;
        uint32_t crc = crc32_file(path, 0, &size);
        if (size != want[r - 1].size || crc != want[r - 1].crc) {
            snprintf(why, cap, "%s: %lld bytes with checksum %08x, but its checkpoint recorded %lld bytes with checksum %08x (corrupt or replaced)",
                     path, size, crc, (long long)want[r - 1].size, want[r - 1].crc);
            return 0;
        }
    }
    return 1;
}

static int parse_model_name(const char *name, long *step) {
    char tail[8];
    return sscanf(name, "model_%8ld%7s", step, tail) == 2 && strcmp(tail, ".bin") == 0 &&
           strlen(name) == strlen("model_00000000.bin");
}

int checkpoint_list(const char *dir, long **steps_out) {
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

int checkpoint_verify(const char *model_path, const char *state_path, char *why, size_t cap) {
    char reason[512];
    if (!state_file_check(state_path, reason, sizeof reason)) {
        snprintf(why, cap, "%s: %s", state_path, reason);
        return 0;
    }
    StateReader r;
    state_reader_open(&r, state_path);
    FileDigest want, *shards = NULL;
    int has = state_has_section(&r, "model_file"), nshards = 0;
    if (has) state_read_section(&r, "model_file", &want, sizeof want);
    for (uint64_t i = 0; i < r.count; i++)  // multi-rank: digests of the other ranks' shards
        if (strcmp(r.names[i], "shards") == 0 && r.sizes[i] % sizeof(FileDigest) == 0 && r.sizes[i] < (1u << 24)) {
            nshards = (int)(r.sizes[i] / sizeof(FileDigest));
            shards = xmalloc(r.sizes[i] + 1, "shard digests");
            state_read_section(&r, "shards", shards, r.sizes[i]);
        }
    state_reader_close(&r);
    int shards_ok = nshards == 0 || verify_shards(state_path, shards, nshards, why, cap);
    free(shards);
    if (!shards_ok) return 0;
    if (!has) {
        snprintf(why, cap, "%s: no record of its model file", state_path);
        return 0;
    }
    FILE *f = fopen(model_path, "rb");
    if (!f) {
        snprintf(why, cap, "%s: cannot open (%s)", model_path, strerror(errno));
        return 0;
    }
    fclose(f);
    long long size;
    uint32_t crc = crc32_file(model_path, 0, &size);
    if (size != want.size || crc != want.crc) {
        snprintf(why, cap, "%s: %lld bytes with checksum %08x, but its checkpoint recorded %lld bytes with checksum %08x (corrupt or replaced)",
                 model_path, size, crc, (long long)want.size, want.crc);
        return 0;
    }
    return 1;
}

// Model files newer than every complete checkpoint have no state file: a
// checkpoint cut short (the state file is written last) or a state file
// removed. Said out loud, since resume=latest passes over them.
static void warn_models_without_state(const char *dir, long newest_complete) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step;
        if (!parse_model_name(e->d_name, &step) || step <= newest_complete) continue;
        fprintf(stderr, "warning: skipping %s/%s: it has no state file state_%08ld.bin (a checkpoint cut short, or "
                        "the file was removed)\n", dir, e->d_name, step);
    }
    closedir(d);
}

long checkpoint_find_latest_valid(const char *dir) {
    long *steps;
    int n = checkpoint_list(dir, &steps);
    long found = -1;
    warn_models_without_state(dir, n > 0 ? steps[n - 1] : -1);
    for (int i = n - 1; i >= 0 && found < 0; i--) {
        char model[4096], state[4096], why[1024];
        checkpoint_model_path(model, sizeof model, dir, steps[i]);
        checkpoint_state_path(state, sizeof state, dir, steps[i]);
        if (checkpoint_verify(model, state, why, sizeof why)) found = steps[i];
        else fprintf(stderr, "warning: skipping checkpoint %ld: %s\n", steps[i], why);
    }
    free(steps);
    return found;
}

void checkpoint_remove_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        int ours = strncmp(e->d_name, "model_", 6) == 0 || strncmp(e->d_name, "state_", 6) == 0 ||
                   strncmp(e->d_name, "log.jsonl", 9) == 0 || strncmp(e->d_name, "config.json", 11) == 0;
        if (ours && n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (remove(path) == 0) printf("removed %s (left by an interrupted write)\n", path);
        }
    }
    closedir(d);
}

long checkpoint_find_latest(const char *dir) {
    long *steps;
    int n = checkpoint_list(dir, &steps);
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
    uint32_t crc;  // CRC-32 of every byte after the header
    uint32_t pad;
} StateHeader;

typedef struct {
    char name[STATE_SECTION_NAME];
    uint64_t size;
} SectionHeader;

void state_writer_open(StateWriter *w, const char *path) {
    snprintf(w->path, sizeof w->path, "%s", path);
    atomic_open(&w->file, path);
    w->count = 0;
    w->crc = 0;
    StateHeader h = {STATE_FILE_MAGIC, STATE_FILE_VERSION, 0, 0, 0};
    atomic_write(&w->file, &h, sizeof h, 1);
}

static void write_hashed(StateWriter *w, const void *data, uint64_t bytes) {
    atomic_write(&w->file, data, 1, (size_t)bytes);
    w->crc = crc32_update(w->crc, data, (size_t)bytes);
}

static void write_section_header(StateWriter *w, const char *name, uint64_t bytes) {
    SectionHeader sh;
    memset(&sh, 0, sizeof sh);
    if (strlen(name) >= STATE_SECTION_NAME) fail("state section name too long: %s", name);
    strcpy(sh.name, name);
    sh.size = bytes;
    write_hashed(w, &sh, sizeof sh);
    w->count++;
}

void state_write_section(StateWriter *w, const char *name, const void *data, uint64_t bytes) {
    write_section_header(w, name, bytes);
    write_hashed(w, data, bytes);
}

void state_write_zeros(StateWriter *w, const char *name, uint64_t bytes) {
    static const char zeros[1 << 16];
    write_section_header(w, name, bytes);
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n = bytes - done < sizeof zeros ? bytes - done : sizeof zeros;
        write_hashed(w, zeros, n);
        done += n;
    }
}

void state_writer_commit(StateWriter *w) {
    StateHeader h = {STATE_FILE_MAGIC, STATE_FILE_VERSION, w->count, w->crc, 0};
    if (fflush(w->file.f) != 0 || fseek(w->file.f, 0, SEEK_SET) != 0 ||
        fwrite(&h, sizeof h, 1, w->file.f) != 1)
        fail("%s: write failed (%s)", w->path, strerror(errno));
    atomic_commit(&w->file);
}

// Walks the file's structure; with r != NULL records the section index.
// Returns 0 and a reason in why on any problem.
static int walk_state_file(const char *path, StateReader *r, char *why, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, cap, "cannot open (%s)", strerror(errno));
        return 0;
    }
    int ok = 0;
    long long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    StateHeader h;
    if (size < (long long)sizeof h || fseek(f, 0, SEEK_SET) != 0 || fread(&h, sizeof h, 1, f) != 1) {
        snprintf(why, cap, "truncated state file (%lld bytes)", size);
        goto done;
    }
    if (h.magic != STATE_FILE_MAGIC) {
        snprintf(why, cap, "not a training state file (bad magic)");
        goto done;
    }
    if (h.version != STATE_FILE_VERSION) {
        snprintf(why, cap, "state file version %u, expected %d", h.version, STATE_FILE_VERSION);
        goto done;
    }
    if (h.count > 1000000) {
        snprintf(why, cap, "implausible section count %llu (corrupt header)", (unsigned long long)h.count);
        goto done;
    }
    if (r) {
        r->count = h.count;
        r->names = xcalloc(h.count, STATE_SECTION_NAME, "state sections");
        r->sizes = xcalloc(h.count, sizeof(uint64_t), "state sections");
        r->offsets = xcalloc(h.count, sizeof(uint64_t), "state sections");
    }
    uint64_t pos = sizeof h;
    for (uint64_t i = 0; i < h.count; i++) {
        SectionHeader sh;
        if (pos + sizeof sh > (uint64_t)size || fseek(f, (long)pos, SEEK_SET) != 0 || fread(&sh, sizeof sh, 1, f) != 1) {
            snprintf(why, cap, "truncated state file (section %llu of %llu missing)", (unsigned long long)i + 1,
                     (unsigned long long)h.count);
            goto done;
        }
        if (memchr(sh.name, '\0', STATE_SECTION_NAME) == NULL) {
            snprintf(why, cap, "corrupt section header %llu", (unsigned long long)i);
            goto done;
        }
        pos += sizeof sh;
        if (sh.size > (uint64_t)size - pos) {
            snprintf(why, cap, "truncated state file (section \"%s\" needs %llu bytes, %llu left)", sh.name,
                     (unsigned long long)sh.size, (unsigned long long)((uint64_t)size - pos));
            goto done;
        }
        if (r) {
            memcpy(r->names[i], sh.name, STATE_SECTION_NAME);
            r->sizes[i] = sh.size;
            r->offsets[i] = pos;
        }
        pos += sh.size;
    }
    if (pos != (uint64_t)size) {
        snprintf(why, cap, "%lld bytes after the last section (corrupt file?)", size - (long long)pos);
        goto done;
    }
    fclose(f);
    f = NULL;
    uint32_t crc = crc32_file(path, (long long)sizeof h, NULL);
    if (crc != h.crc) {
        snprintf(why, cap, "checksum mismatch (stored %08x, computed %08x): the file is corrupt", h.crc, crc);
        goto done;
    }
    ok = 1;
done:
    if (f) fclose(f);
    return ok;
}

int state_file_check(const char *path, char *why, size_t cap) { return walk_state_file(path, NULL, why, cap); }

void state_reader_open(StateReader *r, const char *path) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    char why[512];
    if (!walk_state_file(path, r, why, sizeof why)) fail("%s: %s", path, why);
    r->f = xfopen(path, "rb");
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

// Pieces of checkpoints that never completed (a crash between the model
// file and the state file, or between a rank's shard and rank 0's state
// file), older than step `before`: nothing can resume from them.
static void remove_incomplete_before(const char *dir, long before) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long step;
        int model = parse_model_name(e->d_name, &step), rank = 0;
        if (!model && sscanf(e->d_name, "state_%8ld.rank%3d.bin", &step, &rank) != 2) continue;
        if (step >= before) continue;
        char state[4096], path[4400];
        checkpoint_state_path(state, sizeof state, dir, step);
        if (access(state, F_OK) == 0) continue;  // complete (or pruned below)
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) fprintf(stderr, "warning: cannot remove %s (%s)\n", path, strerror(errno));
    }
    closedir(d);
}

void checkpoint_prune(const char *dir, int keep_last) {
    if (keep_last <= 0) return;
    long *steps;
    int n = checkpoint_list(dir, &steps);
    for (int i = 0; i < n - keep_last; i++) {
        char path[4096];
        // state first: without it the checkpoint no longer counts as complete
        checkpoint_state_path(path, sizeof path, dir, steps[i]);
        if (remove(path) != 0) fprintf(stderr, "warning: cannot remove %s (%s)\n", path, strerror(errno));
        for (int r = 1;; r++) {  // the other ranks' shards of a multi-rank checkpoint
            char shard[4200];
            checkpoint_shard_path(shard, sizeof shard, path, r);
            if (remove(shard) != 0) break;
        }
        checkpoint_model_path(path, sizeof path, dir, steps[i]);
        if (remove(path) != 0) fprintf(stderr, "warning: cannot remove %s (%s)\n", path, strerror(errno));
    }
    if (n > 0) remove_incomplete_before(dir, steps[n > keep_last ? n - keep_last : 0]);
    free(steps);
}
