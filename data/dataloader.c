#include "data/dataloader.h"

#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/rng.h"

// Validates one shard: a regular file, header, exact size, every token id <
// vocab_size. Returns its token count.
static int64_t validate_shard(const char *path, int vocab_size) {
    FILE *f = xfopen(path, "rb");
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) fail("%s: cannot stat (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) fail("%s: not a regular file (expected a token shard)", path);
    long long size = xfilesize(f, path);
    if (size < SHARD_HEADER_BYTES)
        fail("%s: not a token shard: expected at least the %d-byte header, got a file of %lld bytes", path,
             SHARD_HEADER_BYTES, size);
    int32_t h[256];
    xfread(h, sizeof(int32_t), 256, f, path);
    if (h[0] != SHARD_MAGIC)
        fail("%s: bad magic number: expected %d (llm.c token shard), got %d", path, SHARD_MAGIC, h[0]);
    if (h[1] != SHARD_VERSION) fail("%s: bad shard version: expected %d, got %d", path, SHARD_VERSION, h[1]);
    if (h[2] <= 0) fail("%s: bad token count in the header: expected a positive count, got %d tokens", path, h[2]);
    long long expected = SHARD_HEADER_BYTES + 2LL * h[2];
    if (size != expected)
        fail("%s: %s: expected %lld bytes (1024-byte header + %d tokens), got %lld bytes", path,
             size < expected ? "file is truncated" : "file has extra bytes", expected, h[2], size);
    enum { CHUNK = 1 << 20 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "shard validation");
    for (int64_t done = 0; done < h[2];) {
        size_t n = (size_t)(h[2] - done < CHUNK ? h[2] - done : CHUNK);
        xfread(buf, sizeof(uint16_t), n, f, path);
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= vocab_size)
                fail("%s: token id at position %lld is outside the vocabulary: expected < %d, got %u", path,
                     (long long)(done + (int64_t)i), vocab_size, buf[i]);
        done += (int64_t)n;
    }
    free(buf);
    fclose(f);
    return h[2];
}

// Fails naming the glob, B*T and the shards' token counts (no shard holds a window).
static void fail_no_window(const DataLoader *l, const char *glob_pattern, int64_t bt) {
    char counts[512];
    size_t len = 0;
    counts[0] = '\0';
    for (int s = 0; s < l->num_shards && len + 40 < sizeof counts; s++) {
        int n = snprintf(counts + len, sizeof counts - len, "%s%lld", s ? ", " : "", (long long)l->shard_tokens[s]);
        if (n > 0) len += (size_t)n;
        if (s + 1 < l->num_shards && len + 40 >= sizeof counts)
            snprintf(counts + len, sizeof counts - len, ", ... (%d shards)", l->num_shards);
    }
    fail("%s: no shard holds a full window: expected at least B*T+1 = %lld tokens (B*T = %d*%d), got shards "
         "of %s tokens",
         glob_pattern, (long long)bt + 1, l->B, l->T, counts);
}

