#include "data/dataloader.h"

#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

// Validates one shard: header, exact size, every token id < vocab_size.
static int64_t validate_shard(const char *path, int vocab_size) {
    FILE *f = xfopen(path, "rb");
    long long size = xfilesize(f, path);
    if (size < SHARD_HEADER_BYTES)
        fail("%s: not a token shard (%lld bytes, shorter than the 1024-byte header)", path, size);
    int32_t h[256];
    xfread(h, sizeof(int32_t), 256, f, path);
    if (h[0] != SHARD_MAGIC) fail("%s: bad magic number %d, expected %d (llm.c token shard)", path, h[0], SHARD_MAGIC);
    if (h[1] != SHARD_VERSION) fail("%s: shard version %d, expected %d", path, h[1], SHARD_VERSION);
    if (h[2] <= 0) fail("%s: header says %d tokens, expected a positive count", path, h[2]);
    long long expected = SHARD_HEADER_BYTES + 2LL * h[2];
    if (size != expected)
        fail("%s: file is %lld bytes, expected %lld for %d tokens (truncated or corrupt)", path, size, expected, h[2]);
    enum { CHUNK = 1 << 20 };
    uint16_t *buf = xmalloc(CHUNK * sizeof(uint16_t), "shard validation");
    for (int64_t done = 0; done < h[2];) {
        size_t n = (size_t)(h[2] - done < CHUNK ? h[2] - done : CHUNK);
        xfread(buf, sizeof(uint16_t), n, f, path);
        for (size_t i = 0; i < n; i++)
            if (buf[i] >= vocab_size)
                fail("%s: token %u at position %lld is outside the vocabulary (size %d)", path, buf[i],
                     (long long)(done + (int64_t)i), vocab_size);
        done += (int64_t)n;
    }
    free(buf);
    fclose(f);
    return h[2];
}

void dataloader_init(DataLoader *l, const char *glob_pattern, int B, int T, int shuffle,
                     uint64_t seed, int rank, int num_ranks, int vocab_size) {
    memset(l, 0, sizeof *l);
    if (B <= 0 || T <= 0 || num_ranks <= 0 || rank < 0 || rank >= num_ranks)
        fail("dataloader: bad batch %d x %d or rank %d of %d", B, T, rank, num_ranks);
    l->B = B;
    l->T = T;
    l->shuffle = shuffle;
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
        if (l->shard_windows[s] > UINT32_MAX) fail("%s: too many windows in one shard", l->paths[s]);
        l->total_windows += l->shard_windows[s];
        if (l->shard_windows[s] > max_windows) max_windows = l->shard_windows[s];
    }
    globfree(&g);
    if (l->total_windows == 0)
        fail("%s: no shard holds a full window of batch_size * seq_len + 1 = %lld tokens (largest shard: %lld tokens)",
             glob_pattern, (long long)bt + 1, (long long)(l->shard_tokens[0]));
    if (l->total_windows < num_ranks)
        fail("%s: %lld windows per epoch cannot feed %d ranks", glob_pattern, (long long)l->total_windows, num_ranks);
    l->shard_order = xmalloc((size_t)l->num_shards * sizeof(uint32_t), "shard order");
    l->window_order = xmalloc((size_t)(max_windows ? max_windows : 1) * sizeof(uint32_t), "window order");
    l->buffer = xmalloc((size_t)(bt + 1) * sizeof(uint16_t), "token buffer");
    l->file_shard = -1;
    dataloader_reset(l);
}

void dataloader_reset(DataLoader *l) {
    memset(&l->st, 0, sizeof l->st);
    l->st.num_shards = l->num_shards;
    l->st.total_windows = l->total_windows;
    l->st.seed = l->seed;
    l->order_epoch = -1;
    l->order_shard = -1;
}

// Shard order of the current epoch (identity without shuffling).
static void ensure_shard_order(DataLoader *l) {
    if (l->order_epoch == l->st.epoch) return;
    for (int s = 0; s < l->num_shards; s++) l->shard_order[s] = (uint32_t)s;
    if (l->shuffle) {
        Rng r;
        rng_seed(&r, rng_derive(l->seed, (uint64_t)l->st.epoch * 2 + 1));
        rng_shuffle_u32(&r, l->shard_order, (uint64_t)l->num_shards);
    }
    l->order_epoch = l->st.epoch;
    l->order_shard = -1;
}

