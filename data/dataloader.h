// Token shards in llm.c's format and the loader that cuts them into
// micro-batches.
//
// Shard: header of 256 int32 (little-endian): [0] 20240520 (magic),
// [1] 1 (version), [2] number of tokens N; then N uint16 tokens. The file is
// exactly 1024 + 2*N bytes. Shards are selected by a glob(3) pattern and
// used in sorted path order.
//
// A micro-batch is one *window* of B*T+1 consecutive tokens of one shard:
// inputs = window[0 .. B*T), targets = window[1 .. B*T+1). Window i of a
// shard starts at token i*B*T, for i = 0 .. (N-1)/(B*T) - 1: exactly the
// positions llm.c's sequential loader visits. A shard without a full window
// is skipped.
//
// The one-process sequence of windows, epoch after epoch:
//   shuffle off: llm.c's order (shard 0 from token 0, B*T tokens per
//                micro-batch, next shard when the next window does not fit,
//                back to shard 0 after the last: a new epoch).
//   shuffle on:  random reshuffling: every epoch a fresh permutation of the
//                shard order and, within each shard, of its windows; every
//                window is visited exactly once per epoch. The permutations
//                are derived from (seed, epoch, shard) with rng_derive, so a
//                position is restored without replaying.
// With R ranks this global sequence is dealt out round robin: rank r reads
// global windows r, r+R, r+2R, ...; the k-th micro-batches of all R ranks
// are global windows kR .. kR+R-1, so R ranks in lockstep read exactly what
// one process would (a group of R windows may straddle an epoch boundary).
#ifndef DATA_DATALOADER_H
#define DATA_DATALOADER_H

#include <stdint.h>
#include <stdio.h>

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES 1024

// The loader's position, saved in checkpoints as raw bytes (48 bytes, six
// 64-bit integers). It is the position of the next *group* of R windows
// (= rank 0's next window) in the global sequence, so it is the same on
// every rank and a checkpoint needs only one copy. A position may sit at the
// end of a shard (window_pos == that shard's windows) or on a shard without
// windows; the loader then moves on to the next window when it reads.
typedef struct {
    int64_t epoch;          // completed passes over the data
    int64_t shard_pos;      // index into this epoch's shard order
    int64_t window_pos;     // index into that shard's window order
    int64_t num_shards;     // checked on restore
    int64_t total_windows;  // windows per epoch, all ranks: checked on restore
    uint64_t seed;          // checked on restore
} DataLoaderState;

// Visible so that it can live on the stack; use the functions below.
typedef struct {
    int B, T, shuffle, rank, num_ranks;
    uint64_t seed;
    int num_shards;
    char **paths;            // sorted glob matches
    int64_t *shard_tokens;   // N per shard
    int64_t *shard_windows;  // windows per shard
    int64_t total_windows;   // per epoch, all ranks together
    DataLoaderState st;      // next group's position
    uint32_t *shard_order;   // shard order of epoch order_epoch
    uint32_t *window_order;  // window order of (win_epoch, win_shard_pos)
    int64_t order_epoch, win_epoch, win_shard_pos;  // caches' keys (-1: none)
    FILE *file;              // the shard being read
    int file_shard;
    uint16_t *buffer;        // B*T+1 tokens
} DataLoader;

// Expands the glob and validates every shard before any work: it opens,
// header magic and version, token count > 0, size exactly 1024 + 2*N, every
// token id < vocab_size. Fails with one line "error: <path>: ..." (or
// "error: <glob>: ..." when nothing matches or no shard holds a window).
// rank in [0, num_ranks); shuffle: 0 = llm.c's sequential order, 1 = random
// reshuffling seeded by seed. Starts at the beginning of epoch 0.
void dataloader_init(DataLoader *l, const char *glob_pattern, int B, int T, int shuffle,
                     uint64_t seed, int rank, int num_ranks, int vocab_size);
// This rank's next micro-batch: B*T inputs and B*T targets (inputs shifted
// by one). Advances the position by one group of num_ranks windows.
void dataloader_next_batch(DataLoader *l, int *inputs, int *targets);
// Back to the start of epoch 0 (validation: reset, then read val_steps
// batches; with shuffle off these are the first windows in llm.c's order).
void dataloader_reset(DataLoader *l);
// The position (see DataLoaderState). Restoring it with set_state into a
// loader made with the same glob, B, T, shuffle and seed, and continuing,
// gives exactly the batches the original would have given.
void dataloader_get_state(const DataLoader *l, DataLoaderState *s);
// Fails (one line) if the position does not fit these shards, B*T and seed
// or is out of range. The shuffle flag is not part of the state: restore
// with the same data.shuffle.
void dataloader_set_state(DataLoader *l, const DataLoaderState *s);
// The epoch of the next group of windows (the same on every rank): 0 until
// the first full pass has been read, then 1, ...
int64_t dataloader_epoch(DataLoader *l);
// Micro-batches every rank can read within one epoch: total_windows /
// num_ranks rounded down (= total windows with one rank). With shuffle off,
// after a reset, this many batches come from epoch 0 without wrapping.
int64_t dataloader_windows_per_epoch(const DataLoader *l);
// Windows per epoch, all ranks together.
int64_t dataloader_total_windows(const DataLoader *l);
// Tokens in all shards (including shards too small for a window).
int64_t dataloader_total_tokens(const DataLoader *l);
int dataloader_num_shards(const DataLoader *l);
void dataloader_free(DataLoader *l);

#endif
