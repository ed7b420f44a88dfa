// Shared by the libFuzzer harnesses: each writes the input to a file and
// runs one of the trainer's file readers on it. A reader may refuse the
// input (fail() then longjmps back here instead of exiting); it must never
// crash, hang or read out of bounds (AddressSanitizer and UBSan watch).
#ifndef TEST_FUZZ_COMMON_H
#define TEST_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

static char fuzz_path[64];

// Writes the input to this process's scratch file; returns its path.
static const char *fuzz_write_input(const uint8_t *data, size_t size, const char *suffix) {
    snprintf(fuzz_path, sizeof fuzz_path, "/tmp/omgd_fuzz_%d%s", (int)getpid(), suffix);
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return fuzz_path;
}

// A refused input can leave the reader's FILE open (fail() does not return
// to close it): close whatever descriptors the call opened, or a long run
// would exhaust them.
static int fuzz_first_free_fd(void) {
    int fd = dup(0);
    if (fd >= 0) close(fd);
    return fd;
}
static void fuzz_close_from(int first) {
    for (int fd = first; first >= 0 && fd < first + 32; fd++) close(fd);
}

// Runs the body with fail() redirected (run with -close_fd_mask=2 to
// silence the refusals).
#define FUZZ_GUARDED(...)                     \
    do {                                      \
        int first_fd_ = fuzz_first_free_fd(); \
        jmp_buf jb_;                          \
        fail_jump = &jb_;                     \
        if (setjmp(jb_) == 0) {               \
            __VA_ARGS__;                      \
        }                                     \
        fail_jump = NULL;                     \
        fuzz_close_from(first_fd_);           \
    } while (0)

#endif
