// Crash-safe file writes: data goes to "<path>.tmp", is flushed and fsync'ed,
// then renamed over <path> and the directory is fsync'ed. A crash at any
// moment leaves either the old file or the complete new one.
#ifndef COMMON_ATOMIC_FILE_H
#define COMMON_ATOMIC_FILE_H

#include <stdint.h>
#include <stdio.h>

#define ATOMIC_PATH_MAX 4096

typedef struct {
    FILE *f;
    char path[ATOMIC_PATH_MAX];
    char tmp_path[ATOMIC_PATH_MAX + 8];
    uint32_t crc;      // CRC-32 of everything passed to atomic_write
    long long bytes;   // and its length
} AtomicFile;

// Size and CRC-32 of a file's contents, recorded to verify it later.
typedef struct {
    int64_t size;
    uint32_t crc;
    uint32_t pad;
} FileDigest;

// Opens <path>.tmp for writing (fails naming the path).
void atomic_open(AtomicFile *a, const char *path);
// Writes count items or fails (removing the temporary file).
void atomic_write(AtomicFile *a, const void *src, size_t size, size_t count);
// Flushes, fsyncs, closes and renames into place; fails (removing the
// temporary file) on any error, e.g. a full disk.
void atomic_commit(AtomicFile *a);

#endif