void dataloader_init(DataLoader *l, const char *glob_pattern, int B, int T, int shuffle,
                     uint64_t seed, int rank, int num_ranks, int vocab_size) {
    memset(l, 0, sizeof *l);
    if (B <= 0 || T <= 0 || num_ranks <= 0 || rank < 0 || rank >= num_ranks || vocab_size <= 0)
        fail("dataloader: bad settings: batch %d x %d, rank %d of %d, vocab size %d", B, T, rank, num_ranks,
             vocab_size);
    l->B = B;
    l->T = T;
    l->shuffle = shuffle ? 1 : 0;
    l->seed = seed;
    l->rank = rank;
    l->num_ranks = num_ranks;
    glob_t g;
    int rc = glob(glob_pattern, 0, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0))
        fail("%s: no files match this pattern", glob_pattern);
    if (rc != 0) fail("%s: cannot expand the pattern (glob error %d)", glob_pattern, rc);
    if (g.gl_pathc > (1u << 20)) fail("%s: too many shards (%zu)", glob_pattern, g.gl_pathc);
    l->num_shards = (int)g.gl_pathc;
    l->paths = xcalloc((size_t)l->num_shards, sizeof(char *), "shard list");
    l->shard_tokens = xcalloc((size_t)l->num_shards, sizeof(int64_t), "shard list");
    l->shard_windows = xcalloc((size_t)l->num_shards, sizeof(int64_t), "shard list");
    int64_t bt = (int64_t)B * T, max_windows = 0;
    for (int s = 0; s < l->num_shards; s++) {  // glob(3) returns the paths sorted
        l->paths[s] = strdup(g.gl_pathv[s]);
        if (!l->paths[s]) fail("out of memory listing shards");
        l->shard_tokens[s] = validate_shard(l->paths[s], vocab_size);
        l->shard_windows[s] = (l->shard_tokens[s] - 1) / bt;
        l->total_windows += l->shard_windows[s];
        if (l->shard_windows[s] > max_windows) max_windows = l->shard_windows[s];
    }
    globfree(&g);
    if (l->total_windows == 0) fail_no_window(l, glob_pattern, bt);
    if (l->total_windows < num_ranks)
        fail("%s: %lld windows per epoch cannot feed %d ranks", glob_pattern, (long long)l->total_windows,
             num_ranks);
    l->shard_order = xmalloc((size_t)l->num_shards * sizeof(uint32_t), "shard order");
    l->window_order = xmalloc((size_t)max_windows * sizeof(uint32_t), "window order");
    l->buffer = xmalloc((size_t)(bt + 1) * sizeof(uint16_t), "token buffer");
    l->order_epoch = l->win_epoch = l->win_shard_pos = -1;
    l->file_shard = -1;
    dataloader_reset(l);
}

void dataloader_reset(DataLoader *l) {
    memset(&l->st, 0, sizeof l->st);
    l->st.num_shards = l->num_shards;
    l->st.total_windows = l->total_windows;
    l->st.seed = l->seed;
}

// Makes shard_order the shard order of `epoch` (identity without shuffling).
static void ensure_shard_order(DataLoader *l, int64_t epoch) {
    if (l->order_epoch == epoch) return;
    for (int s = 0; s < l->num_shards; s++) l->shard_order[s] = (uint32_t)s;
    if (l->shuffle) {
        Rng r;
        rng_seed(&r, rng_derive(l->seed, (uint64_t)epoch * 2 + 1));
        rng_shuffle_u32(&r, l->shard_order, (uint64_t)l->num_shards);
    }
    l->order_epoch = epoch;
}

// Shard index at position p.
static uint32_t shard_at(DataLoader *l, const DataLoaderState *p) {
    ensure_shard_order(l, p->epoch);
    return l->shard_order[p->shard_pos];
}

// Makes window_order the window order of the shard at p (identity without
// shuffling); seeded by (seed, epoch, shard) only.
static void ensure_window_order(DataLoader *l, const DataLoaderState *p) {
    if (l->win_epoch == p->epoch && l->win_shard_pos == p->shard_pos) return;
    uint32_t s = shard_at(l, p);
    int64_t n = l->shard_windows[s];
    for (int64_t i = 0; i < n; i++) l->window_order[i] = (uint32_t)i;
    if (l->shuffle) {
        Rng r;
        rng_seed(&r, rng_derive(rng_derive(l->seed, (uint64_t)p->epoch * 2 + 2), s));
        rng_shuffle_u32(&r, l->window_order, (uint64_t)n);
    }
    l->win_epoch = p->epoch;
    l->win_shard_pos = p->shard_pos;
}

// Moves p forward to the first window at or after it (past ends of shards
// and shards without windows, into the next epoch after the last shard).
// Ends since some shard has a window.
static void settle(DataLoader *l, DataLoaderState *p) {
    while (p->window_pos >= l->shard_windows[shard_at(l, p)]) {
        p->window_pos = 0;
        if (++p->shard_pos == l->num_shards) {
            p->shard_pos = 0;
            p->epoch++;
        }
    }
}

