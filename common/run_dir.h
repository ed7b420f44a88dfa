// The run directory (output.dir) as one run's own place:
//   - a lock held for the run's whole life (flock on <dir>/.lock; the
//     system drops it when the process dies, so a crash leaves no stale
//     lock), so that a second process refuses before it touches any file;
//   - a fresh run never overwrites files it did not write (config.json,
//     log.jsonl); its own leftovers of a run killed before its first
//     checkpoint are moved aside into unfinished_run_N/;
//   - resuming a checkpoint older than the newest in the directory is a
//     branch: the newer checkpoints and the log that describes them are
//     moved into history_after_SSSSSSSS/, never deleted.
// Deciding (which may refuse) and acting (which moves files) are separate
// calls, so that a refusal leaves every file as it was.
#ifndef COMMON_RUN_DIR_H
#define COMMON_RUN_DIR_H

#include <stddef.h>

// Takes the lock on dir (which must exist) or fails in one line naming the
// directory and the process that holds it. The lock is kept until exit.
void run_dir_lock(const char *dir);

// What a fresh run found in dir: files of an earlier run of this trainer
// that stopped before its first checkpoint (to move aside). Fails in one
// line if dir holds config.json or log.jsonl that this trainer did not write.
typedef struct {
    int count;
    char names[64][256];
} RunDirLeftovers;
void run_dir_check_fresh(const char *dir, RunDirLeftovers *out);
// Moves them into dir/unfinished_run_N/ and prints one line saying so.
void run_dir_move_leftovers(const char *dir, const RunDirLeftovers *l);

// Checkpoint files (model_, state_ and shards) of steps after `step` in
// dir: how many complete checkpoints, and the newest step (-1 if none).
int run_dir_newer_checkpoints(const char *dir, long step, long *newest);
// Moves every checkpoint file of a step after `step`, and copies of
// log.jsonl and config.json, into dir/history_after_SSSSSSSS/ (a free
// name: .2, .3, ... when it exists). Returns the folder's name (static).
const char *run_dir_set_aside_after(const char *dir, long step);

#endif
