// Token shards in llm.c's format and the loader that cuts them into
// micro-batches.
//
// Shard: header of 256 int32 (little-endian): [0] 20240520 (magic),
// [1] 1 (version), [2] number of tokens N; then N uint16 tokens.
//
// A micro-batch is one *window* of B*T+1 consecutive tokens of one shard:
// inputs = window[0 .. B*T), targets = window[1 .. B*T+1). Window i of a
// shard starts at token i*B*T, for i = 0 .. (N-1)/(B*T) - 1: exactly the
// positions llm.c's sequential loader visits.
//   shuffle off: llm.c's order (shard 0 from token 0, B*T tokens per
//                micro-batch, next shard when the next window does not fit,
//                back to shard 0 after the last: a new epoch).
//   shuffle on:  random reshuffling: every epoch a fresh permutation of the
//                shard order and, within each shard, of its windows; every
//                window is visited exactly once per epoch. The permutations
//                are derived from (seed, epoch, shard), so a position can be
//                restored without replaying.
// With R ranks, the one-process sequence of windows is dealt out round
// robin: rank r takes windows r, r+R, r+2R, ... of it.
#ifndef DATA_DATALOADER_H
#define DATA_DATALOADER_H

#include <stdint.h>
#include <stdio.h>

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES 1024

// The loader's position: plain integers, saved in checkpoints.
typedef struct {
    int64_t epoch;         // completed passes over the data
    int64_t shard_pos;     // index into this epoch's shard order
    int64_t window_pos;    // index into the current shard's window order
    int64_t num_shards;    // for validation on restore
    int64_t total_windows;
    uint64_t seed;
} DataLoaderState;

typedef struct {
    int B, T, shuffle, rank, num_ranks;
    uint64_t seed;
    int num_shards;
    char **paths;
    int64_t *shard_tokens;   // N per shard
    int64_t *shard_windows;  // windows per shard
    int64_t total_windows;   // per epoch, all ranks together
    DataLoaderState st;
    uint32_t *shard_order;   // this epoch's shard order
    uint32_t *window_order;  // the current shard's window order (shuffle)
    int64_t order_epoch, order_shard;  // what shard_order / window_order were built for
    FILE *file;              // the current shard
    int file_shard;
    uint16_t *buffer;        // B*T+1 tokens
} DataLoader;

// Opens every shard matching the glob and validates it (header, size,
// token ids < vocab_size) before any work; fails with one line naming the
// file (or the glob) on any problem.
void dataloader_init(DataLoader *l, const char *glob_pattern, int B, int T, int shuffle,
                     uint64_t seed, int rank, int num_ranks, int vocab_size);
// The next micro-batch of this rank: B*T inputs and B*T targets.
void dataloader_next_batch(DataLoader *l, int *inputs, int *targets);
// Back to the start of epoch 0 (validation reads from the start each time).
void dataloader_reset(DataLoader *l);
void dataloader_get_state(const DataLoader *l, DataLoaderState *s);
// Restores a position; fails if it does not fit these shards and settings.
void dataloader_set_state(DataLoader *l, const DataLoaderState *s);
// The epoch the next micro-batch belongs to.
int64_t dataloader_epoch(DataLoader *l);
// Windows this rank reads per epoch.
int64_t dataloader_windows_per_epoch(const DataLoader *l);
int64_t dataloader_total_tokens(const DataLoader *l);
int dataloader_num_shards(const DataLoader *l);
void dataloader_free(DataLoader *l);

#endif