// Moves a settled position to the next window of the global sequence.
static void step(DataLoader *l, DataLoaderState *p) {
    p->window_pos++;
    settle(l, p);
}

void dataloader_next_batch(DataLoader *l, int *inputs, int *targets) {
    settle(l, &l->st);
    DataLoaderState p = l->st;  // this rank's window: `rank` windows after the group's start
    for (int r = 0; r < l->rank; r++) step(l, &p);
    ensure_window_order(l, &p);
    uint32_t s = shard_at(l, &p);
    int64_t bt = (int64_t)l->B * l->T;
    int64_t start = (int64_t)l->window_order[p.window_pos] * bt;
    if (l->file_shard != (int)s) {
        if (l->file) fclose(l->file);
        l->file = NULL;
        l->file = xfopen(l->paths[s], "rb");
        l->file_shard = (int)s;
    }
    if (fseeko(l->file, (off_t)(SHARD_HEADER_BYTES + 2 * start), SEEK_SET) != 0)
        fail("%s: cannot seek to token %lld (%s)", l->paths[s], (long long)start, strerror(errno));
    xfread(l->buffer, sizeof(uint16_t), (size_t)bt + 1, l->file, l->paths[s]);
    for (int64_t i = 0; i < bt; i++) {
        inputs[i] = l->buffer[i];
        targets[i] = l->buffer[i + 1];
    }
    for (int r = 0; r < l->num_ranks; r++) step(l, &l->st);  // the next group
}

void dataloader_get_state(const DataLoader *l, DataLoaderState *s) { *s = l->st; }

void dataloader_set_state(DataLoader *l, const DataLoaderState *s) {
    if (s->num_shards != l->num_shards || s->total_windows != l->total_windows || s->seed != l->seed)
        fail("data-loader position does not fit the data: saved for %lld shards / %lld windows per epoch / "
             "seed %llu, but the loader has %d shards / %lld windows / seed %llu (different data files, "
             "batch size, sequence length or data seed?)",
             (long long)s->num_shards, (long long)s->total_windows, (unsigned long long)s->seed,
             l->num_shards, (long long)l->total_windows, (unsigned long long)l->seed);
    if (s->epoch < 0 || s->epoch > (INT64_C(1) << 40) || s->shard_pos < 0 || s->shard_pos >= l->num_shards ||
        s->window_pos < 0)
        fail("data-loader position is out of range: epoch %lld, shard %lld of %d, window %lld",
             (long long)s->epoch, (long long)s->shard_pos, l->num_shards, (long long)s->window_pos);
    int64_t n = l->shard_windows[shard_at(l, s)];
    if (s->window_pos > n)
        fail("data-loader position is out of range: window %lld of a shard with %lld windows",
             (long long)s->window_pos, (long long)n);
    l->st = *s;
}

int64_t dataloader_epoch(DataLoader *l) {
    settle(l, &l->st);  // the next window may lie past the end of this epoch
    return l->st.epoch;
}

int64_t dataloader_windows_per_epoch(const DataLoader *l) { return l->total_windows / l->num_ranks; }

int64_t dataloader_total_windows(const DataLoader *l) { return l->total_windows; }

int64_t dataloader_total_tokens(const DataLoader *l) {
    int64_t n = 0;
    for (int s = 0; s < l->num_shards; s++) n += l->shard_tokens[s];
    return n;
}

int dataloader_num_shards(const DataLoader *l) { return l->num_shards; }

void dataloader_free(DataLoader *l) {
    if (l->file) fclose(l->file);
    for (int s = 0; s < l->num_shards; s++) free(l->paths[s]);
    free(l->paths);
    free(l->shard_tokens);
    free(l->shard_windows);
    free(l->shard_order);
    free(l->window_order);
    free(l->buffer);
    memset(l, 0, sizeof *l);
}
