// Checkpoints in the run directory, named as llm.c names them:
//   model_SSSSSSSS.bin   weights after S optimizer steps (llm.c model file)
//   state_SSSSSSSS.bin   everything else needed to continue exactly:
//                        step, optimizer moments, mask schedule and
//                        data-loader positions (sections, see below)
// The state file is written after the model file, both atomically, so a
// checkpoint counts as complete only when its state file exists.
#ifndef COMMON_CHECKPOINT_H
#define COMMON_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/atomic_file.h"

#define STATE_FILE_MAGIC 0x4F4D4744u  // "OMGD"
#define STATE_FILE_VERSION 3
#define STATE_SECTION_NAME 32

// A state file is a header and a list of named sections:
//   header:  uint32 magic, uint32 version, uint64 number of sections,
//            uint32 CRC-32 of every byte after the header, uint32 zero
//   section: char name[32] (NUL-padded), uint64 size in bytes, then the bytes
// Every trainer writes the sections it needs (step, optimizer moments,
// schedule and data-loader positions, ...); the reader checks that each
// section it asks for exists with the expected size.
typedef struct {
    char path[4096];
    AtomicFile file;
    uint64_t count;
    uint32_t crc;
} StateWriter;

void state_writer_open(StateWriter *w, const char *path);
void state_write_section(StateWriter *w, const char *name, const void *data, uint64_t bytes);
// A section of `bytes` zero bytes (e.g. moments a parameter group never had).
void state_write_zeros(StateWriter *w, const char *name, uint64_t bytes);
// Rewrites the header's section count, then commits atomically.
void state_writer_commit(StateWriter *w);

typedef struct {
    char path[4096];
    FILE *f;
    uint64_t count;
    char (*names)[STATE_SECTION_NAME];
    uint64_t *sizes, *offsets;
} StateReader;

// Whether a state file is intact (structure and checksum); if not, a
// reason goes to why. Never fails.
int state_file_check(const char *path, char *why, size_t cap);
// Opens and validates the whole file (magic, version, section headers
// against the file length, checksum); fails naming the file.
void state_reader_open(StateReader *r, const char *path);
// Reads section `name`, which must hold exactly `bytes` bytes; dst may be
// NULL to only check that it exists.
void state_read_section(StateReader *r, const char *name, void *dst, uint64_t bytes);
int state_has_section(const StateReader *r, const char *name);
void state_reader_close(StateReader *r);

void checkpoint_model_path(char *buf, size_t cap, const char *dir, long step);
void checkpoint_state_path(char *buf, size_t cap, const char *dir, long step);
// In a job of N ranks, rank r > 0 writes its shard of the optimizer state to
// state_SSSSSSSS.rankRRR.bin before rank 0 writes state_SSSSSSSS.bin, whose
// "shards" section records each shard's size and CRC-32 (checked by
// checkpoint_verify), so the checkpoint is complete only once all are.
void checkpoint_shard_path(char *buf, size_t cap, const char *state_path, int rank);
// Sorted steps of the complete checkpoints (both files present) in dir,
// malloc'd into *steps (the caller frees it); returns the count.
int checkpoint_list(const char *dir, long **steps);
// Highest step with both files present in dir, or -1 if none.
long checkpoint_find_latest(const char *dir);
// Step of a path named .../model_SSSSSSSS.bin, or fails naming it.
long checkpoint_step_from_path(const char *path);
// Whether a checkpoint is intact: the state file's structure and checksum,
// and the model file's size and checksum as recorded in the state file's
// "model_file" section. If not, a one-line reason goes to why.
int checkpoint_verify(const char *model_path, const char *state_path, char *why, size_t cap);
// The newest checkpoint in dir that verifies (warning about newer ones
// that do not, and about newer model files without a state file), or -1.
long checkpoint_find_latest_valid(const char *dir);
// Removes *.tmp files an interrupted atomic write left in dir.
void checkpoint_remove_temporaries(const char *dir);

// Deletes complete checkpoints older than the newest keep_last ones
// (keep_last <= 0 keeps everything).
void checkpoint_prune(const char *dir, int keep_last);

#endif
