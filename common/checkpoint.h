// Checkpoints in the run directory, named as llm.c names them:
//   model_SSSSSSSS.bin   weights after S optimizer steps (llm.c model file)
//   state_SSSSSSSS.bin   everything else needed to continue exactly:
//                        step, AdamW moments, data-loader position
// The state file is written after the model file, both atomically, so a
// checkpoint counts as complete only when its state file exists.
#ifndef COMMON_CHECKPOINT_H
#define COMMON_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#define STATE_FILE_MAGIC 0x4F4D4744u  // "OMGD"
#define STATE_FILE_VERSION 1

typedef struct {
    int64_t step;              // optimizer steps done (the next step to run)
    int64_t num_params;        // length of m and v
    float *m, *v;              // AdamW moments
    void *loader_state;        // opaque data-loader position
    size_t loader_state_bytes;
} TrainState;

void checkpoint_model_path(char *buf, size_t cap, const char *dir, long step);
void checkpoint_state_path(char *buf, size_t cap, const char *dir, long step);
// Highest step with both files present in dir, or -1 if none.
long checkpoint_find_latest(const char *dir);
// Step of a path named .../model_SSSSSSSS.bin, or fails naming it.
long checkpoint_step_from_path(const char *path);

void train_state_save(const char *path, const TrainState *s);
// Reads into s; s->m, s->v, s->loader_state must be allocated with the
// expected sizes (s->num_params, s->loader_state_bytes); any mismatch fails
// naming the file.
void train_state_load(const char *path, TrainState *s);

// Deletes complete checkpoints older than the newest keep_last ones
// (keep_last <= 0 keeps everything).
void checkpoint_prune(const char *dir, int keep_last);

#endif