// Window order of the current shard (identity without shuffling).
static void ensure_window_order(DataLoader *l) {
    ensure_shard_order(l);
    if (l->order_shard == l->st.shard_pos) return;
    uint32_t s = l->shard_order[l->st.shard_pos];
    int64_t n = l->shard_windows[s];
    for (int64_t i = 0; i < n; i++) l->window_order[i] = (uint32_t)i;
    if (l->shuffle) {
        Rng r;
        rng_seed(&r, rng_derive(rng_derive(l->seed, (uint64_t)l->st.epoch * 2 + 2), s));
        rng_shuffle_u32(&r, l->window_order, (uint64_t)n);
    }
    l->order_shard = l->st.shard_pos;
}

// Moves to the next window of the one-process sequence.
static void advance(DataLoader *l) {
    ensure_shard_order(l);
    l->st.window_pos++;
    // skip to a shard that still has windows, wrapping into a new epoch
    while (l->st.window_pos >= l->shard_windows[l->shard_order[l->st.shard_pos]]) {
        l->st.window_pos = 0;
        l->st.shard_pos++;
        if (l->st.shard_pos == l->num_shards) {
            l->st.shard_pos = 0;
            l->st.epoch++;
            ensure_shard_order(l);
        }
    }
}

// Global index of the current window within its epoch.
static int64_t index_in_epoch(DataLoader *l) {
    ensure_shard_order(l);
    int64_t idx = l->st.window_pos;
    for (int64_t p = 0; p < l->st.shard_pos; p++) idx += l->shard_windows[l->shard_order[p]];
    return idx;
}

// Makes the current position point at a window (a start position may sit
// on a shard without windows).
static void settle(DataLoader *l) {
    ensure_shard_order(l);
    if (l->st.window_pos >= l->shard_windows[l->shard_order[l->st.shard_pos]]) {
        l->st.window_pos--;
        advance(l);
    }
}

void dataloader_next_batch(DataLoader *l, int *inputs, int *targets) {
    settle(l);
    // this rank's windows are those whose index in the epoch is rank mod num_ranks
    while (l->num_ranks > 1 && index_in_epoch(l) % l->num_ranks != l->rank) advance(l);
    ensure_window_order(l);
    uint32_t s = l->shard_order[l->st.shard_pos];
    int64_t bt = (int64_t)l->B * l->T;
    int64_t start = (int64_t)l->window_order[l->st.window_pos] * bt;
    if (l->file_shard != (int)s) {
        if (l->file) fclose(l->file);
        l->file = xfopen(l->paths[s], "rb");
        l->file_shard = (int)s;
    }
    if (fseek(l->file, SHARD_HEADER_BYTES + 2 * start, SEEK_SET) != 0)
        fail("%s: cannot seek to token %lld (%s)", l->paths[s], (long long)start, strerror(errno));
    xfread(l->buffer, sizeof(uint16_t), (size_t)bt + 1, l->file, l->paths[s]);
    for (int64_t i = 0; i < bt; i++) {
        inputs[i] = l->buffer[i];
        targets[i] = l->buffer[i + 1];
    }
    advance(l);
}

void dataloader_get_state(const DataLoader *l, DataLoaderState *s) { *s = l->st; }

void dataloader_set_state(DataLoader *l, const DataLoaderState *s) {
    if (s->num_shards != l->num_shards || s->total_windows != l->total_windows || s->seed != l->seed)
        fail("data-loader position in the checkpoint is for %lld shards / %lld windows / seed %llu, but the "
             "data now has %d shards / %lld windows / seed %llu (different data.train, batch size or data.seed?)",
             (long long)s->num_shards, (long long)s->total_windows, (unsigned long long)s->seed, l->num_shards,
             (long long)l->total_windows, (unsigned long long)l->seed);
    if (s->epoch < 0 || s->shard_pos < 0 || s->shard_pos >= l->num_shards || s->window_pos < 0)
        fail("data-loader position in the checkpoint is out of range (epoch %lld, shard %lld, window %lld)",
             (long long)s->epoch, (long long)s->shard_pos, (long long)s->window_pos);
    l->st = *s;
    l->order_epoch = -1;
    ensure_shard_order(l);
    if (s->window_pos > l->shard_windows[l->shard_order[s->shard_pos]])
        fail("data-loader position in the checkpoint is out of range (window %lld of a shard with %lld)",
             (long long)s->window_pos, (long long)l->shard_windows[l->shard_order[s->shard_pos]]);
}

int64_t dataloader_epoch(DataLoader *l) {
    settle(l);  // the next window may lie past the end of this epoch
    return l->st.epoch;
}

int64_t dataloader_windows_per_epoch(const DataLoader *l) {
    return (l->total_windows - l->rank + l->num_ranks - 1) / l->num_ranks;
}

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
